"""What an SSH host has for serving: where the app keeps models and engines there, which catalog models are
complete there, which engines can run, and the commands to install or download what is missing.

The host's layout mirrors this computer's: ~/.local/share/glmv-desktop/models/<model id> and
~/.local/share/glmv-desktop/engines/<engine>/ (a venv). An engine installed the host's own way (on its PATH,
or SGLang importable by its python3) is used as well.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from desktop.backends.catalog import CATALOG, Engine, ModelSpec, format_bytes
from desktop.backends.downloads import (
    DownloadError,
    DownloadProgress,
    ModelSource,
    damaged_error,
    file_url,
    http_error,
    hub_endpoint,
    larger_error,
    list_files,
    no_files_error,
    repo_for,
)
from desktop.backends.engines import PROGRAMS
from desktop.backends.host_fetch import PLAN_VARIABLE
from desktop.backends.host_fetch import PREFIX as FETCH_PREFIX
from desktop.backends.installer import InstallProgress, parse_pip_line, requirement_for
from desktop.backends.remote import FETCH_MODULE, REMOTE_ROOT, RemoteError, SshHost, host_source
from desktop.backends.ssh import signal_process
from desktop.i18n import _
from desktop.logsetup import redact

# Run with the host's Python: the home folder, each engine's program, and which models are complete.
_INVENTORY = r'''
import importlib.util, json, os, shutil, sys
args = json.loads(sys.stdin.readline())
home = os.path.expanduser("~")
root = os.path.join(home, args["root"])
engines = {}
for engine, program in args["programs"].items():
    own = os.path.join(root, "engines", engine, "bin", program)
    if os.access(own, os.X_OK):
        engines[engine] = own
    elif engine == "sglang":
        engines[engine] = sys.executable if importlib.util.find_spec("sglang") else None  # found, not imported
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
    # A download by the app marks its end; one by hand (hf download) is complete when nothing is pending.
    unfinished = any(n.endswith((".incomplete", ".part")) for _d, _s, found in os.walk(folder) for n in found)
    models[model] = ".glmv-complete" in names or (files and not unfinished and ".glmv-downloading" not in names)
print(json.dumps({"home": home, "engines": engines, "models": models}))
'''


@dataclass(frozen=True)
class HostInventory:
    """What `inventory` found on a host."""

    home: str
    engines: dict[Engine, str | None]  # the program to run, None: not there
    models: dict[str, bool]  # catalog model id → its files are complete there

    def folder(self, spec: ModelSpec) -> str:
        """Where `spec`'s files are (or go) on the host."""
        return f"{self.home}/{REMOTE_ROOT}/models/{spec.id}"

    def engine_venv(self, engine: Engine) -> str:
        """The venv the app would use for `engine` on the host."""
        return f"{self.home}/{REMOTE_ROOT}/engines/{engine.value}"


async def inventory(host: SshHost, specs: Sequence[ModelSpec] = CATALOG) -> HostInventory:
    """Look on `host` for the app's engines and `specs`' files; raise RemoteError when it cannot be asked."""
    args = {"root": REMOTE_ROOT, "programs": {e.value: p for e, p in PROGRAMS.items()},
            "models": {spec.id: spec.is_gguf for spec in specs}}
    code, out, err = await host.connection.run(f"{shlex.quote(host.python)} -c {shlex.quote(_INVENTORY)}",
                                               input_text=json.dumps(args) + "\n")
    if code != 0:
        await host.check_python()
        raise RemoteError(_("Could not look for models and engines on {host}.").format(host=host.label),
                          detail=err.strip())
    try:
        data = json.loads(out.strip().splitlines()[-1])
        engines = {Engine(name): program for name, program in data["engines"].items()}
        return HostInventory(str(data["home"]), engines, {str(k): bool(v) for k, v in data["models"].items()})
    except (ValueError, KeyError, IndexError) as exc:
        raise RemoteError(_("{host} answered something unexpected.").format(host=host.label),
                          detail=out[-500:]) from exc


def install_command(inventory: HostInventory, engine: Engine) -> str:
    """The shell commands that install `engine` where the app looks for it on the host."""
    if engine is Engine.LLAMA_CPP:
        return _("Build or download llama.cpp there and put llama-server on the PATH.")
    return _install_script("python3", inventory.engine_venv(engine), engine)


def _install_script(python: str, venv: str, engine: Engine, *pip_options: str) -> str:
    """The shell commands that make `venv` with `python` and pip-install `engine` into it."""
    packages = " ".join(shlex.quote(r) for r in requirement_for(engine).pip_requirements)
    pip = shlex.join([f"{venv}/bin/pip", "install", *pip_options])
    return f"{shlex.quote(python)} -m venv {shlex.quote(venv)} && {pip} {packages}"


def download_command(inventory: HostInventory, spec: ModelSpec) -> str:
    """The shell command that downloads `spec`'s files where the app looks for them on the host."""
    return f"hf download {shlex.quote(spec.hf_repo)} --local-dir {shlex.quote(inventory.folder(spec))}"


class HostJobCancelled(Exception):  # noqa: N818 - a cancellation, not an error
    """The user cancelled an install or download on a host; what it started there was stopped."""


