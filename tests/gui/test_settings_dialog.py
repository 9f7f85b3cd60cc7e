"""The settings dialog: profiles, keys in the real keychain, Test connection, schema page."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QComboBox, QDialogButtonBox, QMessageBox, QSpinBox

from desktop.assistant.services import AppPaths, Services
from desktop.config.profiles import Flavor, ProfileBook, preset
from desktop.config.schema import SCHEMA
from desktop.config.secrets import SecretStore
from desktop.config.settings import SettingsStore
from desktop.hotkeys.base import HotkeyAction
from desktop.secret import Secret
from desktop.ui.notifier import Notifier
from desktop.ui.settings_dialog import SettingsDialog
from tests.support.fake_openai_server import FakeOpenAIServer, Scenario


def make_dialog(qtbot: Any, services: Services) -> SettingsDialog:
    dialog = SettingsDialog(services, Notifier())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def add_endpoint(qtbot: Any, dialog: SettingsDialog, flavor: Flavor) -> None:
    action = dialog.endpoints.add_button.menu().findChild(QAction, f"add:{flavor.value}")
    action.trigger()
    qtbot.waitUntil(lambda: dialog.endpoints.selected() is not None
                    and dialog.endpoints.selected().flavor is flavor, timeout=2000)


def press_ok(qtbot: Any, dialog: SettingsDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    if dialog.key_task is not None:
        qtbot.waitUntil(dialog.key_task.done, timeout=5000)
        assert dialog.key_task.exception() is None


def select(dialog: SettingsDialog, profile_id: str) -> None:
    page = dialog.endpoints
    for row in range(page.list.count()):
        if page.list.item(row).data(Qt.ItemDataRole.UserRole) == profile_id:
            page.list.setCurrentRow(row)
            return
    raise AssertionError(f"no endpoint {profile_id} in the list")


def test_add_edit_store_key_and_test_connection(qtbot: Any, services: Services,
                                                fake_server: FakeOpenAIServer) -> None:
    fake_server.set_scenario(Scenario(models=("glm-4.6v", "glm-4.5v"), require_api_key="team-key-123456",
                                      content="Red and blue."))
    dialog = make_dialog(qtbot, services)
    page = dialog.endpoints
    add_endpoint(qtbot, dialog, Flavor.CUSTOM)
    page.name.setText("Team server")
    page.base_url.setText(fake_server.base_url + "/chat/completions")
    page.model.setCurrentText("glm-4.6v")
    page.api_key.setText("team-key-123456")
    qtbot.waitUntil(lambda: "system keychain" in page.key_status.text(), timeout=5000)

    page.test_connection()  # with the typed key, before anything is saved
    qtbot.waitUntil(lambda: "Vision works" in page.test_result.text() or "failed" in page.test_result.text(),
                    timeout=10000)
    assert "2 model(s)" in page.test_result.text() and "Vision works" in page.test_result.text()
    chat = fake_server.chat_requests[-1].body
    assert chat["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")

    press_ok(qtbot, dialog)
    assert not dialog.isVisible()
    saved = next(p for p in services.profiles.all() if p.name == "Team server")
    assert saved.base_url == fake_server.base_url
    assert SecretStore().get(saved.keychain_entry) == Secret("team-key-123456")
    assert "team-key" not in services.paths.settings_file.read_text(encoding="utf-8")

    again = make_dialog(qtbot, services)
    select(again, saved.id)
    again.endpoints.remove_selected()
    assert services.profiles.get(saved.id) is not None  # a draft until OK
    press_ok(qtbot, again)
    assert services.profiles.get(saved.id) is None
    qtbot.waitUntil(lambda: SecretStore().get(saved.keychain_entry) is None, timeout=5000)


def test_ok_saves_what_the_form_shows(qtbot: Any, services: Services) -> None:
    # GIVEN two endpoints edited one after the other, with no other button pressed
    first, second = services.profiles.all()[:2]
    dialog = make_dialog(qtbot, services)
    page = dialog.endpoints
    select(dialog, first.id)
    page.name.setText("Renamed cloud")
    select(dialog, second.id)
    page.model.setCurrentText("glm-4.5v")
    changed: list[bool] = []
    dialog.profiles_changed.connect(lambda: changed.append(True))
    # WHEN OK is pressed
    press_ok(qtbot, dialog)
    # THEN both edits are saved, and the app is told
    assert services.profiles.get(first.id).name == "Renamed cloud"
    assert services.profiles.get(second.id).model == "glm-4.5v"
    assert changed == [True]
    reread = ProfileBook(SettingsStore(services.paths.settings_file))
    assert reread.get(first.id).name == "Renamed cloud"


def test_a_key_typed_then_cleared_is_not_stored(qtbot: Any, services: Services) -> None:
    first, second = services.profiles.all()[:2]
    dialog = make_dialog(qtbot, services)
    select(dialog, first.id)
    dialog.endpoints.api_key.setText("typed-by-mistake-123")
    select(dialog, second.id)
    select(dialog, first.id)
    assert dialog.endpoints.api_key.text() == "typed-by-mistake-123"  # kept while moving around
    dialog.endpoints.api_key.clear()
    press_ok(qtbot, dialog)
    assert dialog.key_task is None
    assert services.secrets.get(first.keychain_entry) is None


def test_endpoints_changed_elsewhere_while_the_dialog_is_open(qtbot: Any, services: Services) -> None:
    # GIVEN the dialog open with an edit to one endpoint
    first, second, third = services.profiles.all()[:3]
    dialog = make_dialog(qtbot, services)
    select(dialog, first.id)
    dialog.endpoints.name.setText("Edited here")
    # WHEN the command line adds one, changes another's address and removes a third
    added = services.profiles.upsert(preset(Flavor.SGLANG, name="Added elsewhere"))
    services.profiles.upsert(replace(second, base_url="https://moved.example/v1"))
    services.profiles.remove(third.id)
    # THEN the list shows them, the edit here is kept, and OK does not undo the outside changes
    names = [dialog.endpoints.list.item(row).text() for row in range(dialog.endpoints.list.count())]
    assert "Added elsewhere" in names and third.name not in names
    assert dialog.endpoints.name.text() == "Edited here"
    press_ok(qtbot, dialog)
    assert services.profiles.get(first.id).name == "Edited here"
    assert services.profiles.get(second.id).base_url == "https://moved.example/v1"
    assert services.profiles.get(third.id) is None and services.profiles.get(added.id) is not None


def test_an_endpoint_that_cannot_work_keeps_the_dialog_open(qtbot: Any, services: Services) -> None:
    first, second = services.profiles.all()[:2]
    notifier = Notifier()
    dialog = SettingsDialog(services, notifier)
    qtbot.addWidget(dialog)
    dialog.show()
    select(dialog, first.id)
    dialog.endpoints.base_url.setText("not a url")
    select(dialog, second.id)
    dialog.endpoints.name.setText("Also renamed")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: bool(notifier.shown), timeout=2000)
    assert dialog.isVisible()
    assert "not a server address" in notifier.shown[-1]
    assert dialog.endpoints.selected().id == first.id  # the one to fix is shown
    assert services.profiles.get(second.id).name == second.name  # nothing saved
    assert notifier.dialog is not None
    notifier.dialog.done(0)


def test_cancel_asks_before_dropping_changes(qtbot: Any, services: Services) -> None:
    first = services.profiles.all()[0]
    dialog = make_dialog(qtbot, services)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert not dialog.isVisible()  # nothing changed: closes at once

    dialog = make_dialog(qtbot, services)
    select(dialog, first.id)
    dialog.endpoints.name.setText("Half-typed name")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    box = dialog.findChild(QMessageBox, "unsaved_settings")
    assert box is not None and dialog.isVisible()
    box.button(QMessageBox.StandardButton.Cancel).click()  # back to the settings
    qtbot.waitUntil(lambda: dialog.findChild(QMessageBox, "unsaved_settings") is None, timeout=2000)
    assert dialog.isVisible() and dialog.endpoints.name.text() == "Half-typed name"

    dialog.reject()  # Esc or the window's close button
    box = dialog.findChild(QMessageBox, "unsaved_settings")
    box.button(QMessageBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=2000)
    assert services.profiles.get(first.id).name == "Half-typed name"

    dialog = make_dialog(qtbot, services)
    select(dialog, first.id)
    dialog.endpoints.name.setText("Dropped")
    dialog.reject()
    dialog.findChild(QMessageBox, "unsaved_settings").button(QMessageBox.StandardButton.Discard).click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=2000)
    assert services.profiles.get(first.id).name == "Half-typed name"


def test_connection_test_of_a_new_endpoint_asks_a_listed_model(qtbot: Any, services: Services,
                                                              fake_server: FakeOpenAIServer) -> None:
    # GIVEN a new custom endpoint whose model is still empty
    fake_server.set_scenario(Scenario(models=("served-glm", "other"), content="Red and blue."))
    dialog = make_dialog(qtbot, services)
    page = dialog.endpoints
    add_endpoint(qtbot, dialog, Flavor.CUSTOM)
    page.base_url.setText(fake_server.base_url)
    assert page.model.currentText() == ""
    # WHEN the connection is tested
    page.test_connection()
    qtbot.waitUntil(lambda: "Vision" in page.test_result.text(), timeout=10000)
    # THEN the picture question went to the first listed model, which the form now shows
    assert fake_server.chat_requests[-1].body["model"] == "served-glm"
    assert "Vision works: served-glm" in page.test_result.text()
    assert page.model.currentText() == "served-glm"


def test_failed_connection_test_says_why(qtbot: Any, services: Services) -> None:
    with FakeOpenAIServer() as gone:
        url = gone.base_url
    dialog = make_dialog(qtbot, services)
    page = dialog.endpoints
    add_endpoint(qtbot, dialog, Flavor.VLLM)
    page.base_url.setText(url)
    page.test_connection()
    qtbot.waitUntil(lambda: "Vision test failed" in page.test_result.text(), timeout=10000)
    assert "Could not reach" in page.test_result.text()


def test_without_a_keychain_the_key_is_never_written(qtbot: Any, app_paths: AppPaths, qt_loop: Any) -> None:
    services = Services.create(app_paths, secrets=SecretStore(fail.Keyring()))
    dialog = make_dialog(qtbot, services)
    page = dialog.endpoints
    qtbot.waitUntil(lambda: "No usable keychain" in page.key_status.text(), timeout=5000)
    assert page.session_only.isVisible() and page.session_only.isChecked()
    profile = page.selected()
    assert profile is not None
    page.api_key.setText("cloud-key-abcdef123")
    press_ok(qtbot, dialog)
    assert dialog.key_task is not None
    assert services.secrets.get(profile.keychain_entry) == Secret("cloud-key-abcdef123")
    for path in app_paths.config.rglob("*"):
        if path.is_file():
            assert "cloud-key" not in path.read_text(encoding="utf-8", errors="replace")


def test_general_page_is_generated_from_the_schema(qtbot: Any, services: Services) -> None:
    dialog = make_dialog(qtbot, services)
    shown = set(dialog.general.editors)
    expected = {s.key for s in SCHEMA if s.type is not list and not s.key.startswith("endpoint.")
                and s.kind != "shortcut"}
    assert shown == expected
    # key combinations have their own page with recorders
    assert set(dialog.hotkeys.recorders) == {a for a in HotkeyAction}
    assert {f"hotkeys.{a.value}" for a in dialog.hotkeys.recorders} == {s.key for s in SCHEMA if s.kind == "shortcut"}
    budget = dialog.general.editors["images.token_budget"]
    assert isinstance(budget, QSpinBox) and budget.maximum() == 7500
    budget.setValue(1800)
    scope = dialog.general.editors["capture.scope"]
    assert isinstance(scope, QComboBox)
    scope.setCurrentIndex(scope.findData("all"))
    thinking = dialog.general.editors["chat.thinking"]
    assert isinstance(thinking, QCheckBox)
    dialog._accept()  # noqa: SLF001 - the OK button's handler
    assert services.settings.get("images.token_budget") == 1800
    assert services.settings.get("capture.scope") == "all"
    assert services.settings.get("chat.temperature") is None
