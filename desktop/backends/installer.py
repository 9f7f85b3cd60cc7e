"""Install a serving engine into a virtual environment the app owns, or adopt one the user already has.

One venv per engine (vLLM and SGLang pin different torch builds, so they never share one). The install
is `python -m venv`, a quiet pip upgrade, then `pip install --progress-bar off`, each a child in a
session of its own so that cancelling stops pip and everything it spawned (SIGTERM to the group, then
SIGKILL). pip's output goes, redacted, to the caller and to `install.log` in the venv; its lines are
turned into coarse stages for a progress display. What got installed is checked by running the venv's
Python with a small script that prints the versions as JSON (nothing heavy is imported).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from desktop.backends.catalog import Engine
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.logsetup import redact
from desktop.processenv import child_environment, own_group_options

log = logging.getLogger(__name__)

INSTALL_LOG_NAME = "install.log"
TAIL_LINES = 30
STOP_GRACE_S = 5.0
CHECK_TIMEOUT_S = 60.0
_STREAM_LIMIT = 1 << 20


# -- what each engine needs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EngineRequirement:
    """What to pip-install for an engine, which distribution/module proves it is there, and the minimum versions."""

    engine: Engine
    pip_requirements: tuple[str, ...]
    distribution: str  # the name importlib.metadata knows it by
    module: str  # the import name, checked with find_spec (never imported: vLLM takes seconds to import)
    min_version: str
    min_transformers: str | None = "5.2"
    pip_installable: bool = True
    note: str = ""


REQUIREMENTS: dict[Engine, EngineRequirement] = {
    Engine.VLLM: EngineRequirement(Engine.VLLM, ("vllm>=0.12", "transformers>=5.2"), "vllm", "vllm", "0.12"),
    # SGLang's install page (docs.sglang.io, get-started/install) now documents plain `sglang`, no extra.
    Engine.SGLANG: EngineRequirement(Engine.SGLANG, ("sglang>=0.5", "transformers>=5.2"), "sglang", "sglang",
                                     "0.5"),
    Engine.TRANSFORMERS: EngineRequirement(Engine.TRANSFORMERS, ("transformers[serving]>=5.2", "torch"),
                                           "transformers", "transformers", "5.2", min_transformers=None),
    Engine.LLAMA_CPP: EngineRequirement(
        Engine.LLAMA_CPP, (), "", "", "", min_transformers=None, pip_installable=False,
        note=_("llama.cpp is not a Python package: it is installed from a llama.cpp release or the system "
               "package manager, and only detected (llama-server on PATH or a chosen path).")),
}


def requirement_for(engine: Engine) -> EngineRequirement:
    """The built-in requirement for `engine`."""
    return REQUIREMENTS[engine]


# -- paths -------------------------------------------------------------------------------------------------------------
def engine_venv(root: Path, engine: Engine) -> Path:
    """The venv the app keeps for `engine` under its data directory `root`."""
    name = engine.value.replace(".", "-")
    return root / "engines" / name


def venv_python(venv: Path) -> Path:
    """The Python interpreter inside `venv`."""
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


# -- progress, results, errors ----------------------------------------------------------------------------------------
class InstallStage(StrEnum):
    """A coarse step of an install, as shown to the user."""

    CREATING_VENV = "creating_venv"
    UPGRADING_PIP = "upgrading_pip"
    RESOLVING = "resolving"  # pip started, looking for packages
    COLLECTING = "collecting"
    DOWNLOADING = "downloading"
    INSTALLING = "installing"
    CHECKING = "checking"
    DONE = "done"


@dataclass(frozen=True)
class InstallProgress:
    """Where an install is; `fraction` is -1 when unknown (pip does not say how much is left)."""

    stage: InstallStage
    message: str
    fraction: float = -1.0
    package: str = ""
    size: str = ""


@dataclass(frozen=True)
class InstalledEngine:
    """An engine found in a Python environment, with its versions and whether they are new enough."""

    engine: Engine
    python: Path
    version: str | None
    transformers_version: str | None
    ok: bool
    problem: str = ""


class InstallCancelled(Exception):  # noqa: N818 - a cancellation, not an error
    """The user cancelled the install; pip and its children were stopped."""


class InstallFailed(UserFacingError):
    """A step of the install failed; `detail` holds the last lines of its output."""

    def __init__(self, message: str, hint: str = "", log_tail: str = "", *, log_path: Path | None = None) -> None:
        super().__init__(message, hint, detail=log_tail)
        self.log_tail = log_tail
        self.log_path = log_path


ProgressCallback = Callable[[InstallProgress], None]
LogCallback = Callable[[str], None]

_COLLECTING = re.compile(r"^\s*Collecting (?P<pkg>\S+)")
_PROCESSING = re.compile(r"^\s*Processing (?P<pkg>\S+)")
_DOWNLOADING = re.compile(r"^\s*Downloading (?P<pkg>\S+)(?:\s+\((?P<size>[^)]*)\))?")
_INSTALLING = re.compile(r"^\s*Installing collected packages: (?P<pkgs>.+)$")
_SUCCESS = re.compile(r"^\s*Successfully installed (?P<pkgs>.+)$")


def parse_pip_line(line: str) -> InstallProgress | None:
    """The progress a line of `pip install` output means, or None for lines that say nothing new."""
    if match := _COLLECTING.match(line):
        pkg = match["pkg"]
        return InstallProgress(InstallStage.COLLECTING, _("Looking for {package}").format(package=pkg),
                               package=pkg)
    if match := _PROCESSING.match(line):
        pkg = Path(match["pkg"]).name
        return InstallProgress(InstallStage.COLLECTING, _("Looking for {package}").format(package=pkg),
                               package=pkg)
    if match := _DOWNLOADING.match(line):
        pkg = match["pkg"].rsplit("/", 1)[-1]
        size = match["size"] or ""
        message = (_("Downloading {package} ({size})").format(package=pkg, size=size) if size
                   else _("Downloading {package}").format(package=pkg))
        return InstallProgress(InstallStage.DOWNLOADING, message, package=pkg, size=size)
    if match := _INSTALLING.match(line):
        packages = [p.strip() for p in match["pkgs"].split(",") if p.strip()]
        return InstallProgress(InstallStage.INSTALLING,
                               _("Installing {count} packages").format(count=len(packages)),
                               package=", ".join(packages))
    if match := _SUCCESS.match(line):
        return InstallProgress(InstallStage.DONE, _("Installed {packages}").format(packages=match["pkgs"].strip()),
                               fraction=1.0, package=match["pkgs"].strip())
    return None


# -- failure classification --------------------------------------------------------------------------------------------
_NETWORK = ("Failed to establish a new connection", "Temporary failure in name resolution",
            "Name or service not known", "Network is unreachable", "NewConnectionError", "ConnectTimeoutError",
            "Read timed out", "ProxyError", "getaddrinfo failed", "SSLError", "Connection refused")
_DISK = ("No space left on device", "[Errno 28]", "Disk quota exceeded")
_CUDA = ("CUDA_HOME", "The detected CUDA version", "nvcc", "no kernel image is available",
         "libcudart", "CUDA version mismatch", "+cu1")
_NO_MATCH = ("No matching distribution found", "Could not find a version that satisfies")
_PLATFORM = ("is not a supported wheel on this platform",)


def classify_pip_failure(output: str, python_version: str, what: str) -> tuple[str, str]:
    """A user-facing (message, hint) for a failed pip run, from its output."""
    if any(text in output for text in _DISK):
        return (_("Installing {what} failed: the disk is full.").format(what=what),
                _("Free some disk space (engines and their CUDA libraries take several GB) and try again."))
    if any(text in output for text in _NETWORK):
        return (_("Installing {what} failed: the package index could not be reached.").format(what=what),
                _("Check the internet connection (and any proxy or pip index settings) and try again."))
    if any(text in output for text in _CUDA):
        return (_("Installing {what} failed: its CUDA build does not match this machine.").format(what=what),
                _("The wheels need a matching NVIDIA driver and CUDA version. Update the driver, or install "
                  "a build for your CUDA version yourself and point the app at it."))
    if any(text in output for text in _NO_MATCH + _PLATFORM):
        return (_("Installing {what} failed: no matching package for Python {version} on this system.").format(
                    what=what, version=python_version),
                _("The engine may not publish packages for this Python version or platform. Try another "
                  "Python (choose it in the settings) or another engine."))
    return (_("Installing {what} failed.").format(what=what),
            _("See the install log for the details."))


# -- running one step --------------------------------------------------------------------------------------------------
@dataclass
class _StepResult:
    returncode: int
    tail: str


async def _run_step(argv: Sequence[str], log_file: IO[str], *, on_line: Callable[[str], None],
                    cancel: asyncio.Event | None, env: dict[str, str] | None = None) -> _StepResult:
    """Run one command in a session of its own, feeding each output line to `on_line`; cancellable."""
    if cancel is not None and cancel.is_set():
        raise InstallCancelled
    log_file.write(f"$ {subprocess.list2cmdline(list(argv))}\n")
    log_file.flush()
    kwargs = own_group_options()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=child_environment(env), limit=_STREAM_LIMIT, **kwargs)
    except OSError as exc:
        raise InstallFailed(_("Could not run {program}: {error}").format(program=argv[0], error=exc),
                            _("Check that this Python exists and can create virtual environments.")) from exc
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

    async def read() -> None:
        assert process.stdout is not None
        while raw := await process.stdout.readline():
            line = redact(raw.decode("utf-8", "replace").rstrip("\r\n"))
            tail.append(line)
            log_file.write(line + "\n")
            on_line(line)
        log_file.flush()

    reader = asyncio.create_task(read(), name="install-output-reader")
    waiter = asyncio.create_task(process.wait(), name="install-exit-waiter")
    cancelled = asyncio.create_task(cancel.wait(), name="install-cancel") if cancel is not None else None
    try:
        waits: set[asyncio.Future[Any]] = {waiter}
        if cancelled is not None:
            waits.add(cancelled)
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if cancel is not None and cancel.is_set():
            await _stop_group(process)
            raise InstallCancelled
        await reader
    except BaseException:
        # Cancelled by the caller's task or a failure of our own: never leave pip behind.
        if process.returncode is None:
            await _stop_group(process)
        raise
    finally:
        if cancelled is not None:
            cancelled.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cancelled
        if not reader.done():
            reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
    return _StepResult(process.returncode if process.returncode is not None else -1, "\n".join(tail))


async def _stop_group(process: asyncio.subprocess.Process, grace_s: float = STOP_GRACE_S) -> None:
    """Stop `process` and its whole group: SIGTERM, then SIGKILL after `grace_s`."""
    if sys.platform == "win32":
        with contextlib.suppress(OSError):
            subprocess.run(["taskkill", "/T", "/F", "/PID", str(process.pid)],  # noqa: S603, S607
                           capture_output=True, check=False)
        await process.wait()
        return
    pgid = process.pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace_s)
    except TimeoutError:
        log.info("pip did not stop within %.0f s; killing its process group", grace_s)
    # Children of pip (build backends) may outlive it: finish off the whole group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    await process.wait()


# -- install -----------------------------------------------------------------------------------------------------------
# Engines need a Python of their own to make their venv from; vLLM and SGLang support these.
ENGINE_PYTHONS = ("python3.12", "python3.11", "python3.10", "python3")


def engine_base_python() -> str | None:
    """The Python an engine's venv is made from: this one, unless the app is frozen (then its
    `sys.executable` is the app itself) — then a Python 3.10+ from the PATH (on Windows also through
    the `py` launcher), by its own `sys.executable`; None when there is none."""
    if not getattr(sys, "frozen", False):
        return sys.executable
    import shutil

    candidates: list[list[str]] = [[name] for name in (*ENGINE_PYTHONS, "python")]
    if os.name == "nt":
        candidates = [["py", "-3"], ["python"], ["python3"]]
    probe = "import sys; print(sys.executable if sys.version_info >= (3, 10) else '')"
    for command in candidates:
        found = shutil.which(command[0])
        if found is None:
            continue
        try:
            answer = subprocess.run([found, *command[1:], "-c", probe], capture_output=True, text=True,  # noqa: S603
                                    timeout=CHECK_TIMEOUT_S, check=False, env=child_environment())
        except (OSError, subprocess.TimeoutExpired):
            continue
        executable = answer.stdout.strip()
        if answer.returncode == 0 and executable:
            return executable
    return None


async def install_engine(engine: Engine, root: Path, *, python: str | None = None,
                         extra_pip_args: list[str] | None = None,
                         on_progress: ProgressCallback, on_log: LogCallback,
                         cancel: asyncio.Event | None = None,
                         requirements: EngineRequirement | None = None) -> InstalledEngine:
    """Create (or reuse) the engine's venv under `root`, pip-install the engine into it and check it.

    `python` makes the venv (default: `engine_base_python`, never the frozen app itself).

    Raises:
        InstallCancelled: `cancel` was set; the running step was stopped.
        InstallFailed: a step failed, or the result is missing or too old.
    """
    requirement = requirements or requirement_for(engine)
    label = engine.label
    if not requirement.pip_installable:
        raise InstallFailed(_("{engine} cannot be installed by the app.").format(engine=label),
                            requirement.note)
    python = python or await asyncio.to_thread(engine_base_python)
    if python is None:
        raise InstallFailed(_("Installing {engine} needs Python 3.10 or newer on this computer.").format(engine=label),
                            _("Install Python from your system's packages (or python.org), then press Install again; "
                              "or choose an existing {engine} install.").format(engine=label))
    venv = engine_venv(root, engine)
    venv.mkdir(parents=True, exist_ok=True)
    log_path = venv / INSTALL_LOG_NAME
    pip_env = {"PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONUNBUFFERED": "1"}
    extra = list(extra_pip_args or [])
    with log_path.open("a", encoding="utf-8") as log_file:
        def failed(step: _StepResult, message: str, hint: str) -> InstallFailed:
            return InstallFailed(message, hint, step.tail, log_path=log_path)

        target_python = venv_python(venv)
        if not target_python.exists():
            on_progress(InstallProgress(InstallStage.CREATING_VENV,
                                        _("Creating a Python environment for {engine}").format(engine=label)))
            step = await _run_step([python, "-m", "venv", str(venv)], log_file, on_line=on_log, cancel=cancel)
            if step.returncode != 0 or not target_python.exists():
                raise failed(step, _("Could not create a Python environment for {engine}.").format(engine=label),
                             _("Python's venv module is needed (on Debian/Ubuntu: the python3-venv package)."))
        py = str(target_python)

        on_progress(InstallProgress(InstallStage.UPGRADING_PIP, _("Updating pip")))
        step = await _run_step([py, "-m", "pip", "install", "--quiet", "--upgrade", "pip", *extra],
                               log_file, on_line=on_log, cancel=cancel, env=pip_env)
        if step.returncode != 0:
            # Not fatal: the bundled pip usually installs the engine as well.
            log.info("Upgrading pip in %s failed (exit %d); going on with the bundled pip", venv, step.returncode)

        on_progress(InstallProgress(InstallStage.RESOLVING, _("Installing {engine}").format(engine=label)))

        def pip_line(line: str) -> None:
            on_log(line)
            progress = parse_pip_line(line)
            if progress is not None:
                on_progress(progress)

        step = await _run_step([py, "-m", "pip", "install", "--progress-bar", "off", *extra,
                                *requirement.pip_requirements],
                               log_file, on_line=pip_line, cancel=cancel, env=pip_env)
        if step.returncode != 0:
            version = await _python_version(py)
            message, hint = classify_pip_failure(step.tail, version, label)
            raise failed(step, message, hint)

    on_progress(InstallProgress(InstallStage.CHECKING, _("Checking the installed {engine}").format(engine=label)))
    installed = await check_installed(engine, target_python, requirements=requirement)
    if installed is None:
        raise InstallFailed(_("{engine} was installed but cannot be found in its environment.").format(engine=label),
                            _("See the install log for the details."), log_path=log_path)
    on_progress(InstallProgress(InstallStage.DONE, _("{engine} {version} is installed").format(
        engine=label, version=installed.version), fraction=1.0))
    return installed


async def _python_version(python: str) -> str:
    """`major.minor` of an interpreter, or '?' if it cannot be run."""
    out = await _run_capture([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], 20.0)
    return out.strip() if out else "?"


# -- checking an install -----------------------------------------------------------------------------------------------
_CHECK_SCRIPT = """
import importlib.metadata as m, importlib.util as u, json, sys
def version(dist):
    try:
        return m.version(dist)
    except Exception:
        return None
