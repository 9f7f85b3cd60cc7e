"""The scrolling list of messages, repainted from the message buffers on a timer.

Stream events only mark a reply dirty; a 30 Hz timer renders what changed. Inserting every delta
into a widget made the event loop stall under load; batching keeps it responsive.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from desktop.chat.conversation import Conversation, Message, Role
from desktop.i18n import _
from desktop.ui.message_widgets import QuestionWidget, ReplyWidget

REPAINT_INTERVAL_MS = 33


class ConversationView(QScrollArea):
    """Shows a conversation; follows the bottom while the user has not scrolled up."""

    retry_requested = Signal(object)

    def __init__(self, reasoning_expanded: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversation_view")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._reasoning_expanded = reasoning_expanded
        self._container = QWidget()
        self._container.setObjectName("conversation_container")
        self._layout = QVBoxLayout(self._container)
        self._layout.setContentsMargins(12, 12, 12, 12)
        self._layout.setSpacing(10)
        self._placeholder = QLabel(_("Ask anything about a picture or your screen.\n"
                                     "Paste or drop an image, or use “Screen” to attach what you see."))
        self._placeholder.setObjectName("conversation_placeholder")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setStyleSheet("QLabel { color: #9aa0a6; }")
        self._layout.addWidget(self._placeholder, 1)
        self._layout.addStretch(1)
        self.setWidget(self._container)
        self._widgets: dict[str, QuestionWidget | ReplyWidget] = {}
        self._dirty: set[str] = set()
        self._follow = True
        self._timer = QTimer(self)
        self._timer.setInterval(REPAINT_INTERVAL_MS)
        self._timer.timeout.connect(self._repaint)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)

    def show_conversation(self, conversation: Conversation) -> None:
        """Replace what is shown with `conversation`."""
        for widget in self._widgets.values():
            widget.deleteLater()
        self._widgets.clear()
        self._dirty.clear()
        for message in conversation.messages:
            self.add_message(message)
        self._placeholder.setVisible(not conversation.messages)

    def add_message(self, message: Message) -> None:
        """Append a widget for `message` and scroll to it."""
        self._placeholder.setVisible(False)
        for earlier in self._widgets.values():
            if isinstance(earlier, ReplyWidget) and earlier.is_last:
                earlier.is_last = False
                earlier.refresh()
        widget: QuestionWidget | ReplyWidget
        if message.role is Role.USER:
            widget = QuestionWidget(message)
        else:
            widget = ReplyWidget(message, self._reasoning_expanded)
            widget.retry_requested.connect(self.retry_requested)
        self._widgets[message.id] = widget
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self._follow = True

    def widget_for(self, message: Message) -> QuestionWidget | ReplyWidget | None:
        """The widget showing `message`."""
        return self._widgets.get(message.id)

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
        if self._follow:
            self.verticalScrollBar().setValue(maximum)
