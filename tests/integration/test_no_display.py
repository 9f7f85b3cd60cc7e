"""Started where there is no display: the GUI commands say so and exit 1 (Qt would abort with a message
about a missing xcb-cursor library), the others keep working, and an explicit QT_QPA_PLATFORM is obeyed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import desktop_env
from tests.support.app_process import AppProcess

GUI_COMMANDS = [("run",), ("ask", "what is this?"), ("capture", "region"), ("chat",), ("settings",), ("servers",),
                ("quick-ask",), ("--smoke-test",)]


def x_display_answers(number: int) -> bool:
    """Whether an X server listens on display `number` (its abstract or its file socket)."""
    for address in (f"\0/tmp/.X11-unix/X{number}", f"/tmp/.X11-unix/X{number}"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(address)
            except OSError:
                continue
            return True
    return False


def dead_display() -> str:
    """A display name such as ':97' that no X server answers on."""
    return f":{next(n for n in range(97, 200) if not x_display_answers(n))}"


def headless_env(home: Path, **extra: str) -> dict[str, str]:
    """This session's environment without any display, Qt platform or instance of the user's."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "WAYLAND_SOCKET", "QT_QPA_PLATFORM")}
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(home / name.lower())
    env["XDG_RUNTIME_DIR"] = str(home / "runtime")
    (home / "runtime").mkdir(mode=0o700, exist_ok=True)
    env.update(extra)
    return env


