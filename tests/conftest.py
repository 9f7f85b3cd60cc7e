"""The test session's real desktop and fixtures.

Before any test runs, the session gets its own config/data folders, a private D-Bus session bus
with an unlocked gnome-keyring, an Xvfb display at 24-bit and a tray host on it; Qt runs on that
display (xcb). Every test fails on unexpected warnings (Qt's or our loggers') and on child
processes or threads it leaves behind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psutil
import pytest
from PIL import Image

from tests.support import desktop_env
from tests.support.pictures import make_known_picture

_session: dict[str, object] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Isolate the user's folders and start the session's bus, keyring, display and tray."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    # The tests read the app's English (tests in another language set it themselves), whatever this machine's.
    os.environ["LANGUAGE"] = "en"
    root = Path(tempfile.mkdtemp(prefix="glmv-tests-"))
    _session["root"] = root
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        os.environ[f"XDG_{name}_HOME"] = str(root / name.lower())
    os.environ["XDG_RUNTIME_DIR"] = str(root / "runtime")
    (root / "runtime").mkdir(mode=0o700)
    os.environ.pop("GLMV_DESKTOP_TRACE", None)
    try:
        bus = desktop_env.start_session_bus(root / "data")
        _session["bus"] = bus
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = bus.address
    except (pytest.skip.Exception, pytest.fail.Exception, RuntimeError) as exc:
        _session["bus_error"] = str(exc)
    try:
        x = desktop_env.start_xvfb()
        _session["x"] = x
        os.environ["DISPLAY"] = x.display
        os.environ["QT_QPA_PLATFORM"] = "xcb"
        _session["tray"] = desktop_env.start_tray(x)
    except (pytest.skip.Exception, pytest.fail.Exception, RuntimeError) as exc:
        _session["x_error"] = str(exc)
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ.pop("DISPLAY", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop what pytest_configure started."""
    for key in ("tray", "x", "bus"):
        thing = _session.pop(key, None)
        if thing is not None:
            thing.stop()  # type: ignore[attr-defined]
    root = _session.pop("root", None)
    if isinstance(root, Path):
        shutil.rmtree(root, ignore_errors=True)


# -- the real desktop ----------------------------------------------------------------------------------
T = TypeVar("T")


def _started(key: str, kind: type[T], what: str) -> T:
    """Something pytest_configure started, or a skip (a failure under GLMV_TEST_STRICT) saying why not."""
    thing = _session.get(key)
    if not isinstance(thing, kind):
        message = f"no {what}: {_session.get(key + '_error')}"
        if desktop_env.STRICT:
            pytest.fail(message)
        pytest.skip(message)
    return thing


@pytest.fixture(scope="session")
def x_display() -> desktop_env.XServer:
    """The session's Xvfb display (the one Qt runs on)."""
    return _started("x", desktop_env.XServer, "X display")


@pytest.fixture(scope="session")
def session_bus() -> desktop_env.SessionBus:
    """The session's private D-Bus bus with an unlocked gnome-keyring."""
    return _started("bus", desktop_env.SessionBus, "session bus / keyring")


@pytest.fixture(scope="session")
def qapp_cls() -> type:
    """pytest-qt creates the app's own QApplication subclass."""
    from desktop.app import GlmvApplication

    return GlmvApplication


@pytest.fixture(scope="session")
def _qasync_loop(qapp: object) -> Iterator[asyncio.AbstractEventLoop]:
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.events._set_running_loop(None)
    yield loop
    loop.stop()
    loop.close()


@pytest.fixture
def qt_loop(_qasync_loop: asyncio.AbstractEventLoop) -> Iterator[asyncio.AbstractEventLoop]:
    """The app's qasync loop on the test QApplication; Qt event processing (qtbot.wait…) runs it.

    It counts as the running loop only during the test, so plain-asyncio tests (asyncio.run) work too.
    """
    asyncio.set_event_loop(_qasync_loop)
    asyncio.events._set_running_loop(_qasync_loop)
    from desktop.app import install_asyncgen_hooks

    hooks = sys.get_asyncgen_hooks()
    install_asyncgen_hooks(_qasync_loop)  # as the app's loop has them
    yield _qasync_loop
    for task in asyncio.all_tasks(_qasync_loop):
        task.cancel()
    sys.set_asyncgen_hooks(*hooks)
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)


def wait_for(qtbot: object, future: asyncio.Future[object] | asyncio.Task[object], timeout_ms: int = 20000) -> object:
    """Let Qt (and so asyncio) run until `future` is done; return its result."""
    qtbot.waitUntil(future.done, timeout=timeout_ms)  # type: ignore[attr-defined]
    return future.result()


@pytest.fixture
def run(qtbot: object, qt_loop: asyncio.AbstractEventLoop) -> Callable[..., object]:
    """Run a coroutine to completion on the Qt loop: `run(coro, timeout_ms=…)`."""

    def runner(coro: object, timeout_ms: int = 20000) -> object:
        return wait_for(qtbot, asyncio.ensure_future(coro), timeout_ms)  # type: ignore[arg-type]

    return runner


