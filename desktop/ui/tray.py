"""The tray icon and its menu: the capture modes, Quick ask, Ask about my screen, Open chat, Local servers…,
Settings…, Quit."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, SignalInstance
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from desktop.capture.base import CaptureMode
from desktop.i18n import _
from desktop.ui.icons import app_icon


def scope_label(scope: str) -> str:
    """How the UI names what 'Ask about my screen' captures (a `capture.scope` value)."""
    return _("all monitors") if scope == "all" else _("monitor under the pointer")


def tray_available() -> bool:
    """Whether this desktop has a system tray (call only once a QApplication exists)."""
    return QSystemTrayIcon.isSystemTrayAvailable()


class Tray(QObject):
    """The tray icon; a left click opens the chat, the menu offers the main actions."""

    ask_screen = Signal()
    ask_file = Signal()
    record_requested = Signal(str)  # region, screen, stop
    capture_requested = Signal(str)  # a CaptureMode value
    quick_ask = Signal()
    open_chat = Signal()
    open_settings = Signal()
    open_servers = Signal()
    quit_requested = Signal()

    def __init__(self, scope_label: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.icon = QSystemTrayIcon(app_icon(), self)
        self.icon.setObjectName("tray_icon")
        self.icon.setToolTip(_("GLM-V Desktop"))
        self.menu = QMenu()
        self.menu.setObjectName("tray_menu")
        self.capture_actions: dict[str, QAction] = {}
        for mode in CaptureMode:
            action = QAction(mode.menu_label, self.menu)
            action.setObjectName(f"capture_{mode.value}")
            action.setData(mode.menu_label)
            action.triggered.connect(lambda _checked=False, m=mode.value: self.capture_requested.emit(m))
            self.menu.addAction(action)
            self.capture_actions[mode.value] = action
        self.quick_ask_action = self._action("quick_ask", _("Quick ask"), self.quick_ask)
        self.quick_ask_action.setData(_("Quick ask"))
        self.menu.addSeparator()
        self.ask_action = self._action("ask_screen", _("Ask about my screen"), self.ask_screen)
        self.ask_file_action = self._action("ask_file", _("Ask about a file…"), self.ask_file)
        self.record_actions: dict[str, QAction] = {}
        for target, label in (("region", _("Record a region…")), ("screen", _("Record the screen")),
                              ("stop", _("Stop recording"))):
            action = QAction(label, self.menu)
            action.setObjectName(f"record_{target}")
            action.setData(label)
            action.triggered.connect(lambda _checked=False, t=target: self.record_requested.emit(t))
            self.menu.addAction(action)
            self.record_actions[target] = action
        self.set_recording(False)
        self.chat_action = self._action("open_chat", _("Open chat"), self.open_chat)
        self.menu.addSeparator()
        self.servers_action = self._action("open_servers", _("Local servers…"), self.open_servers)
        self.settings_action = self._action("open_settings", _("Settings…"), self.open_settings)
        self.menu.addSeparator()
        self.quit_action = self._action("quit", _("Quit"), self.quit_requested)
        self.set_scope_label(scope_label)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)

    def _action(self, name: str, text: str, signal: SignalInstance) -> QAction:
        action = QAction(text, self.menu)
        action.setObjectName(name)
        action.triggered.connect(signal.emit)
        self.menu.addAction(action)
        return action

    def set_recording(self, recording: bool) -> None:
        """While recording the menu offers Stop instead of starting another."""
        self.record_actions["stop"].setVisible(recording)
        for target in ("region", "screen"):
            self.record_actions[target].setVisible(not recording)

    def set_scope_label(self, scope_label: str) -> None:
        """Say in the menu which screen 'Ask about my screen' captures."""
        self.ask_action.setToolTip(scope_label)
        self.ask_action.setStatusTip(scope_label)
        self.ask_action.setText(_("Ask about my screen ({scope})").format(scope=scope_label))

    def set_hotkeys(self, shortcuts: dict[str, str]) -> None:
        """Show each action's working global hotkey beside it (`shortcuts`: object name → text, "" for none)."""
        for action in [*self.capture_actions.values(), self.quick_ask_action, self.record_actions["region"],
                       self.record_actions["stop"]]:
            # The one record hotkey starts a region recording and stops it.
            name = "record" if action.objectName() in ("record_region", "record_stop") else action.objectName()
            keys = shortcuts.get(name, "")
            action.setText(f"{action.data()}\t{keys}" if keys else str(action.data()))

    def show(self) -> None:
        """Show the icon."""
        self.icon.show()

    def hide(self) -> None:
        """Remove the icon."""
        self.icon.hide()

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.open_chat.emit()
