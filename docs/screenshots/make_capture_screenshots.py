"""Take the README's pictures of the frozen region overlay and of Settings → Hotkeys & capture.

Starts its own Xvfb (and a private session bus), shows a made-up desktop in the overlay with a
selection being made, and opens the settings page with the real X11 hotkey service while another
X client holds one of the combinations, so the page shows how a conflict is reported.

    .venv/bin/python -m docs.screenshots.make_capture_screenshots
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

from docs.screenshots.make_quick_ask_screenshot import _font, make_capture
from tests.support import desktop_env

HERE = Path(__file__).resolve().parent


def make_desktop() -> Image.Image:
    """A made-up 1920×1080 desktop: a wallpaper, a chart window and the terminal with an error."""
    desktop = Image.new("RGB", (1920, 1080))
    draw = ImageDraw.Draw(desktop)
    for y in range(1080):
        draw.line((0, y, 1920, y), fill=(28 + y // 30, 60 + y // 18, 96 + y // 14))
    chart = Image.new("RGB", (760, 520), "#fafafa")
    chart_draw = ImageDraw.Draw(chart)
    chart_draw.rectangle((0, 0, 760, 40), fill="#e8eaed")
    chart_draw.text((16, 10), "Quarterly revenue.xlsx", fill="#202124", font=_font(18))
    for i, (height, colour) in enumerate(((180, "#4285f4"), (260, "#34a853"), (320, "#fbbc04"), (400, "#ea4335"))):
        chart_draw.rectangle((80 + i * 160, 480 - height, 180 + i * 160, 480), fill=colour)
    desktop.paste(chart, (1080, 120))
    terminal = make_capture().resize((900, 480))
    desktop.paste(terminal, (140, 300))
    return desktop


def shoot_overlay(app: object) -> Path:
    """The overlay with a selection around the terminal's error, the toolbar under it."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    from desktop.capture.base import Rect, Screenshot
    from desktop.capture.window_list import WindowInfo
    from desktop.ui.region_overlay import RegionSelector

    shot = Screenshot(make_desktop(), Rect(0, 0, 1920, 1080), "mss")
    windows = [WindowInfo(1, "Terminal", Rect(140, 300, 900, 480)), WindowInfo(2, "Chart", Rect(1080, 120, 760, 520))]
    selector = RegionSelector([shot], windows, own_pid=0)
    selector.show()
    overlay = selector.overlays[0]
    settle(app)
    QTest.mousePress(overlay, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(150, 380))
    QTest.mouseMove(overlay, QPoint(600, 560))
    QTest.mouseMove(overlay, QPoint(1000, 640))
    QTest.mouseRelease(overlay, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(1000, 640))
    settle(app)
    out = HERE / "region-overlay.png"
    overlay.grab().toImage().copy(40, 200, 1400, 620).save(str(out))
    selector.cancel()
    settle(app)
    return out


def shoot_hotkeys(app: object, work: Path, display: str) -> Path:
    """Settings → Hotkeys & capture while another program holds Ctrl+Alt+Shift+W."""
    from Xlib import XK, X
    from Xlib import display as xdisplay

    from desktop.assistant.services import AppPaths, Services
    from desktop.hotkeys.base import HotkeyAction
    from desktop.hotkeys.service import HotkeyService
    from desktop.ui.notifier import Notifier
    from desktop.ui.settings_dialog import SettingsDialog

    other = xdisplay.Display(display)
    code = other.keysym_to_keycode(XK.string_to_keysym("w"))
    for extra in (0, X.Mod2Mask, X.LockMask, X.Mod2Mask | X.LockMask):
        other.screen().root.grab_key(code, X.ControlMask | X.Mod1Mask | X.ShiftMask | extra, True,
                                     X.GrabModeAsync, X.GrabModeAsync)
    other.sync()
    services = Services.create(AppPaths(config=work / "config", data=work / "data", logs=work / "logs"))
    services.settings.set("hotkeys.capture_all", "")
    hotkeys = HotkeyService(services.settings)
    hotkeys.start()
    dialog = SettingsDialog(services, Notifier(), hotkeys=hotkeys)
    dialog.resize(860, 700)
    dialog.show()
    dialog.tabs.setCurrentWidget(dialog.hotkeys)
    settle(app)
    deadline = time.monotonic() + 10
    while (dialog.hotkeys.report_task is None or not dialog.hotkeys.report_task.done()) and time.monotonic() < deadline:
        settle(app, 0.05)
    dialog.hotkeys.recorders[HotkeyAction.CAPTURE_REGION].setFocus()
    settle(app)
    out = HERE / "hotkey-settings.png"
    dialog.grab().save(str(out))
    dialog.close()
    hotkeys.close()
    other.close()
    return out


def settle(app: object, seconds: float = 0.3) -> None:
    """Let Qt (and the asyncio tasks on its loop) run for a moment."""
    import asyncio

    loop = asyncio.get_event_loop()
    loop.run_until_complete(asyncio.sleep(seconds))


def main() -> int:
    """Start a display, take both pictures, stop everything."""
    work = Path(tempfile.mkdtemp(prefix="glmv-capture-shots-"))
    x = desktop_env.start_xvfb(1920, 1080)
    bus = desktop_env.start_session_bus(work / "bus")
    os.environ.update({"DISPLAY": x.display, "QT_QPA_PLATFORM": "xcb", "XDG_SESSION_TYPE": "x11",
                       "DBUS_SESSION_BUS_ADDRESS": bus.address})
    try:
        from desktop.app import GlmvApplication, create_event_loop

        app = GlmvApplication(sys.argv[:1])
        create_event_loop(app)
        print(shoot_overlay(app))
        print(shoot_hotkeys(app, work, x.display))
    finally:
        bus.stop()
        x.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
