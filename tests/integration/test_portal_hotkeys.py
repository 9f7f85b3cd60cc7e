"""Wayland global hotkeys through the GlobalShortcuts portal, against the fake xdg-desktop-portal on the
session's real bus; activations must reach the app on the Qt UI thread."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from desktop.config.settings import SettingsStore
from desktop.config.shortcuts import Shortcut
from desktop.hotkeys.base import HotkeyAction, HotkeyBackend, RegistrationStatus
from desktop.hotkeys.portal import THREAD_NAME, PortalHotkeys
from desktop.hotkeys.service import BINDER_THREAD, HotkeyService
from tests.support.fake_portal import FakePortal, check_clean_exit

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the portal exists only on Linux")

APP_ID = "io.github.glmv.Desktop"  # a valid reverse-DNS id, so the fake registry accepts it
REGION = Shortcut.parse("Ctrl+Alt+Shift+S")
QUICK_ASK = Shortcut.parse("Meta+Space")


class Received:
    """Records activations and the thread each arrived on."""

    def __init__(self) -> None:
        self.actions: list[HotkeyAction] = []
        self.on_main_thread: list[bool] = []

    def __call__(self, action: HotkeyAction) -> None:
        self.actions.append(action)
        self.on_main_thread.append(threading.current_thread() is threading.main_thread())


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    """Portals and backends started by a test, stopped in reverse order (backends close before portals stop)."""
    with ExitStack() as stack:
        yield stack


@pytest.fixture
def start_portal(portal_bus: str, stack: ExitStack) -> Callable[..., FakePortal]:
    """Start the fake portal on the session bus in a mode."""

    def start(**modes: Any) -> FakePortal:
        portal = FakePortal(portal_bus, screenshot="absent", **modes)
        stack.callback(check_clean_exit, portal)
        return stack.enter_context(portal)

    return start


@pytest.fixture
def make_backend(portal_bus: str, stack: ExitStack, qapp: object) -> Callable[..., PortalHotkeys]:
    """A PortalHotkeys on the session bus, closed at the end of the test."""

    def make(on_activated: Callable[[HotkeyAction], None], **options: Any) -> PortalHotkeys:
        backend = PortalHotkeys(on_activated, bus_address=portal_bus, **options)
        stack.callback(backend.close)
        return backend

    return make


def portal_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


def test_bound_shortcuts_fire_on_the_ui_thread(start_portal: Callable[..., FakePortal],
                                               make_backend: Callable[..., PortalHotkeys], qtbot: Any) -> None:
    # GIVEN a desktop that binds what it is asked to
    portal = start_portal(shortcuts="all")
    received = Received()
    backend = make_backend(received, app_id=APP_ID, timeout_s=10)
    assert backend.availability().available
    # WHEN two actions are registered one after the other
    region = backend.register(HotkeyAction.CAPTURE_REGION, REGION)
    quick = backend.register(HotkeyAction.QUICK_ASK, QUICK_ASK)
    # THEN both are registered, with the desktop's own description of the keys
    assert region.status is RegistrationStatus.REGISTERED and "Ctrl+Alt+Shift+S" in region.reason
    assert quick.status is RegistrationStatus.REGISTERED and "Meta+space" in quick.reason
    assert portal.bound() == ["capture_region", "quick_ask"]
    # AND the app id was registered before any portal call, and the triggers were sent in the XDG format
    calls = portal.calls()
    assert calls[0]["member"] == "Register" and calls[0]["body"][0] == APP_ID
    last_bind = [c for c in calls if c["member"] == "BindShortcuts"][-1]
    assert dict(last_bind["body"][1]) == {
        "capture_region": {"description": HotkeyAction.CAPTURE_REGION.label, "preferred_trigger": "CTRL+ALT+SHIFT+s"},
        "quick_ask": {"description": HotkeyAction.QUICK_ASK.label, "preferred_trigger": "LOGO+space"},
    }
    # WHEN the desktop reports a press
    assert portal.activate("capture_region") == 1
    # THEN the app hears it once, on the UI thread
    qtbot.waitUntil(lambda: received.actions == [HotkeyAction.CAPTURE_REGION], timeout=10000)
    assert received.on_main_thread == [True]


def test_close_ends_the_session_and_the_thread(start_portal: Callable[..., FakePortal],
                                               make_backend: Callable[..., PortalHotkeys], qtbot: Any) -> None:
    portal = start_portal(shortcuts="all")
    received = Received()
    backend = make_backend(received, app_id=APP_ID, timeout_s=10)
    assert backend.register(HotkeyAction.CAPTURE_REGION, REGION).ok
    assert len(portal_threads()) == 1 and portal.sessions() == 1
    backend.close()
    assert portal_threads() == [] and portal.sessions() == 0
    assert any(c["member"] == "Close" and c["interface"] == "org.freedesktop.portal.Session" for c in portal.calls())
    assert portal.activate("capture_region") == 0


def test_unregister_rebinds_the_rest(start_portal: Callable[..., FakePortal],
                                     make_backend: Callable[..., PortalHotkeys], qtbot: Any) -> None:
    portal = start_portal(shortcuts="all")
    received = Received()
    backend = make_backend(received, app_id=APP_ID, timeout_s=10)
    backend.register(HotkeyAction.CAPTURE_REGION, REGION)
    backend.register(HotkeyAction.QUICK_ASK, QUICK_ASK)
    backend.unregister(HotkeyAction.QUICK_ASK)
    assert portal.bound() == ["capture_region"] and portal.sessions() == 1
    assert portal.activate("quick_ask") == 0
    assert portal.activate("capture_region") == 1
    qtbot.waitUntil(lambda: received.actions == [HotkeyAction.CAPTURE_REGION], timeout=10000)


def test_shortcuts_the_desktop_leaves_out_are_unsupported(start_portal: Callable[..., FakePortal],
                                                          make_backend: Callable[..., PortalHotkeys]) -> None:
    start_portal(shortcuts="none")
    registration = make_backend(Received(), app_id=APP_ID, timeout_s=10).register(HotkeyAction.CAPTURE_REGION,
                                                                                  REGION)
    assert registration.status is RegistrationStatus.UNSUPPORTED and "did not bind" in registration.reason
    assert "glmv-desktop capture region" in registration.advice()


def test_a_user_who_declines_gets_unsupported_with_the_reason(start_portal: Callable[..., FakePortal],
                                                              make_backend: Callable[..., PortalHotkeys]) -> None:
    start_portal(shortcuts="refuse")
    registration = make_backend(Received(), app_id=APP_ID, timeout_s=10).register(HotkeyAction.CAPTURE_REGION,
                                                                                  REGION)
    assert registration.status is RegistrationStatus.UNSUPPORTED and "declined" in registration.reason


def test_an_app_id_the_portal_rejects_still_binds(start_portal: Callable[..., FakePortal],
                                                  make_backend: Callable[..., PortalHotkeys],
                                                  expect_log: Callable[[str], None]) -> None:
    # The registry wants a reverse-DNS id matching a .desktop file; a plain name is refused, and that is not fatal.
    expect_log(r"desktop\.hotkeys\.portal: the portal did not register the app id 'glmv-desktop'")
    start_portal(shortcuts="all")
    assert make_backend(Received(), timeout_s=10).register(HotkeyAction.CAPTURE_REGION, REGION).ok


def test_a_portal_without_the_registry_still_binds(start_portal: Callable[..., FakePortal],
                                                   make_backend: Callable[..., PortalHotkeys]) -> None:
    start_portal(shortcuts="all", registry=False)
    assert make_backend(Received(), app_id=APP_ID, timeout_s=10).register(HotkeyAction.CAPTURE_REGION, REGION).ok


def test_a_portal_without_global_shortcuts_is_unavailable(start_portal: Callable[..., FakePortal],
                                                          make_backend: Callable[..., PortalHotkeys]) -> None:
    start_portal(shortcuts="absent")
    backend = make_backend(Received(), app_id=APP_ID, timeout_s=10)
    status = backend.availability()
    assert not status.available and "GlobalShortcuts" in status.reason and "keyboard settings" in status.how_to_fix
    registration = backend.register(HotkeyAction.CAPTURE_REGION, REGION)
    assert registration.status is RegistrationStatus.UNSUPPORTED and "GlobalShortcuts" in registration.reason


def test_without_the_portal_it_is_unavailable(make_backend: Callable[..., PortalHotkeys]) -> None:
    backend = make_backend(Received(), app_id=APP_ID, timeout_s=2)
    status = backend.availability()
    assert not status.available and "xdg-desktop-portal" in status.reason and "keyboard settings" in status.how_to_fix
    registration = backend.register(HotkeyAction.CAPTURE_REGION, REGION)
    assert registration.status is RegistrationStatus.UNSUPPORTED and "xdg-desktop-portal" in registration.reason
    backend.close()
    assert portal_threads() == []


def test_register_all_binds_the_set_in_one_session(start_portal: Callable[..., FakePortal],
                                                   make_backend: Callable[..., PortalHotkeys]) -> None:
    portal = start_portal(shortcuts="all")
    backend = make_backend(Received(), app_id=APP_ID, timeout_s=10)
    out = backend.register_all({HotkeyAction.CAPTURE_REGION: REGION, HotkeyAction.QUICK_ASK: QUICK_ASK})
    assert all(r.ok for r in out.values()) and set(out) == {HotkeyAction.CAPTURE_REGION, HotkeyAction.QUICK_ASK}
    assert count(portal, "CreateSession") == 1 and count(portal, "BindShortcuts") == 1
    assert portal.bound() == ["capture_region", "quick_ask"] and portal.sessions() == 1
    assert backend.register_all({}) == {}  # nothing wanted: the session is closed
    assert portal.sessions() == 0 and count(portal, "BindShortcuts") == 1


# -- through HotkeyService: the way the app uses the portal ---------------------------------------------------------
def count(portal: FakePortal, member: str) -> int:
    return sum(call["member"] == member for call in portal.calls())


def binder_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(BINDER_THREAD) and t.is_alive()]


@pytest.fixture
def make_service(portal_bus: str, stack: ExitStack, qapp: object,
                 tmp_path: Any) -> Callable[..., HotkeyService]:
    """A HotkeyService whose only backend is the portal on the test's bus, closed at the end of the test."""

    def make() -> HotkeyService:
        def portal_factory(on_activated: Callable[[HotkeyAction], None]) -> HotkeyBackend:
            return PortalHotkeys(on_activated, bus_address=portal_bus, app_id=APP_ID, timeout_s=30)

        service = HotkeyService(SettingsStore(tmp_path / "settings.json"), [portal_factory])
        stack.callback(service.close)
        return service

    return make


