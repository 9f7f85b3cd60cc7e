"""The chat window: endpoint and model pickers, the conversation, the composer.

It owns one conversation at a time and at most one streaming reply. Everything slow (reading
files, decoding and encoding images, capturing, the network) runs in the background; the question
and any partial answer stay visible whatever fails.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.assistant.asking import ask_options, endpoint_to_ask
from desktop.assistant.services import Services
from desktop.capture.base import CaptureScope
from desktop.chat.client import Endpoint
from desktop.chat.conversation import Attachment, Conversation, Message, ReplyState
from desktop.chat.request import AskOptions
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.logsetup import trace
from desktop.media.images import read_picture_file
from desktop.ui.capture_flow import physical_pointer
from desktop.ui.composer import Composer, images_from_mime
from desktop.ui.conversation_view import ConversationView
from desktop.ui.icons import app_icon
from desktop.ui.markdown_html import prepare as prepare_markdown
from desktop.ui.message_widgets import prepare_previews
from desktop.ui.notifier import Notifier
from desktop.ui.operations import run_async
from desktop.ui.tray import scope_label

if TYPE_CHECKING:
    from desktop.ui.quick_ask import QuickAskHandover

log = logging.getLogger(__name__)

_IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.gif *.bmp *.tif *.tiff)"


def load_image_file(path: Path, origin: str) -> Attachment:
    """Read and decode an image file (worker thread); ImageError says what is wrong with it."""
    data, image = read_picture_file(path)
    attachment = Attachment(name=path.name, width=image.width, height=image.height, origin=origin, data=data,
                            pixels=image)
    prepare_previews(attachment)
    return attachment


def load_pasted_image(image: QImage, origin: str) -> Attachment:
    """Encode a pasted or dropped image as PNG and decode it for sending (worker thread)."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]
    attachment = Attachment.from_bytes(bytes(data.data()), _("pasted image.png"), origin)
    prepare_previews(attachment)
    return attachment


