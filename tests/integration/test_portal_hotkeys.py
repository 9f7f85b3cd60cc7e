"""Wayland global hotkeys through the GlobalShortcuts portal, against the fake xdg-desktop-portal on the
session's real bus; activations must reach the app on the Qt UI thread."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from desktop.config.shortcuts import Shortcut
from desktop.hotkeys.base import HotkeyAction, RegistrationStatus
from desktop.hotkeys.portal import THREAD_NAME, PortalHotkeys
from tests.support import desktop_env
from tests.support.fake_portal import FakePortal, PrivateBus

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
def portal_bus() -> Iterator[str]:
    """A private dbus-daemon of the test's own, with no activatable services.

    Not the session's bus: this Debian image has the real xdg-desktop-portal installed, and anything that
    asks the session bus for the portal D-Bus-activates it; it then owns the portal's name (allowing no
    replacement) and the fake could not start.
    """
    desktop_env.require("dbus-daemon")
    with PrivateBus() as bus:
        yield bus.address


def check_clean_exit(portal: FakePortal) -> None:
    """The fake portal must have stopped cleanly on SIGTERM."""
    assert portal.returncode == 0, portal.output()


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
