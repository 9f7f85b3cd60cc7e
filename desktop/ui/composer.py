"""The composer: multi-line question (Enter sends, Shift+Enter new line), attachments, Send/Stop.

Attachments of every kind (pictures, documents, text files) arrive by the Attach button's file dialog,
by paste, or by drag-and-drop; each shows as a chip with its kind, pages and estimated token cost at
the current budget, and can be removed; a document's chip opens its page picker. A file still being
read (an Office file converting) shows as a chip with its progress and a Cancel button.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.chat.attachments import Attachment, DocumentAttachment, ImageAttachment, Sending, VideoAttachment
from desktop.config.schema import DEFAULT_IMAGE_TOKEN_BUDGET, MAX_IMAGE_TOKEN_BUDGET, MIN_IMAGE_TOKEN_BUDGET
from desktop.i18n import _
from desktop.ui.previews import attachment_pixmap

THUMB = 56


class PromptEdit(QPlainTextEdit):
    """Question text: Enter sends, Shift+Enter inserts a line; pasted images become attachments."""

    submit = Signal()
    images_pasted = Signal(list)  # list[Path | QImage]

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        """Enter submits unless Shift (or an input method composing text) is involved."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.AltModifier)
        ):
            self.submit.emit()
            return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 - Qt override
        """Accept images and image files as well as text."""
        return source.hasImage() or source.hasUrls() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 - Qt override
        """Pasted images and image files are attached; text is inserted as usual."""
        images = images_from_mime(source)
        if images:
            self.images_pasted.emit(images)
            return
        super().insertFromMimeData(source)


def images_from_mime(source: QMimeData) -> list[Path | QImage]:
    """Images in clipboard or drop data: local files, else the picture itself. Nothing is read or
    encoded here: that happens off the UI thread."""
    found: list[Path | QImage] = [Path(url.toLocalFile()) for url in source.urls() if url.isLocalFile()]
    if not found and source.hasImage():
        image = QImage(source.imageData())
        if not image.isNull():
            found.append(image)
    return found


