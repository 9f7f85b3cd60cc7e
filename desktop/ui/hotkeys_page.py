"""Settings → Hotkeys & capture: record each global hotkey, see whether it works here and why not,
and what the screen-capture and hotkey backends of this desktop can do.

Every hotkey that failed shows the reason (another program holds it, this desktop cannot grab
keys) and the command to bind in the desktop's own keyboard settings instead. While a recorder
has the focus the app's own grabs are released, so pressing the current combination records it
rather than starting a capture.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QKeySequenceEdit,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.availability import Availability
from desktop.config.shortcuts import Shortcut
from desktop.hotkeys.base import HotkeyAction, Registration, RegistrationStatus
from desktop.i18n import _
from desktop.ui.notifier import Notifier
from desktop.ui.operations import run_async

if TYPE_CHECKING:
    from desktop.assistant.services import Services
    from desktop.hotkeys.service import HotkeyService

log = logging.getLogger(__name__)

_OK = "#188038"
_BAD = "#c5221f"
_MUTED = "#80868b"


def qt_key_text(text: str) -> str:
    """Our portable text ↔ Qt's on macOS, where Qt calls ⌘ "Ctrl" and Control "Meta" while our
    shortcuts (and the settings file) call them Meta and Ctrl. The swap is its own inverse."""
    if sys.platform != "darwin":
        return text
    return "+".join({"Ctrl": "Meta", "Meta": "Ctrl"}.get(part, part) for part in text.split("+"))


class ShortcutRecorder(QKeySequenceEdit):
    """Records one key combination."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(QKeySequence.fromString(qt_key_text(text), QKeySequence.SequenceFormat.PortableText), parent)
        self.setMaximumSequenceLength(1)
        self.setClearButtonEnabled(True)

    def shortcut_text(self) -> str:
        """The combination in portable text ("" when cleared)."""
        return qt_key_text(self.keySequence().toString(QKeySequence.SequenceFormat.PortableText))


def status_text(registration: Registration) -> tuple[str, str]:
    """A one-line state and its colour, for a registration."""
    if registration.ok:
        return _("✔ Works in every program"), _OK
    if registration.status is RegistrationStatus.DISABLED:
        return _("Off"), _MUTED
    if registration.status is RegistrationStatus.PENDING:
        return _("… Waiting for the desktop to confirm it"), _MUTED
    reasons = {
        RegistrationStatus.TAKEN: _("✘ Taken: {reason}"),
        RegistrationStatus.UNSUPPORTED: _("✘ Not possible here: {reason}"),
        RegistrationStatus.INVALID: _("✘ Not a usable combination: {reason}"),
    }
    return reasons.get(registration.status, "{reason}").format(reason=registration.reason), _BAD


def availability_lines(report: list[tuple[str, Availability]]) -> list[str]:
    """Backends in the order tried: the first that works is used; later ones are only fallbacks."""
    lines, used = [], ""
    for name, status in report:
        if used and not status.available:
            lines.append(_("– {name}: not needed here ({used} works)").format(name=name, used=used))
        else:
            lines.append(availability_line(name, status))
        if status.available and not used:
            used = name
    return lines


def availability_line(name: str, status: Availability) -> str:
    """A backend's availability in one line."""
    if status.available:
        return _("✔ {name}: works here").format(name=name)
    fix = f" {status.how_to_fix}" if status.how_to_fix else ""
    return _("✘ {name}: {reason}{fix}").format(name=name, reason=status.reason, fix=fix)


