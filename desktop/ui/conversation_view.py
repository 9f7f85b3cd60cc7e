"""The scrolling list of messages, repainted from the message buffers on a timer.

Stream events only mark a reply dirty; a 30 Hz timer renders what changed. Inserting every delta
into a widget made the event loop stall under load; batching keeps it responsive. `apply` turns a
chat session's events into exactly that.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from desktop.assistant.session import (
    ConversationReplaced,
    MessageAdded,
    ReplyChanged,
    ReplyFinished,
    ReplyStateChanged,
    SessionEvent,
)
from desktop.chat.conversation import Conversation, Message, Role
from desktop.i18n import _
from desktop.ui.message_widgets import QuestionWidget, ReplyWidget
from desktop.ui.notifier import Notifier

REPAINT_INTERVAL_MS = 33
FLASH_MS = 1500  # how long a message opened from a search stays highlighted
_REVEAL_MARGIN = 12


class ConversationView(QScrollArea):
    """Shows a conversation; follows the bottom while the user has not scrolled up."""

    retry_requested = Signal(object)
    _flashed: QWidget | None = None  # here as well: the scroll area filters events before __init__ ends

    def __init__(self, reasoning_expanded: bool = False, parent: QWidget | None = None, *,
                 notifier: Notifier | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversation_view")
        self._notifier = notifier  # for the replies' background work (drawing their boxes' picture)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._reasoning_expanded = reasoning_expanded
        self._container = QWidget()
        self._container.setObjectName("conversation_container")
        self._layout = QVBoxLayout(self._container)
        self._layout.setContentsMargins(12, 12, 12, 12)
        self._layout.setSpacing(10)
        self._placeholder = QLabel(_("Ask anything about a picture, a document or your screen.\n"
                                     "Drop or paste pictures, PDFs, slides or text files, or use “Screen” to "
                                     "attach what you see."))
        self._placeholder.setObjectName("conversation_placeholder")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setStyleSheet("QLabel { color: #9aa0a6; }")
        self._layout.addWidget(self._placeholder, 1)
        self._layout.addStretch(1)
        self.setWidget(self._container)
        self._widgets: dict[str, QuestionWidget | ReplyWidget] = {}
        self._dirty: set[str] = set()
        self._follow = True
        self._reveal: QWidget | None = None  # a message being brought into view while the layout settles
        self._reveal_timer = QTimer(self)
        self._reveal_timer.setSingleShot(True)
        self._reveal_timer.timeout.connect(self._reveal_settled)
        self._flash: QFrame | None = None
        self._flashed: QWidget | None = None
        self._flash_timer = QTimer(self)
        self._flash_timer.setSingleShot(True)
        self._flash_timer.timeout.connect(self._end_flash)
        self._timer = QTimer(self)
        self._timer.setInterval(REPAINT_INTERVAL_MS)
        self._timer.timeout.connect(self._repaint)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)

    def show_conversation(self, conversation: Conversation) -> None:
        """Replace what is shown with `conversation`."""
        self._end_reveal()
        self._end_flash()
        for widget in self._widgets.values():
            widget.deleteLater()
        self._widgets.clear()
        self._dirty.clear()
        for message in conversation.messages:
            self.add_message(message)
        self._placeholder.setVisible(not conversation.messages)

    def apply(self, event: SessionEvent) -> None:
        """Show what a session event changed: a delta or a state change only marks the reply dirty
        (the timer repaints it), the end of a reply is painted at once."""
        if isinstance(event, ReplyChanged | ReplyStateChanged):
            self.mark_dirty(event.message)
        elif isinstance(event, MessageAdded):
            self.add_message(event.message)
        elif isinstance(event, ReplyFinished):
            self.mark_dirty(event.message)
            self.flush()
        elif isinstance(event, ConversationReplaced):
            self.show_conversation(event.conversation)

    def add_message(self, message: Message) -> None:
        """Append a widget for `message` and scroll to it."""
        self._end_reveal()
        self._placeholder.setVisible(False)
        for earlier in self._widgets.values():
            if isinstance(earlier, ReplyWidget) and earlier.is_last:
                earlier.is_last = False
                earlier.refresh()
        widget: QuestionWidget | ReplyWidget
        if message.role is Role.USER:
            widget = QuestionWidget(message)
        else:
            # The reply's boxes point at its question's picture: the question is shown above it.
            asked = self._widgets.get(message.answers or "")
            question = asked.message if isinstance(asked, QuestionWidget) else None
            widget = ReplyWidget(message, self._reasoning_expanded, question=question, notifier=self._notifier)
            widget.retry_requested.connect(self.retry_requested)
        self._widgets[message.id] = widget
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self._follow = True

    def widget_for(self, message: Message) -> QuestionWidget | ReplyWidget | None:
        """The widget showing `message`."""
        return self._widgets.get(message.id)

    def reveal(self, message_id: str) -> bool:
        """Scroll a message to the top of the view and flash it (a search hit opened); False if it is not shown.

        The view stops following the bottom; the position is kept right while the layout settles (the
        heights of rendered answers are known only after a layout pass).
        """
        widget = self._widgets.get(message_id)
        if widget is None:
            return False
        self._follow = False
        self._reveal = widget
        self._layout.activate()
        self._scroll_to_reveal()
        self._reveal_timer.start(600)
        self._end_flash()
        flash = QFrame(self._container)
        flash.setObjectName("message_flash")
        flash.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        flash.setStyleSheet("QFrame#message_flash { background: rgba(253, 226, 147, 60); "
                            "border: 2px solid #f9ab00; border-radius: 8px; }")
        flash.setGeometry(widget.geometry().adjusted(-4, -4, 4, 4))
        flash.show()
        flash.raise_()
        self._flash, self._flashed = flash, widget
        widget.installEventFilter(self)  # the frame follows the message while the layout settles
        self._flash_timer.start(FLASH_MS)
        return True

    def _scroll_to_reveal(self) -> None:
        widget = self._reveal
        if widget is None:
            return
        bar = self.verticalScrollBar()
        bar.setValue(max(0, min(bar.maximum(), widget.y() - _REVEAL_MARGIN)))
        self._follow = False

    def _reveal_settled(self) -> None:
        self._scroll_to_reveal()
        self._end_reveal()

    def _end_reveal(self) -> None:
        self._reveal_timer.stop()
        self._reveal = None

    def _end_flash(self) -> None:
        self._flash_timer.stop()
        if self._flash is not None:
            self._flash.deleteLater()
            self._flash = None
        if self._flashed is not None:
            self._flashed.removeEventFilter(self)
            self._flashed = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Keep the flash around its message as the message moves or grows."""
        if (watched is self._flashed and self._flash is not None
                and event.type() in (QEvent.Type.Move, QEvent.Type.Resize)):
            self._flash.setGeometry(self._flashed.geometry().adjusted(-4, -4, 4, 4))
        return super().eventFilter(watched, event)

    @property
    def flashing(self) -> QWidget | None:
        """The message widget highlighted just now, if any."""
        return self._flashed

    def mark_dirty(self, message: Message) -> None:
        """Schedule a repaint of `message` (cheap; call on every stream event)."""
        self._dirty.add(message.id)
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Repaint everything pending now (used when a reply ends)."""
        self._repaint()

    def _repaint(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for message_id in dirty:
            widget = self._widgets.get(message_id)
            if widget is not None:
                widget.refresh()
        if not self._dirty:
            self._timer.stop()

    def _on_scrolled(self, value: int) -> None:
        self._follow = value >= self.verticalScrollBar().maximum() - 24

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._reveal is not None:
            self._scroll_to_reveal()
        elif self._follow:
            self.verticalScrollBar().setValue(maximum)
