"""The xdg-desktop-portal wire formats: XDG shortcut triggers, request/session paths, BindShortcuts results."""

from __future__ import annotations

import re

import pytest

from desktop.capture.portal import new_handle_token, request_path, session_path
from desktop.config.shortcuts import NAMED_KEYS, Modifier, Shortcut
from desktop.hotkeys.base import HotkeyAction, RegistrationStatus
from desktop.hotkeys.portal import registrations_from_response, xdg_trigger


@pytest.mark.parametrize(("text", "trigger"), [
    ("Ctrl+Alt+Shift+S", "CTRL+ALT+SHIFT+s"),
    ("Shift+Alt+Ctrl+s", "CTRL+ALT+SHIFT+s"),  # canonical modifier order, whatever the input order
    ("Meta+Space", "LOGO+space"),
    ("Super+Return", "LOGO+Return"),
    ("Ctrl+Alt+1", "CTRL+ALT+1"),
    ("F12", "F12"),
    ("Print", "Print"),
    ("Ctrl+Esc", "CTRL+Escape"),
    ("Ctrl+PgUp", "CTRL+Page_Up"),
    ("Ctrl+Backspace", "CTRL+BackSpace"),
    ("Ctrl+Shift+/", "CTRL+SHIFT+slash"),
    ("Ctrl+`", "CTRL+grave"),
    ("Ctrl++", "CTRL+plus"),
])
def test_shortcuts_become_xdg_triggers(text: str, trigger: str) -> None:
    assert xdg_trigger(Shortcut.parse(text)) == trigger


@pytest.mark.parametrize("key", [*NAMED_KEYS, "+", "A", "Z", "0", "9"])
def test_every_key_a_shortcut_may_use_has_a_keysym_name(key: str) -> None:
    trigger = xdg_trigger(Shortcut(frozenset({Modifier.CTRL}), key))
    # The spec: modifiers and one xkb keysym name joined by '+'; names are letters, digits and '_'.
    assert re.fullmatch(r"CTRL\+[A-Za-z0-9_]+", trigger), trigger


def test_request_and_session_paths_follow_the_portal_convention() -> None:
    assert request_path(":1.42", "tok_1") == "/org/freedesktop/portal/desktop/request/1_42/tok_1"
    assert session_path(":1.42", "s1") == "/org/freedesktop/portal/desktop/session/1_42/s1"


def test_handle_tokens_are_valid_path_elements_and_unique() -> None:
    tokens = {new_handle_token() for _ in range(100)}
    assert len(tokens) == 100 and all(re.fullmatch(r"[A-Za-z0-9_]+", t) for t in tokens)


WANTED = {HotkeyAction.CAPTURE_REGION: Shortcut.parse("Ctrl+Alt+Shift+S"),
          HotkeyAction.QUICK_ASK: Shortcut.parse("Meta+Space")}


def test_bound_shortcuts_keep_the_desktops_description_and_left_out_ones_are_unsupported() -> None:
    results = {"shortcuts": ("a(sa{sv})", [
        ("capture_region", {"description": ("s", "Capture a region"),
                            "trigger_description": ("s", "Ctrl+Alt+Shift+S")}),
    ])}
    out = registrations_from_response(WANTED, 0, results)
    region, quick = out[HotkeyAction.CAPTURE_REGION], out[HotkeyAction.QUICK_ASK]
    assert region.status is RegistrationStatus.REGISTERED and "Ctrl+Alt+Shift+S" in region.reason
    assert region.shortcut == "Ctrl+Alt+Shift+S"
    assert quick.status is RegistrationStatus.UNSUPPORTED and quick.reason and quick.advice()


def test_a_binding_without_a_trigger_description_is_still_registered() -> None:
    results = {"shortcuts": ("a(sa{sv})", [("quick_ask", {"description": ("s", "Quick ask")})])}
    quick = registrations_from_response(WANTED, 0, results)[HotkeyAction.QUICK_ASK]
    assert quick.ok and "keyboard settings" in quick.reason


@pytest.mark.parametrize(("code", "words"), [(1, "declined"), (2, "could not bind")])
def test_a_refused_or_failed_binding_makes_every_shortcut_unsupported(code: int, words: str) -> None:
    out = registrations_from_response(WANTED, code, {})
    assert {r.status for r in out.values()} == {RegistrationStatus.UNSUPPORTED}
    assert all(words in r.reason for r in out.values())