class HotkeysPage(QWidget):
    """The hotkey recorders with their live state, and the capture and hotkey backends' report."""

    def __init__(self, services: Services, notifier: Notifier, hotkeys: HotkeyService | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("hotkeys_page")
        self._services = services
        self._notifier = notifier
        self._hotkeys = hotkeys
        self.recorders: dict[HotkeyAction, ShortcutRecorder] = {}
        self.states: dict[HotkeyAction, QLabel] = {}
        self.advice: dict[HotkeyAction, QLabel] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        body = QWidget()
        column = QVBoxLayout(body)

        keys = QGroupBox(_("Global hotkeys"))
        form = QFormLayout(keys)
        intro = QLabel(_("Click a box and press the new combination; the × clears it (turns the hotkey off). "
                         "Changes apply when you press OK."))
        intro.setWordWrap(True)
        intro.setStyleSheet(f"QLabel {{ color: {_MUTED}; }}")
        form.addRow(intro)
        for action in HotkeyAction:
            recorder = ShortcutRecorder(services.settings.get(f"hotkeys.{action.value}"))
            recorder.setObjectName(f"hotkey_{action.value}")
            state = QLabel()
            state.setObjectName(f"hotkey_state_{action.value}")
            state.setWordWrap(True)
            advice = QLabel()
            advice.setObjectName(f"hotkey_advice_{action.value}")
            advice.setWordWrap(True)
            advice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            advice.setStyleSheet(f"QLabel {{ color: {_MUTED}; font-size: small; }}")
            field = QWidget()
            rows = QVBoxLayout(field)
            rows.setContentsMargins(0, 0, 0, 6)
            rows.setSpacing(2)
            line = QHBoxLayout()
            line.addWidget(recorder, 1)
            reset = QToolButton()
            reset.setText(_("Default"))
            reset.setToolTip(_("Back to the default combination"))
            reset.clicked.connect(lambda _checked=False, a=action: self._reset(a))
            line.addWidget(reset)
            rows.addLayout(line)
            rows.addWidget(state)
            rows.addWidget(advice)
            form.addRow(QLabel(action.label), field)
            self.recorders[action] = recorder
            self.states[action] = state
            self.advice[action] = advice
        column.addWidget(keys)

        self.backends = QGroupBox(_("This desktop"))
        self.backends.setObjectName("capture_report")
        backend_column = QVBoxLayout(self.backends)
        self.backend_text = QLabel(_("Checking…"))
        self.backend_text.setObjectName("backend_report")
        self.backend_text.setWordWrap(True)
        self.backend_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        backend_column.addWidget(self.backend_text)
        column.addWidget(self.backends)
        column.addStretch(1)
        scroll.setWidget(body)
        outer.addWidget(scroll)

        if hotkeys is not None:
            hotkeys.changed.connect(self.refresh)
            # The focus may sit on a recorder's inner line edit: follow the application's focus.
            app = QApplication.instance()
            if isinstance(app, QApplication):
                app.focusChanged.connect(self._focus_changed)
        self.refresh()
        self.report_task: asyncio.Task[str] | None = None

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        """The first time the page is shown, ask each backend whether it works here (in a worker:
        asking the desktop portal can take a while)."""
        if self.report_task is None:
            self.report_task = run_async(asyncio.to_thread(self._collect_report), notifier=self._notifier,
                                         owner=self, on_done=self.backend_text.setText)
        super().showEvent(event)

    # -- state -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Show each hotkey's current state as the running service reports it."""
        registrations = {r.action: r for r in self._hotkeys.registrations()} if self._hotkeys else {}
        for action in HotkeyAction:
            registration = registrations.get(action)
            if registration is None:
                self.states[action].setText(_("Hotkeys are not running."))
                self.states[action].setStyleSheet(f"QLabel {{ color: {_MUTED}; }}")
                self.advice[action].setText(_("Command for your desktop's keyboard settings: {command}").format(
                    command=action.cli_command))
                continue
            text, colour = status_text(registration)
            self.states[action].setText(text)
            self.states[action].setStyleSheet(f"QLabel {{ color: {colour}; }}")
            self.advice[action].setText(registration.advice())
            self.advice[action].setVisible(bool(registration.advice()))

    def _collect_report(self) -> str:
        """Worker thread: the capture handlers, the window lister and the hotkey backends, in words."""
        lines = [_("Screen capture, in the order tried:")]
        lines += [f"  {line}" for line in availability_lines(self._services.capture.report())]
        try:
            from desktop.capture.windows_default import default_window_lister

            lister = default_window_lister()
            lines.append(_("Window capture:"))
            lines.append(f"  {availability_line(lister.name, lister.availability())}")
        except Exception as exc:  # noqa: BLE001 - a report line, not a failure of the page
            lines.append(_("Window capture: unknown ({error})").format(error=exc))
        if self._hotkeys is not None:
            lines.append(_("Global hotkeys, in the order tried (in use: {name}):").format(
                name=self._hotkeys.backend_name or _("none")))
            lines += [f"  {line}" for line in availability_lines(self._hotkeys.report())]
        return "\n".join(lines)

    def _focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        recording = new is not None and any(r is new or r.isAncestorOf(new) for r in self.recorders.values())
        self._recording(recording)

    def _recording(self, on: bool) -> None:
        if self._hotkeys is None:
            return
        if on:
            self._hotkeys.suspend()
        else:
            self._hotkeys.resume()

    def _reset(self, action: HotkeyAction) -> None:
        from desktop.config.schema import BY_KEY

        default = BY_KEY[f"hotkeys.{action.value}"].default
        sequence = QKeySequence.fromString(qt_key_text(default), QKeySequence.SequenceFormat.PortableText)
        self.recorders[action].setKeySequence(sequence)

    # -- apply -----------------------------------------------------------------------------------
    def values(self) -> dict[str, str]:
        """The recorded combinations as settings values; ValueError names a bad one."""
        values = {}
        for action, recorder in self.recorders.items():
            text = recorder.shortcut_text()
            try:
                values[f"hotkeys.{action.value}"] = Shortcut.parse(text).portable() if text else ""
            except ValueError as exc:
                raise ValueError(_("{action}: {error}").format(action=action.label, error=exc)) from None
        used: dict[str, str] = {}
        for key, text in values.items():
            if text and text in used:
                raise ValueError(_("{keys} is set for two actions; give each its own.").format(keys=text))
            used[text] = key
        return values

    def apply(self) -> None:
        """Store the combinations; the hotkey service re-registers what changed."""
        for key, text in self.values().items():
            if self._services.settings.get(key) != text:
                self._services.settings.set(key, text)
