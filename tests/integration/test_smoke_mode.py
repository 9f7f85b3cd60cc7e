"""`glmv-desktop --smoke-test`, the check every installer runs on the installed app: here on the venv app,
on the session's Xvfb with its tray host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import desktop_env


def test_the_smoke_test_passes_with_a_tray_and_says_nothing_on_stderr(
        x_display: desktop_env.XServer, session_bus: object, tmp_path: Path) -> None:
    env = {**x_display.env(), "HOME": str(tmp_path)}
    completed = subprocess.run([sys.executable, "-m", "desktop", "--smoke-test"], capture_output=True, text=True,
                               timeout=120, env=env, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stderr == ""
    lines = completed.stdout.splitlines()
    assert lines[-1] == "smoke test passed"
    assert any(line.startswith("ok   tray: icon shown") for line in lines), lines
    assert any("pixels are exact" in line for line in lines), lines
    # AND nothing of the user's was touched: the profile was a private temporary one
    assert not (tmp_path / ".config" / "glmv-desktop").exists()


def test_a_failing_step_exits_1_and_says_why_on_stderr(tmp_path: Path) -> None:
    # No display at all: Qt cannot start a GUI there, which the smoke test must report, not hide.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "minimal"}
    completed = subprocess.run([sys.executable, "-m", "desktop", "--smoke-test"], capture_output=True, text=True,
                               timeout=120, env=env, check=False)
    assert completed.returncode == 1
    assert "smoke test failed: capture:" in completed.stderr
