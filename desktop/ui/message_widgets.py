"""Widgets for one message: the user's question, and the assistant's reply with its reasoning panel.

They render from the `Message` object (the buffer); `refresh()` is called by the conversation
view's repaint timer, never per delta. A reply with grounding boxes shows the picture they point at (the last
picture sent with its question) with each box outlined and numbered, redrawn only when a box arrives, and
offers *Show on screen* for a captured picture (`box_overlay.BoxOverlay`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from PySide6.QtCore import QEvent, QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QImage, QMouseEvent, QPainter, QPaintEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from desktop.chat.attachments import DocumentAttachment, PageMode
from desktop.chat.conversation import GroundingBox, ImageAttachment, Message, ReplyState
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.ui.answer_view import MarkdownView
from desktop.ui.box_overlay import BoxOverlay, box_rect, paint_boxes
from desktop.ui.notifier import Notifier
from desktop.ui.operations import run_async
from desktop.ui.previews import attachment_pixmap

log = logging.getLogger(__name__)

_REASONING_MAX_HEIGHT = 260


def boxes_picture(question: Message | None) -> ImageAttachment | None:
    """The picture a reply's boxes point at: the last picture sent with the question it answers (none when a
    document's pages went as pictures after it: the boxes point at a page then)."""
    if question is None:
        return None
    for attachment in reversed(question.attachments):
        if isinstance(attachment, ImageAttachment):
            return attachment
        if isinstance(attachment, DocumentAttachment) and attachment.mode is not PageMode.TEXT:
            return None
    return None


def scaled_picture(attachment: ImageAttachment, width: int, height: int) -> QImage:
    """The picture as it was sent, scaled to `width`×`height` pixels (CPU work: call from a worker thread)."""
    from PIL import Image  # not at start: Pillow costs idle memory, and the first picture loads it anyway

    picture = attachment.sent_image()
    if picture.mode not in ("RGB", "RGBA"):
        picture = picture.convert("RGBA")
    scaled = picture.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=2.0).convert("RGBA")
    return QImage(scaled.tobytes(), width, height, width * 4, QImage.Format.Format_RGBA8888).copy()


