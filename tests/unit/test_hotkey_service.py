"""HotkeyService: backend choice, registration from the settings, re-registration, suspend/resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from desktop.availability import Availability
from desktop.config.settings import SettingsStore
from desktop.config.shortcuts import Shortcut
from desktop.hotkeys.base import HotkeyAction, HotkeyBackend, Registration, RegistrationStatus
from desktop.hotkeys.service import HotkeyService, LazyBackendFactory, default_backend_factories, settings_key


class FakeBackend:
    """A backend that records what it is asked and refuses the combinations in `taken`."""

    def __init__(self, on_activated: Callable[[HotkeyAction], None], name: str = "fake", available: bool = True,
                 taken: frozenset[str] = frozenset(), explode: bool = False) -> None:
        self.on_activated = on_activated
        self.name = name
        self.available = available
        self.taken = taken
        self.explode = explode
        self.held: dict[HotkeyAction, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.closed = False

    def availability(self) -> Availability:
        return Availability(self.available, "" if self.available else f"{self.name} does not work here")

    def register(self, action: HotkeyAction, shortcut: Shortcut) -> Registration:
        self.calls.append(("register", f"{action.value}={shortcut}"))
        if self.explode:
            raise RuntimeError("backend bug")
        if shortcut.portable() in self.taken:
            return Registration(action, shortcut.portable(), RegistrationStatus.TAKEN, "someone else has it")
        self.held[action] = shortcut.portable()
        return Registration(action, shortcut.portable(), RegistrationStatus.REGISTERED)

    def unregister(self, action: HotkeyAction) -> None:
        self.calls.append(("unregister", action.value))
        self.held.pop(action, None)

    def close(self) -> None:
        self.closed = True
        self.held.clear()

    def press(self, shortcut: str) -> None:
        """What the platform does when the user presses `shortcut`."""
        for action, held in self.held.items():
            if held == shortcut:
                self.on_activated(action)


class Factories:
    """Factories that build FakeBackends and remember them."""

    def __init__(self) -> None:
        self.built: list[FakeBackend] = []

    def make(self, **kwargs: Any) -> Callable[[Callable[[HotkeyAction], None]], HotkeyBackend]:
        def factory(on_activated: Callable[[HotkeyAction], None]) -> HotkeyBackend:
            backend = FakeBackend(on_activated, **kwargs)
            self.built.append(backend)
            return backend

        return factory


@pytest.fixture
def settings(tmp_path: Path) -> SettingsStore:
    return SettingsStore(tmp_path / "settings.json")


@pytest.fixture
def factories() -> Factories:
    return Factories()


def by_action(service: HotkeyService) -> dict[HotkeyAction, Registration]:
    return {r.action: r for r in service.registrations()}


def test_start_picks_the_first_available_backend_and_registers_every_action(
        qapp: object, settings: SettingsStore, factories: Factories) -> None:
    service = HotkeyService(settings, [factories.make(name="first", available=False),
                                       factories.make(name="second"), factories.make(name="third")])
    service.start()
    first, second, third = factories.built
    assert service.backend_name == "second"
    assert first.closed and third.closed and not second.closed
    assert second.held == {action: settings.get(settings_key(action)) for action in HotkeyAction}
    assert all(r.ok for r in service.registrations())
    assert [name for name, _a in service.report()] == ["first", "second", "third"]
    assert [a.available for _n, a in service.report()] == [False, True, True]
    service.close()
    assert second.closed


def test_activation_becomes_the_signal_with_the_action_value(
        qapp: object, qtbot: Any, settings: SettingsStore, factories: Factories) -> None:
    service = HotkeyService(settings, [factories.make()])
    service.start()
    with qtbot.waitSignal(service.activated) as blocker:
        factories.built[0].press("Ctrl+Alt+Shift+W")
    assert blocker.args == ["capture_window"]
    service.close()


def test_empty_setting_is_disabled_and_never_registered(
        qapp: object, settings: SettingsStore, factories: Factories) -> None:
    settings.set("hotkeys.quick_ask", "")
    service = HotkeyService(settings, [factories.make()])
    service.start()
    quick = by_action(service)[HotkeyAction.QUICK_ASK]
    assert quick.status is RegistrationStatus.DISABLED and quick.advice() == ""
    assert HotkeyAction.QUICK_ASK not in factories.built[0].held
    service.close()


class LooseSettings:
    """Settings that hold whatever text they were given (as a hand-edited file could)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    def subscribe(self, listener: Callable[[str, Any], None]) -> None:
        pass


