"""Start at login: the XDG autostart entry (made and removed for real in a scratch config folder), and the
macOS launch agent's property list."""

from __future__ import annotations

import plistlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop import DESKTOP_ID
from desktop.config import autostart


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG entry is the Linux/BSD one")
def test_the_xdg_entry_starts_this_installation_and_goes_away_when_switched_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    entry = tmp_path / "autostart" / f"{DESKTOP_ID}.desktop"
    assert not autostart.is_enabled()
    # WHEN it is switched on THEN the entry runs this Python's app, and desktops will start it
    autostart.set_enabled(True)
    assert autostart.is_enabled() and entry.exists()
    lines = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert shlex.split(lines["Exec"]) == [sys.executable, "-m", "desktop"]
    assert lines["Type"] == "Application" and lines["X-GNOME-Autostart-enabled"] == "true"
    # WHEN switched on again (a start after an update) THEN still one entry; off removes it
    autostart.set_enabled(True)
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]
    autostart.set_enabled(False)
    assert not entry.exists() and not autostart.is_enabled()
    autostart.set_enabled(False)  # switching off twice is fine


def test_a_frozen_app_starts_its_own_executable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert autostart.launch_command() == [sys.executable]


def test_the_macos_launch_agent_runs_the_app_at_load() -> None:
    agent = plistlib.loads(autostart.launch_agent(["/Applications/GLM-V Desktop.app/Contents/MacOS/glmv-desktop"]))
    assert agent == {"Label": DESKTOP_ID, "RunAtLoad": True, "ProcessType": "Interactive",
                     "ProgramArguments": ["/Applications/GLM-V Desktop.app/Contents/MacOS/glmv-desktop"]}


@pytest.mark.parametrize(("command", "expected"), [
    (["/usr/bin/glmv-desktop"], "/usr/bin/glmv-desktop"),
    (["/home/ana/Apps and tools/glmv-desktop"], '"/home/ana/Apps and tools/glmv-desktop"'),
    (["/opt/a$b/glmv-desktop", "50%"], '"/opt/a\\\\$b/glmv-desktop" 50%%'),
])
def test_exec_values_follow_the_desktop_entry_quoting_rules(command: list[str], expected: str) -> None:
    assert autostart.desktop_exec(command) == expected


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils is not installed")
def test_an_entry_for_a_program_in_a_folder_with_spaces_is_valid(tmp_path: Path) -> None:
    entry = tmp_path / f"{DESKTOP_ID}.desktop"
    entry.write_text(autostart.xdg_entry(["/home/ana/Apps & tools/glmv-desktop"]))
    completed = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0 and completed.stdout == "", completed.stdout