module = sys.argv[2]
found = bool(module) and u.find_spec(module) is not None
print(json.dumps({"version": version(sys.argv[1]) if found else None, "found": found,
                  "transformers": version("transformers"),
                  "python": "%d.%d.%d" % sys.version_info[:3]}))
"""


async def _run_capture(argv: Sequence[str], timeout_s: float) -> str | None:
    """Run a short command and return its stdout, or None if it fails, cannot start or hangs."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=child_environment())
    except OSError as exc:
        log.info("Could not run %s: %s", argv[0], exc)
        return None
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    except BaseException:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        if isinstance(sys.exc_info()[1], TimeoutError):
            log.info("%s did not answer within %.0f s", argv[0], timeout_s)
            return None
        raise
    if process.returncode != 0:
        log.info("%s exited with %s: %s", argv[0], process.returncode, redact(err.decode("utf-8", "replace")[-500:]))
        return None
    return out.decode("utf-8", "replace")


async def check_installed(engine: Engine, venv_or_python: Path, *,
                          requirements: EngineRequirement | None = None) -> InstalledEngine | None:
    """The engine installed in a venv (or for a Python), or None if that Python lacks it or cannot run."""
    requirement = requirements or requirement_for(engine)
    if not requirement.pip_installable:
        return None
    python = venv_python(venv_or_python) if venv_or_python.is_dir() else venv_or_python
    out = await _run_capture([str(python), "-c", _CHECK_SCRIPT, requirement.distribution, requirement.module],
                             CHECK_TIMEOUT_S)
    if out is None:
        return None
    try:
        data = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        log.info("Unexpected answer from %s: %r", python, out[-200:])
        return None
    if not isinstance(data, dict) or not data.get("found") or not data.get("version"):
        return None
    version = str(data["version"])
    transformers = str(data["transformers"]) if data.get("transformers") else None
    problem = _version_problem(requirement, version, transformers)
    return InstalledEngine(engine, python, version, transformers, ok=not problem, problem=problem)