def test_unparsable_text_is_invalid_with_the_parsers_reason(qapp: object, factories: Factories) -> None:
    service = HotkeyService(LooseSettings({"hotkeys.capture_region": "Ctrl+Banana"}),  # type: ignore[arg-type]
                            [factories.make()])
    service.start()
    region = by_action(service)[HotkeyAction.CAPTURE_REGION]
    assert region.status is RegistrationStatus.INVALID
    assert "Banana" in region.reason
    assert "glmv-desktop capture region" in region.advice()
    assert by_action(service)[HotkeyAction.QUICK_ASK].status is RegistrationStatus.DISABLED
    service.close()


def test_no_available_backend_makes_every_hotkey_unsupported_with_the_reasons(
        qapp: object, settings: SettingsStore, factories: Factories) -> None:
    service = HotkeyService(settings, [factories.make(name="portal", available=False),
                                       factories.make(name="x11", available=False)])
    service.start()
    assert service.backend_name == ""
    for registration in service.registrations():
        assert registration.status is RegistrationStatus.UNSUPPORTED
        assert "portal does not work here" in registration.reason
        assert "x11 does not work here" in registration.reason
    assert all(backend.closed for backend in factories.built)
    service.close()


def test_a_taken_combination_is_reported_and_the_others_still_register(
        qapp: object, settings: SettingsStore, factories: Factories) -> None:
    service = HotkeyService(settings, [factories.make(taken=frozenset({"Ctrl+Alt+Shift+S"}))])
    service.start()
    registrations = by_action(service)
    assert registrations[HotkeyAction.CAPTURE_REGION].status is RegistrationStatus.TAKEN
    assert registrations[HotkeyAction.CAPTURE_REGION].reason == "someone else has it"
    assert registrations[HotkeyAction.CAPTURE_WINDOW].ok
    service.close()


def test_a_backend_that_raises_gives_unsupported_never_an_exception(
        qapp: object, settings: SettingsStore, factories: Factories) -> None:
    service = HotkeyService(settings, [factories.make(explode=True)])
    service.start()
    assert all(r.status is RegistrationStatus.UNSUPPORTED and "backend bug" in r.reason
               for r in service.registrations())
    service.close()


def test_a_factory_that_cannot_import_is_reported_unavailable(
        qapp: object, settings: SettingsStore, factories: Factories) -> None:
    missing = LazyBackendFactory("portal", "desktop.hotkeys.no_such_backend", "Nothing")
    service = HotkeyService(settings, [missing, factories.make(name="x11")])
    service.start()
    assert service.backend_name == "x11"
    (name, availability), _x11 = service.report()
    assert name == "portal" and not availability.available and availability.reason
    service.close()


def test_a_setting_change_re_registers_that_action_only(
        qapp: object, qtbot: Any, settings: SettingsStore, factories: Factories) -> None:
    service = HotkeyService(settings, [factories.make()])
    service.start()
    backend = factories.built[0]
    backend.calls.clear()
    with qtbot.waitSignal(service.changed):
        settings.set("hotkeys.capture_region", "Meta+R")
    assert backend.calls == [("unregister", "capture_region"), ("register", "capture_region=Meta+R")]
    assert backend.held[HotkeyAction.CAPTURE_REGION] == "Meta+R"
    assert by_action(service)[HotkeyAction.CAPTURE_REGION].shortcut == "Meta+R"

    settings.set("hotkeys.capture_region", "")
    assert HotkeyAction.CAPTURE_REGION not in backend.held
    assert by_action(service)[HotkeyAction.CAPTURE_REGION].status is RegistrationStatus.DISABLED
    service.close()
    settings.set("hotkeys.capture_region", "Ctrl+Alt+R")  # a closed service ignores changes
    assert HotkeyAction.CAPTURE_REGION not in backend.held