class ChatWindow(QMainWindow):
    """The main window of the app."""

    def __init__(self, services: Services, notifier: Notifier, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.notifier = notifier
        self.setObjectName("chat_window")
        self.setWindowTitle(_("GLM-V Desktop"))
        self.setWindowIcon(app_icon())
        self.resize(760, 820)
        self.setAcceptDrops(True)
        self.conversation = Conversation()
        self._reply_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[object]] = set()
        self._restored: tuple[str, list[Attachment]] | None = None  # a failed question put back for editing

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
        self.view = ConversationView(services.settings.get("ui.reasoning_expanded"))
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
        self.composer.images_received.connect(lambda items: self.add_images(items, "clipboard"))
        layout.addWidget(self.composer)
        self.setCentralWidget(central)
        self._update_scope_hint()
        services.settings.subscribe(self._on_setting)
        self._track(run_async(asyncio.to_thread(self._prepare), notifier=self.notifier, owner=self,
                              on_done=lambda _: gc.freeze(),
                              on_error=lambda exc: log.info("Warm-up failed: %s", exc)))
        QShortcut(QKeySequence.StandardKey.New, self, self.new_chat)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self._escape)
        self.reload_endpoints()

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
        self.new_chat_button = QPushButton(_("New chat"))
        self.new_chat_button.setObjectName("new_chat_button")
        self.new_chat_button.clicked.connect(self.new_chat)
        row.addWidget(self.new_chat_button)
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
            self.composer.set_max_side(active.traits.max_image_side)
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

    # -- notices --------------------------------------------------------------------------------
    def show_banner(self, text: str) -> None:
        """Show a dismissible notice above the conversation."""
        self.banner_text.setText(text)
        self.banner.show()

    def _on_setting(self, key: str, value: object) -> None:
        if key == "capture.scope":
            self._update_scope_hint()
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

    # -- attachments -----------------------------------------------------------------------------
    def choose_files(self) -> None:
        """Open a file dialog (non-blocking) to attach images."""
        dialog = QFileDialog(self, _("Attach images"))
        dialog.setObjectName("attach_dialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.setNameFilters([_IMAGE_FILTER, "All files (*)"])
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.filesSelected.connect(lambda files: self.add_images([Path(f) for f in files], "file"))
        dialog.open()

    def add_images(self, items: list[Path | QImage], origin: str) -> None:
        """Attach images (files or pasted pictures), reading and decoding them in the background."""
        for item in items:
            if isinstance(item, Path):
                work = asyncio.to_thread(load_image_file, item, origin)
            else:
                work = asyncio.to_thread(load_pasted_image, item, origin)
            self._track(run_async(work, notifier=self.notifier, owner=self, on_done=self.composer.add_attachment,
                                  on_error=lambda error: self.notifier.show_error(error, self)))

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
            self.add_images(items, "drop")

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
            attachment = Attachment.from_pixels(shot.image, _("screenshot.png"), "screen")
            budget = self.composer.budget.value()
            fmt = self.services.settings.get("images.format")
            profile = self.services.profiles.active()
            traits = profile.traits if profile else None

            def prepare() -> None:
                prepare_previews(attachment)
                attachment.payload(budget, fmt, traits.max_image_side if traits else None,
                                   traits.max_image_bytes if traits else None)

            await asyncio.to_thread(prepare)
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
    def current_options(self) -> AskOptions:
        """The options for the next question, from the composer and settings."""
        return ask_options(self.services.settings, self.model_box.currentText(),
                           thinking=self.composer.thinking.isChecked(), token_budget=self.composer.budget.value())

    @property
    def busy(self) -> bool:
        """True while a reply is streaming (until its end has been shown: Stop back to Send)."""
        return self._reply_task is not None

    def send(self) -> None:
        """Send the composer's question (text and/or attachments)."""
        if self.busy:
            return
        text, attachments = self.composer.text(), self.composer.attachments()
        if not text and not attachments:
            self.composer.prompt.setFocus()
            return
        options = self.current_options()
        try:
            endpoint_to_ask(self.services.profiles, options, _("Type or pick a model in the Model box at the top."))
        except UserFacingError as exc:
            self.notifier.show_error(exc, self)
            return
        self._restored = None
        question = self.conversation.add_question(text, attachments)
        self.view.add_message(question)
        self.composer.clear()
        self._start_reply(options)

    def _start_reply(self, options: AskOptions) -> None:
        profile = self.services.profiles.active()
        assert profile is not None
        reply = self.conversation.start_reply(model=options.model, endpoint_id=profile.id, thinking=options.thinking)
        self.view.add_message(reply)
        self.composer.set_busy(True)
        task = asyncio.ensure_future(
            self.services.runner.run(self.conversation, reply, profile, options, self.view.mark_dirty))
        self._reply_task = task
        task.add_done_callback(lambda t: self._reply_finished(t, reply))

    def adopt_conversation(self, handover: QuickAskHandover) -> None:
        """Continue a conversation begun in the quick-ask popup: show it, keep a reply that is still
        streaming (Stop works on it), and add the popup's unsent text and picture to the draft here."""
        if handover.conversation.messages:
            self.stop()  # this window's own reply belongs to the conversation being replaced (as with New chat)
            self._restored = None
            self.conversation = handover.conversation
            self.view.show_conversation(self.conversation)
            task, reply, relay = handover.task, handover.reply, handover.relay
            if task is not None and reply is not None and relay is not None:
                # Adopted even if it has just ended: the callback then runs at once and settles it here.
                relay.retarget(self.view.mark_dirty)
                self._reply_task = task
                self.composer.set_busy(True)
                task.add_done_callback(lambda t: self._reply_finished(t, reply))
            self.view.flush()
        if handover.draft:
            self.composer.append_text(handover.draft)  # after what was typed here, never instead of it
        for attachment in handover.attachments:
            self.composer.add_attachment(attachment)

    def _reply_finished(self, task: asyncio.Task[None], reply: Message) -> None:
        if task.cancelled() and not reply.is_final:
            # Stopped before the runner's first step: nothing else gives the reply its final state.
            reply.state = ReplyState.STOPPED
            self.view.mark_dirty(reply)
        trace(f"reply-finished {reply.state.value}")
        if task is self._reply_task:
            self._reply_task = None
            self.composer.set_busy(False)
            if reply.state is ReplyState.FAILED:
                self._offer_question_again(reply)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            assert error is not None
            self.notifier.show_error(error, self)
        self.view.flush()

    def _offer_question_again(self, reply: Message) -> None:
        """Nothing came back: put the question into an empty composer so it can be edited and resent."""
        question = self.conversation.question_before(reply)
        if question is None or self.composer.text() or self.composer.attachments():
            return
        self.composer.restore(question.text, question.attachments)
        self._restored = (question.text, list(question.attachments))

    def stop(self) -> None:
        """Stop the streaming reply at once; what arrived so far is kept."""
        if self._reply_task is not None and not self._reply_task.done():
            self._reply_task.cancel()

    def retry(self, reply: Message) -> None:
        """Ask again for the last reply; the failed attempt stays visible above the new one."""
        if self.busy or not self.conversation.messages or self.conversation.messages[-1] is not reply:
            return
        if self._restored == (self.composer.text(), self.composer.attachments()):
            self.composer.clear()  # resent as it was: the copy put back for editing is not needed
        self._restored = None
        self._start_reply(self.current_options())

    def new_chat(self) -> None:
        """Start an empty conversation (stopping any reply)."""
        self.stop()
        self.conversation = Conversation()
        self.view.show_conversation(self.conversation)
        self.composer.prompt.setFocus()

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def shutdown(self) -> None:
        """Stop the reply and every background job of this window (the app is quitting)."""
        self.stop()
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
