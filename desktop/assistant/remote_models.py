"""What an SSH host has for serving: where the app keeps models and engines there, which catalog models are
complete there, which engines can run, and the commands to install or download what is missing.

The host's layout mirrors this computer's: ~/.local/share/glmv-desktop/models/<model id> and
~/.local/share/glmv-desktop/engines/<engine>/ (a venv). An engine installed the host's own way (on its PATH,
or SGLang importable by its python3) is used as well.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from desktop.backends.catalog import CATALOG, Engine, ModelSpec
from desktop.backends.installer import requirement_for
from desktop.backends.remote import RemoteError, SshHost
from desktop.i18n import _

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
    marker = any(n.endswith(".gguf") for n in names) if gguf else "config.json" in names
    models[model] = marker and not any(n.endswith((".part", ".incomplete")) for n in names)
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


async def inventory(host: SshHost) -> HostInventory:
    """Look on `host` for the app's models and engines; raise RemoteError when it cannot be asked."""
    args = {"root": REMOTE_ROOT, "programs": {e.value: p for e, p in PROGRAMS.items()},
            "models": {spec.id: Engine.LLAMA_CPP in spec.engines and len(spec.engines) == 1 for spec in CATALOG}}
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
    venv = inventory.engine_venv(engine)
    if engine is Engine.LLAMA_CPP:
        return _("Build or download llama.cpp there and put llama-server on the PATH.")
    packages = " ".join(shlex.quote(r) for r in requirement_for(engine).pip_requirements)
    return f"python3 -m venv {shlex.quote(venv)} && {shlex.quote(venv + '/bin/pip')} install {packages}"


def download_command(inventory: HostInventory, spec: ModelSpec) -> str:
    """The shell command that downloads `spec`'s files where the app looks for them on the host."""
    return f"hf download {shlex.quote(spec.hf_repo)} --local-dir {shlex.quote(inventory.folder(spec))}"
