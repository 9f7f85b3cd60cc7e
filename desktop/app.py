"""The composition root: builds the services, the tray and the windows, and runs the qasync loop.

Start-up is kept light so the tray appears fast: only Qt and the settings are loaded before the
icon shows; the chat window, httpx, the keychain and image libraries load when first needed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

from desktop import APP_ID, APP_NAME, DESKTOP_ID, __version__
from desktop.assistant.history import HistoryWriter
from desktop.assistant.services import AppPaths, Services
from desktop.errors import UserFacingError
from desktop.hotkeys.instance import InstanceServer, instance_name, send_to_running
from desktop.i18n import _
from desktop.logsetup import trace
from desktop.ui.notifier import Notifier, install_exception_hooks
from desktop.ui.operations import DeferredSave

if TYPE_CHECKING:
    from desktop.assistant.local_server import ServerManager
    from desktop.assistant.remote_hosts import RemoteHosts
    from desktop.assistant.session import ChatSession
    from desktop.backends.supervisor import RunningServerRecord
    from desktop.chat.attachments import Attachment
    from desktop.chat.conversation import Conversation
    from desktop.hotkeys.service import HotkeyService
    from desktop.secret import Secret
    from desktop.store.history import HistoryStore
    from desktop.ui.capture_flow import CaptureFlow
    from desktop.ui.chat_window import ChatWindow
    from desktop.ui.quick_ask import QuickAskHandover, QuickAskPopup
    from desktop.ui.recording import RecordingFlow
    from desktop.ui.servers.window import LocalServersWindow
    from desktop.ui.settings_dialog import SettingsDialog
    from desktop.ui.tray import Tray

log = logging.getLogger(__name__)

LEFT_OVER_CHECK_DELAY_MS = 1500  # after start-up, so the tray is not held up


class AppController(QObject):
    """Owns the tray and windows and carries out commands from the tray, the CLI and other launches."""

    restored = Signal(object)  # a Conversation a killed app left mid-answer (emitted from the history's thread)

    def __init__(self, app: QApplication, services: Services, notifier: Notifier,
                 on_quit: Callable[[], None] | None = None) -> None:
        super().__init__(app)
        self.app = app
        self.services = services
        self.notifier = notifier
        self.tray: Tray | None = None
        self._chat: ChatWindow | None = None
        self._settings: SettingsDialog | None = None
        self._on_quit = on_quit
        self._parser: argparse.ArgumentParser | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._capture: CaptureFlow | None = None
        self._recording: RecordingFlow | None = None
        self._popup: QuickAskPopup | None = None
        self.hotkeys: HotkeyService | None = None
        self._servers: LocalServersWindow | None = None
        self._server_manager: ServerManager | None = None
        self._remote_hosts: RemoteHosts | None = None
        self._stopped = False
        self._hotkeys_reported = False
        self.history = HistoryWriter(services.paths.data, on_problem=notifier.show_error, on_open=self._history_opened,
                                     retention_days=self._retention_days)
        self.restored.connect(self._show_restored)
        self._left_over_timer = QTimer(self)
        self._left_over_timer.setSingleShot(True)
        self._left_over_timer.timeout.connect(self._after_start_up)

    # -- start -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Show the tray (or, without a tray, the chat window with a one-time notice)."""
        from desktop.ui.tray import Tray, tray_available

        if tray_available():
            from desktop.ui.tray import scope_label

            self.tray = Tray(scope_label(self.services.settings.get("capture.scope")), self)
            self.tray.ask_screen.connect(self.ask_screen)
            self.tray.ask_file.connect(self.ask_file)
            self.tray.record_requested.connect(lambda target: self.record(target))
            self.tray.capture_requested.connect(lambda mode: self.capture(mode))
            self.tray.quick_ask.connect(self.quick_ask)
            self.tray.open_chat.connect(self.open_chat)
            self.tray.open_settings.connect(self.open_settings)
            self.tray.open_servers.connect(self.open_servers)
            self.tray.quit_requested.connect(self.quit)
            self.tray.show()
            trace("tray-requested")
            if os.environ.get("GLMV_DESKTOP_TRACE"):
                self._watch_tray_embedding()
            self.services.settings.subscribe(self._on_setting)
        else:
            log.info("No system tray on this desktop; the chat window stays available")
            trace("no-tray")
            chat = self.chat_window()
            chat.show_banner(_("This desktop has no system tray, so GLM-V Desktop lives in this window. Closing it "
                               "hides it: run 'glmv-desktop chat' (or bind 'glmv-desktop ask --screen' to a key in "
                               "your desktop's keyboard settings) to bring it back, and 'glmv-desktop quit' to quit."))
            chat.bring_to_front()
        self.services.settings.subscribe(self._on_start_at_login)
        self.services.settings.subscribe(self._on_history_retention)
        # Grabbing keys talks to the window system: after the tray is up, not before.
        QTimer.singleShot(0, self._start_hotkeys)
        self._left_over_timer.start(LEFT_OVER_CHECK_DELAY_MS)
        if self.services.profiles.skipped:
            self.notifier.show_error(RuntimeError("; ".join(self.services.profiles.skipped)))
        if self.services.settings.recovered_from is not None:
            self.notifier.show_error(UserFacingError(
                _("The settings file could not be read, so the defaults are in use."),
                _("The old file was kept as {path}.").format(path=self.services.settings.recovered_from)))

    def _watch_tray_embedding(self) -> None:
        timer = QTimer(self)
        deadline = time.monotonic() + 10
        assert self.tray is not None
        unembedded = self.tray.icon.geometry()

        def poll() -> None:
            assert self.tray is not None
            geometry = self.tray.icon.geometry()
            # An XEmbed icon moves from its own window at the origin into the tray host's.
            if geometry.width() > 0 and geometry != unembedded:
                trace(f"tray-shown {geometry.x()} {geometry.y()} {geometry.width()} {geometry.height()}")
                timer.stop()
            elif time.monotonic() > deadline:
                trace("tray-not-embedded")
                timer.stop()

        timer.timeout.connect(poll)
        timer.start(5)

    def _on_setting(self, key: str, value: object) -> None:
        if key == "capture.scope" and self.tray is not None:
            from desktop.ui.tray import scope_label

            self.tray.set_scope_label(scope_label(str(value)))

    # -- hotkeys and capture ---------------------------------------------------------------------------
    def _start_hotkeys(self) -> None:
        if self._stopped:
            return
        from desktop.hotkeys.service import HotkeyService

        self.hotkeys = HotkeyService(self.services.settings, parent=self)
        self.hotkeys.activated.connect(self._on_hotkey)
        self.hotkeys.changed.connect(self._hotkeys_changed)
        self.hotkeys.start()
        trace(f"hotkeys-ready {self.hotkeys.backend_name or 'none'}")
        if self.hotkeys.backend_name:
            # A capture is now one key press away: open its connections while the app is idle.
            QTimer.singleShot(300, self._warm_up_capture)
        self._hotkeys_changed()

    def _report_failed_hotkeys(self) -> None:
        """Once the backend has answered for every hotkey: say which do not work, once per start."""
        hotkeys = self.hotkeys
        if hotkeys is None or hotkeys.pending or self._hotkeys_reported:
            return
        self._hotkeys_reported = True
        failed = [r for r in hotkeys.registrations() if not r.ok and r.status.value != "disabled"]
        if failed:
            lines = "\n".join(_("{action} ({keys}): {reason}").format(
                action=r.action.label, keys=r.shortcut or "—", reason=r.reason) for r in failed)
            self.notifier.show_error(UserFacingError(
                _("Some global hotkeys do not work on this desktop."),
                _("Choose other combinations in Settings → Hotkeys & capture, or bind the commands shown there in your "
                  "desktop's keyboard settings."), detail=lines))

    def status(self, json_output: bool = False) -> str:
        """The hotkeys' and capture's state, for `glmv-desktop status` and doctor."""
        import json

        hotkeys = self.hotkeys
        entries = [{"action": r.action.value, "label": r.action.label, "shortcut": r.shortcut,
                    "status": r.status.value, "reason": r.reason, "advice": r.advice()}
                   for r in (hotkeys.registrations() if hotkeys else [])]
        backends = [(name, a.available, _("available") if a.available else a.reason, a.how_to_fix)
                    for name, a in (hotkeys.report(check_all=False) if hotkeys else [])]
        if json_output:
            return json.dumps({"hotkey_backend": hotkeys.backend_name if hotkeys else "",
                               "hotkey_backends": backends, "hotkeys": entries})
        lines = [_("Global hotkeys through: {name}").format(name=(hotkeys.backend_name if hotkeys else "") or
                                                            _("none"))]
        for entry in entries:
            state = entry["status"] if not entry["reason"] else f"{entry['status']}: {entry['reason']}"
            lines.append(f"  {entry['label']}: {entry['shortcut'] or '—'} ({state})")
        return "\n".join(lines)

    def _warm_up_capture(self) -> None:
        if not self._stopped:
            self.capture_flow().warm_up()

    def _hotkeys_changed(self) -> None:
        self._report_failed_hotkeys()
        if self.tray is not None and self.hotkeys is not None:
            self.tray.set_hotkeys({r.action.value: r.shortcut for r in self.hotkeys.registrations() if r.ok})

    def _on_hotkey(self, action: str) -> None:
        from desktop.hotkeys.base import HotkeyAction

        trace(f"hotkey {action} {time.monotonic():.6f}")
        if action == HotkeyAction.RECORD:
            try:
                self.record("toggle")
            except UserFacingError as error:
                self.notifier.show_error(error)
            return
        mode = HotkeyAction(action).capture_mode
        if mode is None:
            self.quick_ask()
        else:
            self.capture(mode)

    def capture_flow(self) -> CaptureFlow:
        """The capture controller, created on first use."""
        if self._capture is None:
            from desktop.ui.capture_flow import CaptureFlow

            self._capture = CaptureFlow(self.services, self.notifier, hide_own_windows=self._hide_popup,
                                        parent=self)
            self._capture.captured.connect(self._on_captured)
        return self._capture

    def recording_flow(self) -> RecordingFlow:
        """The screen recorder's controller, created on first use."""
        if self._recording is None:
            from desktop.ui.recording import RecordingFlow

            self._recording = RecordingFlow(self.services, self.notifier, self.capture_flow(), self._attach_clip,
                                            parent=self)
            if self.tray is not None:
                self._recording.state_changed.connect(self.tray.set_recording)
        return self._recording

    def record(self, target: str, seconds: float | None = None) -> str:
        """`glmv-desktop record region|window|screen|stop|toggle`: record a clip for the chat, or end the recording
        (toggle: end it if one is running, else record a region)."""
        flow = self.recording_flow()
        if target == "toggle":  # the hotkey: stop a recording, or record a region
            target = "stop" if flow.recording else "region"
        return flow.stop() if target == "stop" else flow.start(target, seconds)

    def _attach_clip(self, clip: Attachment) -> None:
        chat = self.chat_window()
        chat.composer.add_attachment(clip)
        chat.bring_to_front()

    def capture(self, mode: str) -> asyncio.Task[None] | None:
        """Capture in `mode` (region, window, screen, all), then ask in the quick-ask popup."""
        from desktop.capture.base import CaptureMode

        return self.capture_flow().start(CaptureMode(mode))

    def quick_ask_popup(self) -> QuickAskPopup:
        """The quick-ask popup, created on first use."""
        if self._popup is None:
            from desktop.ui.quick_ask import QuickAskPopup

            self._popup = QuickAskPopup(self.services, self.notifier,
                                        new_session=lambda: self._new_session("quick_ask"), history=self.history)
            self._popup.open_in_chat.connect(self._open_in_chat)
        return self._popup

    def quick_ask(self) -> None:
        """Show the quick-ask popup (its last conversation, or an empty one)."""
        self.quick_ask_popup().show_for(None, None)

    def _hide_popup(self) -> bool:
        """Before a capture: hide an unpinned quick-ask popup so it is not in the picture."""
        popup = self._popup
        if popup is not None and popup.isVisible() and not popup.pinned:
            popup.hide()
            return True
        return False

    def _on_captured(self, attachment: object, anchor: object) -> None:
        self.quick_ask_popup().show_for(attachment, anchor)  # type: ignore[arg-type]

    def _open_in_chat(self, handover: QuickAskHandover) -> None:
        chat = self.chat_window()
        chat.adopt_session(handover)
        if not handover.quiet:  # quiet: moved aside to make room for a new capture in the popup
            chat.bring_to_front()

    # -- windows ---------------------------------------------------------------------------------------
    def chat_window(self) -> ChatWindow:
        """The chat window, created on first use."""
        if self._chat is None:
            from desktop.ui.chat_window import ChatWindow

            self._chat = ChatWindow(self.services, self.notifier, new_session=lambda: self._new_session("chat"),
                                    history=self.history)
            self.notifier.default_parent = self._chat
        return self._chat

    def _new_session(self, origin: str) -> ChatSession:
        """A chat session for a window's new conversation (every window's sessions are made here), kept in
        the history as it changes."""
        from desktop.assistant.history import SessionRecorder
        from desktop.assistant.session import ChatSession
        from desktop.store.records import Origin
        from desktop.ui.operations import reply_starter

        session = ChatSession(self.services.runner, reply_starter(self.notifier))
        SessionRecorder(session, self.history, Origin(origin),
                        save=bool(self.services.settings.get("history.save_new")))
        return session

    # -- history ------------------------------------------------------------------------------------------
    def _start_history(self) -> None:
        """Open the history in its writer thread (what was asked before then is queued, not lost)."""
        if not self.history.started and not self._stopped:
            self.history.start()

    def _retention_days(self) -> float | None:
        """How many days an unpinned conversation is kept (`history.retention`); None: forever. Asked by the
        writer thread when it prunes."""
        value = str(self.services.settings.get("history.retention"))
        return None if value == "forever" else float(value)

    def _on_history_retention(self, key: str, _value: object) -> None:
        if key == "history.retention" and self.history.started:  # else the writer prunes when it starts
            self.history.prune_old()

    async def delete_all_history(self) -> int:
        """Delete every conversation (through the history's writer, after what is queued) and start the chat
        window afresh, so nothing deleted is saved again; returns how many were deleted."""
        import concurrent.futures

        from desktop.store.errors import HistoryError

        def unavailable() -> HistoryError:
            return HistoryError(_("The history could not be opened, so nothing was deleted."),
                                _("Restart GLM-V Desktop and try again."))

        self._start_history()
        if not self.history.running:
            raise unavailable()
        done: concurrent.futures.Future[int] = concurrent.futures.Future()

        def delete(store: HistoryStore) -> None:
            try:
                done.set_result(store.delete_all())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, not retried
                done.set_exception(exc)

        self.history.run(delete)
        answer = asyncio.wrap_future(done)
        while not answer.done():
            await asyncio.wait({answer}, timeout=1.0)
            if not answer.done() and not self.history.running:  # it could not open the history after all
                raise unavailable()
        deleted = answer.result()
        if self._chat is not None and self._chat.conversation.messages:
            self._chat.new_chat()
        trace(f"history-deleted {deleted}")
        return deleted

    def _history_opened(self, store: HistoryStore, interrupted: list[str]) -> None:
        """Writer thread: the app was killed mid-answer last time; bring that conversation back."""
        if interrupted:
            self.restored.emit(store.load_conversation(interrupted[-1]))

    def _show_restored(self, conversation: Conversation) -> None:
        chat = self.chat_window()
        if chat.session.conversation.messages or chat.busy:
            return  # the user has started something else meanwhile; the conversation is in the history
        self.history.saved.add(conversation.id)
        chat.session.replace_conversation(conversation)
        chat.show_banner(_("GLM-V Desktop was closed while it was answering. Here is the conversation as it "
                           "was; Retry asks again."))
        trace(f"history-restored {len(conversation.messages)}")
        chat.bring_to_front()

    def open_chat(self) -> None:
        """Show the chat window."""
        self.chat_window().bring_to_front()

    def ask_file(self) -> None:
        """Choose files (any kind the app reads) to ask about in the chat window."""
        chat = self.chat_window()
        chat.bring_to_front()
        chat.choose_files()

    def ask_screen(self) -> asyncio.Task[Any]:
        """Capture the screen into the chat's composer."""
        return self.chat_window().ask_about_screen()

    def open_settings(self) -> None:
        """Show the settings dialog (one at a time)."""
        from desktop.ui.settings_dialog import SettingsDialog

        if self._settings is None:
            self._settings = SettingsDialog(self.services, self.notifier, hotkeys=self.hotkeys,
                                            delete_history=self.delete_all_history)
            self._settings.profiles_changed.connect(self._profiles_changed)
            self._settings.finished.connect(self._settings_closed)
        self._settings.show()
        self._settings.raise_()
        self._settings.activateWindow()

    @property
    def server_manager(self) -> ServerManager:
        """The local server the app runs (made on first use; it outlives the window)."""
        if self._server_manager is None:
            from desktop.assistant.local_server import ServerManager

            self._server_manager = ServerManager(self.services.profiles, self.services.secrets, self.services.paths)
        return self._server_manager

    @property
    def remote_hosts(self) -> RemoteHosts:
        """The SSH connections to the user's hosts (opened when needed; dialogs ask what must be asked)."""
        if self._remote_hosts is None:
            from desktop.ui.servers.hosts import remote_hosts_for

            self._remote_hosts = remote_hosts_for(self._servers, self.services.paths.known_hosts)
        return self._remote_hosts

    def servers_window(self) -> LocalServersWindow:
        """The Local servers window (made on first use, then kept: it follows the server while hidden)."""
        if self._servers is None:
            from desktop.ui.servers.window import LocalServersWindow

            self._servers = LocalServersWindow(self.services, self.notifier, self.server_manager,
                                               remote_hosts=self.remote_hosts)
        return self._servers

    def _servers_command(self, args: argparse.Namespace) -> str | Awaitable[str]:
        """`glmv-desktop servers [list|start|stop]`: open the window, or act on the server here or on a host."""
        command = getattr(args, "servers_command", None)
        if command is None:
            self.open_servers()
            return _("Local servers opened.")
        from desktop.assistant.server_commands import list_servers, start_server, stop_server

        if command == "list":
            return list_servers(self.server_manager, self.services.settings)
        if command == "stop":
            return stop_server(self.server_manager)
        from desktop.ui.operations import run_async

        return start_server(args, self.server_manager, self.services, self.remote_hosts,
                            lambda launch: run_async(launch, notifier=self.notifier))

    def open_servers(self) -> None:
        """Show the Local servers window."""
        window = self.servers_window()
        window.show()
        window.raise_()
        window.activateWindow()

    def _after_start_up(self) -> None:
        """Work that can wait until the tray is up: the history, a server left running, the login entry's command."""
        self._start_history()
        self._check_left_over_server()
        # Both ways: on, the program may have moved (an update, another folder); off, the setting may have
        # been changed while the app was not running (`glmv-desktop config set`).
        self._apply_start_at_login(bool(self.services.settings.get("app.start_at_login")))

    def _on_start_at_login(self, key: str, value: object) -> None:
        if key == "app.start_at_login":
            self._apply_start_at_login(bool(value))

    def _apply_start_at_login(self, enabled: bool) -> None:
        from desktop.config import autostart
        from desktop.ui.operations import run_async

        task = run_async(asyncio.to_thread(autostart.set_enabled, enabled), notifier=self.notifier, owner=self)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check_left_over_server(self) -> None:
        """After a crash (or a "keep running" quit) a server may still run: offer to use or stop it."""
        if self._stopped:
            return

        record_file = self.services.paths.local_server_record

        def find() -> RunningServerRecord | None:
            if not record_file.exists():  # the usual case: nothing more to load
                return None
            from desktop.backends.supervisor import find_recorded_server

            return find_recorded_server(record_file)

        async def check() -> None:
            record = await asyncio.to_thread(find)
            if record is not None and not self._stopped:
                window = self.servers_window()
                window.offer_left_over(record)
                self.open_servers()

        task = asyncio.ensure_future(check())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _profiles_changed(self) -> None:
        if self._chat is not None:
            self._chat.reload_endpoints()

    def _settings_closed(self) -> None:
        if self._settings is not None:
            self._settings.deleteLater()
            self._settings = None
        if self._chat is not None:
            self._chat.reload_endpoints()

    def stop_activity(self) -> None:
        """Stop replies and captures and release the global hotkeys (quitting, or a test ending)."""
        self._stopped = True
        self._left_over_timer.stop()
        if self._chat is not None:
            self._chat.shutdown()
        if self._popup is not None:
            self._popup.shutdown()
        if self._recording is not None:
            self._recording.shutdown()
        if self._capture is not None:
            self._capture.cancel()
        if self.hotkeys is not None:
            self.hotkeys.close()
        if self._servers is not None:
            self._servers.shutdown()
        self.history.close()  # what is queued is written first (a short transaction or two)

    def end_server_now(self) -> None:
        """The loop has ended: stop the local server at once unless the user keeps it running (blocking)."""
        if self._server_manager is not None:
            self._server_manager.kill_unless_kept(bool(self.services.settings.get("local.keep_running")))

    def quit(self) -> None:
        """Stop any reply, close connections, and end the app."""
        self.stop_activity()

        async def shutdown() -> None:
            trace("quitting")
            if self._server_manager is not None:
                await self._server_manager.shutdown(keep_running=bool(self.services.settings.get("local.keep_running")))
            if self._remote_hosts is not None:
                await self._remote_hosts.close_all()  # a server kept running on a host goes on there
            await self.services.client.aclose()
            trace("connections-closed")
            if self.tray is not None:
                self.tray.hide()
            if self._on_quit is not None:
                self._on_quit()
            # exit(), not quit(): Qt 6 turns quit() into closing every window first, and the chat
            # window only hides when closed (the app lives in the tray), which cancels the quit.
            self.app.exit(0)

        task = asyncio.ensure_future(shutdown())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- commands -----------------------------------------------------------------------------------------
    def handle_argv(self, argv: list[str], secret: Secret | None = None) -> str | Awaitable[str]:
        """Carry out a command handed over by another launch (with a key it read from its standard input);
        returns what to print there, or an awaitable of it for a command that takes a while."""
        from desktop.commands import build_parser

        self._parser = self._parser or build_parser()
        args = self._parser.parse_args(argv)
        return self.execute(args, secret)

    def command_handlers(self) -> dict[str, Callable[[argparse.Namespace, Secret | None], str | Awaitable[str]]]:
        """What this app does for each command of `desktop.commands.COMMANDS` it carries out."""
        def said(action: Callable[[], object], message: str) -> Callable[[argparse.Namespace, Secret | None], str]:
            return lambda _args, _secret: (action(), message)[1]

        return {
            "run": said(self.open_chat, _("GLM-V Desktop is already running; the chat window is open.")),
            "ask": lambda args, _secret: self._ask(args),
            "capture": lambda args, _secret: self._capture_command(args.mode),
            "record": lambda args, _secret: self.record(args.target, args.seconds),
            "quick-ask": said(self.quick_ask, _("Quick ask opened.")),
            "chat": said(self.open_chat, _("Chat window opened.")),
            "settings": said(self.open_settings, _("Settings opened.")),
            "servers": lambda args, _secret: self._servers_command(args),
            "status": lambda args, _secret: self.status(json_output=args.json),
            "quit": said(self.quit, _("GLM-V Desktop is quitting.")),
            "config": self._settings_command,
            "endpoint": self._settings_command,
        }

    def execute(self, args: argparse.Namespace, secret: Secret | None = None) -> str | Awaitable[str]:
        """Carry out a parsed command."""
        return self.command_handlers()[args.command or "run"](args, secret)

    def _capture_command(self, mode: str) -> str:
        if self.capture(mode) is None:
            raise UserFacingError(_("A capture is already under way."), _("Finish or cancel it (Esc) first."))
        return _("Capturing ({mode}).").format(mode=mode)

    def _settings_command(self, args: argparse.Namespace, secret: Secret | None) -> str | Awaitable[str]:
        """`config …` and `endpoint …` on the settings this app holds (the chat window follows at once)."""
        from desktop.config.commands import run_command

        secrets = self.services.secrets
        done = run_command(args, self.services.settings, lambda: self.services.profiles)
        if done.removed is not None:
            from desktop.ui.operations import run_async

            self._track(run_async(asyncio.to_thread(secrets.delete, done.removed.keychain_entry),
                                  notifier=self.notifier))
        reading = args.command == "config" and args.config_command in (None, "list", "get", "path") or (
            args.command == "endpoint" and args.endpoint_command in (None, "list"))
        if reading:
            return done.message

        async def finish() -> str:
            # Answered once the change is on disk, so a `kill` right after the command cannot lose it.
            await asyncio.to_thread(self.services.settings.save)
            if done.added is None or secret is None:
                return done.message
            refused = await asyncio.to_thread(secrets.keep, done.added.keychain_entry, secret)
            if refused is None:
                return _("{done} Its key is in the system keychain.").format(done=done.message)
            return _("{done} Its key is used for this session only, because the keychain refused it: {reason} "
                     "{fix}").format(done=done.message, reason=refused.message, fix=refused.hint)

        return finish()

    async def _ask(self, args: argparse.Namespace) -> str:
        """`glmv-desktop ask`: put the question and its files in the chat's composer (and send it).

        A file that cannot be read is reported to the asking command (and once, by the notifier, here);
        the question is then added to the composer without sending, and never twice. Documents get the
        pages and the way of sending them that the command asked for."""
        from desktop.chat.attachments import DocumentAttachment, PageMode, parse_pages

        text, screen, send = args.text, args.screen, args.send
        chat = self.chat_window()
        chat.bring_to_front()
        results = await asyncio.gather(*(chat.loader.read(path, "file", picture_only=strict)
                                         for strict, path in args.attach),
                                       return_exceptions=True)
        problems = [r for r in results if isinstance(r, BaseException)]
        attachments = [r for r in results if r is not None and not isinstance(r, BaseException)]
        if len(attachments) + len(problems) < len(results):
            problems.append(UserFacingError(_("Attaching a file was cancelled.")))
        for attachment in attachments:
            if isinstance(attachment, DocumentAttachment) and (args.pages or args.pages_as != "images"):
                try:
                    pages = parse_pages(args.pages, attachment.page_count) if args.pages else attachment.pages
                except ValueError as exc:
                    problems.append(UserFacingError(_("--pages {pages} does not fit '{name}': {why}").format(
                        pages=args.pages, name=attachment.name, why=exc)))
                    continue
                attachment.choose(pages, PageMode(args.pages_as))
        if not problems:  # all or none, in the order given, so the same command again adds nothing twice
            for attachment in attachments:
                chat.composer.add_attachment(attachment)
        if screen and not problems:
            try:
                await chat.ask_about_screen()
            except Exception as exc:  # noqa: BLE001 - told below; the text stays put
                problems.append(exc)
        if text:
            chat.composer.append_text(text, once=True)  # after what the user was typing, and not again
        if problems:
            for problem in problems:
                if not isinstance(problem, UserFacingError):
                    log.error("Could not attach a file", exc_info=problem)
            error = UserFacingError("; ".join(p.message if isinstance(p, UserFacingError) else str(p)
                                              for p in problems),
                                    _("The question is in the chat window's composer, not sent."))
            self.notifier.show_error(error, chat)
            raise error
        if send:
            chat.send()
            return _("Asked in the chat window.")
        return _("The question is in the chat window; press Enter there to send it.")

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class GlmvApplication(QApplication):
    """The QApplication of GLM-V Desktop: lives in the tray, so closing windows does not quit it."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv)
        self.setApplicationName(APP_ID)
        self.setApplicationDisplayName(APP_NAME)
        self.setApplicationVersion(__version__)
        self.setDesktopFileName(DESKTOP_ID)
        self.setQuitOnLastWindowClosed(False)
        from desktop.ui.icons import app_icon

        self.setWindowIcon(app_icon())
        self.qt_translator = install_qt_translation(self)


def install_qt_translation(app: QApplication) -> Any:
    """Qt's own strings (standard dialog buttons, file dialogs, context menus) in the app's language; the
    translator (kept by the caller), or None in English or where Qt's catalog is missing."""
    from desktop.i18n import language

    code = language()
    if code == "en":
        return None
    from PySide6.QtCore import QLibraryInfo, QLocale, QTranslator

    QLocale.setDefault(QLocale(code))
    translator = QTranslator(app)
    if not translator.load(f"qtbase_{code}", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
        return None
    app.installTranslator(translator)
    return translator


def create_event_loop(app: QApplication) -> Any:
    """The qasync loop on Qt's event loop, with asyncgen hooks qasync forgets to install."""
    import qasync

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    install_asyncgen_hooks(loop)
    return loop


def install_asyncgen_hooks(loop: Any) -> None:
    """Let `loop` close abandoned async generators (an HTTP stream of a cancelled download): qasync 0.28
    does not install its hooks, and the garbage collector cannot close them properly."""
    sys.set_asyncgen_hooks(firstiter=loop._asyncgen_firstiter_hook,  # noqa: SLF001
                           finalizer=loop._asyncgen_finalizer_hook)  # noqa: SLF001


def launch(args: argparse.Namespace, forward: list[str]) -> int:
    """Hand the command to a running instance, or become the instance and run it."""
    from desktop import logsetup

    paths = AppPaths.for_user()
    name = instance_name(paths.config)
    # Starting a server connects and probes (an SSH host may ask for a passphrase): wait as a person would.
    reply = send_to_running(name, forward, answer_timeout_ms=180_000 if args.command == "servers" else 15_000)
    if reply is not None:
        message = str(reply.get("message", ""))
        if message:
            print(message)
        return 0 if reply.get("ok", False) else 1
    if args.command == "quit":
        print(_("GLM-V Desktop is not running."))
        return 0
    if args.command == "status":
        print(_("GLM-V Desktop is not running; 'glmv-desktop doctor' checks what works on this machine."))
        return 1
    from desktop.display import missing_display_message

    if (no_display := missing_display_message()) is not None:
        print(no_display, file=sys.stderr)
        return 1
    logsetup.configure(paths.logs, verbose=args.verbose)
    trace("python-ready")
    app = GlmvApplication(sys.argv[:1])
    loop = create_event_loop(app)
    notifier = Notifier(app)
    install_exception_hooks(notifier)
    saver = DeferredSave(notifier, parent=app)
    services = Services.create(paths, schedule_save=saver.schedule)
    controller = AppController(app, services, notifier, on_quit=saver.flush)
    server = InstanceServer(name, controller.handle_argv, app)
    if not server.listen():
        # Another instance won a start-up race: hand it the command instead.
        reply = send_to_running(name, forward)
        return 0 if reply and reply.get("ok") else 1
    controller.start()
    trace("started")
    from desktop.running_notice import print_running_notice

    print_running_notice(in_tray=controller.tray is not None)
    if args.command not in (None, "run"):
        outcome = controller.execute(args)
        if not isinstance(outcome, str):
            from desktop.ui.operations import run_async

            # A failure was shown by the notifier already (nobody else is waiting for the answer).
            run_async(outcome, notifier=notifier,  # type: ignore[arg-type]
                      on_error=lambda exc: log.info("Start-up command failed: %s", exc))
    with loop:
        try:
            loop.run_forever()
        finally:
            controller.stop_activity()  # whatever ended the loop: release the grabs, end the threads
            controller.end_server_now()
    server.close()
    return 0
