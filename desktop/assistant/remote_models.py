"""What an SSH host has for serving: where the app keeps models and engines there, which catalog models are
complete there, which engines can run, and the commands to install or download what is missing.

The host's layout mirrors this computer's: ~/.local/share/glmv-desktop/models/<model id> and
~/.local/share/glmv-desktop/engines/<engine>/ (a venv). An engine installed the host's own way (on its PATH,
or SGLang importable by its python3) is used as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from desktop.backends.catalog import CATALOG, Engine, ModelSpec
from desktop.backends.installer import InstallProgress, parse_pip_line, requirement_for
from desktop.backends.remote import RemoteError, SshHost
from desktop.backends.ssh import signal_process
from desktop.i18n import _
from desktop.logsetup import redact

REMOTE_ROOT = ".local/share/glmv-desktop"  # under the host user's home
PROGRAMS = {Engine.VLLM: "vllm", Engine.SGLANG: "python", Engine.TRANSFORMERS: "transformers",
            Engine.LLAMA_CPP: "llama-server"}

# Run with the host's Python: the home folder, each engine's program, and which models are complete.
_INVENTORY = r'''
import json, os, shutil, subprocess, sys
args = json.loads(sys.stdin.readline())
home = os.path.expanduser("~")
root = os.path.join(home, args["root"])
engines = {}
hf = None
for engine in args["programs"]:
    candidate = os.path.join(root, "engines", engine, "bin", "hf")
    if hf is None and os.access(candidate, os.X_OK):
        hf = candidate
hf = hf or shutil.which("hf")
for engine, program in args["programs"].items():
    own = os.path.join(root, "engines", engine, "bin", program)
    if os.access(own, os.X_OK):
        engines[engine] = own
    elif engine == "sglang":
        ok = subprocess.run([sys.executable, "-c", "import sglang"], capture_output=True).returncode == 0
        engines[engine] = sys.executable if ok else None
    else:
        engines[engine] = shutil.which(program)
models = {}
for model, gguf in args["models"].items():
    folder = os.path.join(root, "models", model)
    try:
        names = os.listdir(folder)
    except OSError:
        names = []
    files = any(n.endswith(".gguf") for n in names) if gguf else "config.json" in names
    pending = os.path.join(folder, ".cache", "huggingface", "download")
    unfinished = any(n.endswith(".incomplete") for _d, _s, found in os.walk(pending) for n in found)
    models[model] = ".glmv-complete" in names or (files and not unfinished and ".glmv-downloading" not in names)
print(json.dumps({"home": home, "engines": engines, "models": models, "hf": hf}))
'''


@dataclass(frozen=True)
class HostInventory:
    """What `inventory` found on a host."""

    home: str
    engines: dict[Engine, str | None]  # the program to run, None: not there
    models: dict[str, bool]  # catalog model id → its files are complete there
    hf: str | None = None  # Hugging Face's downloader there (it comes with every engine), None: none

    def folder(self, spec: ModelSpec) -> str:
        """Where `spec`'s files are (or go) on the host."""
        return f"{self.home}/{REMOTE_ROOT}/models/{spec.id}"

    def engine_venv(self, engine: Engine) -> str:
        """The venv the app would use for `engine` on the host."""
        return f"{self.home}/{REMOTE_ROOT}/engines/{engine.value}"


async def inventory(host: SshHost, specs: Sequence[ModelSpec] = CATALOG) -> HostInventory:
    """Look on `host` for the app's engines and `specs`' files; raise RemoteError when it cannot be asked."""
    args = {"root": REMOTE_ROOT, "programs": {e.value: p for e, p in PROGRAMS.items()},
            "models": {spec.id: Engine.LLAMA_CPP in spec.engines and len(spec.engines) == 1 for spec in specs}}
    code, out, err = await host.connection.run(f"{shlex.quote(host.python)} -c {shlex.quote(_INVENTORY)}",
                                               input_text=json.dumps(args) + "\n")
    if code != 0:
        await host.check_python()
        raise RemoteError(_("Could not look for models and engines on {host}.").format(host=host.label),
                          detail=err.strip())
    try:
        data = json.loads(out.strip().splitlines()[-1])
        engines = {Engine(name): program for name, program in data["engines"].items()}
        return HostInventory(str(data["home"]), engines, {str(k): bool(v) for k, v in data["models"].items()},
                             data.get("hf"))
    except (ValueError, KeyError, IndexError) as exc:
        raise RemoteError(_("{host} answered something unexpected.").format(host=host.label),
                          detail=out[-500:]) from exc


def install_command(inventory: HostInventory, engine: Engine) -> str:
    """The shell commands that install `engine` where the app looks for it on the host."""
    venv = inventory.engine_venv(engine)
    if engine is Engine.LLAMA_CPP:
        return _("Build or download llama.cpp there and put llama-server on the PATH.")
    packages = " ".join(shlex.quote(r) for r in requirement_for(engine).pip_requirements)
    return f"python3 -m venv {shlex.quote(venv)} && {shlex.quote(venv + '/bin/pip')} install {packages}"


