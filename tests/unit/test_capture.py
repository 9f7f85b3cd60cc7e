"""The capture chain: each handler says whether it works here and why not."""

from __future__ import annotations

import pytest

from desktop.availability import Availability
from desktop.capture.base import CaptureError, CaptureScope, Monitor, Screenshot
from desktop.capture.chain import CaptureChain
from desktop.capture.mss_handler import MssCapture


class Unavailable:
    """A handler that is never available here (stands for a backend of another platform)."""

    name = "portal"

    def availability(self) -> Availability:
        return Availability(False, "no portal on this desktop", "install xdg-desktop-portal")

    def monitors(self) -> list[Monitor]:
        return []

    def grab(self, scope: CaptureScope, pointer: tuple[int, int] | None) -> Screenshot:
        raise AssertionError("must not be called")


def test_no_handler_available_lists_every_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    chain = CaptureChain([Unavailable(), MssCapture()])
    with pytest.raises(CaptureError) as info:
        chain.active()
    assert "no portal" in info.value.hint and "DISPLAY" in info.value.hint


def test_mss_says_it_cannot_capture_wayland(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    status = MssCapture().availability()
    assert not status.available and "Wayland" in status.reason and status.how_to_fix


def test_mss_captures_the_real_display(x_display: object) -> None:
    handler = MssCapture()
    assert handler.availability().available
    monitors = handler.monitors()
    assert monitors == [Monitor(0, 0, 1920, 1080)]
    shot = CaptureChain([Unavailable(), handler]).grab(CaptureScope.POINTER_MONITOR, (10, 10))
    assert shot.image.size == (1920, 1080) and shot.handler == "mss"
    everything = handler.grab(CaptureScope.ALL_MONITORS, None)
    assert everything.image.size == (1920, 1080)


def test_monitor_contains() -> None:
    right = Monitor(1920, 0, 1920, 1080)
    assert right.contains(1920, 0) and right.contains(3839, 1079)
    assert not right.contains(1919, 5) and not right.contains(3840, 5)
