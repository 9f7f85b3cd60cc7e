"""Run a screenshot coroutine in a QApplication on the app's qasync loop, off screen on a full-HD screen
(the default offscreen screen is 800×600) unless another Qt platform is chosen."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def run_offscreen(shoot: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Make the application and loop, run `shoot()` to completion, return its result."""
    if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
        config = Path(tempfile.mkdtemp(prefix="glmv-offscreen-")) / "screens.json"
        config.write_text(json.dumps({"screens": [{"name": "shot", "x": 0, "y": 0, "width": 1920, "height": 1080,
                                                   "logicalDpi": 96, "dpr": 1}]}))
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={config}"
    from PySide6.QtWidgets import QApplication

    from desktop.app import create_event_loop

    app = QApplication(sys.argv)
    loop = create_event_loop(app)
    with loop:
        result: T = loop.run_until_complete(shoot())
    return result


def run_on_display(shoot: Callable[[], Coroutine[Any, Any, T]]) -> int:
    """For pictures of windows over the screen (the overlay, the recording frame): run `shoot()` on the real X
    display (xvfb-run), printing what it returns; exit status 1 when there is no display."""
    if not os.environ.get("DISPLAY"):
        print("Needs an X display: run it under xvfb-run (see the module's docstring).", file=sys.stderr)
        return 1
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    print(run_offscreen(shoot))
    return 0


def grab_screen(box: tuple[int, int, int, int], out: Path) -> Path:
    """Save the part `box` (left, top, right, bottom) of the first monitor, as the screen shows it."""
    import mss
    from PIL import Image

    with mss.MSS() as grabber:
        raw = grabber.grab(grabber.monitors[1])
    Image.frombytes("RGB", raw.size, raw.bgra, "raw", "BGRX").crop(box).save(out)
    return out
