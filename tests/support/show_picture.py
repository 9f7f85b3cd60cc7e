"""Show a picture full-screen, frameless, at 1:1 pixels on the current display; print 'shown' once
it is on screen. Run as `python -m tests.support.show_picture PATH` (a child process of a test)."""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QApplication, QLabel


def main() -> int:
    """Show the picture until killed."""
    app = QApplication(sys.argv[:1])
    label = QLabel()
    label.setWindowFlags(Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnBottomHint)
    label.setPixmap(QPixmap(sys.argv[1]))
    label.setContentsMargins(0, 0, 0, 0)
    screen = app.primaryScreen().geometry()
    label.setGeometry(screen)
    label.show()
    label.lower()  # below the tray host: with no window manager, stacking hints alone do nothing
    QTimer.singleShot(300, lambda: print("shown", flush=True))
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
