"""`glmv-desktop --smoke-test`: prove an installed (or frozen) app works, in a few seconds, and exit.

It starts the application in a private temporary profile (the user's settings, keys and running
instance are left alone), shows the tray icon, puts a test picture on screen and captures it with
the real capture chain, checks the pixels, builds a chat request with it, and loads every part the
app otherwise loads lazily (chat window, overlay, settings, Local servers window, markdown with
highlighting, the keychain backend, the HTTP client, PDF rendering), and records a second of the
test picture to an H.264 clip and decodes it. Each step prints one line; the first failure
prints why on stderr and ends with status 1. A frozen bundle that lacks a module, a Qt plugin or a
codec fails here rather than in a user's hands.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication, QWidget

    from desktop.capture.base import Rect

TEST_COLOUR = (23, 145, 201)
TEST_SIZE = (240, 160)
TRAY_WAIT_S = 5.0
PAINT_WAIT_S = 3.0


class SmokeFailure(Exception):
    """A step failed; the message says which and why."""


async def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    """Let the loop (and so Qt) run until `condition` holds or `seconds` pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


async def _step(name: str, check: Callable[[], Awaitable[str]]) -> None:
    try:
        detail = await check()
    except SmokeFailure:
        raise
    except Exception as exc:  # noqa: BLE001 - any error in a step is the finding
        raise SmokeFailure(f"{name}: {type(exc).__name__}: {exc}") from exc
    print(f"ok   {name}: {detail}", flush=True)


def run_smoke_test() -> int:
    """Run every step; 0 when all passed (the temporary profile is removed either way)."""
    from desktop.display import missing_display_message

    if (no_display := missing_display_message()) is not None:
        print(no_display, file=sys.stderr, flush=True)
        return 1
    home = Path(tempfile.mkdtemp(prefix="glmv-smoke-"))
    # A private profile: nothing of the user's is read or written, and no running instance is contacted.
    for variable, folder in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"),
                             ("XDG_CACHE_HOME", "cache")):
        os.environ[variable] = str(home / folder)
    from desktop.app import GlmvApplication, create_event_loop

    app = GlmvApplication(sys.argv[:1])
    loop = create_event_loop(app)
    try:
        with loop:
            loop.run_until_complete(_run(app, home))
    except SmokeFailure as failure:
        print(f"smoke test failed: {failure}", file=sys.stderr, flush=True)
        return 1
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("smoke test passed", flush=True)
    return 0


def _screen_unreadable() -> str | None:
    """Why the screen's pixels cannot be checked unattended here, or None when they can."""
    from desktop.availability import wayland_session

    if wayland_session():
        # The compositor places windows itself and the portal may ask the user first: only X11,
        # Windows and macOS can check pixels unattended.
        return "skipped on Wayland (the desktop portal may ask the user)"
    if sys.platform == "darwin":
        from desktop.capture.macos_permission import screen_recording_access

        if not screen_recording_access().available:
            return "skipped: Screen Recording is not allowed for this app here"
    return None


