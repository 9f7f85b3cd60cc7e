"""`installers/from_source.py run` shows its progress: a line per stage with the time it took, and pip's
own output, on stderr. Run on a copy of the script in a throw-away project whose one package pip builds
and installs with no index (offline)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import desktop_env

ROOT = Path(__file__).resolve().parents[2]
TINY_PROJECT = ROOT / "tests" / "support" / "tiny_project"


def throwaway_project(folder: Path) -> Path:
    """A project with the stand-in app and a copy of the setup script; returns the script."""
    shutil.copytree(TINY_PROJECT, folder)
    script = folder / "installers" / "from_source.py"
    script.parent.mkdir()
    shutil.copy2(ROOT / "installers" / "from_source.py", script)
    return script


def require_run_packages(script: Path) -> None:
    """The system-packages stage must find everything installed: the test must not run apt-get."""
    spec = importlib.util.spec_from_file_location("from_source_copy", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    missing = module.missing_packages(module.RUN_PACKAGES)
    if missing:
        message = f"system packages the app needs are missing: {' '.join(missing)}"
        if desktop_env.STRICT:
            pytest.fail(message)
        pytest.skip(message)


def offline_env() -> dict[str, str]:
    """pip with no index and no configuration of this machine's: nothing can be fetched."""
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull}
    env.pop("PIP_FIND_LINKS", None)
    env.pop("PIP_INDEX_URL", None)
    return env


def setup_run(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(script), "run", *args], env=offline_env(), capture_output=True,
                          text=True, timeout=300, check=False)


def stage_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("[from_source] ")]


def test_setup_shows_each_stage_and_pips_output_then_starts_the_app(tmp_path: Path) -> None:
    script = throwaway_project(tmp_path / "project")
    require_run_packages(script)
    # WHEN it runs for the first time
    first = setup_run(script, "--hello")
    assert first.returncode == 0, first.stderr
    # THEN each stage has its line, the long ones with the time they took
    stages = "\n".join(stage_lines(first.stderr))
    assert "system packages: all " in stages and " present" in stages
    assert "creating .venv with " in stages and "created .venv in " in stages
    assert "installing the Python dependencies" in stages and "Python dependencies installed in " in stages
    assert "setup done in " in stages and "starting GLM-V Desktop" in stages
    # AND pip's own output is shown (on stderr, keeping stdout the app's)
    assert "Successfully installed tiny" in first.stderr
    assert "Successfully installed" not in first.stdout
    # AND the app was started with the arguments given
    assert first.stdout.strip() == "tiny app ran with ['--hello']"
    # WHEN it runs again with nothing changed, THEN it says the set-up is there and skips pip
    second = setup_run(script)
    assert second.returncode == 0, second.stderr
    stages = "\n".join(stage_lines(second.stderr))
    assert "using .venv" in stages and "Python dependencies are up to date" in stages
    assert "Successfully installed" not in second.stderr
    assert second.stdout.strip() == "tiny app ran with []"


def test_a_failing_install_says_so_and_exits_with_pips_status(tmp_path: Path) -> None:
    script = throwaway_project(tmp_path / "project")
    require_run_packages(script)
    pyproject = script.parent.parent / "pyproject.toml"
    # a build requirement that no index can give: offline, pip fails
    pyproject.write_text(pyproject.read_text().replace("requires = []", 'requires = ["not-a-package-anywhere"]'))
    failed = setup_run(script)
    assert failed.returncode != 0
    assert "No matching distribution found for not-a-package-anywhere" in failed.stderr
    assert "pip failed" in failed.stderr and "Traceback" not in failed.stderr
    assert "tiny app ran" not in failed.stdout
