"""What every global-hotkey backend offers: register a shortcut for an action, say why it failed.

Backends (X11 `XGrabKey`, Windows `RegisterHotKey`, macOS Carbon `RegisterEventHotKey`, the
Wayland GlobalShortcuts portal) each wire their own event source into the Qt event loop and call
`on_activated(action)` on the UI thread. A registration that fails says why (another program holds
the combination, this desktop cannot grab keys) so the settings page and doctor can tell the user,
along with the CLI command to bind in the desktop's own shortcut settings instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from desktop.availability import Availability
from desktop.capture.base import CaptureMode
from desktop.config.shortcuts import Shortcut
from desktop.i18n import _


class HotkeyAction(StrEnum):
    """What a global hotkey does; the value is also the settings key suffix and the CLI words."""

    CAPTURE_REGION = "capture_region"
    CAPTURE_WINDOW = "capture_window"
    CAPTURE_SCREEN = "capture_screen"
    CAPTURE_ALL = "capture_all"
    QUICK_ASK = "quick_ask"
    RECORD = "record"  # record a region; pressed while recording, stop

    @property
    def capture_mode(self) -> CaptureMode | None:
        """The capture mode this hotkey starts (None for quick ask and record); one member per `CaptureMode`."""
        mode = self.value.removeprefix("capture_")
        return CaptureMode(mode) if mode != self.value else None

    @property
    def cli_command(self) -> str:
        """The command that does the same from a shell (the fallback to bind in desktop settings)."""
        if self is HotkeyAction.RECORD:
            return "glmv-desktop record toggle"
        mode = self.capture_mode
        return f"glmv-desktop capture {mode.value}" if mode else "glmv-desktop quick-ask"

    @property
    def label(self) -> str:
        """The action in the user's words."""
        if self is HotkeyAction.RECORD:
            return _("Record a region (again: stop)")
        mode = self.capture_mode
        return mode.label if mode else _("Quick ask")


class RegistrationStatus(StrEnum):
    """The outcome of registering one hotkey."""

    REGISTERED = "registered"
    TAKEN = "taken"  # another program holds the combination
    UNSUPPORTED = "unsupported"  # this desktop or backend cannot grab it
    INVALID = "invalid"  # the text is not a usable combination
    DISABLED = "disabled"  # the user left it empty
    PENDING = "pending"  # asked for; the desktop has not answered yet (the shortcuts portal)


@dataclass(frozen=True)
class Registration:
    """One hotkey's state, with the reason in words when it is not registered."""

    action: HotkeyAction
    shortcut: str
    status: RegistrationStatus
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when pressing the combination will run the action."""
        return self.status is RegistrationStatus.REGISTERED

    def advice(self) -> str:
        """What the user can do instead, for anything but success."""
        if self.ok or self.status in (RegistrationStatus.DISABLED, RegistrationStatus.PENDING):
            return ""
        return _("Choose another combination in Settings → Hotkeys & capture, or bind this command in your desktop's "
                 "keyboard settings: {command}").format(command=self.action.cli_command)


class HotkeyBackend(Protocol):
    """A way of grabbing global hotkeys on some desktops.

    `on_activated(action)` is called on the UI thread when a registered combination is pressed,
    whichever window (of any program) has the focus.

    Optional, looked up with getattr by `HotkeyService`: `blocking = True` for a backend whose calls
    wait for the desktop (the service then calls it from its worker thread only, and never on
    suspend/resume), and `register_all(wanted) -> dict[HotkeyAction, Registration]` to bind a whole
    set at once (the service falls back to unregister/register per action).
    """

    name: str

    def availability(self) -> Availability:
        """Whether this backend can grab keys on this desktop, and why not."""
        ...

    def register(self, action: HotkeyAction, shortcut: Shortcut) -> Registration:
        """Grab `shortcut` for `action`; a failure is returned (TAKEN, UNSUPPORTED), never raised."""
        ...

    def unregister(self, action: HotkeyAction) -> None:
        """Release the action's combination, if it holds one."""
        ...

    def close(self) -> None:
        """Release every grab and stop listening."""
        ...


BackendFactory = Callable[[Callable[[HotkeyAction], None]], HotkeyBackend]
