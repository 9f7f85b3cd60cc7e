"""The settings dialog: profiles, keys in the real keychain, Test connection, schema page."""

from __future__ import annotations

from typing import Any

from keyring.backends import fail
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QComboBox, QSpinBox

from desktop.assistant.services import AppPaths, Services
from desktop.config.profiles import Flavor
from desktop.config.schema import SCHEMA
from desktop.config.secrets import SecretStore
from desktop.hotkeys.base import HotkeyAction
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
    task = page.save_current()
    assert task is not None
    qtbot.waitUntil(task.done, timeout=5000)
    saved = page.selected()
    assert saved is not None and saved.name == "Team server" and saved.base_url == fake_server.base_url
    assert SecretStore().get(saved.keychain_entry) == "team-key-123456"
    assert "team-key" not in services.paths.settings_file.read_text(encoding="utf-8")

    page.test_connection()
    qtbot.waitUntil(lambda: "Vision works" in page.test_result.text() or "failed" in page.test_result.text(),
                    timeout=10000)
    assert "2 model(s)" in page.test_result.text() and "Vision works" in page.test_result.text()
    chat = fake_server.chat_requests[-1].body
    assert chat["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")

    page.remove_selected()
    assert services.profiles.get(saved.id) is None
    qtbot.waitUntil(lambda: SecretStore().get(saved.keychain_entry) is None, timeout=5000)


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
    task = page.save_current()
    assert task is not None
    qtbot.waitUntil(task.done, timeout=5000)
    assert services.secrets.get(profile.keychain_entry) == "cloud-key-abcdef123"
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
