"""Show grounding boxes over the live screen with `BoxOverlay`, on the display in the environment (a child
process of a test, for displays the test process's own Qt is not on: the two-monitor Xorg server).

`python -m tests.support.show_boxes X Y WIDTH HEIGHT X1,Y1,X2,Y2 [X1,Y1,X2,Y2 …] [--stay-ms MS]`: the captured area in
global logical coordinates, then each box in thousandths. With GLMV_DESKTOP_TRACE=1 the overlay's own
`boxes-shown N` lines come out; once every window has painted it prints `shown`, then one line per window,
`window SCREEN_NAME X Y WIDTH HEIGHT` (its geometry), then `windows-listed`; `closed` when the overlay closes
itself, and then it exits.
"""

from __future__ import annotations

import argparse
import sys

from PySide6.QtWidgets import QApplication

from desktop.chat.conversation import GroundingBox
from desktop.ui.box_overlay import BoxOverlay


def main() -> int:
    """Show the boxes until the overlay closes (or the process is terminated)."""
    parser = argparse.ArgumentParser()
    for name in ("x", "y", "width", "height"):
        parser.add_argument(name, type=int)
    parser.add_argument("boxes", nargs="+")
    parser.add_argument("--stay-ms", type=int, default=60_000)
    args = parser.parse_args()
    boxes = []
    for text in args.boxes:
        x1, y1, x2, y2 = (float(v) for v in text.split(","))
        boxes.append(GroundingBox(x1, y1, x2, y2))
    app = QApplication(sys.argv[:1])
    overlay = BoxOverlay.show_boxes((args.x, args.y, args.width, args.height), boxes, stay_ms=args.stay_ms,
                                    fade_ms=100)

    def shown(_count: int) -> None:
        print("shown", flush=True)
        for window in overlay.windows:
            g = window.geometry()
            print(f"window {window.screen().name()} {g.x()} {g.y()} {g.width()} {g.height()}", flush=True)
        print("windows-listed", flush=True)

    def closed() -> None:
        print("closed", flush=True)
        app.quit()

    overlay.shown.connect(shown)
    overlay.closed.connect(closed)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