# -- app services ---------------------------------------------------------------------------------------------
@pytest.fixture
def app_paths(tmp_path: Path) -> object:
    """Per-test config, data and log folders."""
    from desktop.assistant.services import AppPaths

    return AppPaths(config=tmp_path / "config", data=tmp_path / "data", logs=tmp_path / "logs")


@pytest.fixture
def services(app_paths: object, qt_loop: asyncio.AbstractEventLoop, session_bus: object,
             qtbot: object) -> Iterator[object]:
    """The app's services on the test's folders and the session's keyring; its HTTP client closed after."""
    from desktop.assistant.services import AppPaths, Services

    assert isinstance(app_paths, AppPaths)
    built = Services.create(app_paths)
    yield built
    closing = asyncio.ensure_future(built.client.aclose())
    qtbot.waitUntil(closing.done, timeout=5000)  # type: ignore[attr-defined]


@pytest.fixture
def portal_bus() -> Iterator[str]:
    """A private dbus-daemon of the test's own, with no activatable services, for the fake portal.

    Not the session's bus: this Debian image has the real xdg-desktop-portal installed, and anything that
    asks the session bus for the portal D-Bus-activates it; it then owns the portal's name (allowing no
    replacement) and the fake could not start.
    """
    from tests.support.fake_portal import PrivateBus

    desktop_env.require("dbus-daemon")
    with PrivateBus() as bus:
        yield bus.address


@pytest.fixture
def fake_server() -> Iterator[object]:
    """The protocol-faithful OpenAI-compatible test server."""
    from tests.support.fake_openai_server import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random GLM-V model, built locally (no download)."""
    from tests.support.tiny_glmv import build_tiny_glmv

    return build_tiny_glmv(tmp_path_factory.mktemp("tiny-glmv") / "model")


@pytest.fixture(scope="session")
def tiny_server(tiny_model_dir: Path) -> Iterator[object]:
    """`transformers serve` with the tiny GLM-V model on 127.0.0.1, once per session."""
    from tests.support.tiny_glmv import TinyGlmvServer

    with TinyGlmvServer(tiny_model_dir) as server:
        yield server


# -- hygiene: logs, threads, processes --------------------------------------------------------------------------
class _LogCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.expected: list[re.Pattern[str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def unexpected(self) -> list[str]:
        out = []
        for record in self.records:
            text = f"{record.name}: {record.getMessage()}"
            if not any(p.search(text) for p in self.expected):
                out.append(f"{record.levelname} {text}")
        return out


@pytest.fixture(autouse=True)
def fail_on_unexpected_logs() -> Iterator[_LogCollector]:
    """Fail a test that logs a warning or error it did not declare with `expect_log`."""
    collector = _LogCollector()
    logging.getLogger().addHandler(collector)
    yield collector
    logging.getLogger().removeHandler(collector)
    unexpected = collector.unexpected()
    if unexpected:
        pytest.fail("unexpected log records:\n" + "\n".join(unexpected))


@pytest.fixture
def expect_log(fail_on_unexpected_logs: _LogCollector) -> Callable[[str], None]:
    """Declare a warning/error log the test expects (regex on 'logger: message')."""

    def expect(pattern: str) -> None:
        fail_on_unexpected_logs.expected.append(re.compile(pattern))

    return expect


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE}


_ALLOWED_THREADS = re.compile(r"^(asyncio_\d+|ThreadPoolExecutor-.*|QThread.*|Dummy-\d+|MainThread)$")


@pytest.fixture(autouse=True)
def no_leftovers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves child processes or non-pool threads running."""
    before_children = _children()
    before_threads = {t.ident for t in threading.enumerate()}
    yield
    if "tiny_server" in request.fixturenames:
        return  # the session's model server outlives the test by design
    deadline = 50
    leftover: set[int] = set()
    for _ in range(deadline):
        leftover = _children() - before_children
        if not leftover:
            break
        threading.Event().wait(0.1)
    threads = [t.name for t in threading.enumerate()
               if t.ident not in before_threads and t.is_alive() and not _ALLOWED_THREADS.match(t.name)]
    problems = []
    if leftover:
        problems.append("child processes left running: " + ", ".join(
            f"{pid} {' '.join(psutil.Process(pid).cmdline()[:4])}" for pid in leftover if psutil.pid_exists(pid)))
    if threads:
        problems.append("threads left running: " + ", ".join(threads))
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def known_picture(x_display: desktop_env.XServer, tmp_path: Path) -> Iterator[Image.Image]:
    path = tmp_path / "known.png"
    picture = make_known_picture(path, x_display.width, x_display.height)
    viewer = subprocess.Popen([sys.executable, "-m", "tests.support.show_picture", str(path)], env=x_display.env(),
                              stdout=subprocess.PIPE, text=True)
    assert viewer.stdout is not None and viewer.stdout.readline().strip() == "shown"
    yield picture
    viewer.terminate()
    viewer.wait(10)
    viewer.stdout.close()