async def run_job(host: SshHost, name: str, argv: list[str], *, env: dict[str, str] | None = None,
                  on_line: Callable[[str], None] = lambda _line: None, cancel: asyncio.Event | None = None,
                  poll_s: float = 1.0) -> None:
    """Run `argv` on the host as a job of its own (it survives a dropped connection), following its output;
    raise HostJobCancelled when `cancel` is set (the job is stopped there), RemoteError when it fails."""
    record = await host.start_job(name, argv, env)
    tail = await host.follow(record, 0)
    lines: collections.deque[str] = collections.deque(maxlen=30)  # its end, for an error: not hours of progress

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
            detail="\n".join(lines))


async def install_on_host(host: SshHost, found: HostInventory, engine: Engine, *,
                          on_progress: Callable[[InstallProgress], None], on_log: Callable[[str], None],
                          cancel: asyncio.Event | None = None) -> None:
    """Make the app's venv for `engine` on the host and pip-install the engine into it, with pip's progress."""
    requirement = requirement_for(engine)
    if not requirement.pip_installable:
        raise RemoteError(_("{engine} cannot be installed by the app.").format(engine=engine.label), requirement.note)
    script = _install_script(host.python, found.engine_venv(engine), engine, "--progress-bar", "off")

    def line(text: str) -> None:
        on_log(text)
        progress = parse_pip_line(text)
        if progress is not None:
            on_progress(progress)

    await run_job(host, f"install-{engine.value}", ["/bin/sh", "-c", script], on_line=line, cancel=cancel,
                  env={"PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})


async def download_on_host(host: SshHost, found: HostInventory, spec: ModelSpec, *, source: ModelSource,
                           endpoint: str | None = None, on_progress: Callable[[DownloadProgress], None],
                           cancel: asyncio.Event | None = None) -> None:
    """Download `spec`'s files (its `files` patterns, or the whole repository) into its folder on the host.

    The hub's file list is read here; the files are fetched there by the app's own fetcher (host_fetch.py, run
    with the host's Python as a job of its own), which resumes a cut or cancelled download where it stopped and
    checks each file's sha256. `endpoint`: the hub's base URL (a mirror).

    Raises:
        HostJobCancelled: `cancel` was set (what arrived stays there, for the next try).
        DownloadError: the hub refused or has no such files, the host's disk is full, a file arrived damaged,
            or the host's connection to the hub kept dropping.
        RemoteError: the host could not be asked.
    """
    import httpx

    repo = repo_for(spec, source)
    revision = source.default_revision
    base = (endpoint or hub_endpoint(source)).rstrip("/")
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0), trust_env=True) as client:
        files = await list_files(client, source, repo, revision, base, patterns=spec.files)
    if not files:
        raise no_files_error(source, repo)
    plan = {"dest": found.folder(spec), "files": [
        {"path": f.path, "size": f.size, "sha256": f.sha256,
         "url": file_url(source, base, repo, revision, f.path)} for f in files]}
    program = await host.upload(host_source(FETCH_MODULE), "fetch", ".py")
    failures: list[dict[str, Any]] = []

    def line(text: str) -> None:
        event = parse_fetch_line(text)
        if isinstance(event, DownloadProgress):
            on_progress(event)
        elif event is not None:
            failures.append(event)

    try:
        await run_job(host, f"download-{spec.id}", [host.python, program], on_line=line, cancel=cancel,
                      env={PLAN_VARIABLE: json.dumps(plan)}, poll_s=2.0)
    except RemoteError as exc:
        if failures:
            raise fetch_error(failures[-1], spec, source, repo, host.label) from exc
        raise


def parse_fetch_line(text: str) -> DownloadProgress | dict[str, Any] | None:
    """A line of the host's fetcher: its progress, its failure (a dict with a "kind"), or None (anything else)."""
    prefix, _space, rest = text.partition(" ")
    word, _space, payload = rest.partition(" ")
    if prefix != FETCH_PREFIX or word not in ("progress", "error"):
        return None
    try:
        data = json.loads(payload)
        if word == "error":
            return data if isinstance(data, dict) and "kind" in data else None
        return DownloadProgress(str(data["file"]), int(data["file_done"]), int(data["file_total"]),
                                int(data["done"]), int(data["total"]), int(data["files_done"]),
                                int(data["files_total"]), float(data["bytes_per_s"]))
    except (ValueError, KeyError, TypeError):
        return None


def fetch_error(failure: dict[str, Any], spec: ModelSpec, source: ModelSource, repo: str,
                host: str) -> DownloadError:
    """The host's fetcher's failure in the user's words, with what to do."""
    kind, path = failure.get("kind"), str(failure.get("path", ""))
    again = _("Start the download again: it continues where it stopped.")
    if kind == "space":
        return DownloadError(
            _("Not enough disk space on {host} for {model}: {needed} more are needed, {free} are free in "
              "{where}.").format(host=host, model=spec.name, needed=format_bytes(int(failure["needed"])),
                                 free=format_bytes(int(failure["free"])), where=failure.get("where", "")),
            _("Free some space there, then start the download again: what arrived is kept."))
    if kind == "http":
        return http_error(repo, source, None, int(failure.get("status", 0)), path)
    if kind == "damaged":
        return damaged_error(path)
    if kind == "larger":
        return larger_error(path, source)
    if kind == "network":
        return DownloadError(_("{host} could not reach {hub}: the connection kept dropping while downloading "
                               "{file}.").format(host=host, hub=source.label, file=path),
                             _("Check that host's network connection (and its proxy, if it needs one). {again}").format(
                                 again=again), detail=str(failure.get("detail", "")), resumable=True)
    return DownloadError(_("The download failed on {host}.").format(host=host), again,
                         detail=json.dumps(failure, ensure_ascii=False), resumable=True)
