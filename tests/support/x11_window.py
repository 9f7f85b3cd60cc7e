"""A plain X11 window at an exact place, for window-listing and capture tests (a child process).

`python -m tests.support.x11_window LEFT TOP WIDTH HEIGHT [--title T] [--color RRGGBB]
[--picture PATH] [--override-redirect]` maps the window, prints `shown 0x<id>` once the server
says it is mapped, and stays until killed. With `--picture` the window shows that picture at 1:1
pixels (as its background pixmap, so the server repaints it without our help); the window takes
the picture's size. No toolkit, no window manager hints that could move it: with no window
manager the window sits exactly where asked.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from dataclasses import dataclass

from Xlib import X, Xatom, display

_STRIP_BYTES = 200_000  # per PutImage request, below the 256 KiB core request limit


@dataclass
class ShownWindow:
    """A window shown by a child process; `id` is its X window id."""

    id: int
    process: subprocess.Popen[str]

    def close(self) -> None:
        """End the child process (and so its window)."""
        self.process.terminate()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def show_window(env: dict[str, str], left: int, top: int, width: int, height: int, *options: str) -> ShownWindow:
    """Start this module as a child process on the display in `env` and wait until its window is mapped."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.x11_window", str(left), str(top), str(width), str(height), *options],
        env=env, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().split()
    if len(line) != 2 or line[0] != "shown":
        process.kill()
        process.wait(10)
        process.stdout.close()
        raise RuntimeError(f"the test window did not appear (exit code {process.returncode})")
    return ShownWindow(int(line[1], 16), process)


def main() -> int:
    """Show the window until SIGTERM."""
    parser = argparse.ArgumentParser()
    for name in ("left", "top", "width", "height"):
        parser.add_argument(name, type=int)
    parser.add_argument("--title", default="")
    parser.add_argument("--color", default="3366cc")
    parser.add_argument("--picture")
    parser.add_argument("--override-redirect", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    conn = display.Display()
    screen = conn.screen()
    width, height = args.width, args.height
    pixmap = None
    if args.picture:
        pixmap, width, height = _picture_pixmap(conn, screen, args.picture)
    attrs = {"event_mask": X.StructureNotifyMask, "override_redirect": args.override_redirect}
    if pixmap is not None:
        attrs["background_pixmap"] = pixmap
    else:
        attrs["background_pixel"] = int(args.color, 16)
    window = screen.root.create_window(args.left, args.top, width, height, 0, screen.root_depth,
                                       X.InputOutput, X.CopyFromParent, **attrs)
    if args.title:
        window.change_property(Xatom.WM_NAME, Xatom.STRING, 8, args.title.encode("latin-1", "replace"))
        window.change_property(conn.intern_atom("_NET_WM_NAME"), conn.intern_atom("UTF8_STRING"), 8,
                               args.title.encode())
    window.change_property(conn.intern_atom("_NET_WM_PID"), Xatom.CARDINAL, 32, [os.getpid()])
    window.map()
    conn.flush()
    while conn.next_event().type != X.MapNotify:
        pass
    conn.sync()
    print(f"shown {window.id:#x}", flush=True)
    while True:
        conn.next_event()


def _picture_pixmap(conn: display.Display, screen: object, path: str) -> tuple[object, int, int]:
    """A server pixmap holding the picture (24-bit TrueColor, 32 bits per pixel, BGRX)."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    width, height = image.size
    root = screen.root  # type: ignore[attr-defined]
    depth = screen.root_depth  # type: ignore[attr-defined]
    pixmap = root.create_pixmap(width, height, depth)
    gc = pixmap.create_gc()
    raw = image.tobytes("raw", "BGRX")
    rows = max(1, _STRIP_BYTES // (width * 4))
    for top in range(0, height, rows):
        count = min(rows, height - top)
        pixmap.put_image(gc, 0, top, width, count, X.ZPixmap, depth, 0, raw[top * width * 4:(top + count) * width * 4])
    gc.free()
    conn.sync()
    return pixmap, width, height


if __name__ == "__main__":
    sys.exit(main())
