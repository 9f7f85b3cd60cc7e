"""The app's global hotkeys: picks the first backend that works here and keeps it in step with the settings.

The service reads `hotkeys.<action>` from the settings, registers each combination with the chosen
backend, re-registers one when its setting changes, and turns the backend's callbacks into the
`activated` signal. It never raises from registration: every outcome is a `Registration` with a
reason in words, which the settings page and doctor show along with the CLI fallback.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.availability import Availability
from desktop.config.settings import SettingsStore
from desktop.config.shortcuts import Shortcut
from desktop.hotkeys.base import BackendFactory, HotkeyAction, HotkeyBackend, Registration, RegistrationStatus
from desktop.i18n import _

log = logging.getLogger(__name__)

_PREFIX = "hotkeys."


class LazyBackendFactory:
    """A `BackendFactory` that imports its backend's module only when called (ImportError → unavailable)."""

    def __init__(self, name: str, module: str, class_name: str) -> None:
        """`name` is reported when the module cannot be imported."""
        self.name = name
        self.module = module
        self.class_name = class_name

    def __call__(self, on_activated: Callable[[HotkeyAction], None]) -> HotkeyBackend:
        """Import the module and build the backend."""
        backend_class = getattr(importlib.import_module(self.module), self.class_name)
        backend: HotkeyBackend = backend_class(on_activated)
        return backend

    def __repr__(self) -> str:
        return f"LazyBackendFactory({self.name!r})"