def run_to_exit(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Start the app's entry point, wait for it to end, check nothing of it is left; (rc, stdout, stderr)."""
    app = AppProcess(env, *args)
    try:
        code = app.wait_exit(timeout=60)
        with pytest.raises(ProcessLookupError):
            os.killpg(app.process.pid, 0)  # its whole process group is gone: nothing left running
    finally:
        app.kill()
    return code, "\n".join(app.output), "\n".join(app.errors)


@pytest.fixture
def compositor_socket(tmp_path: Path) -> Iterator[Path]:
    """A Unix socket that accepts connections, where a Wayland compositor's would be."""
    path = tmp_path / "runtime" / "wayland-test"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(8)
        yield path


# -- the app as users start it ---------------------------------------------------------------------------------
@pytest.mark.parametrize("command", GUI_COMMANDS, ids=lambda c: c[0])
def test_without_any_display_the_gui_commands_say_so_and_exit_1(tmp_path: Path, command: tuple[str, ...]) -> None:
    # GIVEN neither DISPLAY nor WAYLAND_DISPLAY, and no Qt platform asked for
    # WHEN a command that needs the GUI starts
    code, _out, err = run_to_exit(headless_env(tmp_path), *command)
    # THEN it exits 1 (not Qt's abort, 134) and says what is wrong and what to do
    assert code == 1, err
    assert "No display found" in err and "DISPLAY" in err and "WAYLAND_DISPLAY" in err
    assert "ssh -X" in err and "glmv-desktop doctor" in err
    assert "xcb-cursor0" not in err, "Qt's misleading message is not reached"


@pytest.mark.parametrize("platform", [None, "xcb"])
def test_a_display_with_no_x_server_is_named_and_exit_is_1(tmp_path: Path, platform: str | None) -> None:
    display = dead_display()
    extra = {"DISPLAY": display} | ({"QT_QPA_PLATFORM": platform} if platform else {})
    code, _out, err = run_to_exit(headless_env(tmp_path, **extra), "run")
    assert code == 1, err
    assert f"Cannot connect to the X display '{display}'" in err
    assert "ssh -X" in err and "xcb-cursor0" not in err


def test_a_wayland_display_with_no_compositor_is_named(tmp_path: Path) -> None:
    code, _out, err = run_to_exit(headless_env(tmp_path, WAYLAND_DISPLAY="wayland-gone"), "chat")
    assert code == 1, err
    assert "Cannot connect to the Wayland display 'wayland-gone'" in err
    assert str(tmp_path / "runtime" / "wayland-gone") in err


def test_qt_qpa_platform_xcb_is_obeyed_even_with_a_wayland_display(tmp_path: Path, compositor_socket: Path) -> None:
    # A compositor answers, but Qt was told to use X11 and there is no X display: Qt would abort.
    env = headless_env(tmp_path, WAYLAND_DISPLAY=compositor_socket.name, QT_QPA_PLATFORM="xcb")
    code, _out, err = run_to_exit(env, "run")
    assert code == 1, err
    assert "QT_QPA_PLATFORM=xcb" in err and "DISPLAY is not set" in err


def test_qt_qpa_platform_wayland_is_obeyed_even_with_an_x_display(tmp_path: Path,
                                                                   x_display: desktop_env.XServer) -> None:
    env = headless_env(tmp_path, DISPLAY=x_display.display, QT_QPA_PLATFORM="wayland")
    code, _out, err = run_to_exit(env, "run")
    assert code == 1, err
    assert "Cannot connect to the Wayland display 'wayland-0'" in err


def test_the_offscreen_platform_needs_no_display(tmp_path: Path) -> None:
    env = headless_env(tmp_path, QT_QPA_PLATFORM="offscreen", GLMV_DESKTOP_TRACE="1")
    app = AppProcess(env, "run")
    try:
        app.wait_for("started")
        assert app.cli("quit").returncode == 0
        assert app.wait_exit() == 0
    finally:
        app.kill()


# -- the commands that need no display ---------------------------------------------------------------------------
def test_quit_status_and_version_work_without_a_display(tmp_path: Path) -> None:
    env = headless_env(tmp_path, DISPLAY=dead_display())
    assert run_to_exit(env, "quit")[:2] == (0, "GLM-V Desktop is not running.")
    code, out, _err = run_to_exit(env, "status")
    assert code == 1 and "not running" in out
    version = subprocess.run([sys.executable, "-m", "desktop", "--version"], env=env, capture_output=True,
                             text=True, timeout=60, check=False)
    assert version.returncode == 0 and version.stdout.startswith("glmv-desktop ")


def test_a_command_is_still_handed_to_a_running_instance_from_a_shell_without_a_display(
        tmp_path: Path) -> None:
    # GIVEN an instance running (here on the offscreen platform) and a shell without any display, as over ssh
    running = AppProcess(headless_env(tmp_path, QT_QPA_PLATFORM="offscreen", GLMV_DESKTOP_TRACE="1"), "run")
    try:
        running.wait_for("started")
        # WHEN a GUI command is typed there, THEN it is handed over rather than refused
        code, out, err = run_to_exit(headless_env(tmp_path), "chat")
        assert code == 0 and "Chat window opened" in out, err
        assert running.cli("quit").returncode == 0
        assert running.wait_exit() == 0
    finally:
        running.kill()


def test_doctor_reports_a_display_with_no_x_server(tmp_path: Path) -> None:
    display = dead_display()
    result = subprocess.run([sys.executable, "-m", "desktop", "doctor"],
                            env=headless_env(tmp_path, DISPLAY=display), capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert f"Cannot connect to the X display '{display}'" in result.stdout
    assert "Keychain" in result.stdout and "Endpoints" in result.stdout, "the later sections still ran"


# -- the check itself ---------------------------------------------------------------------------------------------
def test_the_check_follows_what_qt_would_use(tmp_path: Path, x_display: desktop_env.XServer,
                                             compositor_socket: Path) -> None:
    from desktop.display import display_availability

    runtime = str(compositor_socket.parent)
    live_x, live_wayland = {"DISPLAY": x_display.display}, {"WAYLAND_DISPLAY": "wayland-test",
                                                            "XDG_RUNTIME_DIR": runtime}
    dead_x, dead_wayland = {"DISPLAY": dead_display()}, {"WAYLAND_DISPLAY": "wayland-gone", "XDG_RUNTIME_DIR": runtime}
    assert display_availability(live_x, "linux").available
    assert display_availability(live_wayland, "linux").available
    assert display_availability({**dead_x, **live_wayland}, "linux").available, "Qt can fall back to Wayland"
    assert display_availability({**live_x, **dead_wayland}, "linux").available
    assert not display_availability({**dead_x, **dead_wayland}, "linux").available
    assert not display_availability({}, "linux").available
    # an explicit platform is what counts
    for platform in ("offscreen", "minimal", "vnc", "xcb;offscreen", "eglfs"):
        assert display_availability({"QT_QPA_PLATFORM": platform}, "linux").available, platform
    assert display_availability({**live_x, "QT_QPA_PLATFORM": "xcb:nomitshm"}, "linux").available
    assert not display_availability({**live_wayland, "QT_QPA_PLATFORM": "xcb"}, "linux").available
    assert not display_availability({**live_x, "QT_QPA_PLATFORM": "wayland"}, "linux").available
    assert display_availability({**live_x, "QT_QPA_PLATFORM": "wayland;xcb"}, "linux").available
    assert display_availability({"XDG_RUNTIME_DIR": runtime, "WAYLAND_DISPLAY": str(compositor_socket),
                                 "QT_QPA_PLATFORM": "wayland-egl"}, "linux").available
    # Windows and macOS always have their window system
    assert display_availability({}, "win32").available and display_availability({}, "darwin").available
