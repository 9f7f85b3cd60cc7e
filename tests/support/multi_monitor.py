"""A real X server with two 1920×1080 monitors side by side, for multi-monitor capture tests.

Xvfb and Xephyr have one CRTC and cannot do this; Xorg with the dummy video driver can. The
server is started with the config `xorg-dummy.conf` beside this module (a 3840×1080 virtual
screen), then xrandr adds the second output to the right of the first. `start_dual_monitor_xorg()`
raises RuntimeError saying what failed; `dual_monitor_xorg()` turns that into a skip, or a failure
when GLMV_TEST_STRICT=1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.desktop_env import STRICT, XServer, _stop, require

CONFIG = Path(__file__).resolve().with_name("xorg-dummy.conf")
MONITOR_WIDTH, MONITOR_HEIGHT = 1920, 1080
_START_TIMEOUT = 30.0
_SERVER_FLAGS = """
Section "ServerFlags"
    Option "AutoAddDevices" "false"
    Option "AutoEnableDevices" "false"
    Option "DontVTSwitch" "true"
EndSection
"""


@dataclass
class DualMonitorXServer(XServer):
    """An Xorg dummy server with two monitors; `workdir` holds its config and log, removed on stop."""

    workdir: Path | None = None
    outputs: tuple[str, str] = ("DUMMY0", "DUMMY1")
    start_seconds: float = 0.0

    def stop(self) -> None:
        """Stop the server (SIGTERM to its process group, then wait) and remove its files."""
        super().stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def dual_monitor_xorg() -> DualMonitorXServer:
    """Start the two-monitor server, or skip (fail under GLMV_TEST_STRICT=1) saying what is missing."""
    require("Xorg", "xrandr")
    try:
        return start_dual_monitor_xorg()
    except RuntimeError as exc:
        message = f"no two-monitor X server: {exc}"
        if STRICT:
            pytest.fail(message)
        pytest.skip(message)


def start_dual_monitor_xorg() -> DualMonitorXServer:
    """Start Xorg (dummy driver) on a free display and arrange two 1920×1080 monitors side by side."""
    if not CONFIG.is_file():
        raise RuntimeError(f"the Xorg dummy config is missing: {CONFIG}")
    for tool in ("Xorg", "xrandr"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (xserver-xorg-core, xserver-xorg-video-dummy, "
                               "x11-xserver-utils)")
    workdir = Path(tempfile.mkdtemp(prefix="glmv-xorg-"))
    config = workdir / "xorg.conf"
    # Our copy also keeps Xorg off the machine's real keyboard, mouse and virtual terminals: a test
    # server run as root on a workstation must not take the user's input devices or switch consoles.
    config.write_text(CONFIG.read_text() + _SERVER_FLAGS)
    (workdir / "conf.d").mkdir()
    log, errors = workdir / "Xorg.log", workdir / "stderr.txt"
    started = time.monotonic()
    read_fd, write_fd = os.pipe()
    with errors.open("wb") as stderr:
        process = subprocess.Popen(
            ["Xorg", "-config", str(config), "-configdir", str(workdir / "conf.d"), "-noreset", "-nolisten", "tcp",
             "-novtswitch", "-sharevts", "-logfile", str(log), "-displayfd", str(write_fd)],
            pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            start_new_session=True,
        )
    os.close(write_fd)
    server = DualMonitorXServer("", process, 2 * MONITOR_WIDTH, MONITOR_HEIGHT, workdir=workdir)
    try:
        number = _read_display_number(read_fd, process)
        if not number:
            raise RuntimeError(_why_xorg_failed(process, log, errors))
        server.display = f":{number}"
        server.outputs = _arrange(server)
        server.start_seconds = time.monotonic() - started
        return server
    except BaseException:
        server.stop()
        raise


def _read_display_number(read_fd: int, process: subprocess.Popen[bytes]) -> str:
    """The display number Xorg writes to -displayfd once it accepts connections ('' if it never does)."""
    number = b""
    deadline = time.monotonic() + _START_TIMEOUT
    with os.fdopen(read_fd, "rb") as pipe:
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            chunk = pipe.read(1)  # EOF when Xorg exits: it holds the only write end
            if not chunk:
                break
            number += chunk
    return number.decode().strip() if process.poll() is None else ""


def _why_xorg_failed(process: subprocess.Popen[bytes], log: Path, errors: Path) -> str:
    """What Xorg said before it gave up (its error lines), and a hint if it is a permission problem."""
    _stop(process)
    text = ""
    for path in (errors, log):
        if path.is_file():
            text += path.read_text(errors="replace")
    lines = [line for line in text.splitlines() if "(EE)" in line or "rror" in line or "ermission" in line]
    hint = ""
    if os.geteuid() != 0:
        hint = (" Xorg with the dummy driver is run directly here; as a normal user it needs "
                "/etc/X11/Xwrapper.config with 'allowed_users=anybody' and 'needs_root_rights=no', or run the "
                "tests as root.")
    return f"Xorg exited with {process.returncode}: " + (" | ".join(lines[-8:]) or text[-600:]) + hint


def _xrandr(server: XServer, *args: str) -> str:
    result = subprocess.run(["xrandr", *args], env=server.env(), capture_output=True, text=True, timeout=20,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"xrandr {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def _arrange(server: XServer) -> tuple[str, str]:
    """Turn on a second output at 1920×1080 right of the first; return both output names."""
    outputs = re.findall(r"^(\S+) (?:connected|disconnected)", _xrandr(server), re.MULTILINE)
    if len(outputs) < 2:
        raise RuntimeError(f"the dummy driver offers fewer than two outputs: {outputs}")
    first, second = outputs[0], outputs[1]
    mode = f"{MONITOR_WIDTH}x{MONITOR_HEIGHT}"
    _xrandr(server, "--addmode", second, mode)
    _xrandr(server, "--output", second, "--mode", mode, "--right-of", first)
    monitors = _xrandr(server, "--listmonitors")
    found = re.findall(r"(\d+)/\d+x(\d+)/\d+\+(\d+)\+(\d+)", monitors)
    expected = [(str(MONITOR_WIDTH), str(MONITOR_HEIGHT), "0", "0"),
                (str(MONITOR_WIDTH), str(MONITOR_HEIGHT), str(MONITOR_WIDTH), "0")]
    if sorted(found) != expected:
        raise RuntimeError(f"xrandr reports monitors {found}, expected two side by side:\n{monitors}")
    import mss

    with mss.MSS(display=server.display) as grabber:
        seen = [(m["left"], m["top"], m["width"], m["height"]) for m in grabber.monitors[1:]]
    if len(seen) != 2:
        raise RuntimeError(f"mss sees {len(seen)} monitors ({seen}) where xrandr reports two")
    return first, second