def download_command(inventory: HostInventory, spec: ModelSpec) -> str:
    """The shell command that downloads `spec`'s files where the app looks for them on the host."""
    return f"hf download {shlex.quote(spec.hf_repo)} --local-dir {shlex.quote(inventory.folder(spec))}"


class HostJobCancelled(Exception):  # noqa: N818 - a cancellation, not an error
    """The user cancelled an install or download on a host; what it started there was stopped."""


async def run_job(host: SshHost, name: str, argv: list[str], *, env: dict[str, str] | None = None,
                  on_line: Callable[[str], None] = lambda _line: None, cancel: asyncio.Event | None = None,
                  on_poll: Callable[[], Awaitable[None]] | None = None, poll_s: float = 1.0) -> None:
    """Run `argv` on the host as a job of its own (it survives a dropped connection), following its output;
    raise HostJobCancelled when `cancel` is set (the job is stopped there), RemoteError when it fails."""
    record = await host.start_job(name, argv, env)
    tail = await host.follow(record, 0)
    lines: list[str] = []

    async def read() -> None:
        assert tail.stdout is not None
        while raw := await tail.stdout.readline():
            line = redact(raw.decode("utf-8", "replace").rstrip("\r\n"))
            lines.append(line)
            on_line(line)

    reader = asyncio.create_task(read())
    status: int | None = None
    try:
        while True:
            if cancel is not None and cancel.is_set():
                await host.stop_job(record)
                raise HostJobCancelled
            running, status = await host.job_state(name)
            if on_poll is not None:
                await on_poll()  # once more after the end: the progress reaches it
            if running is None:
                break
            await asyncio.sleep(poll_s)
        await asyncio.sleep(0.3)  # the log's last lines
    finally:
        signal_process(tail)
        await tail.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    if status != 0:
        raise RemoteError(_("{what} failed on {host} (exit status {status}).").format(
            what=name, host=host.label, status=status), _("The end of its output says why."),
            detail="\n".join(lines[-30:]))


async def install_on_host(host: SshHost, found: HostInventory, engine: Engine, *,
                          on_progress: Callable[[InstallProgress], None], on_log: Callable[[str], None],
                          cancel: asyncio.Event | None = None) -> None:
    """Make the app's venv for `engine` on the host and pip-install the engine into it, with pip's progress."""
    requirement = requirement_for(engine)
    if not requirement.pip_installable:
        raise RemoteError(_("{engine} cannot be installed by the app.").format(engine=engine.label), requirement.note)
    venv = found.engine_venv(engine)
    packages = " ".join(shlex.quote(r) for r in requirement.pip_requirements)
    script = (f"{shlex.quote(host.python)} -m venv {shlex.quote(venv)} && "
              f"{shlex.quote(venv + '/bin/pip')} install --progress-bar off {packages}")

    def line(text: str) -> None:
        on_log(text)
        progress = parse_pip_line(text)
        if progress is not None:
            on_progress(progress)

    await run_job(host, f"install-{engine.value}", ["/bin/sh", "-c", script], on_line=line, cancel=cancel,
                  env={"PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})


async def download_on_host(host: SshHost, found: HostInventory, spec: ModelSpec, *,
                           on_progress: Callable[[int, int], None], cancel: asyncio.Event | None = None,
                           endpoint: str | None = None) -> None:
    """Download `spec`'s files into its folder on the host with Hugging Face's `hf` there (files already there
    are kept; one cut half-way is fetched again); progress is the folder's size against the model's.
    `endpoint`: a mirror."""
    if found.hf is None:
        raise RemoteError(_("{host} has no downloader for model files.").format(host=host.label),
                          _("Install an engine there first: it brings Hugging Face's hf downloader."))
    folder = found.folder(spec)
    # hf keeps each try's partial file under a new name: those of a cancelled try go first.
    partials = shlex.quote(folder + "/.cache/huggingface/download")
    script = (f"find {partials} -name '*.incomplete' -delete 2>/dev/null; "
              f"mkdir -p {shlex.quote(folder)} && touch {shlex.quote(folder + '/.glmv-downloading')} && "
              f"{shlex.quote(found.hf)} download {shlex.quote(spec.hf_repo)} --local-dir {shlex.quote(folder)} && "
              f"rm -f {shlex.quote(folder + '/.glmv-downloading')} && touch {shlex.quote(folder + '/.glmv-complete')}")

    async def poll() -> None:
        on_progress(await host.folder_bytes(folder), spec.download_bytes)

    env = {"HF_HUB_DISABLE_TELEMETRY": "1", **({"HF_ENDPOINT": endpoint} if endpoint else {})}
    await run_job(host, f"download-{spec.id}", ["/bin/sh", "-c", script], env=env, cancel=cancel, on_poll=poll,
                  poll_s=2.0)
