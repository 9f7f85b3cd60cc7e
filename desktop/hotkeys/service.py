"""The app's global hotkeys: picks the first backend that works here and keeps it in step with the settings.

The service reads `hotkeys.<action>` from the settings, registers each combination with the chosen
backend, re-registers one when its setting changes, and turns the backend's callbacks into the
`activated` signal. It never raises from registration: every outcome is a `Registration` with a
reason in words, which the settings page and doctor show along with the CLI fallback.

A backend that says `blocking = True` (the shortcuts portal: each bind waits for the desktop, which
may show the user a dialog) is never called on the UI thread: the whole set is bound at once
(`register_all`) on the service's own worker thread, the outcomes come back through a queued signal,
and meanwhile each hotkey reads PENDING. Setting changes made together coalesce into one rebind, and
suspend()/resume() leave such a backend alone (the desktop, not the app, holds its keys).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from desktop.availability import Availability, wayland_session
from desktop.config.settings import SettingsStore
from desktop.config.shortcuts import Shortcut
from desktop.hotkeys.base import BackendFactory, HotkeyAction, HotkeyBackend, Registration, RegistrationStatus
from desktop.i18n import _

log = logging.getLogger(__name__)

_PREFIX = "hotkeys."
BINDER_THREAD = "glmv-hotkey-binder"  # the worker that talks to a blocking backend


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
        wayland = wayland_session()
    portal = LazyBackendFactory("portal", "desktop.hotkeys.portal", "PortalHotkeys")
    x11 = LazyBackendFactory("x11", "desktop.hotkeys.x11", "X11Hotkeys")
    return [portal, x11] if wayland else [x11, portal]


def _factory_name(factory: BackendFactory) -> str:
    return str(getattr(factory, "name", None) or getattr(factory, "__name__", None) or repr(factory))


def settings_key(action: HotkeyAction) -> str:
    """The settings key holding `action`'s combination."""
    return f"{_PREFIX}{action.value}"


def register_all(backend: HotkeyBackend, wanted: Mapping[HotkeyAction, Shortcut],
                 held: frozenset[HotkeyAction] = frozenset()) -> dict[HotkeyAction, Registration]:
    """Make `backend` hold exactly `wanted` (it held `held` before); one outcome per wanted action, never raises.

    Uses the backend's own `register_all` where it has one (the portal binds a set in one go), else
    unregisters what is no longer wanted and registers each action in turn.
    """
    name = str(getattr(backend, "name", "?"))

    def failed(action: HotkeyAction, shortcut: Shortcut, exc: Exception) -> Registration:
        log.info("The %s backend failed to register %s", name, shortcut.portable(), exc_info=exc)
        return Registration(action, shortcut.portable(), RegistrationStatus.UNSUPPORTED,
                            _("The hotkey could not be registered: {error}").format(error=exc))

    batch = getattr(backend, "register_all", None)
    if callable(batch):
        try:
            answered: Mapping[HotkeyAction, Registration] = batch(dict(wanted))
        except Exception as exc:
            return {action: failed(action, shortcut, exc) for action, shortcut in wanted.items()}
        return {action: answered.get(action) or Registration(
                    action, shortcut.portable(), RegistrationStatus.UNSUPPORTED,
                    _("The hotkey backend did not say whether it registered this hotkey."))
                for action, shortcut in wanted.items()}
    for action in held - set(wanted):
        try:
            backend.unregister(action)
        except Exception:
            log.info("The %s backend failed to release %s", name, action.value, exc_info=True)
    out = {}
    for action, shortcut in wanted.items():
        try:
            out[action] = backend.register(action, shortcut)
        except Exception as exc:
            out[action] = failed(action, shortcut, exc)
    return out


