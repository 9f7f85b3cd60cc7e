"""HotkeyService: backend choice, registration from the settings, re-registration, suspend/resume."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from desktop.availability import Availability
from desktop.config.settings import SettingsStore
from desktop.config.shortcuts import Shortcut
from desktop.hotkeys.base import HotkeyAction, HotkeyBackend, Registration, RegistrationStatus
from desktop.hotkeys.service import (
    HotkeyService,
    LazyBackendFactory,
    default_backend_factories,
    register_all,
    settings_key,
)


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

        factory.name = kwargs.get("name", "fake")  # type: ignore[attr-defined]  # as LazyBackendFactory has
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
    # The backend after the chosen one is not even built at start (asking the portal takes a D-Bus call).
    first, second = factories.built
    assert service.backend_name == "second"
    assert first.closed and not second.closed
    assert second.held == {action: settings.get(settings_key(action)) for action in HotkeyAction}
    assert all(r.ok for r in service.registrations())
    # report() checks it then, and closes it at once.
    assert [name for name, _a in service.report()] == ["first", "second", "third"]
    assert [a.available for _n, a in service.report()] == [False, True, True]
    assert len(factories.built) == 3 and factories.built[2].closed
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


def test_report_checks_each_later_backend_once_and_keeps_none_open(
        qapp: object, settings: SettingsStore, factories: Factories) -> None:
    service = HotkeyService(settings, [factories.make(name="x11"), factories.make(name="portal", available=False),
                                       factories.make(name="other")])
    service.start()
    assert [b.name for b in factories.built] == ["x11"]
    report = service.report()
    assert report == [("x11", Availability(True)), ("portal", Availability(False, "portal does not work here")),
                      ("other", Availability(True))]
    assert service.report() == report  # cached: nothing is built twice
    assert [b.name for b in factories.built] == ["x11", "portal", "other"]
    assert [b.closed for b in factories.built] == [False, True, True]
    service.close()


# -- a backend that blocks (the shortcuts portal): never called on the UI thread ------------------------------
class BlockingBackend(FakeBackend):
    """Binds whole sets like the portal; each bind waits for `answer` (the user in the desktop's dialog)."""

    blocking = True

    def __init__(self, on_activated: Callable[[HotkeyAction], None], gated: bool = False,
                 fail: Exception | None = None) -> None:
        super().__init__(on_activated, name="portal")
        self.answer = threading.Event()
        if not gated:
            self.answer.set()
        self.fail = fail
        self.asked = threading.Event()
        self.binds: list[dict[str, str]] = []
        self.threads: list[str] = []

    def register_all(self, wanted: dict[HotkeyAction, Shortcut]) -> dict[HotkeyAction, Registration]:
        self.threads.append(threading.current_thread().name)
        self.binds.append({action.value: shortcut.portable() for action, shortcut in wanted.items()})
        self.asked.set()
        self.answer.wait(30)  # close() sets it, as closing the portal's connection ends the wait
        if self.fail is not None:
            raise self.fail
        if self.closed:
            raise ConnectionError("the connection closed")
        self.held = {action: shortcut.portable() for action, shortcut in wanted.items()}
        return {action: Registration(action, shortcut.portable(), RegistrationStatus.REGISTERED, "bound")
                for action, shortcut in wanted.items()}

    def register(self, action: HotkeyAction, shortcut: Shortcut) -> Registration:
        raise AssertionError("a blocking backend is bound in sets")

    def unregister(self, action: HotkeyAction) -> None:
        raise AssertionError("a blocking backend is bound in sets")

    def close(self) -> None:
        super().close()
        self.answer.set()


class Desktop:
    """Builds the BlockingBackend a service uses and keeps it for the test."""

    def __init__(self) -> None:
        self.built: list[BlockingBackend] = []

    def factories(self, **kwargs: Any) -> list[Callable[[Callable[[HotkeyAction], None]], HotkeyBackend]]:
        def factory(on_activated: Callable[[HotkeyAction], None]) -> HotkeyBackend:
            backend = BlockingBackend(on_activated, **kwargs)
            self.built.append(backend)
            return backend

        return [factory]

    @property
    def backend(self) -> BlockingBackend:
        return self.built[0]


@pytest.fixture
def desktop() -> Desktop:
    return Desktop()


def settled(service: HotkeyService) -> bool:
    return not service.pending and all(r.status is not RegistrationStatus.PENDING for r in service.registrations())


def test_start_returns_before_a_blocking_backend_answers(
        qapp: object, qtbot: Any, settings: SettingsStore, desktop: Desktop) -> None:
    # GIVEN a desktop that waits for the user in a dialog
    service = HotkeyService(settings, desktop.factories(gated=True))
    # WHEN the service starts
    service.start()
    # THEN it returns at once, every hotkey pending, and the bind runs on the service's worker thread
    assert all(r.status is RegistrationStatus.PENDING and r.reason and r.advice() == ""
               for r in service.registrations())
    assert service.pending
    assert desktop.backend.asked.wait(10)
    # WHEN the user confirms the dialog
    with qtbot.waitSignal(service.changed, timeout=10000):
        desktop.backend.answer.set()
    # THEN every hotkey is registered, from one bind of the whole set, made off the UI thread
    assert all(r.ok and r.reason == "bound" for r in service.registrations())
    assert not service.pending
    assert desktop.backend.binds == [{a.value: settings.get(settings_key(a)) for a in HotkeyAction}]
    assert desktop.backend.threads[0].startswith("glmv-hotkey-binder")
    service.close()


def test_blocking_backend_setting_changes_coalesce_and_suspend_costs_nothing(
        qapp: object, qtbot: Any, settings: SettingsStore, desktop: Desktop) -> None:
    service = HotkeyService(settings, desktop.factories())
    service.start()
    qtbot.waitUntil(lambda: settled(service), timeout=10000)
    backend = desktop.backend
    assert len(backend.binds) == 1
    # WHEN the settings dialog applies several changes together
    settings.set("hotkeys.capture_region", "Meta+R")
    settings.set("hotkeys.quick_ask", "")
    settings.set("hotkeys.capture_all", "Ctrl+Alt+Shift+Z")
    # THEN they show at once (pending or off) ...
    states = by_action(service)
    assert states[HotkeyAction.CAPTURE_REGION].status is RegistrationStatus.PENDING
    assert states[HotkeyAction.CAPTURE_REGION].shortcut == "Meta+R"
    assert states[HotkeyAction.QUICK_ASK].status is RegistrationStatus.DISABLED
    assert states[HotkeyAction.CAPTURE_WINDOW].ok  # unchanged: keeps its state
    # ... and become one rebind of the whole set
    qtbot.waitUntil(lambda: settled(service), timeout=10000)
    assert len(backend.binds) == 2
    assert backend.binds[1] == {"capture_region": "Meta+R", "capture_window": "Ctrl+Alt+Shift+W",
                                "capture_screen": "Ctrl+Alt+Shift+F", "capture_all": "Ctrl+Alt+Shift+Z",
                                "record": "Ctrl+Alt+Shift+R"}
    assert all(r.ok for r in service.registrations() if r.action is not HotkeyAction.QUICK_ASK)
    # WHEN a recorder takes the focus and leaves it
    activated: list[str] = []
    service.activated.connect(activated.append)
    service.suspend()
    assert service.suspended and not service.pending
    backend.press("Ctrl+Alt+Shift+W")  # a press meanwhile is ignored (it is being recorded)
    service.resume()
    # THEN the desktop is not asked again, and the hotkeys still read registered and work
    assert len(backend.binds) == 2 and not service.pending and activated == []
    assert by_action(service)[HotkeyAction.CAPTURE_REGION].ok
    with qtbot.waitSignal(service.activated) as blocker:
        backend.press("Meta+R")
    assert blocker.args == ["capture_region"]
    service.close()


def test_a_change_during_a_bind_is_bound_after_it(
        qapp: Any, qtbot: Any, settings: SettingsStore, desktop: Desktop) -> None:
    service = HotkeyService(settings, desktop.factories())
    service.start()
    backend = desktop.backend
    qtbot.waitUntil(lambda: settled(service), timeout=10000)
    backend.answer.clear()
    backend.asked.clear()
    settings.set("hotkeys.capture_region", "Meta+R")
    qtbot.waitUntil(backend.asked.is_set, timeout=10000)
    # WHEN two more changes come while the desktop still shows its dialog
    settings.set("hotkeys.capture_region", "Meta+T")
    settings.set("hotkeys.capture_screen", "Meta+F")
    qapp.processEvents()
    assert len(backend.binds) == 2  # one bind at a time
    assert by_action(service)[HotkeyAction.CAPTURE_REGION].status is RegistrationStatus.PENDING
    backend.answer.set()
    # THEN one more bind carries both, and the stale outcome is never shown as final
    qtbot.waitUntil(lambda: settled(service), timeout=10000)
    assert len(backend.binds) == 3
    assert backend.binds[2]["capture_region"] == "Meta+T" and backend.binds[2]["capture_screen"] == "Meta+F"
    region = by_action(service)[HotkeyAction.CAPTURE_REGION]
    assert region.ok and region.shortcut == "Meta+T"
    service.close()


def test_duplicates_are_taken_before_asking_a_blocking_backend(
        qapp: object, qtbot: Any, settings: SettingsStore, desktop: Desktop) -> None:
    settings.set("hotkeys.quick_ask", "Ctrl+Alt+Shift+S")  # capture_region's default
    service = HotkeyService(settings, desktop.factories())
    service.start()
    quick = by_action(service)[HotkeyAction.QUICK_ASK]
    assert quick.status is RegistrationStatus.TAKEN and HotkeyAction.CAPTURE_REGION.label in quick.reason
    qtbot.waitUntil(lambda: settled(service), timeout=10000)
    assert "quick_ask" not in desktop.backend.binds[0]
    service.close()


def test_close_during_a_bind_returns_without_waiting_for_the_desktop(
        qapp: object, settings: SettingsStore, desktop: Desktop) -> None:
    service = HotkeyService(settings, desktop.factories(gated=True))
    service.start()
    assert desktop.backend.asked.wait(10)
    # WHEN the app quits while the desktop's dialog is open
    service.close()
    # THEN the backend is closed and the worker is gone (the leftover-thread check says so too)
    assert desktop.backend.closed
    assert not [t for t in threading.enumerate() if t.name.startswith("glmv-hotkey-binder")]


def test_settle_waits_for_the_answer_without_an_event_loop(
        qapp: object, settings: SettingsStore, desktop: Desktop) -> None:
    service = HotkeyService(settings, desktop.factories())
    service.start()
    assert service.settle(10)
    assert all(r.ok for r in service.registrations()) and not service.pending
    settings.set("hotkeys.capture_all", "Meta+A")  # applied at once: only the rebind timer is pending
    assert service.pending and service.settle(10)
    assert by_action(service)[HotkeyAction.CAPTURE_ALL].ok and len(desktop.backend.binds) == 2
    service.close()


def test_a_blocking_backend_that_raises_gives_unsupported(
        qapp: object, settings: SettingsStore, desktop: Desktop) -> None:
    service = HotkeyService(settings, desktop.factories(fail=RuntimeError("portal bug")))
    service.start()
    assert service.settle(10)
    assert all(r.status is RegistrationStatus.UNSUPPORTED and "portal bug" in r.reason
               for r in service.registrations())
    service.close()


def test_register_all_loops_over_a_backend_without_a_batch(qapp: object, factories: Factories) -> None:
    backend = factories.make(taken=frozenset({"Meta+B"}))(lambda action: None)
    out = register_all(backend, {HotkeyAction.CAPTURE_REGION: Shortcut.parse("Meta+A"),
                                 HotkeyAction.QUICK_ASK: Shortcut.parse("Meta+B")},
                       held=frozenset({HotkeyAction.CAPTURE_ALL}))
    assert out[HotkeyAction.CAPTURE_REGION].ok and out[HotkeyAction.QUICK_ASK].status is RegistrationStatus.TAKEN
    assert factories.built[0].calls == [("unregister", "capture_all"), ("register", "capture_region=Meta+A"),
                                        ("register", "quick_ask=Meta+B")]


def test_report_without_checking_names_the_later_backends_unchecked(
        qapp: object, settings: SettingsStore, factories: Factories) -> None:
    service = HotkeyService(settings, [factories.make(name="x11"), factories.make(name="portal")])
    service.start()
    (first, used), (name, later) = service.report(check_all=False)
    assert (first, used.available) == ("x11", True)
    assert name == "portal" and not later.available and "Not checked" in later.reason
    assert len(factories.built) == 1
    service.close()
