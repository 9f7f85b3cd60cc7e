"""The chat window: the history sidebar, endpoint and model pickers, the conversation, the composer.

It is a view of one `ChatSession` at a time (its conversation and its one running reply): it renders
the session's events and drives it from the composer, and owns no reply task. *New chat* gives it a
new session; *Open in chat* in the quick-ask popup attaches it to the popup's session. Everything
slow (reading files, decoding and encoding images, capturing, the network, reading the history) runs
in the background; the question and any partial answer stay visible whatever fails. A conversation
opened from the history continues in the session shown, or in a new one if a reply is running there
(stopped, as *New chat* stops it: what arrived is kept).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeyEvent,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.assistant.asking import ask_options
from desktop.assistant.history import CHAT_DRAFT, HistoryWriter
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
from desktop.capture.base import CaptureScope
from desktop.chat.attachments import DocumentAttachment, VideoAttachment, prepare
from desktop.chat.client import Endpoint
from desktop.chat.conversation import Attachment, Conversation, ImageAttachment, Message, Role
from desktop.chat.request import AskOptions
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.logsetup import trace
from desktop.ui.attachment_loader import FILE_FILTERS, AttachmentLoader
from desktop.ui.capture_flow import logical_rect, physical_pointer
from desktop.ui.composer import Composer, images_from_mime
from desktop.ui.conversation_view import ConversationView
from desktop.ui.history_sidebar import HistorySidebar
from desktop.ui.icons import app_icon, named_icon
from desktop.ui.markdown_html import prepare as prepare_markdown
from desktop.ui.notifier import Notifier
from desktop.ui.operations import reply_starter, run_async
from desktop.ui.page_picker import PagePicker
from desktop.ui.previews import PREVIEW_SIZE, prepare_previews
from desktop.ui.tray import scope_label

if TYPE_CHECKING:
    from desktop.store.records import Draft
    from desktop.ui.quick_ask import QuickAskHandover

log = logging.getLogger(__name__)

SIDEBAR_WIDTH = 290
DRAFT_DELAY_MS = 600  # a pause in typing before the draft is saved
_SEARCH_KEYS = QKeySequence("Ctrl+K")


def load_conversation(history: HistoryWriter, conversation_id: str) -> Conversation:
    """Read a conversation from the history with its pictures' previews made (worker thread)."""
    store = history.store
    if store is None:
        raise UserFacingError(_("The history is not open yet."), _("Try again in a moment."))
    conversation = store.load_conversation(conversation_id)
    for message in conversation.messages:
        for attachment in message.attachments:
            prepare_previews(attachment)
    return conversation


def playable_copy(clip: VideoAttachment) -> Path:
    """The clip as a file the system's player can open (worker thread)."""
    folder = Path(tempfile.gettempdir()) / "glmv-desktop-clips"
    folder.mkdir(exist_ok=True)
    path = folder / f"{clip.id}.mp4"
    if not path.exists():
        path.write_bytes(clip.original_bytes())
    return path


def _model_hint() -> str:
    return _("Type or pick a model in the Model box at the top.")