def _version_problem(requirement: EngineRequirement, version: str, transformers: str | None) -> str:
    """A user-facing sentence when a version is below the minimum; empty when all is fine."""
    label = requirement.engine.label
    needs_transformers = requirement.min_transformers is not None
    too_old_engine = not version_at_least(version, requirement.min_version)
    too_old_tf = needs_transformers and (transformers is None
                                         or not version_at_least(transformers, requirement.min_transformers or ""))
    if not too_old_engine and not too_old_tf:
        return ""
    if too_old_engine and needs_transformers:
        return _("{engine} {version} is too old for GLM-4.6V: {minimum} or newer is needed, with transformers "
                 "{tf_minimum} or newer").format(engine=label, version=version, minimum=requirement.min_version,
                                                 tf_minimum=requirement.min_transformers)
    if too_old_engine:
        return _("{engine} {version} is too old for GLM-4.6V: {minimum} or newer is needed").format(
            engine=label, version=version, minimum=requirement.min_version)
    if transformers is None:
        return _("transformers is not installed next to {engine}: GLM-4.6V needs transformers {tf_minimum} or "
                 "newer").format(engine=label, tf_minimum=requirement.min_transformers)
    return _("transformers {tf_version} is too old for GLM-4.6V: {tf_minimum} or newer is needed").format(
        tf_version=transformers, tf_minimum=requirement.min_transformers)