class BoxesPicture(QWidget):
    """The picture a reply's boxes point at, as wide as the reply allows (at most `MAX_HEIGHT` tall), with
    each box outlined and numbered in the order it arrived.

    The picture is decoded and scaled in a worker thread; what is painted is composed once per change (a box
    arrived, a box highlighted, a new width), never per streamed delta.
    """

    box_hovered = Signal(int)  # the pointer is on box N (1-based); 0 when it leaves the boxes
    picture_ready = Signal()  # the scaled picture arrived from its worker

    MAX_HEIGHT = 360
    MAX_ZOOM = 2.0  # a small picture is enlarged at most this much
    _RESCALE_MS = 150

    def __init__(self, attachment: ImageAttachment, notifier: Notifier, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reply_boxes_picture")
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.attachment = attachment
        self._notifier = notifier
        self.boxes: list[GroundingBox] = []
        self._highlighted = 0
        self._hovered = 0
        self._image: QImage | None = None
        self._composed: QPixmap | None = None
        self._loading: QSize | None = None
        self._task: asyncio.Task[QImage] | None = None
        self.compositions = 0  # how often the picture with its boxes was drawn (it is cached between paints)
        self._rescale = QTimer(self)
        self._rescale.setSingleShot(True)
        self._rescale.setInterval(self._RESCALE_MS)
        self._rescale.timeout.connect(self._load)
        self.setFixedHeight(self.display_size(480).height())
        self.setToolTip(_("Where the answer's boxes are on the picture you sent"))

    # -- geometry ------------------------------------------------------------------------------------------
    def display_size(self, width: int) -> QSize:
        """The size the picture is shown at in `width` logical pixels."""
        picture_w, picture_h = self.attachment.picture_size()
        picture_w, picture_h = max(1, picture_w), max(1, picture_h)
        zoom = min(max(1, width) / picture_w, self.MAX_HEIGHT / picture_h, self.MAX_ZOOM)
        return QSize(max(1, round(picture_w * zoom)), max(1, round(picture_h * zoom)))

    def picture_rect(self) -> QRect:
        """Where the picture is drawn in this widget."""
        return QRect(QPoint(0, 0), self.display_size(self.width()))

    def box_rects(self) -> list[QRect]:
        """Each box on the picture as drawn, in this widget's coordinates, numbered from 1 in this order."""
        area = QRectF(self.picture_rect())
        return [box_rect(box, area) for box in self.boxes]

    def box_at(self, point: QPoint) -> int:
        """The box under `point` (the smallest, where boxes overlap); 0 for none."""
        hits = [(rect.width() * rect.height(), number)
                for number, rect in enumerate(self.box_rects(), start=1) if rect.adjusted(-3, -3, 3, 3).contains(point)]
        return min(hits)[1] if hits else 0

    @property
    def has_picture(self) -> bool:
        """True once the scaled picture is there (until then a grey placeholder is drawn under the boxes)."""
        return self._image is not None

    @property
    def highlighted(self) -> int:
        """The box drawn highlighted (0: none)."""
        return self._highlighted

    # -- changes ---------------------------------------------------------------------------------------------
    def set_boxes(self, boxes: list[GroundingBox]) -> None:
        """Draw these boxes (redrawn only when their number changed)."""
        if len(boxes) == len(self.boxes):
            return
        self.boxes = list(boxes)
        self._invalidate()
        if self._image is None:
            self._load()

    def highlight(self, number: int) -> None:
        """Draw box `number` highlighted (0: none)."""
        if number == self._highlighted:
            return
        self._highlighted = number
        self._invalidate()

    def _invalidate(self) -> None:
        self._composed = None
        self.update()

    # -- the picture, from a worker --------------------------------------------------------------------------
    def _wanted(self) -> QSize:
        return self.display_size(self.width()) * self.devicePixelRatioF()

    def _load(self) -> None:
        wanted = self._wanted()
        if self._loading == wanted or (self._image is not None and self._image.size() == wanted):
            return
        if self._task is not None:
            self._task.cancel()
        self._loading = wanted
        self._task = run_async(asyncio.to_thread(scaled_picture, self.attachment, wanted.width(), wanted.height()),
                               notifier=self._notifier, owner=self, on_done=self._picture_arrived,
                               on_error=self._picture_failed)

    def _picture_arrived(self, image: QImage) -> None:
        self._task = None
        self._loading = None
        self._image = image
        self._invalidate()
        self.picture_ready.emit()
        if image.size() != self._wanted():
            self._rescale.start()  # resized meanwhile

    def _picture_failed(self, error: BaseException) -> None:
        self._task = None
        self._loading = None
        if isinstance(error, UserFacingError):
            log.info("No picture under the boxes of '%s': %s", self.attachment.name, error.message)
        else:
            self._notifier.show_error(error)

    # -- Qt ----------------------------------------------------------------------------------------------------
    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """As wide as the picture is shown at the width it has."""
        return self.display_size(max(self.width(), 1))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """Any width: the picture follows the reply's."""
        return QSize(64, self.height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        """Follow the reply's width: the height follows the picture's shape; a picture of the new size is made in
        the worker once resizing settles (meanwhile the one there is drawn scaled)."""
        super().resizeEvent(event)
        height = self.display_size(self.width()).height()
        if height != self.height():
            self.setFixedHeight(height)
        self._composed = None
        if self._image is None and self._loading is None:
            self._load()
        elif self._image is not None and self._image.size() != self._wanted():
            self._rescale.start()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        """Paint the composed picture (composed again only after a change)."""
        ratio = self.devicePixelRatioF()
        if self._composed is None or self._composed.size() != self.size() * ratio:
            self._composed = self._compose(ratio)
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._composed)
        painter.end()

    def _compose(self, ratio: float) -> QPixmap:
        self.compositions += 1
        pixmap = QPixmap(self.size() * ratio)
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        target = self.picture_rect()
        if self._image is None:
            painter.fillRect(target, Qt.GlobalColor.lightGray)
        else:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(QRectF(target), self._image)
        paint_boxes(painter, self.box_rects(), self.rect(), highlighted=self._highlighted)
        painter.end()
        return pixmap

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Hovering a box highlights it, and the text that names it."""
        self._hover(self.box_at(event.position().toPoint()))
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        """Leaving the picture ends the highlight."""
        self._hover(0)
        super().leaveEvent(event)

    def _hover(self, number: int) -> None:
        if number == self._hovered:
            return
        self._hovered = number
        self.highlight(number)
        self.box_hovered.emit(number)


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

    def __init__(self, message: Message, reasoning_expanded: bool, parent: QWidget | None = None, *,
                 question: Message | None = None, notifier: Notifier | None = None) -> None:
        super().__init__(parent)
        self.message = message
        self.setObjectName("reply")
        self._notifier = notifier
        self._boxes_source = boxes_picture(question)  # the picture the reply's boxes point at, if any
        self.picture: BoxesPicture | None = None  # made when the first box arrives
        self.overlay: BoxOverlay | None = None  # the boxes last shown on screen from this reply
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
        self.answer.set_box_links(self._boxes_source is not None)
        layout.addWidget(self.answer)
        self._picture_slot = layout.count()  # the picture goes under the answer
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
        self.show_on_screen_button = QPushButton(_("Show on screen"))
        self.show_on_screen_button.setObjectName("show_on_screen")
        self.show_on_screen_button.setFlat(True)
        self.show_on_screen_button.setToolTip(_("Draw the boxes over the screen where the picture was taken "
                                                "(Esc hides them)"))
        self.show_on_screen_button.setVisible(False)
        self.show_on_screen_button.clicked.connect(self.show_on_screen)
        for button in (self.show_on_screen_button, self.details_button, self.copy_button, self.retry_button):
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
        if m.boxes and self._boxes_source is not None and (self.picture is None or len(m.boxes) != len(
                self.picture.boxes)):
            self._draw_boxes()
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

    def _draw_boxes(self) -> None:
        source = self._boxes_source
        assert source is not None
        if self.picture is None:
            if self._notifier is None:
                self._notifier = Notifier(self)
            self.picture = BoxesPicture(source, self._notifier)
            self.picture.box_hovered.connect(self.answer.mark_box)
            self.answer.box_hovered.connect(self.picture.highlight)
            self.answer.box_clicked.connect(self.picture.highlight)
            layout = self.layout()
            assert isinstance(layout, QVBoxLayout)
            layout.insertWidget(self._picture_slot, self.picture)
        self.picture.set_boxes(list(self.message.boxes))
        self.show_on_screen_button.setVisible(source.sent_area() is not None)

    def show_on_screen(self) -> BoxOverlay | None:
        """Draw the reply's boxes over the screen where its picture was captured (replacing boxes shown before)."""
        source = self._boxes_source
        area = source.sent_area() if source is not None else None
        if area is None or not self.message.boxes:
            return None
        self.overlay = BoxOverlay.show_boxes(area, self.message.boxes)
        if not self.overlay.is_open:
            button = self.show_on_screen_button
            QToolTip.showText(button.mapToGlobal(button.rect().bottomLeft()),
                              _("The place where the picture was taken is on no screen now."), button)
        return self.overlay

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