def test_service_binds_once_at_start_once_per_change_and_never_for_suspend(
        start_portal: Callable[..., FakePortal], make_service: Callable[..., HotkeyService], qtbot: Any) -> None:
    portal = start_portal(shortcuts="all")
    service = make_service()
    # WHEN the app starts
    service.start()
    qtbot.waitUntil(lambda: not service.pending, timeout=20000)
    # THEN one session and one BindShortcuts carry every hotkey (at most one dialog on the desktop)
    assert service.backend_name == "portal"
    assert all(r.ok for r in service.registrations())
    assert (count(portal, "CreateSession"), count(portal, "BindShortcuts")) == (1, 1)
    assert portal.bound() == sorted(action.value for action in HotkeyAction)
    # WHEN a setting changes
    service.settings.set("hotkeys.quick_ask", "")
    service.settings.set("hotkeys.capture_region", "Ctrl+Alt+Shift+K")
    qtbot.waitUntil(lambda: not service.pending, timeout=20000)
    # THEN the changes made together cost one more session and bind, the old session being closed
    assert (count(portal, "CreateSession"), count(portal, "BindShortcuts")) == (2, 2)
    assert portal.sessions() == 1 and "quick_ask" not in portal.bound()
    region = next(r for r in service.registrations() if r.action is HotkeyAction.CAPTURE_REGION)
    assert region.ok and region.shortcut == "Ctrl+Alt+Shift+K"
    # WHEN the settings page's recorder takes the focus and gives it back
    service.suspend()
    service.resume()
    # THEN the desktop is not asked anything
    assert (count(portal, "CreateSession"), count(portal, "BindShortcuts")) == (2, 2) and not service.pending
    # AND a press reaches the app on the UI thread
    with qtbot.waitSignal(service.activated, timeout=10000) as blocker:
        assert portal.activate("capture_region") == 1
    assert blocker.args == ["capture_region"]