def test_two_actions_with_one_combination_the_second_is_taken_until_the_first_moves(
        qapp: object, settings: SettingsStore, factories: Factories) -> None:
    settings.set("hotkeys.quick_ask", "Ctrl+Alt+Shift+S")  # the same as capture_region's default
    service = HotkeyService(settings, [factories.make()])
    service.start()
    quick = by_action(service)[HotkeyAction.QUICK_ASK]
    assert quick.status is RegistrationStatus.TAKEN
    assert HotkeyAction.CAPTURE_REGION.label in quick.reason

    settings.set("hotkeys.capture_region", "Ctrl+Alt+Shift+R")
    assert by_action(service)[HotkeyAction.QUICK_ASK].ok
    assert factories.built[0].held[HotkeyAction.QUICK_ASK] == "Ctrl+Alt+Shift+S"
    service.close()


def test_suspend_releases_everything_and_resume_grabs_the_current_settings(
        qapp: object, qtbot: Any, settings: SettingsStore, factories: Factories) -> None:
    service = HotkeyService(settings, [factories.make()])
    service.start()
    backend = factories.built[0]
    activated: list[str] = []
    service.activated.connect(activated.append)

    service.suspend()
    assert backend.held == {} and service.suspended
    settings.set("hotkeys.capture_screen", "Ctrl+Alt+Shift+M")  # recorded while suspended
    assert backend.held == {}
    assert by_action(service)[HotkeyAction.CAPTURE_SCREEN].status is RegistrationStatus.UNSUPPORTED
    backend.on_activated(HotkeyAction.CAPTURE_REGION)  # a late event from the platform is dropped
    assert activated == []

    service.resume()
    assert backend.held[HotkeyAction.CAPTURE_SCREEN] == "Ctrl+Alt+Shift+M"
    assert all(r.ok for r in service.registrations())
    service.close()


def test_report_before_start_probes_and_closes_every_backend(
        qapp: object, settings: SettingsStore, factories: Factories) -> None:
    service = HotkeyService(settings, [factories.make(name="a", available=False), factories.make(name="b")])
    assert service.report() == [("a", Availability(False, "a does not work here")), ("b", Availability(True))]
    assert all(backend.closed for backend in factories.built)
    assert by_action(service)[HotkeyAction.CAPTURE_REGION].status is RegistrationStatus.UNSUPPORTED
    service.close()


def test_changes_from_another_thread_are_applied_on_the_services_thread(
        qapp: object, qtbot: Any, settings: SettingsStore, factories: Factories) -> None:
    import threading

    service = HotkeyService(settings, [factories.make()])
    service.start()
    backend = factories.built[0]
    threads: list[str] = []
    original = backend.register

    def spy(action: HotkeyAction, shortcut: Shortcut) -> Registration:
        threads.append(threading.current_thread().name)
        return original(action, shortcut)

    backend.register = spy  # type: ignore[method-assign]
    worker = threading.Thread(target=settings.set, args=("hotkeys.capture_all", "Ctrl+Alt+Shift+A"))
    with qtbot.waitSignal(service.changed):
        worker.start()
        worker.join()
    assert threads == [threading.main_thread().name]
    service.close()


@pytest.mark.parametrize(("platform", "wayland", "names"), [
    ("linux", False, ["x11", "portal"]), ("linux", True, ["portal", "x11"]),
    ("win32", False, ["win32"]), ("darwin", False, ["macos"]),
])
def test_default_factories_per_platform(platform: str, wayland: bool, names: list[str]) -> None:
    factories = default_backend_factories(platform, wayland=wayland)
    assert [f.name for f in factories] == names  # type: ignore[attr-defined]


def test_the_session_type_decides_the_linux_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    assert [f.name for f in default_backend_factories("linux")][0] == "portal"  # type: ignore[attr-defined]
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    monkeypatch.setenv("DISPLAY", ":0")
    assert [f.name for f in default_backend_factories("linux")][0] == "x11"  # type: ignore[attr-defined]
