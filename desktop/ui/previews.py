"""Attachment previews for every widget that shows one: made off the UI thread, shown as pixmaps.

Kept apart from the message widgets so that capturing (at start-up) does not load the answer view.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap

from desktop.chat.attachments import Attachment
from desktop.errors import UserFacingError

log = logging.getLogger(__name__)

PREVIEW_SIZE = 192  # pixels of the cached preview every thumbnail is scaled from


def prepare_previews(attachment: Attachment) -> None:
    """Compute the preview the widgets show (CPU work: call from a worker thread). An attachment whose file
    is missing or damaged (a history file deleted by hand) gets a placeholder instead of failing the view."""
    try:
        attachment.thumbnail(PREVIEW_SIZE)
    except UserFacingError as exc:
        log.info("No preview of '%s': %s", attachment.name, exc.message)


def attachment_pixmap(attachment: Attachment, size: int) -> QPixmap:
    """A thumbnail of an attachment, scaled to fit `size`×`size` (from the cached preview; a grey placeholder
    when it has none)."""
    try:
        preview = attachment.thumbnail(PREVIEW_SIZE)
    except UserFacingError:
        blank = QPixmap(size * 3 // 4, size)
        blank.fill(Qt.GlobalColor.lightGray)
        return blank
    rgba = preview.convert("RGBA")
    qimage = QImage(rgba.tobytes(), rgba.width, rgba.height, rgba.width * 4, QImage.Format.Format_RGBA8888).copy()
    return QPixmap.fromImage(qimage).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation)
