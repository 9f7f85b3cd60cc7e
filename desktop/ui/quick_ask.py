"""The quick-ask popup: a small always-on-top window beside a fresh capture for one quick question.

It shows a thumbnail of the capture, a one-line question with history, and streams the answer with
the chat window's own rendering (`ConversationView`). It is a view of a `ChatSession`: follow-up
questions continue the same conversation; *Open in chat* hands the session itself, with a reply
that may still be streaming, to the chat window (`QuickAskHandover`, taken by
`ChatWindow.adopt_session`), and the popup goes on with a new session. No task changes hands.

Conversation rules, kept deliberately simple:

- Nothing the user typed or received is dropped. `show_for(capture, anchor)` with a capture
  starts a fresh conversation about it, replacing a capture not asked about yet (the user took
  another picture instead); the conversation it replaces, if it has messages,
  first goes to the chat window as with *Open in chat*, only quietly
  (`QuickAskHandover.quiet`: the chat window is not brought to the front, the popup stays). A
  reply still streaming in it streams on there. A question typed but not sent stays in the line
  edit, for the new capture. Sessions already handed to the chat window are never touched.
  Only without a chat window to take it (nothing connected to `open_in_chat`) is the replaced
  session left, its streaming reply stopped.
- Until there is a history store, the chat window shows one conversation: adopting a handed-over
  session replaces its own, as *New chat* does (`ChatWindow.adopt_session`).
- `show_for(None, None)` (the quick-ask hotkey) shows the current conversation again, a reply
  still streaming into it included; without one it is an empty, text-only ask.
- Esc, the close button and (unpinned) another program taking the focus only hide the popup; a
  streaming reply goes on, and an unpinned popup is not hidden while a reply streams.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QEvent, QMetaMethod, QObject, QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCursor,
    QDragEnterEvent,
    QDropEvent,
    QFocusEvent,
    QGuiApplication,
    QKeyEvent,
    QMouseEvent,
    QResizeEvent,
    QScreen,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.assistant.asking import ask_options, ready_to_ask
from desktop.assistant.history import HistoryWriter
from desktop.assistant.services import Services
from desktop.assistant.session import (
    ChatSession,
    ConversationReplaced,
    MessageAdded,
    QuestionReturned,
    ReplyChanged,
    ReplyFinished,
    SessionEvent,
)
from desktop.chat.attachments import ImageAttachment, Sending, prepare
from desktop.chat.conversation import Attachment, Conversation, Message, Role
from desktop.chat.request import AskOptions
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.logsetup import trace
from desktop.ui.attachment_loader import AttachmentLoader
from desktop.ui.composer import PendingChip, images_from_mime
from desktop.ui.conversation_view import ConversationView
from desktop.ui.icons import named_icon
from desktop.ui.notifier import Notifier
from desktop.ui.operations import reply_starter, run_async
from desktop.ui.previews import PREVIEW_SIZE, attachment_pixmap

log = logging.getLogger(__name__)

POPUP_WIDTH = 460
THUMB_HEIGHT = 96
THUMB_MAX_WIDTH = 176
MAX_SCREEN_FRACTION = 0.6  # the popup grows with its answer up to this share of the screen's height, then scrolls
ANCHOR_GAP = 8  # pixels between the selection and the popup
HISTORY_LIMIT = 50

_STYLE = """
QFrame#quick_ask_frame { background: palette(window); border: 1px solid #b8bcc2; }
QWidget#quick_ask_header { background: #f3f5f8; border-bottom: 1px solid #e1e4e8; }
QLabel#quick_ask_thumbnail { background: #ffffff; border: 1px solid #d5d9de; border-radius: 4px; padding: 1px; }
QLabel#quick_ask_title { font-weight: 600; }
QLabel#quick_ask_details, QLabel#quick_ask_hint { color: #5f6368; }
QLineEdit#quick_ask_question { border: 1px solid #c4c7c5; border-radius: 6px; padding: 5px 8px;
                               background: #ffffff; }
QLineEdit#quick_ask_question:focus { border: 1px solid #1a73e8; }
QWidget#quick_ask_footer { border-top: 1px solid #e1e4e8; }
QToolButton#quick_ask_pin, QToolButton#quick_ask_close { border: none; border-radius: 4px; padding: 2px 6px;
                                                         color: #5f6368; }