def test_service_start_returns_before_the_desktop_answers(
        start_portal: Callable[..., FakePortal], make_service: Callable[..., HotkeyService], qtbot: Any) -> None:
    # GIVEN a desktop whose dialog the user has not answered
    portal = start_portal(shortcuts="all", hold_binds=True)
    service = make_service()
    changes: list[None] = []
    service.changed.connect(lambda: changes.append(None))
    # WHEN the app starts
    service.start()
    # THEN start() has returned with every hotkey pending while the bind waits at the desktop
    assert service.backend_name == "portal" and service.pending
    assert all(r.status is RegistrationStatus.PENDING for r in service.registrations())
    qtbot.waitUntil(lambda: portal.held() == 1, timeout=20000)
    assert service.pending and all(r.status is RegistrationStatus.PENDING for r in service.registrations())
    # WHEN the user confirms the dialog
    seen = len(changes)
    assert portal.release() == 1
    # THEN the outcome arrives on the UI thread and `changed` says so
    qtbot.waitUntil(lambda: not service.pending, timeout=20000)
    assert len(changes) > seen
    assert all(r.ok for r in service.registrations())


def test_service_close_does_not_wait_for_the_desktop(
        start_portal: Callable[..., FakePortal], make_service: Callable[..., HotkeyService], qtbot: Any) -> None:
    portal = start_portal(shortcuts="all", hold_binds=True)
    service = make_service()
    service.start()
    qtbot.waitUntil(lambda: portal.held() == 1, timeout=20000)
    # A liveness guard: if close() waited for the desktop, the dialog is "answered" after a while so the test ends.
    waited = threading.Event()

    def answer_for_the_user() -> None:
        waited.set()
        portal.release()

    guard = threading.Timer(20, answer_for_the_user)
    guard.start()
    try:
        service.close()
    finally:
        guard.cancel()
        guard.join()
    assert not waited.is_set(), "close() waited for the desktop's answer"
    assert binder_threads() == [] and portal_threads() == []
    qtbot.waitUntil(lambda: portal.sessions() == 0, timeout=10000)
