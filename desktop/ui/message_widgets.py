"""Widgets for one message: the user's question, and the assistant's reply with its reasoning panel.

They render from the `Message` object (the buffer); `refresh()` is called by the conversation
view's repaint timer, never per delta.
"""

from __future__ import annotations

import logging
import re
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.chat.conversation import Attachment, Message, ReplyState
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.ui.answer_view import MarkdownView

log = logging.getLogger(__name__)

_REASONING_MAX_HEIGHT = 260


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


class QuestionWidget(QFrame):
    """The user's question: text and thumbnails, shown as a tinted bubble."""

    def __init__(self, message: Message, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = message
        self.setObjectName("question")
        self.setStyleSheet("QFrame#question { background: #e8f0fe; border-radius: 8px; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        if message.attachments:
            row = QHBoxLayout()
            for attachment in message.attachments:
                thumb = QLabel()
                thumb.setPixmap(attachment_pixmap(attachment, 96))
                thumb.setToolTip(_("{name} — {what}").format(name=attachment.name, what=attachment.describe()))
                if attachment.kind == "image":
                    row.addWidget(thumb)
                    continue
                # A document or a file: its name and what was sent of it under the preview.
                column = QVBoxLayout()
                column.setSpacing(2)
                column.addWidget(thumb)
                caption = QLabel(f"{attachment.name}\n{attachment.describe()}")
                caption.setObjectName("attachment_caption")
                caption.setStyleSheet("QLabel { color: #5f6368; font-size: small; }")
                caption.setMaximumWidth(220)
                column.addWidget(caption)
                row.addLayout(column)
            row.addStretch(1)
            layout.addLayout(row)
        if message.text:
            text = QLabel(message.text)
            text.setObjectName("question_text")
            text.setWordWrap(True)
            text.setTextFormat(Qt.TextFormat.PlainText)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(text)

    def refresh(self) -> None:
        """Questions do not change once sent."""


class ReasoningPanel(QWidget):
    """A folded panel of the model's reasoning; it streams whether open or not."""

    def __init__(self, expanded: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggle = QToolButton()
        self.toggle.setObjectName("reasoning_toggle")
        self.toggle.setCheckable(True)
        self.toggle.setChecked(expanded)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setAutoRaise(True)
        self.toggle.setStyleSheet("QToolButton { color: #5f6368; border: none; }")
        self.text = QPlainTextEdit()
        self.text.setObjectName("reasoning_text")
        self.text.setReadOnly(True)
        self.text.setMaximumHeight(_REASONING_MAX_HEIGHT)
        self.text.setStyleSheet("QPlainTextEdit { color: #5f6368; background: #fafafa; border: none; "
                                "border-left: 3px solid #dadce0; }")
        self.text.setVisible(expanded)
        self._shown = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toggle, alignment=Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.text)
        self.toggle.toggled.connect(self._on_toggled)
        self._on_toggled(expanded)

    def _on_toggled(self, expanded: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.text.setVisible(expanded)

    def show_reasoning(self, reasoning: str, title: str) -> None:
        """Append what is new in `reasoning`; update the header."""
        self.toggle.setText(title)
        if len(reasoning) < self._shown:
            self.text.setPlainText(reasoning)
        elif len(reasoning) > self._shown:
            bar = self.text.verticalScrollBar()
            follow = bar.value() >= bar.maximum() - 4
            cursor = self.text.textCursor()
            cursor.movePosition(cursor.MoveOperation.End)
            cursor.insertText(reasoning[self._shown:])
            if follow:
                bar.setValue(bar.maximum())
        self._shown = len(reasoning)
        document_height = int(self.text.document().size().height() * self.text.fontMetrics().lineSpacing()) + 12
        self.text.setFixedHeight(min(_REASONING_MAX_HEIGHT, max(40, document_height)))


class ReplyWidget(QFrame):
    """The assistant's reply: reasoning panel, markdown answer, status, Copy and Retry."""

    retry_requested = Signal(object)

    def __init__(self, message: Message, reasoning_expanded: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = message
        self.setObjectName("reply")
        self._started = time.monotonic()
        self._thought_for: float | None = None
        self.is_last = True  # only the newest reply offers Retry
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        self.reasoning = ReasoningPanel(reasoning_expanded)
        self.reasoning.setObjectName("reasoning_panel")
        self.reasoning.setVisible(False)
        layout.addWidget(self.reasoning)
        self.answer = MarkdownView()
        self.answer.setObjectName("answer_view")
        layout.addWidget(self.answer)
        self.error = QLabel()
        self.error.setObjectName("reply_error")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet("QLabel { background: #fce8e6; color: #a50e0e; border-radius: 6px; padding: 6px; }")
        self.error.setVisible(False)
        layout.addWidget(self.error)
        footer = QHBoxLayout()
        self.status = QLabel()
        self.status.setObjectName("reply_status")
        self.status.setStyleSheet("QLabel { color: #80868b; font-size: small; }")
        footer.addWidget(self.status, 1)
        self.details_button = QPushButton(_("Details"))
        self.details_button.setObjectName("reply_details")
        self.details_button.setFlat(True)
        self.details_button.clicked.connect(self._show_details)
        self.copy_button = QPushButton(_("Copy"))
        self.copy_button.setObjectName("reply_copy")
        self.copy_button.setFlat(True)
        self.copy_button.clicked.connect(self._copy)
        self.retry_button = QPushButton(_("Retry"))
        self.retry_button.setObjectName("reply_retry")
        self.retry_button.clicked.connect(lambda: self.retry_requested.emit(self.message))
        for button in (self.details_button, self.copy_button, self.retry_button):
            button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            footer.addWidget(button)
        layout.addLayout(footer)
        self.refresh()

    def refresh(self) -> None:
        """Render the message's current state (called from the repaint timer)."""
        m = self.message
        if m.reasoning:
            if m.text and self._thought_for is None:
                self._thought_for = time.monotonic() - self._started
            if self._thought_for is not None:
                title = _("Thought for {s:.0f} s").format(s=max(1.0, self._thought_for))
            else:
                title = _("Thinking… {n} words").format(n=len(m.reasoning.split()))
            self.reasoning.setVisible(True)
            self.reasoning.show_reasoning(m.reasoning, title)
        else:
            self.reasoning.setVisible(False)
        self.answer.show_text(m.text)
        if m.is_final:
            self.answer.finish()
        self.answer.setVisible(bool(m.text) or m.state in (ReplyState.WAITING, ReplyState.STREAMING))
        if m.error is not None:
            hint = f"<br/><i>{_escape(m.error.hint)}</i>" if m.error.hint else ""
            self.error.setText(f"<b>{_escape(m.error.message)}</b>{hint}")
        self.error.setVisible(m.error is not None)
        self.details_button.setVisible(bool(m.error and m.error.detail))
        self.copy_button.setVisible(bool(m.text) and m.is_final)
        # Offered even after errors that retrying alone will not fix: the user may fix the key or model first.
        self.retry_button.setVisible(self.is_last and m.is_final and m.state is not ReplyState.COMPLETE)
        self.status.setText(self._status_text())

    def _status_text(self) -> str:
        m = self.message
        state = {
            ReplyState.WAITING: _("Waiting for {model}…"),
            ReplyState.STREAMING: _("{model} is answering…"),
            ReplyState.COMPLETE: "{model}",
            ReplyState.STOPPED: _("{model} · stopped — the partial answer is kept"),
            ReplyState.INTERRUPTED: _("{model} · interrupted — the partial answer is kept"),
            ReplyState.FAILED: _("{model} · failed"),
        }[m.state].format(model=short_model_name(m.model))
        if m.completion_tokens:
            state += " · " + _("{n} tokens").format(n=m.completion_tokens)
        if m.boxes:
            state += " · " + _("{n} boxes").format(n=len(m.boxes))
        if m.finish_reason == "length":
            state += " · " + _("cut off at the length limit")
        return state

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.message.text)

    def _show_details(self) -> None:
        if self.message.error is None:
            return
        box = QMessageBox(QMessageBox.Icon.Information, _("Error details"), self.message.error.message, parent=self)
        box.setDetailedText(self.message.error.detail)
        box.open()


def short_model_name(model: str) -> str:
    """A model id as a person reads it: `transformers serve` ids are folder paths; show the folder."""
    if model.startswith(("/", "~")) or re.match(r"[A-Za-z]:[\\/]", model):
        return re.split(r"[\\/]", model.rstrip("\\/"))[-1]
    return model


def _escape(text: str) -> str:
    import html

    return html.escape(text).replace("\n", "<br/>")
