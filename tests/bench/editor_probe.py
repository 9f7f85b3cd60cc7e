"""One run of the annotation editor benchmark, in its own process (off screen): how long the editor takes
to open on a 3840×2160 capture (constructed, shown, the canvas painted once), and how long one repaint
of the canvas takes while a pen stroke is being dragged over it. Prints one JSON line.

    QT_QPA_PLATFORM=offscreen python -m tests.bench.editor_probe --runs 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from desktop.ui.annotator import AnnotationEditor
from tests.bench.annotations_bench import workload_picture


class Painted(QObject):
    """Notes the canvas's first paint."""

    def __init__(self) -> None:
        super().__init__()
        self.at: float | None = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint and self.at is None:
            self.at = time.perf_counter()
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    app = QApplication([])
    picture = workload_picture()
    open_ms: list[float] = []
    stroke_ms: list[float] = []
    for _ in range(args.runs):
        painted = Painted()
        started = time.perf_counter()
        editor = AnnotationEditor(picture, None)
        editor.canvas.installEventFilter(painted)
        editor.resize(1800, 1100)
        editor.show()
        while painted.at is None:
            app.processEvents()
        open_ms.append((painted.at - started) * 1000)
        # a pen stroke: each move repaints the canvas (the finished shapes are one cached pixmap)
        canvas = editor.canvas
        editor.set_tool("pen")
        QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(300, 300))
        for step in range(120):
            QTest.mouseMove(canvas, QPoint(300 + step * 4, 300 + (step % 20) * 6))
            began = time.perf_counter()
            canvas.repaint()
            stroke_ms.append((time.perf_counter() - began) * 1000)
        QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(780, 400))
        editor.reject()
        editor.deleteLater()
        app.processEvents()
    print(json.dumps({"open_ms": open_ms, "stroke_ms": [statistics.median(stroke_ms[i:i + 120])
                                                        for i in range(0, len(stroke_ms), 120)],
                      "stroke_p95_ms": sorted(stroke_ms)[int(len(stroke_ms) * 0.95)]}))


if __name__ == "__main__":
    main()