async def _show_test_window() -> tuple[QWidget, Rect]:
    """A frameless window of the test colour on screen, and the inside of it in physical pixels
    (10 pixels in from each edge)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QWidget

    from desktop.capture.base import Rect

    window = QWidget(None, Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint)
    palette = window.palette()
    palette.setColor(QPalette.ColorRole.Window, QColor(*TEST_COLOUR))
    window.setPalette(palette)
    window.setAutoFillBackground(True)
    window.setGeometry(40, 40, *TEST_SIZE)
    window.show()
    await _wait(window.isVisible, PAINT_WAIT_S)
    await asyncio.sleep(0.3)  # mapped and painted by the window system
    screen = window.screen()
    # Pictures are in physical pixels, except on macOS, where mss captures in points.
    ratio = screen.devicePixelRatio() if screen is not None and sys.platform != "darwin" else 1.0
    top_left = window.mapToGlobal(window.rect().topLeft())
    x, y = round(top_left.x() * ratio), round(top_left.y() * ratio)
    w, h = round(TEST_SIZE[0] * ratio), round(TEST_SIZE[1] * ratio)
    return window, Rect(x + 10, y + 10, w - 20, h - 20)


async def _run(app: QApplication, home: Path) -> None:

    from desktop import __version__

    print(f"ok   start: GLM-V Desktop {__version__}, Qt platform {app.platformName()}", flush=True)

    async def icon() -> str:
        from desktop.ui.icons import app_icon

        pixmap = app_icon().pixmap(64, 64)
        if pixmap.isNull():
            raise SmokeFailure("icon: the SVG icon did not load (is Qt's svg image plugin bundled?)")
        return "the SVG icon renders"

    await _step("icon", icon)

    async def tray() -> str:
        from desktop.ui.tray import Tray, tray_available

        if not tray_available():
            return "this desktop has no tray (the app would use its chat window)"
        shown = Tray("", app)
        shown.show()
        if not await _wait(shown.icon.isVisible, TRAY_WAIT_S):
            raise SmokeFailure("tray: the icon did not show")
        # An X11 tray host embeds the icon and gives it a place; a StatusNotifierItem host (D-Bus) may not
        # tell its place, so that case is reported, not failed.
        placed = await _wait(lambda: not shown.icon.geometry().isEmpty(), TRAY_WAIT_S)
        shown.hide()
        return "icon shown in the tray host" if placed else "icon shown (the tray host did not report its place)"

    await _step("tray", tray)

    async def capture() -> str:
        from desktop.capture.base import CaptureError, crop
        from desktop.capture.chain import default_chain

        if (skipped := _screen_unreadable()) is not None:
            return skipped
        window, area = await _show_test_window()
        chain = default_chain()
        try:
            shots = await asyncio.to_thread(chain.grab_monitors)
        except CaptureError as exc:
            raise SmokeFailure(f"capture: {exc}") from exc
        finally:
            window.hide()
        picture = crop(shots, area)
        middle = picture.convert("RGB").getpixel((picture.width // 2, picture.height // 2))
        if tuple(middle) != TEST_COLOUR:  # type: ignore[arg-type]
            raise SmokeFailure(f"capture: expected the test colour {TEST_COLOUR} on screen, captured {middle}")
        return f"{len(shots)} monitor(s); the test picture's pixels are exact"

    await _step("capture", capture)

    async def recording() -> str:
        from desktop.capture.recorder import Recorder, RecordingSettings
        from desktop.media.video import probe, sample_frames

        if (skipped := _screen_unreadable()) is not None:
            return skipped
        window, area = await _show_test_window()
        recorder = Recorder(area, home / "smoke.mp4", RecordingSettings(fps=10))
        try:
            recorder.start()
            await asyncio.sleep(1.0)
            clip = await asyncio.to_thread(recorder.stop)
        finally:
            window.hide()
        data = clip.path.read_bytes()
        info = await asyncio.to_thread(probe, data)
        [(_, frame)] = await asyncio.to_thread(sample_frames, data, 1)
        seen = frame.convert("RGB").getpixel((frame.width // 2, frame.height // 2))
        # H.264 in 4:2:0 is lossy: a flat colour comes back within a few levels.
        if not isinstance(seen, tuple) or max(abs(a - b) for a, b in zip(seen, TEST_COLOUR, strict=True)) > 12:
            raise SmokeFailure(f"recording: the clip shows {seen}, not the test colour {TEST_COLOUR}")
        return (f"{info.frames} frames of {info.width}×{info.height} in {info.duration:.1f} s encoded and decoded "
                f"by PyAV ({clip.dropped} dropped)")

    await _step("recording", recording)

    async def request() -> str:
        from PIL import Image

        from desktop.chat.conversation import Conversation, ImageAttachment
        from desktop.chat.request import AskOptions, build_request
        from desktop.config.profiles import Flavor, preset

        picture = Image.new("RGB", (1280, 720), TEST_COLOUR)
        conversation = Conversation()
        question = conversation.add_question("What is on my screen?",
                                             [ImageAttachment.from_pixels(picture, "screen.png", "screen")])
        reply = conversation.start_reply(question, model="zai-org/GLM-4.6V-Flash", endpoint_id="smoke", thinking=True)
        profile = preset(Flavor.VLLM, name="smoke", base_url="http://127.0.0.1:8000/v1")
        sizes = []
        for fmt in ("jpeg", "png"):
            built = build_request(profile, conversation, reply, AskOptions(model="zai-org/GLM-4.6V-Flash",
                                                                          image_format=fmt))
            content = built.body["messages"][-1]["content"]
            url = next(part["image_url"]["url"] for part in content if part.get("type") == "image_url")
            if not url.startswith(f"data:image/{fmt};base64,"):
                raise SmokeFailure(f"request: the image was not encoded as {fmt}")
            sizes.append(len(url))
        return f"JPEG and PNG data URLs ({sizes[0] // 1024} and {sizes[1] // 1024} KiB)"

    await _step("request", request)

    async def documents() -> str:
        import io

        from PIL import Image

        from desktop.chat.attachments import DocumentAttachment
        from desktop.chat.request import sending_for

        out = io.BytesIO()
        Image.new("RGB", (200, 100), TEST_COLOUR).save(out, "PDF", resolution=72)
        document = DocumentAttachment.from_pdf(out.getvalue(), "smoke.pdf", "smoke")
        [page] = [part.image for part in document.parts(sending_for(None, 2700)) if part.image is not None]
        assert page is not None
        seen = Image.open(io.BytesIO(page.data)).convert("RGB").getpixel((page.width // 2, page.height // 2))
        if not isinstance(seen, tuple) or max(abs(a - b) for a, b in zip(seen, TEST_COLOUR, strict=True)) > 8:
            raise SmokeFailure(f"documents: the rendered PDF page shows {seen}, not {TEST_COLOUR}")
        return f"a PDF page rendered by PDFium at {page.width}×{page.height}"

    await _step("documents", documents)

    async def translations() -> str:
        import gettext

        from PySide6.QtCore import QLibraryInfo, QTranslator

        from desktop.i18n import _LOCALE_DIR, DOMAIN

        chinese = gettext.translation(DOMAIN, localedir=_LOCALE_DIR, languages=["zh_CN"])
        said = chinese.gettext("Open chat")
        if said == "Open chat":
            raise SmokeFailure("translations: the Simplified Chinese catalog has no translation for 'Open chat'")
        qt = QTranslator()
        if not qt.load("qtbase_zh_CN", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
            raise SmokeFailure("translations: Qt's own Simplified Chinese catalog (qtbase_zh_CN) is missing")
        return f"Simplified Chinese: 'Open chat' is '{said}'; Qt's own catalog loads"

    await _step("translations", translations)

    async def hotkeys() -> str:
        from desktop.hotkeys.service import LazyBackendFactory, default_backend_factories

        loaded = []
        for factory in default_backend_factories():
            if isinstance(factory, LazyBackendFactory):  # imported by name at run time: must be in the bundle
                getattr(importlib.import_module(factory.module), factory.class_name)
                loaded.append(factory.name)
        return f"backends {', '.join(loaded)} load (no key is grabbed)"

    await _step("hotkeys", hotkeys)

    async def host_programs() -> str:
        from desktop.backends.remote import FETCH_MODULE, HOST_MODULES, host_source, probe_archive

        for name in HOST_MODULES:  # sent to SSH hosts as source: the bundle must hold them as such
            compile(host_source(name), name, "exec")
        return (f"the SSH hosts' probe ({len(probe_archive()) // 1024} KiB) and fetcher "
                f"({len(host_source(FETCH_MODULE)) // 1024} KiB) are there as source")

    await _step("host programs", host_programs)

    async def lazy_parts() -> str:
        import httpx
        import keyring

        from desktop.assistant.services import AppPaths, Services
        from desktop.ui.markdown_html import render_markdown
        from desktop.ui.notifier import Notifier

        html = render_markdown("**bold** $x^2$\n\n```python\nprint('hi')\n```")
        if "<b>" not in html and "<strong>" not in html:
            raise SmokeFailure("markdown: no bold in the rendered answer")
        if html.count("<span") < 2:
            raise SmokeFailure("markdown: the Python code block was not highlighted (Pygments lexers missing?)")
        backend = keyring.get_keyring()
        httpx.Client(timeout=1.0).close()
        from desktop.ui.chat_window import ChatWindow
        from desktop.ui.region_overlay import RegionSelector
        from desktop.ui.servers.window import LocalServersWindow
        from desktop.ui.settings_dialog import SettingsDialog

        services = Services.create(AppPaths(config=home / "config", data=home / "data", logs=home / "logs"))
        notifier = Notifier()
        chat = ChatWindow(services, notifier)
        settings = SettingsDialog(services, notifier)
        await asyncio.sleep(0.5)  # the chat window's warm-up loads httpx, markdown and the keychain in a thread
        chat.shutdown()
        await _wait(lambda: not chat.busy, 5.0)
        for window in (chat, settings):
            window.deleteLater()
        await services.client.aclose()
        del RegionSelector, LocalServersWindow
        if sys.platform.startswith("linux"):
            import jeepney  # noqa: F401 - the portals
            import Xlib.display  # noqa: F401 - X11 hotkeys and windows
        name = f"{type(backend).__module__}.{type(backend).__name__}"
        from importlib.metadata import entry_points

        if not entry_points(group="keyring.backends"):
            raise SmokeFailure("keychain: keyring's backends are not registered (is its metadata bundled?)")
        if sys.platform.startswith("linux"):
            import secretstorage  # noqa: F401 - the Secret Service backend's client (with cryptography, jeepney)
        return f"chat, settings, overlay, local servers, markdown, keychain backend {name}"

    await _step("lazy parts", lazy_parts)