def default_backend_factories(platform: str = sys.platform, wayland: bool | None = None) -> list[BackendFactory]:
    """The backends to try on `platform`, best first.

    On an X11 session a key grab is direct and tells which combination another program holds, so
    it comes first; on Wayland only the GlobalShortcuts portal sees keys pressed in other programs.
    """
    if platform == "win32":
        return [LazyBackendFactory("win32", "desktop.hotkeys.win32", "Win32Hotkeys")]
    if platform == "darwin":
        return [LazyBackendFactory("macos", "desktop.hotkeys.macos", "MacHotkeys")]
    if wayland is None:
        wayland = os.environ.get("XDG_SESSION_TYPE") == "wayland" or bool(
            os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY"))
    portal = LazyBackendFactory("portal", "desktop.hotkeys.portal", "PortalHotkeys")
    x11 = LazyBackendFactory("x11", "desktop.hotkeys.x11", "X11Hotkeys")
    return [portal, x11] if wayland else [x11, portal]


def _factory_name(factory: BackendFactory) -> str:
    return str(getattr(factory, "name", None) or getattr(factory, "__name__", None) or repr(factory))


def settings_key(action: HotkeyAction) -> str:
    """The settings key holding `action`'s combination."""
    return f"{_PREFIX}{action.value}"


class HotkeyService(QObject):
    """Global hotkeys for every `HotkeyAction`, registered with the first backend available here."""

    activated = Signal(str)  # the HotkeyAction's value
    changed = Signal()  # registrations (or the backend) changed
    _setting_changed = Signal(str)  # a hotkeys.* setting changed, possibly on another thread

    def __init__(self, settings: SettingsStore, factories: Sequence[BackendFactory] | None = None,
                 parent: QObject | None = None) -> None:
        """`factories` default to `default_backend_factories()` for this platform."""
        super().__init__(parent)
        self.settings = settings
        self.factories = list(default_backend_factories() if factories is None else factories)
        self._backend: HotkeyBackend | None = None
        self._report: list[tuple[str, Availability]] | None = None
        self._registrations: dict[HotkeyAction, Registration] = {}
        self._held: set[HotkeyAction] = set()  # actions whose combination the backend holds now
        self._started = False
        self._suspended = False
        self._closed = False
        self._subscribed = False
        self._setting_changed.connect(self._apply_setting)

    # -- life cycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Pick the first available backend and register every action's combination from the settings."""
        if self._started or self._closed:
            return
        self._started = True
        self._backend, self._report = self._probe(keep_first=True)
        if self._backend is None:
            log.info("No global-hotkey backend works here: %s",
                     "; ".join(f"{name}: {a.reason}" for name, a in self._report))
        else:
            log.info("Global hotkeys through %s", self.backend_name)
        if not self._subscribed:
            self._subscribed = True
            self.settings.subscribe(self._on_setting)
        for action in HotkeyAction:
            self._apply(action)
        self.changed.emit()

    def suspend(self) -> None:
        """Release every combination (the settings page's key recorder needs the keys while recording).

        `registrations()` keeps the last outcomes meanwhile; a combination changed while suspended is
        registered by `resume()`.
        """
        if self._suspended or not self._started or self._closed:
            return
        self._suspended = True
        for action in HotkeyAction:
            self._release(action)
        self.changed.emit()

    def resume(self) -> None:
        """Grab every combination again, as the settings now say."""
        if not self._suspended or self._closed:
            return
        self._suspended = False
        for action in HotkeyAction:
            self._apply(action)
        self.changed.emit()

    def close(self) -> None:
        """Release every combination and the backend; the service stays quiet afterwards."""
        if self._closed:
            return
        self._closed = True
        self._held.clear()
        if self._backend is not None:
            try:
                self._backend.close()
            except Exception as exc:  # closing must never fail the app's shutdown
                log.info("Closing the %s hotkey backend failed: %s", self.backend_name, exc)
        self._backend = None

    # -- what the settings page and doctor show ---------------------------------------------------------------
    @property
    def backend_name(self) -> str:
        """The backend in use ("x11", "portal", "win32", "macos"), or "" when none works here."""
        return str(getattr(self._backend, "name", "")) if self._backend is not None else ""

    @property
    def suspended(self) -> bool:
        """True between suspend() and resume()."""
        return self._suspended

    def registrations(self) -> list[Registration]:
        """One Registration per HotkeyAction, in declaration order."""
        return [self._registrations.get(action) or self._unregistered(action) for action in HotkeyAction]

    def report(self) -> list[tuple[str, Availability]]:
        """Each backend's name and availability, best first (probed now if the service was not started)."""
        if self._report is None:
            _backend, report = self._probe(keep_first=False)
            return report
        return list(self._report)

    # -- internals -------------------------------------------------------------------------------------
    def _probe(self, keep_first: bool) -> tuple[HotkeyBackend | None, list[tuple[str, Availability]]]:
        """Build each backend and ask if it works; keep the first that does (when asked), close the rest."""
        chosen: HotkeyBackend | None = None
        report: list[tuple[str, Availability]] = []
        for factory in self.factories:
            name = _factory_name(factory)
            try:
                backend = factory(self._on_backend_activated)
                name = str(getattr(backend, "name", name))
                availability = backend.availability()
            except ImportError as exc:
                log.info("Hotkey backend %s is not installed: %s", name, exc)
                report.append((name, Availability(False, _("This hotkey backend is not part of this build: {error}")
                                                  .format(error=exc))))
                continue
            except Exception as exc:
                log.info("Hotkey backend %s failed to start: %s", name, exc, exc_info=True)
                report.append((name, Availability(False, _("This hotkey backend failed to start: {error}")
                                                  .format(error=exc))))
                continue
            report.append((name, availability))
            if keep_first and chosen is None and availability.available:
                chosen = backend
                continue
            try:
                backend.close()
            except Exception as exc:
                log.info("Closing the %s hotkey backend failed: %s", name, exc)
        return chosen, report

    def _evaluate(self, action: HotkeyAction) -> Registration | Shortcut:
        """The final outcome for an empty (DISABLED) or unparsable (INVALID) setting, else the Shortcut."""
        text = str(self.settings.get(settings_key(action)) or "").strip()
        if not text:
            return Registration(action, "", RegistrationStatus.DISABLED)
        try:
            return Shortcut.parse(text)
        except ValueError as exc:
            return Registration(action, text, RegistrationStatus.INVALID, str(exc))

    def _unregistered(self, action: HotkeyAction) -> Registration:
        """`action`'s state when nothing was registered for it: not started, no backend, or paused."""
        outcome = self._evaluate(action)
        if isinstance(outcome, Registration):
            return outcome
        if not self._started:
            reason = _("Global hotkeys have not been started.")
        elif self._backend is None:
            reason = self._no_backend_reason()
        else:
            reason = _("Hotkeys are paused while a shortcut is being recorded.")
        return Registration(action, outcome.portable(), RegistrationStatus.UNSUPPORTED, reason)

    def _no_backend_reason(self) -> str:
        reasons = " ".join(_("{backend}: {reason}").format(backend=name, reason=a.reason)
                           for name, a in self._report or [] if not a.available)
        return _("No way to grab global keys works on this desktop. {reasons}").format(reasons=reasons).strip()

    def _apply(self, action: HotkeyAction) -> None:
        """(Re-)register `action` from its setting and record the outcome; never raises."""
        self._release(action)
        outcome = self._evaluate(action)
        if isinstance(outcome, Registration):
            registration = outcome
        elif self._backend is None or self._suspended:
            registration = self._unregistered(action)
        else:
            registration = self._register(action, outcome)
        self._registrations[action] = registration
        if registration.ok:
            self._held.add(action)
        elif registration.status is not RegistrationStatus.DISABLED:
            log.info("Hotkey %s (%s) not registered: %s: %s", action.value, registration.shortcut,
                     registration.status.value, registration.reason)

    def _register(self, action: HotkeyAction, shortcut: Shortcut) -> Registration:
        assert self._backend is not None
        text = shortcut.portable()
        for other in self._held:
            if other is not action and self._registrations[other].shortcut == text:
                return Registration(action, text, RegistrationStatus.TAKEN,
                                    _("{shortcut} is already the hotkey for '{action}'.").format(
                                        shortcut=text, action=other.label))
        try:
            return self._backend.register(action, shortcut)
        except Exception as exc:
            log.info("The %s backend failed to register %s", self.backend_name, text, exc_info=True)
            return Registration(action, text, RegistrationStatus.UNSUPPORTED,
                                _("The hotkey could not be registered: {error}").format(error=exc))

    def _release(self, action: HotkeyAction) -> None:
        """Let go of `action`'s combination if the backend holds it (its recorded state is kept)."""
        if action not in self._held:
            return
        self._held.discard(action)
        if self._backend is None:
            return
        try:
            self._backend.unregister(action)
        except Exception:
            log.info("The %s backend failed to release %s", self.backend_name, action.value, exc_info=True)

    def _on_setting(self, key: str, value: Any) -> None:
        """Settings listener (any thread): hand hotkeys.* changes to the service's thread."""
        if key.startswith(_PREFIX) and not self._closed:
            try:
                self._setting_changed.emit(key)
            except RuntimeError:  # the QObject was deleted; SettingsStore has no unsubscribe
                self._closed = True

    def _apply_setting(self, key: str) -> None:
        if self._closed or not self._started:
            return
        try:
            action = HotkeyAction(key.removeprefix(_PREFIX))
        except ValueError:
            return
        if self._suspended:
            self._release(action)
            self._registrations.pop(action, None)  # registrations() re-evaluates; resume() grabs
        else:
            self._apply(action)
            # An action refused because this one held its combination may get it now.
            for other, registration in list(self._registrations.items()):
                if other is not action and registration.status is RegistrationStatus.TAKEN:
                    self._apply(other)
        self.changed.emit()

    def _on_backend_activated(self, action: HotkeyAction) -> None:
        if not self._suspended and not self._closed:
            self.activated.emit(HotkeyAction(action).value)