QToolButton#quick_ask_pin:hover, QToolButton#quick_ask_close:hover { background: #e3e6ea; }
QToolButton#quick_ask_pin:checked { background: #d2e3fc; color: #174ea6; }
QToolButton#quick_ask_dont_save { border: none; border-radius: 4px; padding: 2px 4px; color: #b06000; }
QToolButton#quick_ask_dont_save:hover { background: #e3e6ea; }
QToolButton#quick_ask_dont_save:checked { background: #fef7e0; }
"""


@dataclass
class QuickAskHandover:
    """What *Open in chat* gives the chat window: the popup's session (None if nothing was asked in it),
    and what the user had typed or captured but not sent yet."""

    session: ChatSession | None = None
    draft: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    quiet: bool = False  # made room for a new capture: adopt it without bringing the chat window to the front

    @property
    def streaming(self) -> bool:
        """True while the handed-over session's reply is still running."""
        return self.session is not None and self.session.busy


def place_beside(anchor: QRect, size: QSize, available: QRect, gap: int = ANCHOR_GAP) -> tuple[QPoint, bool]:
    """Where a popup of `size` goes beside `anchor`, fully inside `available`.

    Tries below the anchor, then above, then right, then left; if none fits, it goes over the
    anchor's bottom-right corner. Returns the top-left point and whether it was placed above (so
    a growing popup grows upwards, away from the selection).
    """
    w, h = size.width(), size.height()
    left, top = available.left(), available.top()
    right, bottom = available.left() + available.width(), available.top() + available.height()  # exclusive
    a_left, a_top = anchor.left(), anchor.top()
    a_right, a_bottom = anchor.left() + anchor.width(), anchor.top() + anchor.height()  # exclusive
    above = False
    if a_bottom + gap + h <= bottom:
        x, y = a_left, a_bottom + gap
    elif a_top - gap - h >= top:
        x, y, above = a_left, a_top - gap - h, True
    elif a_right + gap + w <= right:
        x, y = a_right + gap, a_top
    elif a_left - gap - w >= left:
        x, y = a_left - gap - w, a_top
    else:
        x, y = a_right - gap - w, a_bottom - gap - h
    return clamp_into(QPoint(x, y), size, available), above


def clamp_into(point: QPoint, size: QSize, available: QRect) -> QPoint:
    """`point` moved as little as possible so a window of `size` there lies inside `available`."""
    right = available.left() + available.width() - size.width()
    bottom = available.top() + available.height() - size.height()
    return QPoint(max(available.left(), min(point.x(), right)), max(available.top(), min(point.y(), bottom)))


def screen_for(anchor: QRect | None) -> QScreen:
    """The screen holding most of `anchor`, else the one under the pointer, else the primary one."""
    if anchor is not None:
        best: QScreen | None = None
        best_area = 0
        for screen in QGuiApplication.screens():
            overlap = screen.geometry().intersected(anchor)
            area = overlap.width() * overlap.height() if not overlap.isEmpty() else 0
            if area > best_area:
                best, best_area = screen, area
        if best is not None:
            return best
        found = QGuiApplication.screenAt(anchor.center())
        if found is not None:
            return found
    return QGuiApplication.screenAt(QCursor.pos()) or QGuiApplication.primaryScreen()


def thumbnail_pixmap_size(attachment: Attachment) -> QSize:
    """The thumbnail's size: `THUMB_HEIGHT` tall (less for a small capture), at most `THUMB_MAX_WIDTH` wide;
    a file with no pixel size (a text file) gets a page's shape."""
    width, height = (attachment.width, attachment.height) if attachment.width and attachment.height else (3, 4)
    if not isinstance(attachment, ImageAttachment):
        width, height = width * 1000, height * 1000  # a page's shape, always as tall as the header allows
    scale = min(THUMB_HEIGHT / max(1, height), THUMB_MAX_WIDTH / max(1, width), 1.0)
    return QSize(max(1, round(width * scale)), max(1, round(height * scale)))


def _model_hint() -> str:
    return _("Pick a model in the chat window's model box, or set one in Settings → Endpoints.")


