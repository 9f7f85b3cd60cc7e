"""Settings: the General page is generated from the settings schema; the Endpoints page adds,
edits and removes profiles, stores keys in the keychain, and tests a connection for real.
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.assistant.services import Services
from desktop.chat.client import Endpoint
from desktop.chat.probe import ConnectionReport, check_endpoint
from desktop.config.profiles import TRAITS, EndpointProfile, Flavor, ProfileError, ThinkingSwitch, preset
from desktop.config.schema import SCHEMA, Setting
from desktop.config.secrets import KeychainStatus
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.logsetup import register_secret
from desktop.ui.hotkeys_page import HotkeysPage
from desktop.ui.notifier import Notifier
from desktop.ui.operations import run_async

if TYPE_CHECKING:
    from desktop.hotkeys.service import HotkeyService

log = logging.getLogger(__name__)


def setting_editor(setting: Setting, value: Any) -> QWidget:
    """A widget for one schema setting (checkbox, spin box, or choice box)."""
    editor: QWidget
    if setting.type is bool:
        editor = QCheckBox()
        editor.setChecked(bool(value))
    elif setting.choices:
        editor = QComboBox()
        for choice, label in setting.choices:
            editor.addItem(label, choice)
        editor.setCurrentIndex(max(0, editor.findData(value)))
    elif setting.type is int:
        editor = QSpinBox()
        editor.setRange(int(setting.minimum if setting.minimum is not None else -2**31),
                        int(setting.maximum if setting.maximum is not None else 2**31 - 1))
        editor.setGroupSeparatorShown(True)
        if setting.nullable:
            editor.setMinimum(editor.minimum() - 1)
            editor.setSpecialValueText(_("server default"))
        editor.setValue(editor.minimum() if value is None else int(value))
    elif setting.type is float:
        editor = QDoubleSpinBox()
        editor.setDecimals(2)
        editor.setRange(setting.minimum if setting.minimum is not None else -1e9,
                        setting.maximum if setting.maximum is not None else 1e9)
        if setting.nullable:
            editor.setMinimum(editor.minimum() - 0.01)
            editor.setSpecialValueText(_("server default"))
        editor.setValue(editor.minimum() if value is None else float(value))
    else:
        editor = QLineEdit(str(value))
    editor.setObjectName(f"setting:{setting.key}")
    editor.setToolTip(setting.description)
    return editor


def editor_value(setting: Setting, editor: QWidget) -> Any:
    """The value a `setting_editor` widget holds."""
    if isinstance(editor, QCheckBox):
        return editor.isChecked()
    if isinstance(editor, QComboBox):
        return editor.currentData()
    if isinstance(editor, QSpinBox | QDoubleSpinBox):
        if setting.nullable and editor.value() == editor.minimum():
            return None
        return editor.value()
    assert isinstance(editor, QLineEdit)
    return editor.text()


class GeneralPage(QWidget):
    """Every schema setting a user should see, with its description as tooltip."""

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self.editors: dict[str, QWidget] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        body = QWidget()
        form = QFormLayout(body)
        for setting in SCHEMA:
            if setting.type is list or setting.key.startswith("endpoint.") or setting.kind == "shortcut":
                continue
            editor = setting_editor(setting, services.settings.get(setting.key))
            label = QLabel(setting.label)
            label.setToolTip(setting.description)
            description = QLabel(setting.description)
            description.setWordWrap(True)
            description.setStyleSheet("QLabel { color: #80868b; font-size: small; }")
            field = QWidget()
            column = QVBoxLayout(field)
            column.setContentsMargins(0, 0, 0, 4)
            column.setSpacing(1)
            column.addWidget(editor)
            column.addWidget(description)
            form.addRow(label, field)
            self.editors[setting.key] = editor
        scroll.setWidget(body)
        outer.addWidget(scroll)

    def apply(self) -> None:
        """Store every edited value (each is validated by the schema)."""
        for key, editor in self.editors.items():
            setting = next(s for s in SCHEMA if s.key == key)
            self._services.settings.set(key, editor_value(setting, editor))


class EndpointsPage(QWidget):
    """List of endpoint profiles and the form for the selected one."""

    profiles_changed = Signal()

    def __init__(self, services: Services, notifier: Notifier, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._notifier = notifier
        self._test_task: asyncio.Task[ConnectionReport] | None = None
        self._keychain: KeychainStatus | None = None
        outer = QHBoxLayout(self)
        left = QVBoxLayout()
        self.list = QListWidget()
        self.list.setObjectName("endpoint_list")
        self.list.currentItemChanged.connect(self._on_selected)
        left.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        self.add_button = QPushButton(_("Add"))
        self.add_button.setObjectName("endpoint_add")
        add_menu = QMenu(self.add_button)
        for flavor in Flavor:
            action = add_menu.addAction(TRAITS[flavor].label)
            action.setObjectName(f"add:{flavor.value}")
            action.triggered.connect(lambda _checked=False, f=flavor: self.add_profile(f))
        self.add_button.setMenu(add_menu)
        self.remove_button = QPushButton(_("Remove"))
        self.remove_button.setObjectName("endpoint_remove")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        left.addLayout(buttons)
        outer.addLayout(left, 1)

        right = QVBoxLayout()
        form = QFormLayout()
        self.name = QLineEdit()
        self.name.setObjectName("endpoint_name")
        self.flavor = QComboBox()
        self.flavor.setObjectName("endpoint_flavor")
        for flavor in Flavor:
            self.flavor.addItem(TRAITS[flavor].label, flavor)
        self.flavor.currentIndexChanged.connect(self._on_flavor_changed)
        self.base_url = QLineEdit()
        self.base_url.setObjectName("endpoint_url")
        self.base_url.setPlaceholderText("http://127.0.0.1:8000/v1")
        self.model = QComboBox()
        self.model.setObjectName("endpoint_model")
        self.model.setEditable(True)
        self.thinking_switch = QComboBox()
        self.thinking_switch.setObjectName("endpoint_thinking_switch")
        self.thinking_switch.addItem(_("None (the model decides)"), ThinkingSwitch.NONE)
        self.thinking_switch.addItem(_("Cloud style: thinking.type"), ThinkingSwitch.CLOUD)
        self.thinking_switch.addItem(_("chat_template_kwargs.enable_thinking"), ThinkingSwitch.TEMPLATE_KWARGS)
        self.api_key = QLineEdit()
        self.api_key.setObjectName("endpoint_key")
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_status = QLabel()
        self.key_status.setObjectName("keychain_status")
        self.key_status.setWordWrap(True)
        self.session_only = QCheckBox(_("Use this key for this session only (keep nothing on disk)"))
        self.session_only.setObjectName("key_session_only")
        self.session_only.setVisible(False)
        form.addRow(_("Name"), self.name)
        form.addRow(_("Type"), self.flavor)
        form.addRow(_("Base URL"), self.base_url)
        form.addRow(_("Default model"), self.model)
        self._thinking_label = QLabel(_("Thinking switch"))
        form.addRow(self._thinking_label, self.thinking_switch)
        form.addRow(_("API key"), self.api_key)
        form.addRow("", self.key_status)
        form.addRow("", self.session_only)
        right.addLayout(form)
        actions = QHBoxLayout()
        self.save_button = QPushButton(_("Save endpoint"))
        self.save_button.setObjectName("endpoint_save")
        self.save_button.clicked.connect(self.save_current)
        self.test_button = QPushButton(_("Test connection"))
        self.test_button.setObjectName("endpoint_test")
        self.test_button.clicked.connect(self.test_connection)
        actions.addWidget(self.save_button)
        actions.addWidget(self.test_button)
        actions.addStretch(1)
        right.addLayout(actions)
        self.test_result = QLabel()
        self.test_result.setObjectName("test_result")
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_result.setAlignment(Qt.AlignmentFlag.AlignTop)
        right.addWidget(self.test_result, 1)
        outer.addLayout(right, 2)
        active = services.profiles.active()
        self._reload(select=active.id if active else None)
        self._check_keychain()

    # -- list -----------------------------------------------------------------------------------
    def _reload(self, select: str | None = None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for profile in self._services.profiles.all():
            item = QListWidgetItem(profile.name)
            item.setData(Qt.ItemDataRole.UserRole, profile.id)
            self.list.addItem(item)
            if profile.id == select:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self._on_selected(self.list.currentItem(), None)

    def selected(self) -> EndpointProfile | None:
        """The profile shown in the form."""
        item = self.list.currentItem()
        return self._services.profiles.get(item.data(Qt.ItemDataRole.UserRole)) if item else None

    def _on_selected(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        profile = self.selected()
        enabled = profile is not None
        for widget in (self.name, self.flavor, self.base_url, self.model, self.api_key, self.save_button,
                       self.test_button, self.remove_button, self.thinking_switch):
            widget.setEnabled(enabled)
        self.test_result.clear()
        self.api_key.clear()
        if profile is None:
            return
        self.name.setText(profile.name)
        self.flavor.blockSignals(True)
        self.flavor.setCurrentIndex(self.flavor.findData(profile.flavor))
        self.flavor.blockSignals(False)
        self.base_url.setText(profile.base_url)
        self._fill_models(profile.flavor, profile.model)
        self.thinking_switch.setCurrentIndex(self.thinking_switch.findData(profile.traits.thinking_switch))
        self._show_flavor_fields(profile.flavor)
        self.api_key.setPlaceholderText(_("checking the keychain…"))

        async def has_key() -> bool:
            return bool(await asyncio.to_thread(self._services.secrets.get, profile.keychain_entry))

        def show(found: bool) -> None:
            self.api_key.setPlaceholderText(_("a key is stored — type to replace it") if found else
                                            (_("required") if profile.traits.needs_key else _("optional")))

        run_async(has_key(), notifier=self._notifier, owner=self, on_done=show)

    def _fill_models(self, flavor: Flavor, current: str) -> None:
        self.model.clear()
        self.model.addItems(list(TRAITS[flavor].models))
        self.model.setCurrentText(current)

    def _show_flavor_fields(self, flavor: Flavor) -> None:
        custom = flavor is Flavor.CUSTOM
        self.thinking_switch.setVisible(custom)
        self._thinking_label.setVisible(custom)

    def _on_flavor_changed(self) -> None:
        flavor = Flavor(self.flavor.currentData())
        traits = TRAITS[flavor]
        if traits.base_url:
            self.base_url.setText(traits.base_url)
        self._fill_models(flavor, traits.models[0] if traits.models else "")
        self._show_flavor_fields(flavor)

    def add_profile(self, flavor: Flavor) -> EndpointProfile:
        """Add a new profile of `flavor` with its usual values and select it."""
        profile = preset(flavor)
        if not profile.base_url:
            profile = EndpointProfile(name=profile.name, flavor=flavor, base_url="http://127.0.0.1:8000/v1", model="")
        profile = self._services.profiles.upsert(profile)
        self._reload(select=profile.id)
        self.profiles_changed.emit()
        self.name.setFocus()
        return profile

    def remove_selected(self) -> None:
        """Remove the selected profile and its key."""
        profile = self.selected()
        if profile is None:
            return
        self._services.profiles.remove(profile.id)
        run_async(asyncio.to_thread(self._services.secrets.delete, profile.keychain_entry),
                  notifier=self._notifier, owner=self)
        self._reload()
        self.profiles_changed.emit()

    # -- save --------------------------------------------------------------------------------------
    def form_profile(self) -> EndpointProfile:
        """The profile as edited in the form (validated)."""
        current = self.selected()
        assert current is not None
        flavor = Flavor(self.flavor.currentData())
        switch = ThinkingSwitch(self.thinking_switch.currentData()) if flavor is Flavor.CUSTOM else None
        return EndpointProfile(id=current.id, name=self.name.text(), flavor=flavor, base_url=self.base_url.text(),
                               model=self.model.currentText(), thinking_switch=switch).validated()

    def save_current(self) -> asyncio.Task[None] | None:
        """Save the form; a typed key goes to the keychain (or the session only, if chosen)."""
        try:
            profile = self._services.profiles.upsert(self.form_profile())
        except ProfileError as exc:
            self._notifier.show_error(UserFacingError(str(exc)), self)
            return None
        key = self.api_key.text().strip()
        self._select_item_text(profile)
        self.profiles_changed.emit()
        if not key:
            return None
        secrets = self._services.secrets

        async def store() -> None:
            if self.session_only.isChecked():
                secrets.set_for_session(profile.keychain_entry, key)
            else:
                await asyncio.to_thread(secrets.set, profile.keychain_entry, key)

        def stored(_result: None) -> None:
            self.api_key.clear()
            self.api_key.setPlaceholderText(_("a key is stored — type to replace it"))

        return run_async(store(), notifier=self._notifier, owner=self, on_done=stored)

    def _select_item_text(self, profile: EndpointProfile) -> None:
        item = self.list.currentItem()
        if item is not None:
            item.setText(profile.name)

    # -- keychain ------------------------------------------------------------------------------------
    def _check_keychain(self) -> None:
        self.key_status.setText(_("Checking the system keychain…"))

        def show(status: KeychainStatus) -> None:
            self._keychain = status
            if status.usable:
                self.key_status.setText(_("Keys are kept in the system keychain ({backend}).").format(
                    backend=status.backend.rsplit(".", 2)[-2]))
                self.key_status.setStyleSheet("QLabel { color: #137333; }")
            else:
                self.key_status.setText(_("<b>No usable keychain:</b> {reason}<br/>{fix}<br/>Keys are never written "
                                          "to disk instead.").format(reason=html.escape(status.reason),
                                                                      fix=html.escape(status.how_to_fix)))
                self.key_status.setStyleSheet("QLabel { color: #a50e0e; }")
                self.session_only.setVisible(True)
                self.session_only.setChecked(True)

        run_async(asyncio.to_thread(self._services.secrets.status), notifier=self._notifier, owner=self, on_done=show)

    # -- test ----------------------------------------------------------------------------------------------
    def test_connection(self) -> None:
        """List the models and send a tiny image; Cancel (pressing again) stops it."""
        if self._test_task is not None and not self._test_task.done():
            self._test_task.cancel()
            return
        try:
            profile = self.form_profile()
        except ProfileError as exc:
            self._notifier.show_error(UserFacingError(str(exc)), self)
            return
        typed_key = self.api_key.text().strip()
        if typed_key:
            register_secret(typed_key)
        model = profile.model

        async def run() -> ConnectionReport:
            key: str | None = typed_key or await asyncio.to_thread(self._services.secrets.get,
                                                                   profile.keychain_entry)
            return await check_endpoint(self._services.client, Endpoint(profile, key), model)

        self.test_button.setText(_("Cancel test"))
        self.test_result.setText(_("Testing {url} …").format(url=html.escape(profile.base_url)))
        self._test_task = run_async(run(), notifier=self._notifier, owner=self, on_done=self._show_report,
                                    on_error=self._test_failed)
        self._test_task.add_done_callback(self._test_ended)

    def cancel_test(self) -> None:
        """Stop a running connection test (the dialog is closing)."""
        if self._test_task is not None and not self._test_task.done():
            self._test_task.cancel()

    def _test_ended(self, task: asyncio.Task[ConnectionReport]) -> None:
        if not shiboken6.isValid(self):
            return
        self.test_button.setText(_("Test connection"))
        if task.cancelled():
            self.test_result.setText(_("Test cancelled."))

    def _test_failed(self, error: BaseException) -> None:
        self.test_result.setText(html.escape(str(error)))

    def _show_report(self, report: ConnectionReport) -> None:
        lines = []
        if report.models_error is None:
            shown = ", ".join(html.escape(m) for m in report.models[:12]) or _("(none listed)")
            lines.append(_("✔ The server lists {n} model(s): {models}").format(n=len(report.models), models=shown))
            if report.models:
                current = self.model.currentText()
                self.model.clear()
                self.model.addItems(report.models)
                self.model.setCurrentText(current or report.models[0])
        else:
            lines.append(_("✘ Listing models failed: {error}").format(error=html.escape(str(report.models_error))))
        if report.vision_ok:
            lines.append(_("✔ Vision works: the model answered a question about a test picture: “{reply}”").format(
                reply=html.escape(report.vision_reply[:200])))
        elif report.vision_error is not None:
            lines.append(_("✘ Vision test failed: {error}").format(error=html.escape(str(report.vision_error))))
        self.test_result.setText("<br/>".join(lines))


class SettingsDialog(QDialog):
    """The settings window (non-modal)."""

    profiles_changed = Signal()

    def __init__(self, services: Services, notifier: Notifier, parent: QWidget | None = None, *,
                 hotkeys: HotkeyService | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settings_dialog")
        self.setWindowTitle(_("GLM-V Desktop — Settings"))
        self.resize(820, 520)
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget()
        self.endpoints = EndpointsPage(services, notifier)
        self.endpoints.profiles_changed.connect(self.profiles_changed)
        self.general = GeneralPage(services)
        self.tabs.addTab(self.endpoints, _("Endpoints"))
        self.tabs.addTab(self.general, _("General"))
        self.hotkeys = HotkeysPage(services, notifier, hotkeys)
        self.tabs.addTab(self.hotkeys, _("Hotkeys && capture"))
        layout.addWidget(self.tabs)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        self.finished.connect(self.endpoints.cancel_test)
        layout.addWidget(buttons)
        self._notifier = notifier

    def _accept(self) -> None:
        try:
            self.general.apply()
            self.hotkeys.apply()
        except ValueError as exc:
            self._notifier.show_error(UserFacingError(str(exc)), self)
            return
        self.accept()
