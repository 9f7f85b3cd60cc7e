"""A real desktop for tests: Xvfb at 24-bit, a tray host (trayer), a private D-Bus session bus
with an unlocked gnome-keyring, and xdotool to drive them.

When GLMV_TEST_STRICT=1 (set by .ci/run) a missing tool is an error, never a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.private_bus import start_bus_daemon

STRICT = os.environ.get("GLMV_TEST_STRICT") == "1"
KEYRING_PASSWORD = "test-keyring-password"  # noqa: S105 - a throwaway keyring inside the test session


def require(*tools: str) -> None:
    """Skip (or, in CI, fail) unless every tool is on PATH."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        message = f"missing system tools: {', '.join(missing)} (.ci/run installs them)"
        if STRICT:
            pytest.fail(message)
        pytest.skip(message)


def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 5.0) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class XServer:
    """An Xvfb server; `display` is like ':5'."""

    display: str
    process: subprocess.Popen[bytes]
    width: int
    height: int

    def env(self) -> dict[str, str]:
        """Environment for a child process that should use this display."""
        return {**os.environ, "DISPLAY": self.display, "QT_QPA_PLATFORM": "xcb"}

    def stop(self) -> None:
        """Shut the server down."""
        _stop(self.process)


def start_xvfb(width: int = 1920, height: int = 1080) -> XServer:
    """Start Xvfb at 24-bit on a free display number (it tells us which through -displayfd)."""
    require("Xvfb")
    read_fd, write_fd = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp",
         "-noreset", "+extension", "RANDR"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + 15
    with os.fdopen(read_fd, "rb") as pipe:
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            chunk = pipe.read(1)
            if not chunk:
                break
            number += chunk
    if not number.strip():
        _stop(process)
        raise RuntimeError("Xvfb did not start")
    return XServer(f":{number.decode().strip()}", process, width, height)


@dataclass
class TrayHost:
    """trayer, an XEmbed system tray, docked at the top right of the screen."""

    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Remove the tray."""
        _stop(self.process)


def start_tray(x: XServer) -> TrayHost:
    """Start trayer on `x` and wait until it owns the tray selection."""
    require("trayer", "xdotool")
    process = subprocess.Popen(
        ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "32",
         "--SetDockType", "true", "--transparent", "false", "--tint", "0xdddddd"],
        env=x.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--classname", "panel"], env=x.env(),
                               capture_output=True, text=True, check=False)
        if found.stdout.strip():
            time.sleep(0.2)
            return TrayHost(process)
        time.sleep(0.05)
    _stop(process)
    raise RuntimeError("trayer did not start")


@dataclass
class SessionBus:
    """A private D-Bus session bus with an unlocked gnome-keyring (Secret Service) on it."""

    address: str
    bus: subprocess.Popen[bytes]
    keyring_dir: Path
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the keyring daemon and the bus."""
        for child in self.children:
            _stop(child)
        subprocess.run(["pkill", "-f", f"gnome-keyring-daemon.*{self.keyring_dir}"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _stop(self.bus)
        if self.bus.stdout is not None:
            self.bus.stdout.close()


def start_session_bus(home: Path) -> SessionBus:
    """Start dbus-daemon and an unlocked gnome-keyring-daemon whose files live under `home`."""
    require("dbus-daemon", "gnome-keyring-daemon")
    # No activatable services: a call to the desktop portal (or anything else not started here)
    # must fail fast, not start the system's real xdg-desktop-portal on the test bus.
    bus, address = start_bus_daemon(home / "session-bus")
    keyring_dir = home / "keyrings"
    keyring_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address, "XDG_DATA_HOME": str(home),
           "GNOME_KEYRING_CONTROL": str(keyring_dir)}
    daemon = subprocess.run(
        ["gnome-keyring-daemon", "--unlock", "--components=secrets", f"--control-directory={keyring_dir}"],
        input=KEYRING_PASSWORD.encode(), env=env, capture_output=True, timeout=30, check=False,
    )
    if daemon.returncode != 0:
        _stop(bus)
        raise RuntimeError(f"gnome-keyring-daemon failed: {daemon.stderr.decode()}")
    return SessionBus(address, bus, keyring_dir)


def xdotool(x: XServer, *args: str) -> str:
    """Run xdotool on display `x` and return its output."""
    require("xdotool")
    result = subprocess.run(["xdotool", *args], env=x.env(), capture_output=True, text=True, timeout=20, check=False)
    return result.stdout.strip()