class ChatWindow(QMainWindow):
    """The main window of the app."""

    draft_loaded = Signal(object)  # the composer's Draft kept from the last run (emitted from the history's thread)

    def __init__(self, services: Services, notifier: Notifier, parent: QWidget | None = None, *,
                 new_session: Callable[[], ChatSession] | None = None, history: HistoryWriter | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """`new_session` makes the session for each new chat (by default one on `services.runner`);
        `history`, the writer of the saved conversations, adds the history sidebar and *Don't save*."""
        super().__init__(parent)
        self.services = services
        self.notifier = notifier
        self.history = history
        self._new_session = new_session or (lambda: ChatSession(services.runner, reply_starter(notifier)))
        self.setObjectName("chat_window")
        self.setWindowTitle(_("GLM-V Desktop"))
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self._background: set[asyncio.Task[object]] = set()
        self._returned: Message | None = None  # a failed question put back into the composer for editing
        self._unsubscribe: Callable[[], None] | None = None
        self._opening: asyncio.Task[Conversation] | None = None  # a conversation being read from the history
        self.sidebar: HistorySidebar | None = None
        if history is not None:
            self.sidebar = HistorySidebar(history, notifier, clock=clock)
            self.sidebar.open_requested.connect(self.open_conversation)
            self.sidebar.deleted.connect(self._conversation_deleted)
            self.sidebar.renamed.connect(self._conversation_renamed)
            self.sidebar.leave_search.connect(self._focus_composer)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._build_top_bar())
        self.banner = QWidget()
        self.banner.setObjectName("banner")
        self.banner.setStyleSheet("QWidget#banner { background: #fef7e0; }")
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(12, 6, 6, 6)
        self.banner_text = QLabel()
        self.banner_text.setObjectName("banner_text")
        self.banner_text.setWordWrap(True)
        banner_layout.addWidget(self.banner_text, 1)
        close_banner = QToolButton()
        close_banner.setText("×")
        close_banner.setAutoRaise(True)
        close_banner.clicked.connect(self.banner.hide)
        banner_layout.addWidget(close_banner, alignment=Qt.AlignmentFlag.AlignTop)
        self.banner.hide()
        layout.addWidget(self.banner)
        self.view = ConversationView(services.settings.get("ui.reasoning_expanded"), notifier=notifier)
        self.view.retry_requested.connect(self.retry)
        layout.addWidget(self.view, 1)
        self.composer = Composer()
        self.composer.thinking.setChecked(services.settings.get("chat.thinking"))
        self.composer.thinking.toggled.connect(lambda on: services.settings.set("chat.thinking", on))
        self.composer.budget.setValue(services.settings.get("images.token_budget"))
        self.composer.budget_changed.connect(lambda v: services.settings.set("images.token_budget", v))
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.stop)
        self.composer.attach_requested.connect(self.choose_files)
        self.composer.screen_requested.connect(self.ask_about_screen)
        self.composer.images_received.connect(lambda items: self.add_files(items, "clipboard"))
        self.composer.open_requested.connect(self.open_attachment)
        self.composer.preview_requested.connect(self.preview_request)
        self.composer.sending_of = services.sending
        self.loader = AttachmentLoader(services, notifier, self.composer, self, self.composer.add_attachment)
        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_DELAY_MS)
        self._draft_timer.timeout.connect(self.save_draft)
        self.composer.changed.connect(self._draft_timer.start)
        self.draft_loaded.connect(self.restore_draft)
        if history is not None:  # the last run's unsent question comes back (read when the history is open)
            history.run(lambda store: self._draft_read(store.load_draft(CHAT_DRAFT)))
        layout.addWidget(self.composer)
        if self.sidebar is not None:
            self.splitter = QSplitter(Qt.Orientation.Horizontal)
            self.splitter.setObjectName("chat_splitter")
            self.splitter.setChildrenCollapsible(False)
            self.splitter.setHandleWidth(1)
            self.splitter.addWidget(self.sidebar)
            self.splitter.addWidget(central)
            self.splitter.setStretchFactor(1, 1)
            self.splitter.setSizes([SIDEBAR_WIDTH, 760])
            self.setCentralWidget(self.splitter)
            shown = bool(services.settings.get("ui.history_sidebar"))
            self.sidebar.setVisible(shown)
            self.history_toggle.setChecked(shown)
            self.history_toggle.toggled.connect(self.show_history)
            self.resize(760 + (SIDEBAR_WIDTH if shown else 0), 820)
        else:
            self.setCentralWidget(central)
            self.resize(760, 820)
        self.session = self._new_session()
        self._attach(self.session)
        self._update_scope_hint()
        services.settings.subscribe(self._on_setting)
        self._track(run_async(asyncio.to_thread(self._prepare), notifier=self.notifier, owner=self,
                              on_done=lambda _: gc.freeze(),
                              on_error=lambda exc: log.info("Warm-up failed: %s", exc)))
        QShortcut(QKeySequence.StandardKey.New, self, self.new_chat)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self._escape)
        if self.sidebar is not None:
            QShortcut(_SEARCH_KEYS, self, self.search_history)
            # The composer would take Ctrl+K for "delete to the end of the line".
            self.composer.prompt.installEventFilter(self)
        self.reload_endpoints()
        self.composer.prompt.setFocus()  # not the history's search field, which comes first

    def _prepare(self) -> None:
        """Worker thread: load what the first question needs (HTTP client, markdown, keychain).

        Afterwards everything loaded so far is frozen out of the garbage collector's full passes,
        which otherwise cost 20-40 ms mid-answer once Qt, httpx and the markdown machinery are in.
        """
        self.services.client.prepare()
        prepare_markdown()
        self.services.secrets.prepare()

    # -- top bar ------------------------------------------------------------------------------
    def _build_top_bar(self) -> QWidget:
        bar = QWidget()
        bar.setObjectName("top_bar")
        row = QHBoxLayout(bar)
        row.setContentsMargins(8, 6, 8, 6)
        self.history_toggle = QToolButton()
        self.history_toggle.setObjectName("history_toggle")
        self.history_toggle.setCheckable(True)
        self.history_toggle.setAutoRaise(True)
        self.history_toggle.setIcon(named_icon("history-sidebar"))
        self.history_toggle.setIconSize(QSize(20, 20))
        self.history_toggle.setToolTip(_("Show or hide the history (Ctrl+K searches it)"))
        self.history_toggle.setVisible(self.history is not None)
        row.addWidget(self.history_toggle)
        self.new_chat_button = QPushButton(_("New chat"))
        self.new_chat_button.setObjectName("new_chat_button")
        self.new_chat_button.clicked.connect(self.new_chat)
        row.addWidget(self.new_chat_button)
        self.not_saved_badge = QToolButton()
        self.not_saved_badge.setObjectName("not_saved_badge")
        self.not_saved_badge.setIcon(named_icon("not-saved"))
        self.not_saved_badge.setText(_("Not saved"))
        self.not_saved_badge.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.not_saved_badge.setToolTip(_("This conversation is not kept in the history: it is gone once you start "
                                          "another one or quit. Click to keep it."))
        self.not_saved_badge.setIconSize(QSize(14, 14))
        self.not_saved_badge.setStyleSheet("QToolButton#not_saved_badge { background: #fef7e0; color: #b06000; "
                                           "border: 1px solid #f9dc8c; border-radius: 10px; padding: 1px 4px; }")
        self.not_saved_badge.clicked.connect(lambda: self.set_saving(True))
        self.not_saved_badge.hide()
        row.addWidget(self.not_saved_badge)
        row.addStretch(1)
        row.addWidget(QLabel(_("Endpoint")))
        self.endpoint_box = QComboBox()
        self.endpoint_box.setObjectName("endpoint_picker")
        self.endpoint_box.setMinimumContentsLength(14)
        self.endpoint_box.activated.connect(self._on_endpoint_chosen)
        row.addWidget(self.endpoint_box)
        row.addWidget(QLabel(_("Model")))
        self.model_box = QComboBox()
        self.model_box.setObjectName("model_picker")
        self.model_box.setEditable(True)
        self.model_box.setMinimumContentsLength(16)
        self.model_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model_box.currentTextChanged.connect(self._on_model_changed)
        row.addWidget(self.model_box)
        self.conversation_menu = QToolButton()
        self.conversation_menu.setObjectName("conversation_menu")
        self.conversation_menu.setText("⋯")
        self.conversation_menu.setAutoRaise(True)
        self.conversation_menu.setToolTip(_("More for this conversation"))
        self.conversation_menu.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.conversation_menu.setStyleSheet("QToolButton#conversation_menu { font-size: 16px; padding: 0 6px; } "
                                             "QToolButton#conversation_menu::menu-indicator { image: none; }")
        menu = QMenu(self.conversation_menu)
        menu.setObjectName("conversation_menu_popup")
        self.dont_save_action = QAction(_("Don't save this conversation"), menu)
        self.dont_save_action.setObjectName("dont_save_conversation")
        self.dont_save_action.setCheckable(True)
        self.dont_save_action.setToolTip(_("Keep this conversation out of the history (it is deleted from it if "
                                           "it was saved)"))
        self.dont_save_action.triggered.connect(lambda checked: self.set_saving(not checked))
        menu.addAction(self.dont_save_action)
        self.conversation_menu.setMenu(menu)
        self.conversation_menu.setVisible(self.history is not None)
        row.addWidget(self.conversation_menu)
        return bar

    def reload_endpoints(self) -> None:
        """Refill the endpoint picker from the profiles (after Settings changed them)."""
        profiles = self.services.profiles
        active = profiles.active()
        self.endpoint_box.blockSignals(True)
        self.endpoint_box.clear()
        for profile in profiles.all():
            self.endpoint_box.addItem(profile.name, profile.id)
        if active is not None:
            self.endpoint_box.setCurrentIndex(self.endpoint_box.findData(active.id))
        self.endpoint_box.blockSignals(False)
        self._fill_models(profiles.active_model())
        if active is not None:
            self.composer.refresh_estimates()
            self._fetch_models(active.id)

    def _fill_models(self, current: str, extra: list[str] | None = None) -> None:
        profile = self.services.profiles.active()
        names = list(dict.fromkeys([*(extra or []), *(profile.traits.models if profile else ()),
                                    *([profile.model] if profile and profile.model else [])]))
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItems(names)
        self.model_box.setCurrentText(current)
        self.model_box.blockSignals(False)

    def _fetch_models(self, profile_id: str) -> None:
        """Ask the endpoint which models it has, quietly (the list is a convenience)."""
        profile = self.services.profiles.get(profile_id)
        if profile is None:
            return

        async def fetch() -> list[str]:
            key = await asyncio.to_thread(self.services.secrets.get, profile.keychain_entry)
            if profile.traits.needs_key and not key:
                return []
            return await self.services.client.list_models(Endpoint(profile, key))

        def done(models: list[str]) -> None:
            active = self.services.profiles.active()
            if models and active is not None and active.id == profile_id:
                current = self.model_box.currentText() or models[0]
                self._fill_models(current, models)
                if not self.model_box.currentText():
                    self.model_box.setCurrentText(models[0])

        self._track(run_async(fetch(), notifier=self.notifier, owner=self, on_done=done,
                              on_error=lambda exc: log.info("Model list unavailable: %s", exc)))

    def _on_endpoint_chosen(self, index: int) -> None:
        profile_id = self.endpoint_box.itemData(index)
        self.services.profiles.set_active(profile_id)
        self.reload_endpoints()

    def _on_model_changed(self, model: str) -> None:
        profile = self.services.profiles.active()
        if profile is not None:
            self.services.settings.set("endpoint.active", profile.id)
            self.services.settings.set("endpoint.model", model.strip())

    # -- history --------------------------------------------------------------------------------
    def show_history(self, shown: bool) -> None:
        """Open or close the history sidebar (remembered for the next start)."""
        if self.sidebar is None:
            return
        if self.history_toggle.isChecked() != shown:
            self.history_toggle.setChecked(shown)  # comes back here through `toggled`
            return
        if self.sidebar.isVisible() != shown:
            if shown and self.isVisible():
                self.resize(max(self.width(), 760 + SIDEBAR_WIDTH), self.height())
            self.sidebar.setVisible(shown)
        if self.services.settings.get("ui.history_sidebar") != shown:
            self.services.settings.set("ui.history_sidebar", shown)

    def _focus_composer(self) -> None:
        self.composer.prompt.setFocus()

    def search_history(self) -> None:
        """Ctrl+K: open the history and type a search."""
        if self.sidebar is not None:
            self.show_history(True)
            self.sidebar.focus_search()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Ctrl+K in the composer searches the history (the text edit would delete to the end of the line)."""
        if (watched is self.composer.prompt and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent) and QKeySequence(event.keyCombination()) == _SEARCH_KEYS):
            self.search_history()
            return True
        return super().eventFilter(watched, event)

    @property
    def saving(self) -> bool:
        """Whether the conversation shown is kept in the history (False: *Don't save this conversation*)."""
        return self.history is not None and self.session.conversation.id not in self.history.excluded

    def set_saving(self, saving: bool) -> None:
        """*Don't save this conversation* off or on: off deletes it from the history, on saves it whole."""
        if self.history is None:
            return
        conversation = self.session.conversation
        if saving:
            self.history.include(conversation)
        else:
            self.history.exclude(conversation.id)
        self._update_privacy()

    def _update_privacy(self) -> None:
        excluded = self.history is not None and not self.saving
        self.dont_save_action.setChecked(excluded)
        self.not_saved_badge.setVisible(excluded)

    def open_conversation(self, conversation_id: str,
                          message_id: str | None = None) -> asyncio.Task[Conversation] | None:
        """Show a saved conversation to continue it (read in the background), at `message_id` if given.

        The conversation shown is in the history already; a reply still running in it is stopped, as
        with *New chat*, and the saved one opens in a new session."""
        if self.history is None:
            return None
        if self.session.conversation.id == conversation_id:
            if message_id is not None:
                self.view.reveal(message_id)
            return None
        if self._opening is not None:
            self._opening.cancel()
        history = self.history
        task = run_async(asyncio.to_thread(load_conversation, history, conversation_id), notifier=self.notifier,
                         owner=self, on_done=lambda conversation: self._opened(conversation, message_id),
                         on_error=lambda error: self.notifier.show_error(error, self))
        self._opening = task
        self._track(task)
        task.add_done_callback(self._opening_ended)
        return task

    def _opening_ended(self, task: asyncio.Task[Conversation]) -> None:
        if self._opening is task:
            self._opening = None

    def _opened(self, conversation: Conversation, message_id: str | None) -> None:
        assert self.history is not None
        self.history.saved.add(conversation.id)
        self.history.excluded.discard(conversation.id)
        if self.session.busy:
            self.new_chat()  # its reply stops, as with New chat; what arrived is kept in the history
        self.session.replace_conversation(conversation)
        if message_id is not None:
            self.view.reveal(message_id)
        trace(f"history-opened {len(conversation.messages)}")

    def _conversation_deleted(self, conversation_id: str) -> None:
        if self.session.conversation.id == conversation_id:
            self.new_chat()

    def _conversation_renamed(self, conversation_id: str, title: str) -> None:
        if self.session.conversation.id == conversation_id:
            self.session.conversation.title = title  # a later whole save keeps the new title

    # -- notices --------------------------------------------------------------------------------
    def show_banner(self, text: str) -> None:
        """Show a dismissible notice above the conversation."""
        self.banner_text.setText(text)
        self.banner.show()

    def _on_setting(self, key: str, value: object) -> None:
        if key == "capture.scope":
            self._update_scope_hint()
        elif key == "ui.history_sidebar":
            self.show_history(bool(value))
        elif key == "chat.thinking":  # changed elsewhere (`glmv-desktop config set`): the switch shows it
            self.composer.thinking.setChecked(bool(value))
        elif key == "images.token_budget":
            self.composer.budget.setValue(int(value))  # type: ignore[call-overload]
        elif key.startswith("endpoint.profiles"):
            self.reload_endpoints()
        elif key in ("endpoint.active", "endpoint.model"):
            # Changed elsewhere (a local server became the active endpoint): follow it. Typing in the model
            # box changes them too, and then the pickers already agree.
            profiles = self.services.profiles
            active = profiles.active()
            if active is not None and (self.endpoint_box.currentData() != active.id
                                       or self.model_box.currentText() != profiles.active_model()):
                self.reload_endpoints()

    def _update_scope_hint(self) -> None:
        label = scope_label(self.services.settings.get("capture.scope"))
        self.composer.screen_button.setToolTip(
            _("Attach a screenshot of the {scope} (change it in Settings)").format(scope=label))

    # -- the draft ---------------------------------------------------------------------------------
    def save_draft(self) -> None:
        """Keep what the composer holds in the history (its writer thread), so a crash or quit loses no
        typed question or attachment; an empty composer removes the draft."""
        self._draft_timer.stop()
        history = self.history
        if history is None or (history.started and not history.running):
            return  # no history, or it could not be opened (the user was told); jobs wait for it to open
        text, attachments = self.composer.prompt.toPlainText(), self.composer.attachments()
        history.run(lambda store: store.save_draft(CHAT_DRAFT, text, attachments))

    def _draft_read(self, draft: Draft | None) -> None:
        """Writer thread: hand the saved draft to the UI thread (a queued signal), if the window still exists."""
        if draft is not None and shiboken6.isValid(self):
            try:
                self.draft_loaded.emit(draft)
            except RuntimeError:  # deleted meanwhile (the app quitting): the draft stays in the history
                log.info("The chat window closed before its draft was read")

    def restore_draft(self, draft: Draft) -> None:
        """Put a saved draft back (previews made in a worker thread), unless something was typed or attached
        meanwhile: then that stays as it is."""
        text, attachments = draft.text, draft.attachments

        def previews() -> None:
            for attachment in attachments:
                prepare_previews(attachment)

        def restore(_done: None) -> None:
            if self.composer.prompt.toPlainText().strip() or self.composer.attachments():
                return
            self.composer.restore(text, attachments)
            trace(f"draft-restored {len(attachments)}")

        self._track(run_async(asyncio.to_thread(previews), notifier=self.notifier, owner=self, on_done=restore))

    # -- attachments -----------------------------------------------------------------------------
    def choose_files(self) -> None:
        """Open a file dialog (non-blocking) to attach files of any kind the app reads."""
        dialog = QFileDialog(self, _("Attach files"))
        dialog.setObjectName("attach_dialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.setNameFilters(FILE_FILTERS)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.filesSelected.connect(lambda files: self.add_files([Path(f) for f in files], "file"))
        dialog.open()

    def add_files(self, items: list[Path | QImage], origin: str) -> None:
        """Attach files (any kind) or pasted pictures, read in the background with their progress shown."""
        self.loader.load(items, origin)

    def open_attachment(self, attachment: Attachment) -> None:
        """A chip was clicked: a picture opens the annotation editor, a document its page picker (its PDF opened
        in a worker thread first)."""
        if isinstance(attachment, ImageAttachment):
            self._track(run_async(self._annotate(attachment), notifier=self.notifier, owner=self))
            return
        if isinstance(attachment, VideoAttachment):
            def play(path: Path) -> None:
                QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

            self._track(run_async(asyncio.to_thread(playable_copy, attachment), notifier=self.notifier, owner=self,
                                  on_done=play))
            return
        if not isinstance(attachment, DocumentAttachment):
            return

        def show(_document: object) -> None:
            picker = PagePicker(attachment, self.composer.sending(), self.services.profiles.active(),
                                self.composer.attachments(), self.notifier, self)
            picker.chosen.connect(self.composer.attachment_changed)
            picker.open()

        self._track(run_async(asyncio.to_thread(attachment.document), notifier=self.notifier, owner=self,
                              on_done=show))

    def preview_request(self) -> None:
        """*What will be sent*: build the next request as it would go (worker thread) and show it."""
        from desktop.assistant.asking import ready_to_ask
        from desktop.ui.send_preview import SendPreviewDialog, preview_request

        options, text, attachments = self.current_options(), self.composer.text(), self.composer.attachments()
        try:
            profile = ready_to_ask(self.services.profiles.active(), options, _model_hint())
        except UserFacingError as exc:
            self.notifier.show_error(exc, self)
            return

        def show(preview: object) -> None:
            dialog = SendPreviewDialog(preview, self)  # type: ignore[arg-type]
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.open()
            trace("send-preview-shown")

        work = asyncio.to_thread(preview_request, profile, self.conversation, text, attachments, options)
        self._track(run_async(work, notifier=self.notifier, owner=self, on_done=show))

    async def _annotate(self, attachment: ImageAttachment) -> None:
        """Edit a picture's drawings; Done makes a new revision of it (previews made again off the UI thread)."""
        from desktop.ui.annotator import annotate

        picture = await asyncio.to_thread(attachment.image)
        drawn = await annotate(picture, attachment.annotations, self.services.settings,
                               title=_("Annotate {name}").format(name=attachment.name), parent=self)
        if drawn is None or drawn == attachment.annotations:
            return
        attachment.annotate(drawn)
        if not self.services.settings.get("annotations.keep_original"):
            await asyncio.to_thread(attachment.burn_redactions)
        await asyncio.to_thread(prepare, attachment, self.composer.sending(), PREVIEW_SIZE)
        if attachment in self.composer.attachments():
            self.composer.attachment_changed(attachment)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        """Accept dragged images and image files."""
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        """Attach dropped images."""
        items = images_from_mime(event.mimeData())
        if items:
            event.acceptProposedAction()
            self.add_files(items, "drop")

    # -- screen -----------------------------------------------------------------------------------
    def ask_about_screen(self) -> asyncio.Task[Attachment]:
        """Capture the screen (this window hidden meanwhile), attach it, focus the question."""
        task = run_async(self._capture_screen(), notifier=self.notifier, owner=self,
                         on_done=self._screen_captured, on_error=self._capture_failed)
        self._track(task)
        return task

    async def _capture_screen(self) -> Attachment:
        was_visible = self.isVisible() and not self.isMinimized()
        scope = CaptureScope(self.services.settings.get("capture.scope"))
        pointer = physical_pointer()
        if was_visible:
            self.hide()
        # Let the compositor repaint what was under this window or the tray menu that triggered us.
        await asyncio.sleep(0.25)
        try:
            shot = await asyncio.to_thread(self.services.capture.grab, scope, pointer)
            attachment = ImageAttachment.from_pixels(shot.image, _("screenshot.png"), "screen")
            area = logical_rect(shot.monitor)
            attachment.screen_area = (area.x(), area.y(), area.width(), area.height())
            await asyncio.to_thread(prepare, attachment, self.services.sending(self.composer.budget.value()),
                                    PREVIEW_SIZE)
            return attachment
        finally:
            self.bring_to_front()

    def _screen_captured(self, attachment: Attachment) -> None:
        trace("screen-attached")
        self.composer.add_attachment(attachment)
        self.composer.prompt.setFocus()

    def _capture_failed(self, error: BaseException) -> None:
        self.bring_to_front()
        self.notifier.show_error(error, self)

    def bring_to_front(self) -> None:
        """Show, raise and focus the window."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()
        self.composer.prompt.setFocus()

    # -- asking -------------------------------------------------------------------------------------
    @property
    def conversation(self) -> Conversation:
        """The conversation shown (the session's)."""
        return self.session.conversation

    def current_options(self) -> AskOptions:
        """The options for the next question, from the composer and settings."""
        return ask_options(self.services.settings, self.model_box.currentText(),
                           thinking=self.composer.thinking.isChecked(), token_budget=self.composer.budget.value())

    @property
    def busy(self) -> bool:
        """True while the session's reply is streaming (Stop shows instead of Send)."""
        return self.session.busy

    def send(self) -> None:
        """Send the composer's question (text and/or attachments). A failed question put back into the
        composer is resent as its edited copy, so it is not sent twice."""
        if self.busy:
            return
        text, attachments = self.composer.text(), self.composer.attachments()
        if not text and not attachments:
            self.composer.prompt.setFocus()
            return
        options, profile = self.current_options(), self.services.profiles.active()
        returned = self._returned
        try:
            if returned is not None and self.session.can_edit(returned):
                reply = self.session.edit_and_resend(returned, text, options, profile, attachments=attachments,
                                                     where_to_pick_a_model=_model_hint())
            else:
                reply = self.session.send(text, attachments, options, profile, where_to_pick_a_model=_model_hint())
        except UserFacingError as exc:
            self.notifier.show_error(exc, self)
            return
        if reply is not None:
            self._returned = None
            self.composer.clear()

    def retry(self, reply: Message) -> None:
        """Ask again for the last reply; the failed attempt stays visible above the new one."""
        if not self.session.can_retry(reply):
            return
        returned = self._returned
        as_it_was = returned is not None and (self.composer.text(), self.composer.attachments()) == (
            returned.text, returned.attachments)
        try:
            again = self.session.retry(reply, self.current_options(), self.services.profiles.active(),
                                       where_to_pick_a_model=_model_hint())
        except UserFacingError as exc:
            self.notifier.show_error(exc, self)
            return
        if again is not None:
            if as_it_was:
                self.composer.clear()  # resent as it was: the copy put back for editing is not needed
            self._returned = None

    def stop(self) -> None:
        """Stop the streaming reply at once; what arrived so far is kept."""
        self.session.stop()

    def new_chat(self) -> None:
        """Start an empty conversation in a new session (stopping this one's reply; the old session
        itself lives on for whoever else follows it)."""
        self.session.stop()
        self._attach(self._new_session())
        self.composer.prompt.setFocus()

    def adopt_session(self, handover: QuickAskHandover) -> None:
        """Continue a conversation begun in the quick-ask popup: show its session (a reply still
        streaming in it included: Stop works on it), and add the popup's unsent text and picture to the
        draft here."""
        if handover.session is not None and handover.session is not self.session:
            self.session.stop()  # this window's own reply belongs to the conversation being replaced (as with New chat)
            self._attach(handover.session)
        if handover.draft:
            self.composer.append_text(handover.draft)  # after what was typed here, never instead of it
        for attachment in handover.attachments:
            self.composer.add_attachment(attachment)

    def _attach(self, session: ChatSession) -> None:
        """Become the view of `session`, leaving the one shown before."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.session = session
        self._returned = None
        self._unsubscribe = session.subscribe(self._on_session_event)
        self.view.show_conversation(session.conversation)
        self.composer.set_busy(session.busy)
        self.view.flush()
        self._conversation_shown()

    def _conversation_shown(self) -> None:
        if self.sidebar is not None:
            self.sidebar.set_current(self.session.conversation.id)
        self._update_privacy()

    def _on_session_event(self, event: SessionEvent) -> None:
        if isinstance(event, ReplyChanged):  # the common case, once per delta: only mark it dirty
            self.view.mark_dirty(event.message)
            return
        self.view.apply(event)
        if isinstance(event, MessageAdded):
            if event.message.role is Role.ASSISTANT:
                self.composer.set_busy(True)
        elif isinstance(event, ReplyFinished):
            trace(f"reply-finished {event.message.state.value}")
            self.composer.set_busy(self.session.busy)
        elif isinstance(event, QuestionReturned):
            self._offer_question_again(event.question)
        elif isinstance(event, ConversationReplaced):
            self._returned = None
            self.composer.set_busy(self.session.busy)
            self._conversation_shown()

    def _offer_question_again(self, question: Message) -> None:
        """Nothing came back: put the question into an empty composer so it can be edited and resent."""
        if self.composer.text() or self.composer.attachments():
            return
        self.composer.restore(question.text, question.attachments)
        self._returned = question

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def shutdown(self) -> None:
        """Stop the session's reply and every background job of this window (the app is quitting)."""
        if self._draft_timer.isActive():
            self.save_draft()  # typed just before quitting: kept before the history closes
        self.stop()
        if self.sidebar is not None:
            self.sidebar.shutdown()
        for task in list(self._background):
            task.cancel()

    def _escape(self) -> None:
        if self.busy:
            self.stop()
        else:
            self.hide()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Closing hides the window; the app lives on in the tray (Quit ends it)."""
        event.ignore()
        self.hide()
