"""A window whose colour tells which step of a known sequence is on screen, for recording tests (a child process).

`python -m tests.support.changing_window LEFT TOP WIDTH HEIGHT [--interval S] [--move-within W H] [--quiet]` maps
an override-redirect window filled with `color_of(0)`, prints `shown 0x<id>` once the server has it
mapped, then every `interval` seconds (on a fixed schedule) fills it with `color_of(i)` for the
next i and prints `i <time.monotonic()>` once the server has done it (after a round trip), so a
test knows what was on screen when. With `--move-within`, each step also moves the window to a
new place inside that area (a moving window over whatever is below it). Runs until killed.
"""

from __future__ import annotations

import argparse
import colorsys
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from Xlib import X, display


def color_of(step: int) -> tuple[int, int, int]:
    """The colour of step `step`: saturated hues 137.5° apart, so neighbouring steps differ in every way."""
    hue = (step * 0.3819660112501051) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 1.0, 1.0)
    return round(red * 255), round(green * 255), round(blue * 255)


def place_of(step: int, width: int, height: int, area: tuple[int, int]) -> tuple[int, int]:
    """Where the window goes at `step` when it moves within `area`."""
    room_x, room_y = max(1, area[0] - width), max(1, area[1] - height)
    return (step * 97) % room_x, (step * 61) % room_y


@dataclass
class ChangingWindow:
    """The window's child process; `close()` returns the steps it reported."""

    process: subprocess.Popen[str]
    changes: list[tuple[int, float]] = field(default_factory=list)

    def close(self) -> list[tuple[int, float]]:
        """End the child process; return every (step, monotonic time) it reported."""
        self.process.terminate()
        out, _ = self.process.communicate(timeout=10)
        for line in out.splitlines():
            step, when = line.split()
            self.changes.append((int(step), float(when)))
        return self.changes

    @staticmethod
    def step_at(changes: list[tuple[int, float]], when: float) -> int:
        """The step on screen at monotonic time `when` (the last one reported before it)."""
        shown = 0
        for step, changed in changes:
            if changed <= when:
                shown = step
        return shown


def show_changing_window(env: dict[str, str], left: int, top: int, width: int, height: int,
                         *options: str) -> ChangingWindow:
    """Start this module on the display in `env`; return once the window is mapped."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.changing_window", str(left), str(top), str(width), str(height),
         *options], env=env, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().split()
    if len(line) != 2 or line[0] != "shown":
        process.kill()
        process.communicate(timeout=10)
        raise RuntimeError(f"the changing window did not appear (exit code {process.returncode})")
    return ChangingWindow(process)


def main() -> int:
    """Show the window and change it until SIGTERM."""
    parser = argparse.ArgumentParser()
    for name in ("left", "top", "width", "height"):
        parser.add_argument(name, type=int)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--move-within", type=int, nargs=2, metavar=("WIDTH", "HEIGHT"))
    parser.add_argument("--quiet", action="store_true", help="report no steps (a long run nobody reads)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    conn = display.Display()
    screen = conn.screen()

    def pixel(step: int) -> int:
        red, green, blue = color_of(step)
        return (red << 16) | (green << 8) | blue

    window = screen.root.create_window(args.left, args.top, args.width, args.height, 0, screen.root_depth,
                                       X.InputOutput, X.CopyFromParent, background_pixel=pixel(0),
                                       event_mask=X.StructureNotifyMask, override_redirect=True)
    window.map()
    conn.flush()
    while conn.next_event().type != X.MapNotify:
        pass
    conn.sync()
    print(f"shown {window.id:#x}", flush=True)
    started = time.monotonic()
    step = 0
    while True:
        step += 1
        delay = started + step * args.interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if args.move_within:
            x, y = place_of(step, args.width, args.height, tuple(args.move_within))
            window.configure(x=x, y=y)
        window.change_attributes(background_pixel=pixel(step))
        window.clear_area()
        conn.sync()
        if not args.quiet:
            print(f"{step} {time.monotonic():.6f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