def version_at_least(version: str, minimum: str) -> bool:
    """Whether `version` ≥ `minimum` (PEP 440 via packaging when present; a small parser otherwise)."""
    if not minimum:
        return True
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return _simple_version(version) >= _simple_version(minimum)
    try:
        parsed = Version(version)
        # A pre-release or dev build of the minimum itself (0.12.0rc1, 0.12.1.dev3) counts as that release.
        return Version(parsed.base_version) >= Version(minimum)
    except InvalidVersion:
        return _simple_version(version) >= _simple_version(minimum)


def _simple_version(text: str) -> tuple[int, ...]:
    """The leading numeric release parts of a version string (`0.12.1+cu128` → (0, 12, 1))."""
    parts: list[int] = []
    for piece in re.split(r"[.+\-]", text.strip().lstrip("vV")):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
        if match.end() != len(piece):
            break
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


async def use_existing(engine: Engine, python: Path, *,
                       requirements: EngineRequirement | None = None) -> InstalledEngine:
    """Adopt an install the user already has: `python` (or a venv directory) that has the engine.

    Raises:
        UserFacingError: that Python cannot be run or does not have the engine.
    """
    requirement = requirements or requirement_for(engine)
    if not requirement.pip_installable:
        raise UserFacingError(_("{engine} is not found through a Python environment.").format(engine=engine.label),
                              requirement.note)
    installed = await check_installed(engine, python, requirements=requirement)
    if installed is None:
        raise UserFacingError(
            _("{engine} was not found for {python}.").format(engine=engine.label, python=python),
            _("Choose the Python of the environment where {engine} is installed (for example "
              ".venv/bin/python), or let the app install it.").format(engine=engine.label))
    return installed
