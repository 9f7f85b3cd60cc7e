"""Wayland capture through the screenshot portal, against the fake xdg-desktop-portal on the session's real bus."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from desktop.capture.base import CaptureError, CaptureScope, Rect
from desktop.capture.portal import PortalCapture
from tests.support.fake_portal import FakePortal, check_clean_exit

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the portal exists only on Linux")


@pytest.fixture
def picture(tmp_path: Path) -> Image.Image:
    """A picture of random pixels (so any resampling, channel swap or crop would show)."""
    width, height = 97, 61
    return Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))


@pytest.fixture
def start_portal(portal_bus: str, tmp_path: Path,
                 picture: Image.Image) -> Iterator[Callable[..., FakePortal]]:
    """Start the fake portal on the session bus in a mode; it is stopped (SIGTERM) after the test."""
    source = tmp_path / "picture.png"
    picture.save(source)
    shots = tmp_path / "shots"
    shots.mkdir()
    with ExitStack() as stack:

        def start(**modes: Any) -> FakePortal:
            portal = FakePortal(portal_bus, picture=source, shots_dir=shots, **modes)
            stack.callback(check_clean_exit, portal)  # runs after the portal is stopped
            return stack.enter_context(portal)

        yield start


def test_capture_returns_exactly_the_portals_picture(start_portal: Callable[..., FakePortal],
                                                     portal_bus: str, picture: Image.Image,
                                                     tmp_path: Path) -> None:
    # GIVEN a portal that answers with the picture
    portal = start_portal(screenshot="ok")
    handler = PortalCapture(timeout_s=10, bus_address=portal_bus)
    assert handler.availability().available
    # WHEN the pointer's monitor is captured
    shot = handler.grab(CaptureScope.POINTER_MONITOR, (10, 10))
    # THEN the pixels are exactly the picture's, as RGB, and cover the whole desktop
    assert shot.image.mode == "RGB" and shot.image.size == picture.size
    assert shot.image.tobytes() == picture.tobytes()
    assert shot.monitor == Rect(0, 0, *picture.size) and shot.handler == "portal"
    # AND the file the portal wrote is gone
    assert list((tmp_path / "shots").iterdir()) == []
    # AND the call was the documented one: no parent window, non-interactive, our handle_token (the fake
    # broadcast the Response on the path made from it, so getting the picture proves we subscribed first)
    call, = (c for c in portal.calls() if c["member"] == "Screenshot")
    parent_window, options = call["body"]
    assert parent_window == "" and options["interactive"] is False and options["handle_token"]
    # AND the monitor list and grab_monitors tell the only thing the portal knows: one picture of everything
    assert handler.monitors() == [Rect(0, 0, *picture.size)]
    everything, = handler.grab_monitors()
    assert everything.monitor == Rect(0, 0, *picture.size) and everything.image.tobytes() == picture.tobytes()


def test_a_refused_screenshot_says_so(start_portal: Callable[..., FakePortal],
                                      portal_bus: str) -> None:
    start_portal(screenshot="deny")
    with pytest.raises(CaptureError) as info:
        PortalCapture(timeout_s=10, bus_address=portal_bus).grab(CaptureScope.ALL_MONITORS, None)
    assert "refused" in info.value.message and "permission" in info.value.hint


def test_a_failed_screenshot_says_so(start_portal: Callable[..., FakePortal],
                                     portal_bus: str) -> None:
    start_portal(screenshot="fail")
    with pytest.raises(CaptureError) as info:
        PortalCapture(timeout_s=10, bus_address=portal_bus).grab(CaptureScope.ALL_MONITORS, None)
    assert "could not take" in info.value.message and info.value.hint


def test_a_portal_that_never_answers_times_out(start_portal: Callable[..., FakePortal],
                                               portal_bus: str) -> None:
    # GIVEN a portal that drops the request without a word (what some desktops do on denial)
    portal = start_portal(screenshot="silent")
    # WHEN capturing with a short timeout
    with pytest.raises(CaptureError) as info:
        PortalCapture(timeout_s=1, bus_address=portal_bus).grab(CaptureScope.ALL_MONITORS, None)
    # THEN the error says it got no answer and what to check
    assert "did not answer" in info.value.message and "permission" in info.value.hint
    # AND the unanswered request was withdrawn
    assert any(c["interface"] == "org.freedesktop.portal.Request" and c["member"] == "Close" for c in portal.calls())


def test_without_the_portal_it_is_unavailable_and_says_what_to_install(portal_bus: str) -> None:
    handler = PortalCapture(timeout_s=1, bus_address=portal_bus)
    status = handler.availability()
    assert not status.available and "portal" in status.reason and "xdg-desktop-portal" in status.how_to_fix
    with pytest.raises(CaptureError):
        handler.grab(CaptureScope.ALL_MONITORS, None)


def test_a_portal_without_screenshot_is_unavailable(start_portal: Callable[..., FakePortal],
                                                    portal_bus: str) -> None:
    start_portal(screenshot="absent")
    status = PortalCapture(bus_address=portal_bus).availability()
    assert not status.available and "Screenshot" in status.reason and status.how_to_fix


def test_without_a_session_bus_it_is_unavailable(tmp_path: Path) -> None:
    status = PortalCapture(bus_address=f"unix:path={tmp_path / 'no-bus'}").availability()
    assert not status.available and "session bus" in status.reason
