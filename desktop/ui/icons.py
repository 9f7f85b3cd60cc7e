"""The app's icons, loaded from `resources/icons`."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon

ICON_DIR = Path(__file__).resolve().parent.parent.parent / "resources" / "icons"


def app_icon() -> QIcon:
    """The application and tray icon."""
    return QIcon(str(ICON_DIR / "glmv-desktop.svg"))


def named_icon(name: str) -> QIcon:
    """One of the small interface icons (`history-sidebar`, `not-saved`)."""
    return QIcon(str(ICON_DIR / f"{name}.svg"))
