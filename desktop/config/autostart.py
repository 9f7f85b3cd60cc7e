"""Start at login: the per-user entry each desktop reads, made or removed to follow the
`app.start_at_login` setting.

- Linux and BSD: an XDG autostart entry, `$XDG_CONFIG_HOME/autostart/<app id>.desktop`;
- Windows: the value "GLM-V Desktop" under HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run
  (the one the installer's "start when I sign in" option writes);
- macOS: a launch agent, `~/Library/LaunchAgents/<app id>.plist`, run at load.

The command is the program that runs now: the installed executable of a frozen app, `flatpak run`
inside a Flatpak (whose entry goes to the host's autostart folder, which its manifest shares), or
this Python with `-m desktop` from a source tree.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import subprocess
import sys
from pathlib import Path

from desktop import APP_NAME, DESKTOP_ID

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"


def in_flatpak() -> bool:
    """Whether the app runs inside a Flatpak sandbox."""
    return Path("/.flatpak-info").exists()


def launch_command() -> list[str]:
    """How this installation is started."""
    if in_flatpak():
        return ["flatpak", "run", DESKTOP_ID]
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "desktop"]


def xdg_entry_path() -> Path:
    """Where the XDG autostart entry lives (inside a Flatpak: the host's folder, not the sandbox's)."""
    config = str(Path.home() / ".config") if in_flatpak() else (
        os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config"))
    return Path(config) / "autostart" / f"{DESKTOP_ID}.desktop"


def desktop_exec(command: list[str]) -> str:
    """`command` as a Desktop Entry Exec value: arguments with reserved characters double-quoted, with
    `"`, `` ` ``, `$` and `\\` escaped inside the quotes and then for the string value, and `%` doubled."""
    reserved = set(' \t\n"\'\\><~|&;$*?#()`')
    words = []
    for argument in command:
        word = argument.replace("%", "%%")
        if any(ch in reserved for ch in word):
            inner = "".join("\\" + ch if ch in '"`$\\' else ch for ch in word)
            word = '"' + inner.replace("\\", "\\\\") + '"'
        words.append(word)
    return " ".join(words)


def launch_agent_path() -> Path:
    """Where the macOS launch agent lives."""
    return Path.home() / "Library" / "LaunchAgents" / f"{DESKTOP_ID}.plist"


def xdg_entry(command: list[str]) -> str:
    """The autostart entry's text."""
    return (f"[Desktop Entry]\nType=Application\nName={APP_NAME}\nExec={desktop_exec(command)}\n"
            f"Icon={DESKTOP_ID}\nTerminal=false\nNoDisplay=true\nX-GNOME-Autostart-enabled=true\n")


def launch_agent(command: list[str]) -> bytes:
    """The launch agent's property list."""
    return plistlib.dumps({"Label": DESKTOP_ID, "ProgramArguments": command, "RunAtLoad": True,
                           "ProcessType": "Interactive"})


def is_enabled() -> bool:
    """Whether the app is set to start at login."""
    if sys.platform == "win32":
        return _windows_value() is not None
    path = launch_agent_path() if sys.platform == "darwin" else xdg_entry_path()
    return path.exists()


def set_enabled(enabled: bool) -> None:
    """Make or remove the entry (blocking file or registry work: call it off the UI thread)."""
    command = launch_command()
    if sys.platform == "win32":
        _set_windows(subprocess.list2cmdline(command) if enabled else None)
        return
    path = launch_agent_path() if sys.platform == "darwin" else xdg_entry_path()
    if not enabled:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    data = launch_agent(command) if sys.platform == "darwin" else xdg_entry(command).encode()
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def _windows_value() -> str | None:
    import winreg  # type: ignore[import-not-found,unused-ignore]

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:  # type: ignore[attr-defined,unused-ignore]
            value, _kind = winreg.QueryValueEx(key, APP_NAME)  # type: ignore[attr-defined,unused-ignore]
    except OSError:
        return None
    return str(value)


def _set_windows(value: str | None) -> None:
    import winreg  # type: ignore[import-not-found,unused-ignore]

    access = winreg.KEY_SET_VALUE  # type: ignore[attr-defined,unused-ignore]
    with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, access) as key:  # type: ignore[attr-defined,unused-ignore]
        if value is None:
            with contextlib.suppress(FileNotFoundError):
                winreg.DeleteValue(key, APP_NAME)  # type: ignore[attr-defined,unused-ignore]
        else:
            winreg.SetValueEx(key, APP_NAME, 0, winreg.REG_SZ, value)  # type: ignore[attr-defined,unused-ignore]