class AttachmentChip(QFrame):
    """One attachment: thumbnail, kind and cost, remove button; a document's opens its page picker."""

    removed = Signal(object)
    open_requested = Signal(object)

    def __init__(self, attachment: Attachment, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.attachment = attachment
        self.setObjectName("attachment_chip")
        self.setStyleSheet("QFrame#attachment_chip { border: 1px solid #dadce0; border-radius: 6px; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 2)
        layout.setSpacing(1)
        top = QHBoxLayout()
        self.thumb = QToolButton()
        self.thumb.setObjectName("attachment_open")
        self.thumb.setAutoRaise(True)
        self.thumb.setIconSize(QSize(THUMB, THUMB))
        self.thumb.setFixedSize(QSize(THUMB + 4, THUMB + 4))
        self.thumb.clicked.connect(lambda: self.open_requested.emit(self.attachment))
        top.addWidget(self.thumb)
        remove = QToolButton()
        remove.setObjectName("attachment_remove")
        remove.setText("×")
        remove.setToolTip(_("Remove this attachment"))
        remove.setAutoRaise(True)
        remove.clicked.connect(lambda: self.removed.emit(self.attachment))
        top.addWidget(remove, alignment=Qt.AlignmentFlag.AlignTop)
        layout.addLayout(top)
        self.kind = QLabel()
        self.kind.setObjectName("attachment_kind")
        self.kind.setStyleSheet("QLabel { color: #3c4043; font-size: small; }")
        self.kind.setVisible(not isinstance(attachment, ImageAttachment))
        layout.addWidget(self.kind)
        self.tokens = QLabel()
        self.tokens.setObjectName("attachment_tokens")
        self.tokens.setStyleSheet("QLabel { color: #5f6368; font-size: small; }")
        layout.addWidget(self.tokens)
        self.refresh_thumbnail()

    def refresh_thumbnail(self) -> None:
        """Show the (first chosen page's) preview again, after the page choice changed."""
        self.thumb.setIcon(attachment_pixmap(self.attachment, THUMB))

    def set_sending(self, sending: Sending) -> None:
        """Show the kind, the page count and the token cost at `sending`."""
        a = self.attachment
        cost = a.cost(sending)
        self.tokens.setText(_("≈{n:,} tok").format(n=cost.tokens))
        if isinstance(a, ImageAttachment):
            w, h = a.sent_size(sending)
            scaled = _("sent as {w}×{h}").format(w=w, h=h) if (w, h) != a.picture_size() else _("sent unscaled")
            self.kind.setVisible(a.annotations is not None)
            self.kind.setText(_("annotated"))
            self.setToolTip(_("{name}\n{what}, {scaled}\n≈{n:,} tokens at a budget of {budget:,}\n"
                              "Click to draw on it.").format(name=a.name, what=a.describe(), scaled=scaled,
                                                             n=cost.tokens, budget=sending.token_budget))
            return
        if isinstance(a, DocumentAttachment):
            self.kind.setText(_("{format} · {chosen}/{count} p.").format(
                format=a.source_format.upper(), chosen=len(a.pages), count=a.page_count))
            tip = _("{name}\n{what}\n≈{n:,} tokens ({images} pictures)\nClick to choose the pages.").format(
                name=a.name, what=a.describe(), n=cost.tokens, images=cost.images)
        elif isinstance(a, VideoAttachment):
            self.kind.setText(_("Video · {seconds:.1f} s").format(seconds=a.duration))
            how = (_("sent as video") if sending.inline_video
                   else _("sent as {n} frames with their times (this endpoint takes no video)").format(n=cost.images))
            tip = _("{name}\n{what}\n≈{n:,} tokens, {how}\nClick to play it.").format(
                name=a.name, what=a.describe(), n=cost.tokens, how=how)
        else:
            self.kind.setText(a.describe())
            tip = _("{name}\n{what}\n≈{n:,} tokens, sent as text").format(name=a.name, what=a.describe(),
                                                                          n=cost.tokens)
        self.setToolTip(tip)


class PendingChip(QFrame):
    """A file still being read (an Office file converting): its name, what is happening, and Cancel."""

    cancel_requested = Signal()

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pending_chip")
        self.setStyleSheet("QFrame#pending_chip { border: 1px dashed #9aa0a6; border-radius: 6px; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 2)
        layout.setSpacing(1)
        title = QLabel(name)
        title.setMaximumWidth(180)
        layout.addWidget(title)
        self.message = QLabel(_("Reading…"))
        self.message.setObjectName("pending_message")
        self.message.setStyleSheet("QLabel { color: #5f6368; font-size: small; }")
        self.message.setMaximumWidth(180)
        layout.addWidget(self.message)
        cancel = QToolButton()
        cancel.setObjectName("pending_cancel")
        cancel.setText(_("Cancel"))
        cancel.setAutoRaise(True)
        cancel.clicked.connect(self.cancel_requested)
        layout.addWidget(cancel, alignment=Qt.AlignmentFlag.AlignLeft)

    def set_message(self, text: str) -> None:
        """What is happening now."""
        self.message.setText(text)
        self.message.setToolTip(text)


class Composer(QWidget):
    """Question text, attachments, options, and the Send/Stop button."""

    send_requested = Signal()
    stop_requested = Signal()
    attach_requested = Signal()
    screen_requested = Signal()
    preview_requested = Signal()
    open_requested = Signal(object)  # an attachment's chip was clicked (a document: its page picker)
    changed = Signal()  # the text or the attachments changed (the draft is saved after a pause)
    images_received = Signal(list)  # list[Path | QImage]
    budget_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self._attachments: list[Attachment] = []
        # How attachments are sent at a budget (the window gives the endpoint's limits and image format).
        self.sending_of: Callable[[int], Sending] = Sending
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 8)
        layout.setSpacing(4)

        self.strip = QWidget()
        self.strip.setObjectName("attachment_strip")
        self._strip_layout = QHBoxLayout(self.strip)
        self._strip_layout.setContentsMargins(0, 0, 0, 0)
        self._strip_layout.addStretch(1)
        strip_scroll = QScrollArea()
        strip_scroll.setWidget(self.strip)
        strip_scroll.setWidgetResizable(True)
        strip_scroll.setFrameShape(QFrame.Shape.NoFrame)
        strip_scroll.setFixedHeight(THUMB + 54)  # the preview, the kind and the cost of a document's chip
        strip_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._strip_scroll = strip_scroll
        strip_scroll.setVisible(False)
        layout.addWidget(strip_scroll)

        self.prompt = PromptEdit()
        self.prompt.setObjectName("prompt")
        self.prompt.setPlaceholderText(
            _("Ask about a picture, a document or your screen…  (Enter sends, Shift+Enter adds a line)"))
        self.prompt.setTabChangesFocus(True)
        self.prompt.setFixedHeight(72)
        self.prompt.submit.connect(self.send_requested)
        self.prompt.images_pasted.connect(self.images_received)
        self.prompt.textChanged.connect(self.changed)
        layout.addWidget(self.prompt)

        row = QHBoxLayout()
        self.attach_button = QPushButton(_("Attach…"))
        self.attach_button.setObjectName("attach_button")
        self.attach_button.setToolTip(_("Attach pictures, PDFs, Office documents, text or code files "
                                        "(you can also paste or drop them)"))
        self.attach_button.clicked.connect(self.attach_requested)
        self.screen_button = QPushButton(_("Screen"))
        self.screen_button.setObjectName("screen_button")
        self.screen_button.clicked.connect(self.screen_requested)
        self.preview_button = QPushButton(_("Preview…"))
        self.preview_button.setObjectName("preview_button")
        self.preview_button.setToolTip(_("What will be sent: the exact pictures and text of the next request"))
        self.preview_button.clicked.connect(self.preview_requested)
        self.thinking = QCheckBox(_("Thinking"))
        self.thinking.setObjectName("thinking_switch")
        self.thinking.setToolTip(_("Let the model reason before answering; the reasoning is shown folded."))
        self.budget = QSpinBox()
        self.budget.setObjectName("image_budget")
        self.budget.setRange(MIN_IMAGE_TOKEN_BUDGET, MAX_IMAGE_TOKEN_BUDGET)
        self.budget.setSingleStep(100)
        self.budget.setGroupSeparatorShown(True)
        self.budget.setSuffix(_(" tok/image"))
        self.budget.setToolTip(_("Image budget: larger images are downscaled to this many tokens (never upscaled).\n"
                                 "Default {default:,} (a full-HD screen unscaled); the model's maximum is {max:,}.")
                               .format(default=DEFAULT_IMAGE_TOKEN_BUDGET, max=MAX_IMAGE_TOKEN_BUDGET))
        self.budget.valueChanged.connect(self._on_budget_changed)
        self.send_button = QPushButton(_("Send"))
        self.send_button.setObjectName("send_button")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self._on_send_clicked)
        for widget in (self.attach_button, self.screen_button, self.preview_button):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.thinking)
        row.addWidget(self.budget)
        row.addWidget(self.send_button)
        layout.addLayout(row)
        self._busy = False

    # -- state -------------------------------------------------------------------------------
    def set_busy(self, busy: bool) -> None:
        """While a reply streams the Send button becomes Stop."""
        self._busy = busy
        self.send_button.setText(_("Stop") if busy else _("Send"))
        self.send_button.setObjectName("stop_button" if busy else "send_button")

    @property
    def busy(self) -> bool:
        """True while a reply streams."""
        return self._busy

    def sending(self) -> Sending:
        """How the attachments go at the budget shown."""
        return self.sending_of(self.budget.value())

    def text(self) -> str:
        """The question as typed."""
        return self.prompt.toPlainText().strip()

    def attachments(self) -> list[Attachment]:
        """The attachments, in order."""
        return list(self._attachments)

    def add_attachment(self, attachment: Attachment) -> None:
        """Show a new attachment."""
        self._attachments.append(attachment)
        chip = AttachmentChip(attachment)
        chip.removed.connect(self.remove_attachment)
        chip.open_requested.connect(self.open_requested)
        chip.set_sending(self.sending())
        self._strip_layout.insertWidget(self._strip_layout.count() - 1, chip)
        self._strip_scroll.setVisible(True)
        self.changed.emit()

    def add_pending(self, name: str) -> PendingChip:
        """Show a file being read, until `end_pending`."""
        chip = PendingChip(name)
        self._strip_layout.insertWidget(self._strip_layout.count() - 1, chip)
        self._strip_scroll.setVisible(True)
        return chip

    def end_pending(self, chip: PendingChip) -> None:
        """The file is read (or was not): its placeholder goes."""
        chip.hide()
        chip.deleteLater()
        self._strip_scroll.setVisible(bool(self._attachments) or any(
            c.isVisibleTo(self.strip) for c in self.strip.findChildren(PendingChip)))

    def attachment_changed(self, attachment: Attachment) -> None:
        """Show an attachment again after it changed (a document's page choice)."""
        for chip in self.strip.findChildren(AttachmentChip):
            if chip.attachment is attachment:
                chip.refresh_thumbnail()
                chip.set_sending(self.sending())
        self.changed.emit()

    def remove_attachment(self, attachment: Attachment) -> None:
        """Drop an attachment."""
        self._attachments = [a for a in self._attachments if a is not attachment]
        for chip in self.strip.findChildren(AttachmentChip):
            if chip.attachment is attachment:
                chip.deleteLater()
        self._strip_scroll.setVisible(bool(self._attachments))
        self.changed.emit()

    def clear(self) -> None:
        """Empty the text and attachments (after they became a sent message)."""
        self.prompt.clear()
        for attachment in list(self._attachments):
            self.remove_attachment(attachment)

    def append_text(self, text: str, *, once: bool = False) -> None:
        """Add `text` after what is typed (on a new line), keeping the draft; with `once`, not when the draft
        already ends with it (the same question handed over again)."""
        draft = self.prompt.toPlainText()
        last_line = draft.rstrip().rsplit("\n", 1)[-1]
        if once and text.strip() and last_line.strip() == text.strip():
            return
        self.prompt.setPlainText(f"{draft.rstrip()}\n{text}" if draft.strip() else text)
        self.prompt.moveCursor(self.prompt.textCursor().MoveOperation.End)

    def restore(self, text: str, attachments: list[Attachment]) -> None:
        """Put a question back (when it could not be sent)."""
        self.prompt.setPlainText(text)
        for attachment in attachments:
            self.add_attachment(attachment)

    def _on_send_clicked(self) -> None:
        if self._busy:
            self.stop_requested.emit()
        else:
            self.send_requested.emit()

    def _on_budget_changed(self, value: int) -> None:
        self.refresh_estimates()
        self.budget_changed.emit(value)

    def refresh_estimates(self) -> None:
        """Show every chip's cost again (the budget, the endpoint or its limits changed)."""
        sending = self.sending()
        for chip in self.strip.findChildren(AttachmentChip):
            chip.set_sending(sending)
