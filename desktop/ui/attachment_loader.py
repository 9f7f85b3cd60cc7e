"""Files and pasted pictures → attachments, off the UI thread, for every window that takes them.

Each item shows as a placeholder chip with what is happening ("Converting 'deck.pptx'…") and a Cancel
button until it is read; an encrypted PDF asks for its password (again, saying so, when it was wrong);
a file that cannot be read is reported once through the notifier, and the other files still arrive.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QInputDialog, QLineEdit, QWidget

from desktop.assistant.services import Services
from desktop.chat.attachments import Attachment, ImageAttachment, Loading, Sending, load_file, prepare
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.media.images import read_picture_file
from desktop.media.pdf import PdfPasswordRequired
from desktop.ui.composer import PendingChip
from desktop.ui.notifier import Notifier
from desktop.ui.operations import Progress, dialog_value, run_async
from desktop.ui.previews import PREVIEW_SIZE

log = logging.getLogger(__name__)

# What the Attach dialog offers first; "All files" stays, since files are told by their bytes.
FILE_FILTERS = [
    _("Everything the app reads (*.png *.jpg *.jpeg *.webp *.gif *.bmp *.tif *.tiff *.pdf *.pptx *.ppt *.docx *.doc "
      "*.xlsx *.xls *.odp *.odt *.ods *.rtf *.txt *.md *.csv *.tsv *.json *.py *.js *.ts *.c *.cpp *.h *.java *.go "
      "*.rs *.html *.css *.xml *.yaml *.yml *.toml *.sh *.sql *.log)"),
    _("Pictures (*.png *.jpg *.jpeg *.webp *.gif *.bmp *.tif *.tiff)"),
    _("Documents (*.pdf *.pptx *.ppt *.docx *.doc *.xlsx *.xls *.odp *.odt *.ods *.rtf)"),
    _("All files (*)"),
]


def read_attachment(item: Path | bytes, origin: str, loading: Loading, sending: Sending, *,
                    picture_only: bool = False) -> Attachment:
    """A file (any kind, or only a picture) or pasted picture bytes as an attachment with its preview made
    (worker thread)."""
    if isinstance(item, Path) and picture_only:
        data, image = read_picture_file(item)
        attachment: Attachment = ImageAttachment(name=item.name, width=image.width, height=image.height,
                                                 origin=origin, data=data, pixels=image)
    elif isinstance(item, Path):
        attachment = load_file(item, origin, loading)
    else:
        attachment = ImageAttachment.from_bytes(item, _("pasted image.png"), origin)
    return prepare(attachment, sending, PREVIEW_SIZE)


def png_bytes(image: QImage) -> bytes:
    """A pasted or dropped picture as PNG (on the UI thread: QImage is not to be shared with workers)."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]
    return bytes(data.data())


class AttachmentHost(Protocol):
    """Where attachments arrive: it shows a placeholder while a file is read, and says how they are sent."""

    def add_pending(self, name: str) -> PendingChip:
        """Show a file being read."""

    def end_pending(self, chip: PendingChip) -> None:
        """The file is read (or was not)."""

    def sending(self) -> Sending:
        """How attachments go to the endpoint now."""


class AttachmentLoader(QObject):
    """Reads what a window is given into attachments, with placeholders, progress, cancel and passwords."""

    def __init__(self, services: Services, notifier: Notifier, host: AttachmentHost, owner: QWidget,
                 on_ready: Callable[[Attachment], None]) -> None:
        super().__init__(owner)
        self._services = services
        self._notifier = notifier
        self._host = host
        self._owner = owner
        self._on_ready = on_ready
        self.tasks: set[asyncio.Task[Attachment | None]] = set()

    def load(self, items: list[Path | QImage], origin: str) -> list[asyncio.Task[Attachment | None]]:
        """Read each item in the background; each arrives through `on_ready` when read, in any order."""
        started = []
        for item in items:
            source: Path | bytes = item if isinstance(item, Path) else png_bytes(item)
            task = run_async(self._load(source, origin), notifier=self._notifier, owner=self._owner,
                             on_done=self._done, on_error=self._failed)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            started.append(task)
        return started

    async def read(self, item: Path | bytes, origin: str, *, picture_only: bool = False) -> Attachment | None:
        """Read one item (asking for a password if needed); None when the user cancelled. Errors are raised."""
        return await self._load(item, origin, picture_only)

    async def _load(self, item: Path | bytes, origin: str, picture_only: bool = False) -> Attachment | None:
        name = item.name if isinstance(item, Path) else _("pasted image.png")
        pending = self._host.add_pending(name)
        cancel = threading.Event()
        pending.cancel_requested.connect(cancel.set)
        progress = Progress(pending)
        progress.changed.connect(lambda _fraction, message: pending.set_message(message))
        password: str | None = None
        try:
            while True:
                loading = self._services.loading(cancel=cancel, password=password,
                                                 progress=lambda message: progress.report(-1, message))
                try:
                    attachment = await asyncio.to_thread(read_attachment, item, origin, loading,
                                                         self._host.sending(), picture_only=picture_only)
                except PdfPasswordRequired as exc:
                    password = await self._ask_password(name, exc.wrong_password)
                    if password is None:
                        return None
                    continue
                except UserFacingError:
                    if cancel.is_set():
                        return None  # cancelled: nothing to tell
                    raise
                return None if cancel.is_set() else attachment
        finally:
            self._host.end_pending(pending)

    async def _ask_password(self, name: str, wrong: bool) -> str | None:
        """Ask for a PDF's password without a nested event loop; None if the user cancels."""
        dialog = QInputDialog(self._owner)
        dialog.setObjectName("pdf_password_dialog")
        dialog.setWindowTitle(_("Password needed"))
        text = (_("The password for '{name}' is not right. Try again:") if wrong
                else _("'{name}' is protected by a password. Enter it to read the document:")).format(name=name)
        dialog.setLabelText(text)
        dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
        password: str | None = await dialog_value(dialog, dialog.textValueSelected)
        return password

    def _done(self, attachment: Attachment | None) -> None:
        if attachment is not None:
            self._on_ready(attachment)

    def _failed(self, error: BaseException) -> None:
        self._notifier.show_error(error, self._owner)
