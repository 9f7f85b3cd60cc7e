"""The macOS Screen Recording permission check, against fakes of CoreGraphics."""

from __future__ import annotations

import sys

from desktop.capture.macos_permission import (
    SCREEN_RECORDING_SETTINGS_URL,
    request_screen_recording_access,
    screen_recording_access,
)


class FakeCoreGraphics:
    """CoreGraphics of macOS 10.15+: preflight answers without prompting, request 'prompts'."""

    def __init__(self, granted: bool) -> None:
        self.granted = granted
        self.requests = 0

    def CGPreflightScreenCaptureAccess(self) -> bool:
        return self.granted

    def CGRequestScreenCaptureAccess(self) -> bool:
        self.requests += 1
        return self.granted


class OldCoreGraphics:
    """CoreGraphics before macOS 10.15: there is no such permission and no such functions."""


def test_granted_is_available() -> None:
    assert screen_recording_access(FakeCoreGraphics(granted=True)).available


def test_denied_says_where_to_grant_it_and_to_restart() -> None:
    status = screen_recording_access(FakeCoreGraphics(granted=False))
    assert not status.available
    assert "record the screen" in status.reason
    for words in ("Screen Recording", "Privacy & Security", "GLM-V Desktop", "restart"):
        assert words in status.how_to_fix


def test_older_macos_needs_no_permission() -> None:
    assert screen_recording_access(OldCoreGraphics()).available
    assert request_screen_recording_access(OldCoreGraphics()) is True


def test_request_asks_coregraphics() -> None:
    graphics = FakeCoreGraphics(granted=False)
    assert request_screen_recording_access(graphics) is False
    assert graphics.requests == 1


def test_other_platforms_have_no_such_permission() -> None:
    if sys.platform != "darwin":
        assert screen_recording_access().available
        assert request_screen_recording_access() is True


def test_settings_link_opens_the_screen_recording_pane() -> None:
    assert SCREEN_RECORDING_SETTINGS_URL == (
        "x-apple.systempreferences:com.apple.preference.security?Privacy_ScreenCapture")