class HotkeyService(QObject):
    """Global hotkeys for every `HotkeyAction`, registered with the first backend available here."""

    activated = Signal(str)  # the HotkeyAction's value
    changed = Signal()  # registrations (or the backend) changed
    _setting_changed = Signal(str)  # a hotkeys.* setting changed, possibly on another thread
    _bound = Signal(int)  # the binder thread finished job N (its outcome is in that job's Future)

    def __init__(self, settings: SettingsStore, factories: Sequence[BackendFactory] | None = None,
                 parent: QObject | None = None) -> None:
        """`factories` default to `default_backend_factories()` for this platform."""
        super().__init__(parent)
        self.settings = settings
        self.factories = list(default_backend_factories() if factories is None else factories)
        self._backend: HotkeyBackend | None = None
        # Each backend's name and availability, best first; None = not checked yet (report() checks it).
        self._report: list[tuple[str, Availability | None, BackendFactory]] | None = None
        self._report_lock = threading.Lock()
        self._registrations: dict[HotkeyAction, Registration] = {}
        self._held: set[HotkeyAction] = set()  # actions whose combination the backend holds now
        self._started = False
        self._suspended = False
        self._closed = False
        self._subscribed = False
        # A blocking backend: what it was last asked to hold, and the bind in flight (one at a time).
        self._binder: ThreadPoolExecutor | None = None
        self._job: tuple[int, Future[tuple[dict[HotkeyAction, Shortcut], dict[HotkeyAction, Registration]]]] \
            | None = None
        self._jobs = 0
        self._asked: dict[HotkeyAction, str] = {}
        self._rebind_timer = QTimer(self)  # setting changes made together become one rebind
        self._rebind_timer.setSingleShot(True)
        self._rebind_timer.setInterval(0)
        self._rebind_timer.timeout.connect(self._rebind)
        self._setting_changed.connect(self._apply_setting)
        self._bound.connect(self._on_bound, Qt.ConnectionType.QueuedConnection)

    # -- life cycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Pick the first available backend and register every action's combination from the settings.

        With a blocking backend this returns at once: the hotkeys read PENDING until the desktop
        answers, then `changed` is emitted.
        """
        if self._started or self._closed:
            return
        self._started = True
        backend, report = self._probe(keep_first=True)
        with self._report_lock:
            self._backend, self._report = backend, report
        if self._backend is None:
            log.info("No global-hotkey backend works here: %s",
                     "; ".join(f"{name}: {a.reason}" for name, a, _f in report if a is not None))
        else:
            log.info("Global hotkeys through %s", self.backend_name)
        if not self._subscribed:
            self._subscribed = True
            self.settings.subscribe(self._on_setting)
        if self._blocking:
            self._rebind()
        else:
            for action in HotkeyAction:
                self._apply(action)
        self.changed.emit()

    def suspend(self) -> None:
        """Release every combination (the settings page's key recorder needs the keys while recording).

        `registrations()` keeps the last outcomes meanwhile; a combination changed while suspended is
        registered by `resume()`. A blocking backend keeps its keys (the desktop owns them, and rebinding
        would cost a round trip to the desktop, perhaps a dialog, each time); only its presses are ignored.
        """
        if self._suspended or not self._started or self._closed:
            return
        self._suspended = True
        if self._blocking:
            return
        for action in HotkeyAction:
            self._release(action)
        self.changed.emit()

    def resume(self) -> None:
        """Grab every combination again, as the settings now say."""
        if not self._suspended or self._closed:
            return
        self._suspended = False
        if self._blocking:
            return
        for action in HotkeyAction:
            self._apply(action)
        self.changed.emit()

    def close(self) -> None:
        """Release every combination and the backend; the service stays quiet afterwards.

        Does not wait for the desktop: closing the backend ends a bind in flight, then the worker is joined.
        """
        if self._closed:
            return
        self._closed = True
        self._rebind_timer.stop()
        self._held.clear()
        backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception as exc:  # closing must never fail the app's shutdown
                log.info("Closing the %s hotkey backend failed: %s", getattr(backend, "name", "?"), exc)
        self._job = None
        if self._binder is not None:
            self._binder.shutdown(wait=True, cancel_futures=True)
            self._binder = None

    def settle(self, timeout_s: float = 90.0) -> bool:
        """Wait until a blocking backend has answered every change asked of it; False if `timeout_s` ran out.

        For the command line (doctor), which has no event loop to deliver the answer; the app never
        calls this on its UI thread.
        """
        deadline = time.monotonic() + timeout_s
        while not self._closed:
            if self._rebind_timer.isActive():
                self._rebind()
            job = self._job
            if job is None:
                return True
            try:
                wanted, registrations = job[1].result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                return False
            self._job = None  # the queued _bound for this job finds nothing to do
            self._take(wanted, registrations)
        return True

    # -- what the settings page and doctor show ---------------------------------------------------------------
    @property
    def backend_name(self) -> str:
        """The backend in use ("x11", "portal", "win32", "macos"), or "" when none works here."""
        return str(getattr(self._backend, "name", "")) if self._backend is not None else ""

    @property
    def suspended(self) -> bool:
        """True between suspend() and resume()."""
        return self._suspended

    @property
    def pending(self) -> bool:
        """True while a blocking backend has not answered the latest settings yet."""
        return self._job is not None or self._rebind_timer.isActive()

    def registrations(self) -> list[Registration]:
        """One Registration per HotkeyAction, in declaration order."""
        return [self._registrations.get(action) or self._unregistered(action) for action in HotkeyAction]

    def report(self, check_all: bool = True) -> list[tuple[str, Availability]]:
        """Each backend's name and availability, best first (probed now if the service was not started).

        Backends after the one in use are checked here, the first time, one at a time and closed at once;
        that may block (the portal asks D-Bus), so call this from a worker thread, or pass
        `check_all=False` to get them as "not checked" instead.
        """
        with self._report_lock:
            if self._report is None:
                _backend, report = self._probe(keep_first=False)
                return [(name, availability or self._not_checked()) for name, availability, _f in report]
            for index, (name, availability, factory) in enumerate(self._report):
                if availability is None and check_all and not self._closed:
                    name, availability, backend = self._build(factory)
                    if backend is not None:
                        self._close_backend(name, backend)
                    self._report[index] = (name, availability, factory)
            return [(name, availability or self._not_checked()) for name, availability, _f in self._report]

    # -- internals -------------------------------------------------------------------------------------
    @property
    def _blocking(self) -> bool:
        return bool(getattr(self._backend, "blocking", False))

    @staticmethod
    def _not_checked() -> Availability:
        return Availability(False, _("Not checked: an earlier hotkey backend is in use."))

    def _probe(self, keep_first: bool) -> tuple[HotkeyBackend | None,
                                                list[tuple[str, Availability | None, BackendFactory]]]:
        """Build each backend and ask if it works; keep the first that does (when asked), close the rest.

        When keeping the first, the backends after it are not built (their availability is None):
        asking the portal is a D-Bus call that can take seconds and starts xdg-desktop-portal.
        """
        chosen: HotkeyBackend | None = None
        report: list[tuple[str, Availability | None, BackendFactory]] = []
        for factory in self.factories:
            if chosen is not None:
                report.append((_factory_name(factory), None, factory))
                continue
            name, availability, backend = self._build(factory)
            report.append((name, availability, factory))
            if backend is None:
                continue
            if keep_first and availability.available:
                chosen = backend
            else:
                self._close_backend(name, backend)
        return chosen, report

    def _build(self, factory: BackendFactory) -> tuple[str, Availability, HotkeyBackend | None]:
        """Build one backend and ask whether it works here; the backend is None when it could not be built."""
        name = _factory_name(factory)
        try:
            backend = factory(self._on_backend_activated)
            name = str(getattr(backend, "name", name))
            availability = backend.availability()
        except ImportError as exc:
            log.info("Hotkey backend %s is not installed: %s", name, exc)
            return name, Availability(False, _("This hotkey backend is not part of this build: {error}")
                                      .format(error=exc)), None
        except Exception as exc:
            log.info("Hotkey backend %s failed to start: %s", name, exc, exc_info=True)
            return name, Availability(False, _("This hotkey backend failed to start: {error}")
                                      .format(error=exc)), None
        return name, availability, backend

    @staticmethod
    def _close_backend(name: str, backend: HotkeyBackend) -> None:
        try:
            backend.close()
        except Exception as exc:
            log.info("Closing the %s hotkey backend failed: %s", name, exc)

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
                           for name, a, _f in self._report or [] if a is not None and not a.available)
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
        self._record(registration)

    def _record(self, registration: Registration) -> None:
        action = registration.action
        self._registrations[action] = registration
        if registration.ok:
            self._held.add(action)
        elif registration.status not in (RegistrationStatus.DISABLED, RegistrationStatus.PENDING):
            log.info("Hotkey %s (%s) not registered: %s: %s", action.value, registration.shortcut,
                     registration.status.value, registration.reason)

    def _register(self, action: HotkeyAction, shortcut: Shortcut) -> Registration:
        assert self._backend is not None
        text = shortcut.portable()
        for other in self._held:
            if other is not action and self._registrations[other].shortcut == text:
                return self._taken(action, text, other)
        return register_all(self._backend, {action: shortcut})[action]

    @staticmethod
    def _taken(action: HotkeyAction, text: str, holder: HotkeyAction) -> Registration:
        return Registration(action, text, RegistrationStatus.TAKEN,
                            _("{shortcut} is already the hotkey for '{action}'.").format(
                                shortcut=text, action=holder.label))

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

    # -- a blocking backend: the whole set, bound on the worker thread -------------------------------------------
    def _plan(self) -> dict[HotkeyAction, Shortcut]:
        """The set to bind now; records the final outcomes (off, invalid, a duplicate) and marks changes PENDING."""
        wanted: dict[HotkeyAction, Shortcut] = {}
        for action in HotkeyAction:
            outcome = self._evaluate(action)
            if isinstance(outcome, Shortcut):
                text = outcome.portable()
                holder = next((a for a, s in wanted.items() if s.portable() == text), None)
                if holder is not None:
                    outcome = self._taken(action, text, holder)
            if isinstance(outcome, Registration):
                self._registrations[action] = outcome
                self._held.discard(action)
                continue
            wanted[action] = outcome
            known = self._registrations.get(action)
            if self._asked.get(action) != outcome.portable() or known is None or known.shortcut != outcome.portable():
                self._registrations[action] = Registration(
                    action, outcome.portable(), RegistrationStatus.PENDING,
                    _("Waiting for the desktop to confirm the shortcut…"))
        return wanted

    @Slot()
    def _rebind(self) -> None:
        """Bind the settings' set with the blocking backend, unless it holds that set or a bind is in flight."""
        self._rebind_timer.stop()
        backend = self._backend
        if self._closed or backend is None:
            return
        wanted = self._plan()
        texts = {action: shortcut.portable() for action, shortcut in wanted.items()}
        if self._job is not None or texts == self._asked:
            return  # a bind in flight is followed by another if the settings moved on meanwhile (_take)
        held = frozenset(self._asked)
        self._asked = texts
        if self._binder is None:
            self._binder = ThreadPoolExecutor(max_workers=1, thread_name_prefix=BINDER_THREAD)
        self._jobs += 1
        job_id = self._jobs

        def bind() -> tuple[dict[HotkeyAction, Shortcut], dict[HotkeyAction, Registration]]:
            return wanted, register_all(backend, wanted, held)

        def done(_future: Future[Any]) -> None:  # on the binder thread, once the outcome is in the Future
            with contextlib.suppress(RuntimeError):  # the service was deleted meanwhile
                self._bound.emit(job_id)

        future = self._binder.submit(bind)
        self._job = (job_id, future)
        future.add_done_callback(done)

    @Slot(int)
    def _on_bound(self, job_id: int) -> None:
        """On the UI thread: the binder finished job `job_id`."""
        job = self._job
        if self._closed or job is None or job[0] != job_id:
            return  # closed, or settle() took it already
        self._job = None
        wanted, registrations = job[1].result()
        self._take(wanted, registrations)

    def _take(self, wanted: dict[HotkeyAction, Shortcut], registrations: dict[HotkeyAction, Registration]) -> None:
        """Record what the backend answered for `wanted`; bind again if the settings changed meanwhile."""
        current = self._plan()
        for action, registration in registrations.items():
            if action in current and current[action].portable() == wanted[action].portable():
                self._record(registration)
        self._held = {action for action, registration in registrations.items() if registration.ok}
        if {a: s.portable() for a, s in current.items()} != self._asked:
            self._rebind()
        self.changed.emit()

    # -- events ----------------------------------------------------------------------------------------------
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
        if self._blocking:
            self._plan()  # the new state shows at once (PENDING); the bind waits for the other changes
            self._rebind_timer.start()
        elif self._suspended:
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