class QuestionLine(QLineEdit):
    """The one-line question: Up and Down walk the history (newest first), keeping the draft."""

    def __init__(self, history: Callable[[], list[str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._history = history
        self._index = -1  # -1: the draft is shown; otherwise the position in the history
        self._draft = ""
        self.textEdited.connect(self._on_edited)

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt override
        """Ready for typing (tests and benchmarks wait for this before typing)."""
        trace("quick-ask-focused")
        super().focusInEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        """Up recalls older questions, Down newer ones and finally the draft."""
        if event.key() == Qt.Key.Key_Up and not event.modifiers():
            self.recall_older()
        elif event.key() == Qt.Key.Key_Down and not event.modifiers():
            self.recall_newer()
        else:
            super().keyPressEvent(event)

    def recall_older(self) -> None:
        """Show the next older question of the history (the draft is kept)."""
        items = self._history()
        if self._index + 1 >= len(items):
            return
        if self._index == -1:
            self._draft = self.text()
        self._index += 1
        self.setText(items[self._index])

    def recall_newer(self) -> None:
        """Show the next newer question, and after the newest the draft again."""
        if self._index == -1:
            return
        self._index -= 1
        items = self._history()
        self.setText(self._draft if self._index == -1 or self._index >= len(items) else items[self._index])
        if self._index >= len(items):
            self._index = -1

    def reset_walk(self) -> None:
        """Forget the walk (after sending): Up starts again from the newest question."""
        self._index = -1
        self._draft = ""

    def _on_edited(self, _text: str) -> None:
        # An edited recalled question becomes the draft; walking on keeps it.
        self._index = -1


class _Header(QWidget):
    """The popup's header; dragging anywhere on it (not on its buttons) moves the frameless window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self._grab: QPoint | None = None  # pointer offset from the window's top-left while moving it by hand

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Start moving the window: by the window system where it can (Wayland needs it), else by hand."""
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        handle = self.window().windowHandle()
        if handle is not None and handle.startSystemMove():
            self._grab = None
        else:
            self._grab = event.globalPosition().toPoint() - self.window().pos()
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Follow the pointer while moving by hand."""
        if self._grab is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self.window().move(event.globalPosition().toPoint() - self._grab)
            event.accept()
        else:
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Stop moving."""
        if self._grab is not None:
            self._grab = None
            popup = self.window()
            if isinstance(popup, QuickAskPopup):
                popup.user_moved()
        super().mouseReleaseEvent(event)


class QuickAskPopup(QWidget):
    """A small always-on-top window to ask one quick question (and follow-ups) about a capture.

    A session leaves it only through `open_in_chat` (*Open in chat*, or quietly when a new capture
    replaces it). The chat window's `adopt_session` then replaces the chat window's own session, as
    *New chat* does.
    """

    open_in_chat = Signal(object)  # QuickAskHandover

    def __init__(self, services: Services, notifier: Notifier, parent: QWidget | None = None, *,
                 new_session: Callable[[], ChatSession] | None = None, history: HistoryWriter | None = None) -> None:
        """`new_session` makes the session for each new conversation (by default one on `services.runner`);
        with `history`, the header offers *Don't save this conversation*."""
        super().__init__(parent, Qt.WindowType.Tool | Qt.WindowType.FramelessWindowHint
                         | Qt.WindowType.WindowStaysOnTopHint)
        self.services = services
        self.notifier = notifier
        self.history = history
        self._new_session = new_session or (lambda: ChatSession(services.runner, reply_starter(notifier)))
        self.setObjectName("quick_ask")
        self.setWindowTitle(_("Quick ask"))
        self._capture: Attachment | None = None  # the picture this conversation is about (header thumbnail)
        self._pending: Attachment | None = None  # the capture, until the first question takes it along
        self._returned: Message | None = None  # a failed question put back into the line edit
        self._unsubscribe: Callable[[], None] | None = None
        self._preparing: asyncio.Task[Attachment] | None = None
        self._ask_when_ready = False
        self._background: set[asyncio.Task[Any]] = set()
        self._grow_up = False  # placed above the selection: grow upwards, away from it
        self._placed = False

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSizeConstraint(QLayout.SizeConstraint.SetFixedSize)  # the window is always as big as its content
        self.frame = QFrame()
        self.frame.setObjectName("quick_ask_frame")
        self.frame.setFixedWidth(POPUP_WIDTH)
        self.frame.setStyleSheet(_STYLE)
        outer.addWidget(self.frame)
        layout = QVBoxLayout(self.frame)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.setSpacing(0)
        self._header = self._build_header()
        layout.addWidget(self._header)
        self._question_row = self._build_question_row()
        layout.addWidget(self._question_row)
        self.view = ConversationView(services.settings.get("ui.reasoning_expanded"), notifier=notifier)
        self.view.setObjectName("quick_ask_answer")
        self.view.retry_requested.connect(self.retry)
        self.view.setVisible(False)
        layout.addWidget(self.view)
        self._footer = self._build_footer()
        layout.addWidget(self._footer)

        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(self._fit_height)
        container = self.view.widget()
        assert container is not None
        container.installEventFilter(self)
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.applicationStateChanged.connect(self._on_application_state)
        self.session = self._new_session()
        self._attach(self.session)
        self._show_capture(None)
        self.setAcceptDrops(True)
        self._loader = AttachmentLoader(services, notifier, self, self, self._file_read)

    # -- building ----------------------------------------------------------------------------------
    def _build_header(self) -> QWidget:
        header = _Header()
        header.setObjectName("quick_ask_header")
        row = QHBoxLayout(header)
        row.setContentsMargins(12, 10, 8, 10)
        row.setSpacing(12)
        self.thumbnail = QLabel()
        self.thumbnail.setObjectName("quick_ask_thumbnail")
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        row.addWidget(self.thumbnail, alignment=Qt.AlignmentFlag.AlignTop)
        text = QVBoxLayout()
        text.setSpacing(3)
        self.title = QLabel(_("Quick ask"))
        self.title.setObjectName("quick_ask_title")
        text.addWidget(self.title)
        self.details = QLabel()
        self.details.setObjectName("quick_ask_details")
        self.details.setWordWrap(True)
        text.addWidget(self.details)
        self.tokens = QLabel()
        self.tokens.setObjectName("quick_ask_tokens")
        self.tokens.setStyleSheet("QLabel { color: #5f6368; }")
        text.addWidget(self.tokens)
        text.addStretch(1)
        row.addLayout(text, 1)
        self.dont_save_button = QToolButton()
        self.dont_save_button.setObjectName("quick_ask_dont_save")
        self.dont_save_button.setCheckable(True)
        self.dont_save_button.setIcon(named_icon("not-saved"))
        self.dont_save_button.setToolTip(_("Don't save this conversation in the history"))
        self.dont_save_button.clicked.connect(self._dont_save_clicked)
        self.dont_save_button.setVisible(self.history is not None)
        row.addWidget(self.dont_save_button, alignment=Qt.AlignmentFlag.AlignTop)
        self.pin_button = QToolButton()
        self.pin_button.setObjectName("quick_ask_pin")
        self.pin_button.setText(_("Pin"))
        self.pin_button.setCheckable(True)
        self.pin_button.setToolTip(_("Keep this popup open when you switch to another program"))
        row.addWidget(self.pin_button, alignment=Qt.AlignmentFlag.AlignTop)
        self.close_button = QToolButton()
        self.close_button.setObjectName("quick_ask_close")
        self.close_button.setText("✕")
        self.close_button.setToolTip(_("Hide (Esc); an answer being written goes on"))
        self.close_button.clicked.connect(self.hide)
        row.addWidget(self.close_button, alignment=Qt.AlignmentFlag.AlignTop)
        return header

    def _build_question_row(self) -> QWidget:
        box = QWidget()
        box.setObjectName("quick_ask_question_row")
        row = QHBoxLayout(box)
        row.setContentsMargins(12, 10, 12, 10)
        row.setSpacing(8)
        self.question = QuestionLine(lambda: self.services.settings.get("quick_ask.history"))
        self.question.setObjectName("quick_ask_question")
        self.question.returnPressed.connect(self.ask)
        row.addWidget(self.question, 1)
        self.send_button = QPushButton(_("Ask"))
        self.send_button.setObjectName("quick_ask_send")
        self.send_button.setDefault(True)
        self.send_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.send_button.clicked.connect(self._on_send_clicked)
        row.addWidget(self.send_button)
        return box

    def _build_footer(self) -> QWidget:
        footer = QWidget()
        footer.setObjectName("quick_ask_footer")
        footer.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        row = QHBoxLayout(footer)
        row.setContentsMargins(12, 6, 8, 6)
        hint = QLabel(_("Enter asks · ↑ ↓ earlier questions · Esc hides"))
        hint.setObjectName("quick_ask_hint")
        font = hint.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        hint.setFont(font)
        row.addWidget(hint, 1)
        self.open_chat_button = QPushButton(_("Open in chat"))
        self.open_chat_button.setObjectName("quick_ask_open_chat")
        self.open_chat_button.setToolTip(_("Continue this conversation in the chat window"))
        self.open_chat_button.setAutoDefault(False)
        self.open_chat_button.clicked.connect(self.hand_over)
        row.addWidget(self.open_chat_button)
        return footer

    # -- showing ---------------------------------------------------------------------------------------
    def show_for(self, attachment: Attachment | None, anchor: QRect | None) -> None:
        """Show the popup beside `anchor` (global logical coordinates), about a new capture or, with
        none, with the current conversation (see the module's rules)."""
        if attachment is not None:
            self._start_conversation(attachment)
        trace("quick-ask-shown")
        self._place(anchor)
        self.show()
        self.raise_()
        self.activateWindow()
        self.question.setFocus()

    def _start_conversation(self, attachment: Attachment | None) -> None:
        """Replace the conversation with an empty one about `attachment`; the one replaced goes to the
        chat window, quietly (the typed draft stays here, for the new capture)."""
        # A capture never asked about is replaced by the new one (the user took another picture
        # instead); a conversation with messages is kept.
        keep = bool(self.conversation.messages)
        if not keep:
            self._pending = None
        handover = self._release_conversation(draft="", quiet=True)
        if handover.session is not None:
            if self.isSignalConnected(QMetaMethod.fromSignal(self.open_in_chat)):
                self.open_in_chat.emit(handover)
            else:
                handover.session.stop()  # nobody can take it (no chat window): stopped, as nothing shows it
        self._pending = attachment
        self.view.setVisible(False)
        self._show_capture(attachment)
        if attachment is not None:
            self._prepare(attachment)
        self._schedule_fit()

    def _show_capture(self, attachment: Attachment | None) -> None:
        self._capture = attachment
        self.thumbnail.setVisible(attachment is not None)
        self.tokens.setVisible(attachment is not None)
        self.thumbnail.clear()
        if attachment is None:
            self.title.setText(_("Quick ask"))
            self.details.setText(_("Ask anything; capture a region first to ask about it."))
            self.question.setPlaceholderText(_("Ask a question…"))
            return
        if isinstance(attachment, ImageAttachment):
            self.title.setText(_("Ask about this capture"))
            self.details.setText(_("{w}×{h} px").format(w=attachment.width, h=attachment.height))
        else:
            self.title.setText(_("Ask about {name}").format(name=attachment.name))
            self.details.setText(attachment.describe())
        self.question.setPlaceholderText(_("What do you want to know about it?"))
        size = thumbnail_pixmap_size(attachment)
        self.thumbnail.setFixedSize(size.width() + 4, size.height() + 4)
        self.thumbnail.setText(_("…"))
        self._show_tokens(attachment)

    def _show_tokens(self, attachment: Attachment) -> None:
        """The token cost at the current budget, as in the chat window's attachment chips."""
        sending = self.services.sending()
        cost = attachment.cost(sending)
        if not isinstance(attachment, ImageAttachment):
            self.tokens.setText(_("≈{n:,} tokens").format(n=cost.tokens))
            tip = _("{name}\n{what}\n≈{n:,} tokens").format(name=attachment.name, what=attachment.describe(),
                                                           n=cost.tokens)
        else:
            w, h = attachment.sent_size(sending)
            self.tokens.setText(_("≈{n:,} image tokens").format(n=cost.tokens))
            scaled = _("sent as {w}×{h}").format(w=w, h=h) if (w, h) != (attachment.width, attachment.height) \
                else _("sent unscaled")
            tip = _("{name}\n{w}×{h} px, {scaled}\n≈{n:,} image tokens at a budget of {budget:,}").format(
                name=attachment.name, w=attachment.width, h=attachment.height, scaled=scaled, n=cost.tokens,
                budget=sending.token_budget)
        self.thumbnail.setToolTip(tip)
        self.tokens.setToolTip(tip)

    # -- files dropped on it -----------------------------------------------------------------------
    def add_pending(self, name: str) -> PendingChip:
        """A file dropped here is being read: its placeholder (with Cancel) under the header."""
        chip = PendingChip(name)
        self.frame.layout().insertWidget(1, chip)  # type: ignore[union-attr]
        self._schedule_fit()
        return chip

    def end_pending(self, chip: PendingChip) -> None:
        """The dropped file is read (or was not)."""
        chip.hide()
        chip.deleteLater()
        self._schedule_fit()

    def sending(self) -> Sending:
        """How a file asked about here goes to the endpoint now."""
        return self.services.sending()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        """Accept dragged files and pictures."""
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        """Ask about a dropped file (any kind the app reads) or picture instead of the capture."""
        items = images_from_mime(event.mimeData())
        if not items:
            return
        event.acceptProposedAction()
        if len(items) > 1:
            self.notifier.show_error(UserFacingError(
                _("The quick-ask popup asks about one file at a time; the first one is here."),
                _("Drop several files on the chat window to ask about them together.")), self)
        self._loader.load(items[:1], "drop")

    def _file_read(self, attachment: Attachment) -> None:
        self._start_conversation(attachment)
        self.question.setFocus()

    def _prepare(self, attachment: Attachment) -> None:
        """Compute the preview and the payload in a worker thread (never on the UI thread)."""
        work = asyncio.to_thread(prepare, attachment, self.services.sending(), PREVIEW_SIZE)
        task = run_async(work, notifier=self.notifier, owner=self,
                         on_done=self._prepared, on_error=lambda exc: self._prepare_failed(attachment, exc))
        self._preparing = task
        self._track(task)

    def _prepared(self, attachment: Attachment) -> None:
        self._preparing_ended()
        if attachment is not self._capture:
            return  # a newer capture replaced it meanwhile, or it went to the chat window
        size = thumbnail_pixmap_size(attachment)
        pixmap = attachment_pixmap(attachment, PREVIEW_SIZE).scaled(
            size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self.thumbnail.setPixmap(pixmap)
        if self._ask_when_ready:
            self._ask_when_ready = False
            self.ask()

    def _prepare_failed(self, attachment: Attachment, error: BaseException) -> None:
        self._preparing_ended()
        if attachment is not self._capture:
            return
        self._ask_when_ready = False
        if self._pending is attachment:
            self._pending = None
            self._show_capture(None)
        self.notifier.show_error(error, self)

    def _preparing_ended(self) -> None:
        """Forget the preparation that has just ended, never a newer capture's that is still running."""
        if self._preparing is not None and self._preparing.done():
            self._preparing = None

    def _place(self, anchor: QRect | None) -> None:
        """Beside the selection; without one, where it was (if still on a screen), else near the top
        of the pointer's screen."""
        size = self.sizeHint()
        if anchor is None:
            if self._placed and self._on_screen():
                return
            available = screen_for(None).availableGeometry()
            point = clamp_into(QPoint(available.left() + (available.width() - size.width()) // 2,
                                      available.top() + available.height() // 5), size, available)
            self._grow_up = False
        else:
            available = screen_for(anchor).availableGeometry()
            point, self._grow_up = place_beside(anchor, size, available)
        self.move(point)
        self._placed = True

    def _on_screen(self) -> bool:
        geometry = self.frameGeometry()
        return any(s.availableGeometry().contains(geometry) for s in QGuiApplication.screens())

    def user_moved(self) -> None:
        """The user dragged the popup: from now on it grows downwards."""
        self._grow_up = False

    # -- size ----------------------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Refit the height whenever the answer area's content changes size."""
        if event.type() == QEvent.Type.LayoutRequest:
            self._schedule_fit()
        return super().eventFilter(watched, event)

    def _schedule_fit(self) -> None:
        if not self._fit_timer.isActive():
            self._fit_timer.start()

    def _max_height(self) -> int:
        return int(screen_for(self.frameGeometry() if self._placed else None).availableGeometry().height()
                   * MAX_SCREEN_FRACTION)

    def _fit_height(self) -> None:
        """Size the answer area to its content, up to the popup's height limit (then it scrolls)."""
        if not self.view.isVisibleTo(self):
            return
        container = self.view.widget()
        assert container is not None
        content = container.sizeHint().height()
        frame_layout = self.frame.layout()
        assert frame_layout is not None
        margins = frame_layout.contentsMargins()
        chrome = sum(w.sizeHint().height() for w in (self._header, self._question_row, self._footer)) \
            + margins.top() + margins.bottom() + self.frame.contentsMargins().top() \
            + self.frame.contentsMargins().bottom()
        height = max(60, min(content, self._max_height() - chrome))
        if height != self.view.height() or self.view.minimumHeight() != height:
            self.view.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        """Grow away from the selection, and never past the screen's edge."""
        super().resizeEvent(event)
        if not self._placed:
            return
        old, new = event.oldSize(), event.size()
        pos = self.pos()
        if self._grow_up and old.isValid():
            pos.setY(pos.y() - (new.height() - old.height()))
        point = clamp_into(pos, new, screen_for(self.frameGeometry()).availableGeometry())
        if point != self.pos():
            self.move(point)

    # -- asking ----------------------------------------------------------------------------------------------
    @property
    def conversation(self) -> Conversation:
        """The conversation shown (the session's)."""
        return self.session.conversation

    @property
    def busy(self) -> bool:
        """True while the session's reply is running (Stop shows instead of Ask)."""
        return self.session.busy

    @property
    def pinned(self) -> bool:
        """True while the popup stays visible when another program takes the focus."""
        return self.pin_button.isChecked()

    def current_options(self) -> AskOptions:
        """The options for the next question: the active model and the chat settings."""
        return ask_options(self.services.settings, self.services.profiles.active_model())

    def _on_send_clicked(self) -> None:
        if self.busy:
            self.stop()
        else:
            self.ask()

    def ask(self) -> None:
        """Send the typed question (with the capture, if it is the first one) in this conversation. A
        failed question put back into the line edit is resent as its edited copy."""
        if self.busy:
            return
        text = self.question.text().strip()
        if not text and self._pending is None:
            self.question.setFocus()
            return
        options, profile = self.current_options(), self.services.profiles.active()
        try:
            ready_to_ask(profile, options, _model_hint())
        except UserFacingError as exc:
            self.notifier.show_error(exc, self)
            return
        if self._preparing is not None and not self._preparing.done():
            self._ask_when_ready = True  # the picture is still being prepared; it is sent right after
            return
        attachments = [self._pending] if self._pending is not None else []
        returned = self._returned
        try:
            if returned is not None and not attachments and self.session.can_edit(returned):
                reply = self.session.edit_and_resend(returned, text, options, profile,
                                                     where_to_pick_a_model=_model_hint())
            else:
                reply = self.session.send(text, attachments, options, profile, where_to_pick_a_model=_model_hint())
        except UserFacingError as exc:
            self.notifier.show_error(exc, self)
            return
        if reply is None:
            return
        self._pending = None
        self._returned = None
        if text:
            self._remember(text)
        self.question.clear()
        self.question.reset_walk()

    def add_question_widget(self, question: Message) -> None:
        """Show a sent question; the capture's picture is left out of it, as the header shows it already."""
        self.view.add_message(question)
        widget = self.view.widget_for(question)
        if widget is not None and question.attachments:
            for label in widget.findChildren(QLabel):
                if not label.pixmap().isNull():
                    label.hide()
        self.view.setVisible(True)

    def _remember(self, text: str) -> None:
        """Put `text` first in the saved history: newest first, no duplicates, at most 50."""
        history = [text, *(item for item in self.services.settings.get("quick_ask.history") if item != text)]
        self.services.settings.set("quick_ask.history", history[:HISTORY_LIMIT])

    def _on_session_event(self, event: SessionEvent) -> None:
        if isinstance(event, ReplyChanged):  # the common case, once per delta: only mark it dirty
            self.view.mark_dirty(event.message)
            return
        if isinstance(event, MessageAdded):
            if event.message.role is Role.USER:
                self.add_question_widget(event.message)
            else:
                self.view.add_message(event.message)
                self._set_busy(True)
                self._schedule_fit()
            return
        self.view.apply(event)
        if isinstance(event, ReplyFinished):
            trace(f"quick-ask-reply-finished {event.message.state.value}")
            self._set_busy(self.session.busy)
        elif isinstance(event, QuestionReturned):
            self._offer_question_again(event.question)
        elif isinstance(event, ConversationReplaced):
            self._returned = None
            self.view.setVisible(bool(event.conversation.messages))
            self._set_busy(self.session.busy)
            self._show_saving()

    def _offer_question_again(self, question: Message) -> None:
        """Nothing came back: put the question into an empty line edit, to edit and resend."""
        if not question.text or self.question.text():
            return
        self.question.setText(question.text)
        self._returned = question

    def _set_busy(self, busy: bool) -> None:
        self.send_button.setText(_("Stop") if busy else _("Ask"))
        self.send_button.setToolTip(_("Stop the answer; what arrived is kept") if busy else _("Ask (Enter)"))

    def stop(self) -> None:
        """Stop the streaming reply; what arrived so far is kept."""
        self.session.stop()

    def retry(self, reply: Message) -> None:
        """Ask again for the last reply; the failed attempt stays visible above the new one."""
        if not self.session.can_retry(reply):
            return
        as_it_was = self._returned is not None and self.question.text() == self._returned.text
        try:
            again = self.session.retry(reply, self.current_options(), self.services.profiles.active(),
                                       where_to_pick_a_model=_model_hint())
        except UserFacingError as exc:
            self.notifier.show_error(exc, self)
            return
        if again is not None:
            if as_it_was:
                self.question.clear()  # resent as it was: the copy put back for editing is not needed
            self._returned = None

    # -- handing over ------------------------------------------------------------------------------------
    def hand_over(self) -> QuickAskHandover:
        """Give the session (with a reply still streaming) to the chat window and hide; the popup
        starts afresh with a new session. Emits `open_in_chat` with the handover."""
        handover = self._release_conversation(draft=self.question.text().strip(), quiet=False)
        self.question.clear()
        self.question.reset_walk()
        self.view.setVisible(False)
        self._show_capture(None)
        self.hide()
        self.open_in_chat.emit(handover)
        return handover

    def _release_conversation(self, *, draft: str, quiet: bool) -> QuickAskHandover:
        """Let go of the session (if anything was asked in it) and the unsent capture, as a handover;
        the popup goes on with a new, empty session."""
        handover = QuickAskHandover(
            session=self.session if self.session.conversation.messages else None,
            draft=draft, attachments=[self._pending] if self._pending is not None else [], quiet=quiet)
        self._attach(self._new_session())
        self._pending = None
        # A preparation still running belongs to the capture that left; a question asked now must
        # not wait for it (its end would find the capture gone and never send the question).
        self._preparing = None
        self._ask_when_ready = False
        return handover

    def _attach(self, session: ChatSession) -> None:
        """Become the view of `session`, leaving the one shown before."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.session = session
        self._returned = None
        self._unsubscribe = session.subscribe(self._on_session_event)
        self.view.show_conversation(session.conversation)
        self._set_busy(session.busy)
        self._show_saving()

    def _dont_save_clicked(self, checked: bool) -> None:
        if self.history is not None:
            if checked:
                self.history.exclude(self.session.conversation.id)
            else:
                self.history.include(self.session.conversation)
        self._show_saving()

    def _show_saving(self) -> None:
        excluded = self.history is not None and self.session.conversation.id in self.history.excluded
        self.dont_save_button.setChecked(excluded)
        self.dont_save_button.setText(_("Not saved") if excluded else "")
        self.dont_save_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon if excluded
                                                 else Qt.ToolButtonStyle.ToolButtonIconOnly)

    # -- hiding ------------------------------------------------------------------------------------------
    def _on_application_state(self, state: Qt.ApplicationState) -> None:
        """Unpinned, the popup hides when another program takes the focus, unless a reply streams."""
        if state != Qt.ApplicationState.ApplicationActive and self.isVisible() and not self.pinned and not self.busy:
            self.hide()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        """Esc hides the popup (a streaming reply goes on)."""
        if event.key() == Qt.Key.Key_Escape:
            self.hide()
            event.accept()
            return
        super().keyPressEvent(event)

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def shutdown(self) -> None:
        """Stop the session's reply and every background job of the popup (the app is quitting)."""
        self.stop()
        for task in list(self._background):
            task.cancel()
