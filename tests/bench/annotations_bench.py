"""The annotation benchmark: 50 mixed shapes burned into a 3840×2160 capture (desktop.media.annotations.render).

The mix is what a busy annotated 4K screenshot has: 4 blurs and 4 pixelates over panels of 200-700 px,
10 numbered markers, 5 texts (one Chinese, one on two lines), 8 pen strokes of 50 points, 5 arrows,
5 numbered rectangles, 3 ellipses, 3 lines and 3 highlighter strokes. Alongside the whole render, the
redactions alone and the other shapes alone say where the time goes.

    python -m tests.bench.run --only annotations
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tests.bench.run import Figure

if TYPE_CHECKING:
    from PIL import Image

    from desktop.media.annotations import Annotations

WIDTH, HEIGHT = 3840, 2160


def workload_picture(seed: int = 3) -> Image.Image:
    """A 4K picture with detail everywhere (noise over colour bands), as a screenshot of text has."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    bands = np.linspace(40, 215, WIDTH, dtype=np.float32)[None, :, None].repeat(HEIGHT, 0).repeat(3, 2)
    noise = rng.normal(0, 40, (HEIGHT, WIDTH, 3)).astype(np.float32)
    return Image.fromarray(np.clip(bands + noise, 0, 255).astype(np.uint8), "RGB")


def workload_annotations(seed: int = 5) -> Annotations:
    """The 50 shapes, placed at random but the same every run."""
    from desktop.media.annotations import Annotations, Shape, Tool

    rng = random.Random(seed)
    colours = [(230, 40, 40), (40, 90, 220), (20, 160, 60), (250, 200, 20), (30, 30, 30)]

    def point(margin: int = 100) -> tuple[float, float]:
        return rng.uniform(margin, WIDTH - margin), rng.uniform(margin, HEIGHT - margin)

    def panel(smallest: int, largest: int) -> tuple[tuple[float, float], tuple[float, float]]:
        w, h = rng.uniform(smallest, largest), rng.uniform(smallest, largest) * 0.6
        x, y = rng.uniform(0, WIDTH - w), rng.uniform(0, HEIGHT - h)
        return (x, y), (x + w, y + h)

    def scribble() -> tuple[tuple[float, float], ...]:
        x, y = point(400)
        heading = rng.uniform(0, 2 * math.pi)
        points = []
        for _ in range(50):
            heading += rng.uniform(-0.6, 0.6)
            x, y = x + 9 * math.cos(heading), y + 9 * math.sin(heading)
            points.append((x, y))
        return tuple(points)

    shapes: list[Shape] = []
    number = 0
    texts = ["Why does this fail?", "这个按钮是做什么的？", "Error here\nand here", "Click Save first",
             "Old value: 42"]
    for i in range(5):
        shapes.append(Shape(Tool.TEXT, (point(300),), rng.choice(colours), rng.choice([3.0, 4.0, 5.0]), texts[i]))
    for _ in range(8):
        shapes.append(Shape(Tool.PEN, scribble(), rng.choice(colours), rng.choice([3.0, 4.0, 6.0])))
    for _ in range(5):
        start = point()
        end = (start[0] + rng.uniform(-600, 600), start[1] + rng.uniform(-400, 400))
        shapes.append(Shape(Tool.ARROW, (start, end), rng.choice(colours), rng.choice([4.0, 6.0])))
    for _ in range(5):
        number += 1
        shapes.append(Shape(Tool.RECTANGLE, panel(150, 900), rng.choice(colours), 4.0, number=number))
    for _ in range(3):
        shapes.append(Shape(Tool.ELLIPSE, panel(100, 500), rng.choice(colours), 4.0))
    for _ in range(3):
        start = point()
        shapes.append(Shape(Tool.LINE, (start, (start[0] + rng.uniform(-500, 500), start[1])), rng.choice(colours)))
    for _ in range(3):
        x, y = point()
        shapes.append(Shape(Tool.HIGHLIGHTER, ((x, y), (x + rng.uniform(200, 700), y)), (250, 230, 30), 6.0))
    for _ in range(10):
        number += 1
        shapes.append(Shape(Tool.MARKER, (point(),), rng.choice(colours), 4.0, number=number))
    redactions = [Shape(Tool.BLUR, panel(200, 700)) for _ in range(4)]
    redactions += [Shape(Tool.PIXELATE, panel(200, 700)) for _ in range(4)]
    # Redactions first, as a user hides things before marking up the rest.
    annotations = Annotations(tuple(redactions + shapes))
    assert len(annotations.shapes) == 50
    return annotations


def _timed(runs: int, render: Callable[[], object]) -> list[float]:
    """Milliseconds of `runs` calls."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        render()
        times.append((time.perf_counter() - started) * 1000)
    return times


def bench_annotations(runs: int) -> list[Figure]:
    """The whole render, and its two halves, each the median of `runs`."""
    from desktop.media.annotations import REDACTIONS, Tool, render

    picture = workload_picture()
    annotations = workload_annotations()
    started = time.perf_counter()
    render(picture, annotations)
    first = (time.perf_counter() - started) * 1000
    others = frozenset(Tool) - REDACTIONS
    whole = _timed(runs, lambda: render(picture, annotations))
    redactions = _timed(runs, lambda: render(picture, annotations, only=REDACTIONS))
    drawn = _timed(runs, lambda: render(picture, annotations, only=others))
    copy = _timed(runs, lambda: picture.convert("RGB"))
    return [
        Figure("Annotations: 50 shapes on 3840×2160", "ms", whole, "≤ 50 ms",
               f"4 blurs, 4 pixelates, 10 markers, 5 texts (one Chinese), 8 pen strokes of 50 points, 5 arrows, "
               f"5 numbered rectangles, 3 ellipses, 3 lines, 3 highlighters; the copy of the picture included "
               f"({statistics.median(copy):.1f} ms); first call {first:.0f} ms (fonts loaded)"),
        Figure("  of which: the 8 redactions", "ms", redactions, "",
               "render(only=REDACTIONS): blur and pixelate over panels of 200-700 px, and the copy"),
        Figure("  of which: the 42 other shapes", "ms", drawn, "",
               "strokes and outlines through 2× supersampled masks, markers, texts, and the copy"),
        *bench_editor(max(2, runs // 4)),
    ]


def bench_editor(runs: int) -> list[Figure]:
    """The editor on a 4K capture, off screen in a process of its own (editor_probe.py)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-m", "tests.bench.editor_probe", "--runs", str(runs)],  # noqa: S603
                         env=env, capture_output=True, text=True, check=True, timeout=300)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    return [
        Figure("Annotation editor opened on 3840×2160", "ms", measured["open_ms"], "≤ 100 ms",
               "constructing the editor on the capture → its canvas painted once (the picture converted, fitted "
               "and cached as one pixmap); the first run includes loading the renderer"),
        Figure("Annotation editor: canvas repaint during a pen stroke", "ms", measured["stroke_ms"], "≤ 16 ms",
               f"median of 120 mouse moves per run, each followed by a full repaint of the canvas; "
               f"p95 {measured['stroke_p95_ms']:.1f} ms"),
    ]
