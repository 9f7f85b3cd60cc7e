"""Installing an engine into an app-managed venv, with real `python -m venv` and pip, offline.

A hand-written wheel of a stand-in package (`fakeengine`) plays the engine; pip finds it through
`--no-index --find-links`, so nothing touches the network. One venv is shared by the module's tests.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from desktop.backends.catalog import Engine
from desktop.backends.installer import (
    INSTALL_LOG_NAME,
    EngineRequirement,
    InstallCancelled,
    InstalledEngine,
    InstallFailed,
    InstallProgress,
    InstallStage,
    check_installed,
    classify_pip_failure,
    engine_venv,
    install_engine,
    parse_pip_line,
    use_existing,
    venv_python,
    version_at_least,
)
from desktop.errors import UserFacingError
from tests.support.wheels import write_wheel

T = TypeVar("T")

FAKE = EngineRequirement(Engine.VLLM, ("fakeengine>=0.12",), "fakeengine", "fakeengine", "0.12",
                         min_transformers=None)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@dataclass
class Recorder:
    progress: list[InstallProgress] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


@dataclass
class Installed:
    root: Path
    wheels: Path
    result: InstalledEngine
    recorder: Recorder

    @property
    def offline(self) -> list[str]:
        return ["--no-index", "--find-links", str(self.wheels)]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("engine-install")
    wheels = base / "wheels"
    write_wheel(wheels, "fakeengine", "0.12.1")
    root = base / "data"
    recorder = Recorder()
    result = run(install_engine(Engine.VLLM, root, requirements=FAKE,
                                extra_pip_args=["--no-index", "--find-links", str(wheels)],
                                on_progress=recorder.progress.append, on_log=recorder.lines.append))
    return Installed(root, wheels, result, recorder)


def test_install_creates_the_venv_installs_and_checks(installed: Installed) -> None:
    venv = engine_venv(installed.root, Engine.VLLM)
    assert venv_python(venv).exists()
    result = installed.result
    assert result.ok, result.problem
    assert result.version == "0.12.1"
    assert result.python == venv_python(venv)
    stages = [p.stage for p in installed.recorder.progress]
    assert stages[0] is InstallStage.CREATING_VENV
    assert InstallStage.COLLECTING in stages
    assert InstallStage.INSTALLING in stages
    assert stages[-1] is InstallStage.DONE
    assert all(p.fraction == -1.0 for p in installed.recorder.progress if p.stage is not InstallStage.DONE)
    assert any(line.startswith("Successfully installed fakeengine-0.12.1") for line in installed.recorder.lines)
    log_text = (venv / INSTALL_LOG_NAME).read_text()
    assert "Successfully installed fakeengine-0.12.1" in log_text
    assert "-m pip install --progress-bar off" in log_text


def test_check_installed_reports_a_too_old_version(installed: Installed) -> None:
    # GIVEN the installed 0.12.1 WHEN the minimum is 0.13 and transformers 5.2 is required too
    stricter = EngineRequirement(Engine.VLLM, (), "fakeengine", "fakeengine", "0.13", min_transformers="5.2")
    result = run(check_installed(Engine.VLLM, engine_venv(installed.root, Engine.VLLM), requirements=stricter))
    # THEN it is found but not ok, and says why in the user's words
    assert result is not None
    assert not result.ok
    assert result.problem == ("vLLM 0.12.1 is too old for GLM-4.6V: 0.13 or newer is needed, "
                              "with transformers 5.2 or newer")


def test_check_installed_without_transformers(installed: Installed) -> None:
    needs_tf = EngineRequirement(Engine.VLLM, (), "fakeengine", "fakeengine", "0.12", min_transformers="5.2")
    result = run(check_installed(Engine.VLLM, engine_venv(installed.root, Engine.VLLM), requirements=needs_tf))
    assert result is not None and not result.ok
    assert result.transformers_version is None
    assert "transformers is not installed" in result.problem


def test_check_installed_finds_nothing_for_a_missing_engine(installed: Installed) -> None:
    other = EngineRequirement(Engine.SGLANG, (), "notinstalled", "notinstalled", "0.5")
    assert run(check_installed(Engine.SGLANG, engine_venv(installed.root, Engine.VLLM), requirements=other)) is None
    assert run(check_installed(Engine.VLLM, installed.root / "no-such-python", requirements=FAKE)) is None


def test_a_missing_package_fails_with_no_matching_distribution(installed: Installed) -> None:
    missing = EngineRequirement(Engine.VLLM, ("fakemissing>=1",), "fakemissing", "fakemissing", "1",
                                min_transformers=None)
    lines: list[str] = []
    with pytest.raises(InstallFailed) as caught:
        run(install_engine(Engine.VLLM, installed.root, requirements=missing, extra_pip_args=installed.offline,
                           on_progress=lambda _p: None, on_log=lines.append))
    error = caught.value
    assert "no matching package for Python 3." in error.message
    assert "No matching distribution found for fakemissing" in error.log_tail
    assert error.hint
    assert error.log_path == engine_venv(installed.root, Engine.VLLM) / INSTALL_LOG_NAME


def test_cancel_stops_pip_and_raises(installed: Installed) -> None:
    write_wheel(installed.wheels, "fakeengine", "0.13.0")
    newer = EngineRequirement(Engine.VLLM, ("fakeengine>=0.13",), "fakeengine", "fakeengine", "0.12",
                              min_transformers=None)
    pip_pids: list[int] = []
    before = {c.pid for c in psutil.Process().children(recursive=True)}

    async def main() -> None:
        cancel = asyncio.Event()

        def on_log(line: str) -> None:
            # The first line of the engine's pip install: pip is running right now.
            if line.startswith("Looking in links") and not cancel.is_set():
                pip_pids.extend(c.pid for c in psutil.Process().children(recursive=True)
                                if "pip" in " ".join(c.cmdline()) and "--progress-bar" in c.cmdline())
                cancel.set()

        await install_engine(Engine.VLLM, installed.root, requirements=newer, extra_pip_args=installed.offline,
                             on_progress=lambda _p: None, on_log=on_log, cancel=cancel)

    with pytest.raises(InstallCancelled):
        run(main())
    assert pip_pids, "pip was not running when the install was cancelled"
    assert not [pid for pid in pip_pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not [c for c in psutil.Process().children(recursive=True)
                if c.pid not in before and c.status() != psutil.STATUS_ZOMBIE]


def test_cancel_before_start_runs_nothing(tmp_path: Path) -> None:
    cancel = asyncio.Event()
    cancel.set()
    with pytest.raises(InstallCancelled):
        run(install_engine(Engine.VLLM, tmp_path, requirements=FAKE, on_progress=lambda _p: None,
                           on_log=lambda _l: None, cancel=cancel))
    assert not venv_python(engine_venv(tmp_path, Engine.VLLM)).exists()


def test_use_existing_accepts_the_venv_python(installed: Installed) -> None:
    python = venv_python(engine_venv(installed.root, Engine.VLLM))
    result = run(use_existing(Engine.VLLM, python, requirements=FAKE))
    assert result.ok and result.python == python and result.version is not None


def test_use_existing_rejects_a_python_without_the_engine(installed: Installed, tmp_path: Path) -> None:
    other = EngineRequirement(Engine.SGLANG, (), "notinstalled", "notinstalled", "0.5")
    with pytest.raises(UserFacingError, match="was not found"):
        run(use_existing(Engine.SGLANG, venv_python(engine_venv(installed.root, Engine.VLLM)), requirements=other))


def test_llama_cpp_is_not_pip_installed(tmp_path: Path) -> None:
    with pytest.raises(InstallFailed, match="cannot be installed by the app"):
        run(install_engine(Engine.LLAMA_CPP, tmp_path, on_progress=lambda _p: None, on_log=lambda _l: None))


# -- pure parsing (no processes) ------------------------------------------------------------------------------------
def test_pip_lines_become_stages() -> None:
    collecting = parse_pip_line("Collecting vllm>=0.12")
    assert collecting is not None and collecting.stage is InstallStage.COLLECTING and collecting.package == "vllm>=0.12"
    downloading = parse_pip_line("  Downloading vllm-0.12.0-cp38-abi3-manylinux1_x86_64.whl (412.3 MB)")
    assert downloading is not None and downloading.stage is InstallStage.DOWNLOADING
    assert downloading.size == "412.3 MB" and downloading.fraction == -1.0
    installing = parse_pip_line("Installing collected packages: torch, transformers, vllm")
    assert installing is not None and installing.stage is InstallStage.INSTALLING and "3" in installing.message
    done = parse_pip_line("Successfully installed vllm-0.12.0 torch-2.9.0")
    assert done is not None and done.stage is InstallStage.DONE and done.fraction == 1.0
    assert parse_pip_line("Requirement already satisfied: numpy in ./lib") is None


@pytest.mark.parametrize(("output", "word"), [
    ("WARNING: Retrying ... NewConnectionError('Failed to establish a new connection') \n"
     "ERROR: No matching distribution found for vllm", "could not be reached"),
    ("ERROR: Could not find a version that satisfies the requirement vllm>=0.12\n"
     "ERROR: No matching distribution found for vllm>=0.12", "no matching package for Python 3.14"),
    ("ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device", "disk is full"),
    ("OSError: CUDA_HOME environment variable is not set", "CUDA build"),
    ("ERROR: something else entirely", "failed."),
])
def test_pip_failures_are_classified(output: str, word: str) -> None:
    message, hint = classify_pip_failure(output, "3.14", "vLLM")
    assert word in message
    assert hint


@pytest.mark.parametrize(("version", "minimum", "expected"), [
    ("0.12.0", "0.12", True), ("0.11.2", "0.12", False), ("0.12.0rc1", "0.12", True),
    ("0.12.1+cu128", "0.12", True), ("5.2.0.dev0", "5.2", True), ("4.57.1", "5.2", False), ("x", "0.1", False),
])
def test_version_at_least(version: str, minimum: str, expected: bool) -> None:
    assert version_at_least(version, minimum) is expected


def test_a_frozen_app_makes_engine_venvs_with_a_python_from_the_path(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    from desktop.backends.installer import engine_base_python

    # Not frozen: this Python
    assert engine_base_python() == sys.executable
    # Frozen (sys.executable is the app): a real Python 3.10+ found on the PATH, checked by running it
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    found = engine_base_python()
    assert found is not None and Path(found).parent == Path(sys.executable).parent
    # None on the PATH: None, and the install says what to do
    monkeypatch.setenv("PATH", str(tmp_path))
    assert engine_base_python() is None
    with pytest.raises(InstallFailed) as failure:
        run(install_engine(Engine.VLLM, tmp_path, on_progress=lambda _p: None, on_log=lambda _l: None))
    assert "Python 3.10 or newer" in failure.value.message and "Install Python" in failure.value.hint
