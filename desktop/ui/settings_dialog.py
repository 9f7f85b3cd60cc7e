"""Settings: the General page is generated from the settings schema; the Endpoints page adds,
edits and removes profiles, stores keys in the keychain, and tests a connection for real.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Coroutine
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
    QMessageBox,
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
from desktop.config.schema import BY_KEY, SCHEMA, Setting
from desktop.config.secrets import KeychainStatus, KeychainUnavailable
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.secret import Secret
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


# Deletes every conversation and says how many there were (the app runs it through the history's writer).
DeleteHistory = Callable[[], Coroutine[Any, Any, int]]


class GeneralPage(QWidget):
    """Every schema setting a user should see, with its description as tooltip; *Delete all history*
    below the history settings when the page is given a way to do it."""

    def __init__(self, services: Services, parent: QWidget | None = None, *,
                 notifier: Notifier | None = None, delete_history: DeleteHistory | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._notifier = notifier or Notifier(self)
        self._delete_history = delete_history
        self._confirming: QMessageBox | None = None
        self.delete_history_button: QPushButton | None = None
        self.delete_history_result = QLabel()
        self.delete_history_result.setObjectName("history_deleted")
        self.delete_history_result.setWordWrap(True)
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
            if setting.key == "history.retention" and delete_history is not None:
                form.addRow("", self._delete_history_row())
        scroll.setWidget(body)
        outer.addWidget(scroll)

    def _delete_history_row(self) -> QWidget:
        row = QWidget()
        column = QVBoxLayout(row)
        column.setContentsMargins(0, 0, 0, 4)
        button = QPushButton(_("Delete all history…"))
        button.setObjectName("delete_all_history")
        button.setToolTip(_("Delete every saved conversation, pinned ones too."))
        button.clicked.connect(self.confirm_delete_history)
        self.delete_history_button = button
        line = QHBoxLayout()
        line.addWidget(button)
        line.addStretch(1)
        column.addLayout(line)
        column.addWidget(self.delete_history_result)
        return row

    def confirm_delete_history(self) -> None:
        """Ask before deleting every conversation (without waiting in a nested loop)."""
        if self._confirming is not None:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, _("Delete all history"),
                          _("Delete every conversation in the history, pinned ones too?"),
                          QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("confirm_delete_history")
        box.setInformativeText(_("This cannot be undone. The conversation open in the chat window is closed too."))
        delete = box.addButton(_("Delete all"), QMessageBox.ButtonRole.DestructiveRole)
        delete.setObjectName("confirm_delete_history_yes")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result: self._answered(box.clickedButton() is delete))
        self._confirming = box
        box.open()

    def _answered(self, confirmed: bool) -> None:
        self._confirming = None
        if not confirmed or self._delete_history is None or self.delete_history_button is None:
            return
        self.delete_history_button.setEnabled(False)
        self.delete_history_result.setText(_("Deleting…"))
        run_async(self._delete_history(), notifier=self._notifier, owner=self, on_done=self._deleted,
                  on_error=self._delete_failed)

    def _deleted(self, count: int) -> None:
        assert self.delete_history_button is not None
        self.delete_history_button.setEnabled(True)
        self.delete_history_result.setText(_("Deleted 1 conversation.") if count == 1 else
                                           _("Deleted {count} conversations.").format(count=count))

    def _delete_failed(self, error: BaseException) -> None:
        assert self.delete_history_button is not None
        self.delete_history_button.setEnabled(True)
        self.delete_history_result.setText(_("Nothing was deleted."))
        self._notifier.show_error(error, self)

    def values(self) -> dict[str, Any]:
        """Every shown value, checked against the schema; ValueError says which one is wrong."""
        return {key: BY_KEY[key].coerce(editor_value(BY_KEY[key], editor)) for key, editor in self.editors.items()}

    def apply(self) -> None:
        """Store every edited value (each is validated by the schema)."""
        for key, value in self.values().items():
            self._services.settings.set(key, value)


def _same_endpoint(a: EndpointProfile, b: EndpointProfile) -> bool:
    """Whether two versions of an endpoint behave the same (a form's text against what was saved)."""
    def meaning(p: EndpointProfile) -> tuple[object, ...]:
        return (p.id, p.name.strip(), p.flavor, p.base_url.strip().rstrip("/"), p.model.strip(),
                p.traits.thinking_switch)

    return meaning(a) == meaning(b)


class EndpointsPage(QWidget):
    """List of endpoint profiles and the form for the selected one.

    Edits (names, URLs, models, typed keys, added and removed endpoints) are a draft until the
    dialog's OK applies them all at once; Cancel drops them, asking first when something changed.
    """

    profiles_changed = Signal()

    def __init__(self, services: Services, notifier: Notifier, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._notifier = notifier
        self._test_task: asyncio.Task[ConnectionReport] | None = None
        self._keychain: KeychainStatus | None = None
        self._drafts: list[EndpointProfile] = services.profiles.all()
        self._saved = {p.id: p for p in self._drafts}  # what the settings held when the page opened
        self._typed_keys: dict[str, str] = {}  # keys typed for endpoints not shown in the form now
        self._shown: str | None = None  # id of the endpoint the form shows
        self._applying = False  # OK is saving: the changes heard meanwhile are the page's own
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
        self.name.textEdited.connect(self._name_edited)
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
        self.test_button = QPushButton(_("Test connection"))
        self.test_button.setObjectName("endpoint_test")
        self.test_button.clicked.connect(self.test_connection)
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
        services.settings.subscribe(self._on_setting)

    def stop_following(self) -> None:
        """Stop following outside changes to the endpoints (the dialog has closed)."""
        self._services.settings.unsubscribe(self._on_setting)

    def _on_setting(self, key: str, _value: object) -> None:
        """Endpoints changed outside the dialog (the command line, a local server started): take them in,
        keeping what the user has edited here."""
        if key != "endpoint.profiles" or self._applying or not shiboken6.isValid(self):
            return
        self._keep_form()
        current = {p.id: p for p in self._services.profiles.all()}
        drafts = []
        for draft in self._drafts:
            saved = self._saved.get(draft.id)
            untouched = saved is not None and _same_endpoint(draft, saved)
            if draft.id in current:
                drafts.append(current[draft.id] if untouched else draft)
            elif not untouched:
                drafts.append(draft)  # added here, or edited here while removed elsewhere: OK adds it
        known = {d.id for d in self._drafts} | set(self._saved)
        drafts += [p for i, p in current.items() if i not in known]
        self._drafts, self._saved = drafts, current
        item = self.list.currentItem()
        self._reload(select=item.data(Qt.ItemDataRole.UserRole) if item else None)

    # -- list -----------------------------------------------------------------------------------
    def _reload(self, select: str | None = None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for profile in self._drafts:
            item = QListWidgetItem(profile.name)
            item.setData(Qt.ItemDataRole.UserRole, profile.id)
            self.list.addItem(item)
            if profile.id == select:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self._shown = None  # the form was kept before the list was rebuilt
        self._on_selected(self.list.currentItem(), None)

    def _draft(self, profile_id: str) -> EndpointProfile | None:
        return next((p for p in self._drafts if p.id == profile_id), None)

    def selected(self) -> EndpointProfile | None:
        """The selected endpoint as edited so far (what OK would save), not yet validated."""
        self._keep_form()
        item = self.list.currentItem()
        return self._draft(item.data(Qt.ItemDataRole.UserRole)) if item else None

    def _keep_form(self) -> None:
        """Copy the form into the draft of the endpoint it shows (before showing another, or saving)."""
        current = self._draft(self._shown) if self._shown else None
        if current is None:
            return
        flavor = Flavor(self.flavor.currentData())
        switch = ThinkingSwitch(self.thinking_switch.currentData()) if flavor is Flavor.CUSTOM else None
        edited = EndpointProfile(id=current.id, name=self.name.text(), flavor=flavor, base_url=self.base_url.text(),
                                 model=self.model.currentText(), thinking_switch=switch)
        self._drafts[self._drafts.index(current)] = edited
        if self.api_key.text().strip():
            self._typed_keys[current.id] = self.api_key.text().strip()
        else:
            self._typed_keys.pop(current.id, None)  # typed, then cleared again

    def _on_selected(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        self._keep_form()
        profile = self._draft(item.data(Qt.ItemDataRole.UserRole)) if item else None
        self._shown = profile.id if profile else None
        enabled = profile is not None
        for widget in (self.name, self.flavor, self.base_url, self.model, self.api_key, self.test_button,
                       self.remove_button, self.thinking_switch):
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
        self.api_key.setText(self._typed_keys.get(profile.id, ""))
        self.api_key.setPlaceholderText(_("checking the keychain…"))

        async def has_key() -> bool:
            return bool(await asyncio.to_thread(self._services.secrets.get, profile.keychain_entry))

        def show(found: bool) -> None:
            self.api_key.setPlaceholderText(_("a key is stored — type to replace it") if found else
                                            (_("required") if profile.traits.needs_key else _("optional")))

        run_async(has_key(), notifier=self._notifier, owner=self, on_done=show)

    def _name_edited(self, text: str) -> None:
        item = self.list.currentItem()
        if item is not None:
            item.setText(text)

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
        """Add a new endpoint of `flavor` with its usual values to the draft and select it."""
        self._keep_form()
        profile = preset(flavor)
        if not profile.base_url:
            profile = EndpointProfile(name=profile.name, flavor=flavor, base_url="http://127.0.0.1:8000/v1", model="")
        self._drafts.append(profile)
        self._reload(select=profile.id)
        self.name.setFocus()
        self.name.selectAll()
        return profile

    def remove_selected(self) -> None:
        """Take the selected endpoint out of the draft (its key goes when OK applies it)."""
        profile = self.selected()
        if profile is None:
            return
        self._drafts.remove(profile)
        self._typed_keys.pop(profile.id, None)
        self._reload()

    # -- save --------------------------------------------------------------------------------------
    def form_profile(self) -> EndpointProfile:
        """The selected endpoint as edited in the form (validated)."""
        profile = self.selected()
        assert profile is not None
        return profile.validated()

    def has_changes(self) -> bool:
        """True when OK would change an endpoint or store a key."""
        self._keep_form()
        saved = list(self._saved.values())
        return bool(self._typed_keys) or len(saved) != len(self._drafts) or not all(
            _same_endpoint(a, b) for a, b in zip(self._drafts, saved, strict=True))

    def check(self) -> list[EndpointProfile]:
        """Every endpoint as OK would save it; raises UserFacingError, with that endpoint selected, when one
        cannot work."""
        self._keep_form()
        clean = []
        for draft in self._drafts:
            try:
                clean.append(draft.validated())
            except ProfileError as exc:
                self._reload(select=draft.id)
                raise UserFacingError(_("Endpoint '{name}': {problem}").format(
                    name=draft.name.strip() or _("(no name)"), problem=exc)) from exc
        return clean

    def apply(self) -> asyncio.Task[None] | None:
        """Save every edited, added and removed endpoint, and typed keys (stored in the background).

        Raises UserFacingError like `check`, before anything is saved. Returns the task storing the keys, if any.
        """
        clean = self.check()
        book = self._services.profiles
        kept = {p.id for p in clean}
        removed = [p for p in self._saved.values() if p.id not in kept]
        changed = [p for p in clean if p.id not in self._saved or not _same_endpoint(p, self._saved[p.id])]
        self._applying = True
        try:
            for profile in removed:
                book.remove(profile.id)
            for profile in changed:
                book.upsert(profile)
        finally:
            self._applying = False
        self._drafts = clean
        self._saved = {p.id: p for p in clean}
        keys = {book.get(i).keychain_entry: Secret(k) for i, k in self._typed_keys.items()  # type: ignore[union-attr]
                if book.get(i) is not None}
        self._typed_keys.clear()
        self.api_key.clear()
        if removed or changed:
            self.profiles_changed.emit()
        for profile in removed:
            # Not owned by the page: the dialog may be gone before the keychain answers, and a failure is still told.
            run_async(asyncio.to_thread(self._services.secrets.delete, profile.keychain_entry), notifier=self._notifier)
        if not keys:
            return None
        return run_async(self._store_keys(keys, session_only=self.session_only.isChecked()), notifier=self._notifier,
                         on_done=self._keys_stored)

    async def _store_keys(self, keys: dict[str, Secret], *, session_only: bool) -> None:
        secrets = self._services.secrets
        refused: KeychainUnavailable | None = None
        for entry, key in keys.items():
            if session_only:
                secrets.set_for_session(entry, key)
            else:
                refused = await asyncio.to_thread(secrets.keep, entry, key) or refused
        if refused is not None:
            raise UserFacingError(refused.message, _("The key is used for this session only. {fix}").format(
                fix=refused.hint))

    def _keys_stored(self, _result: None) -> None:
        if shiboken6.isValid(self) and not self.api_key.text():
            self.api_key.setPlaceholderText(_("a key is stored — type to replace it"))

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
        typed = self.api_key.text().strip()
        typed_key = Secret(typed) if typed else None

        async def run() -> ConnectionReport:
            key = typed_key or await asyncio.to_thread(self._services.secrets.get, profile.keychain_entry)
            return await check_endpoint(self._services.client, Endpoint(profile, key), profile.model)

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
                self.model.setCurrentText(current or report.model or report.models[0])
        else:
            lines.append(_("✘ Listing models failed: {error}").format(error=html.escape(str(report.models_error))))
        if report.vision_ok:
            lines.append(_("✔ Vision works: {model} answered a question about a test picture: “{reply}”").format(
                model=html.escape(report.model), reply=html.escape(report.vision_reply[:200])))
        elif report.vision_error is not None:
            lines.append(_("✘ Vision test failed: {error}").format(error=html.escape(str(report.vision_error))))
        self.test_result.setText("<br/>".join(lines))


class SettingsDialog(QDialog):
    """The settings window (non-modal). OK saves everything shown; Cancel asks before dropping changes."""

    profiles_changed = Signal()

    def __init__(self, services: Services, notifier: Notifier, parent: QWidget | None = None, *,
                 hotkeys: HotkeyService | None = None, delete_history: DeleteHistory | None = None) -> None:
        """`delete_history` deletes every conversation (the app's, through its history writer); without it
        the General page offers no *Delete all history*."""
        super().__init__(parent)
        self.setObjectName("settings_dialog")
        self.setWindowTitle(_("Settings"))
        self.resize(820, 520)
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget()
        self.endpoints = EndpointsPage(services, notifier)
        self.endpoints.profiles_changed.connect(self.profiles_changed)
        self.general = GeneralPage(services, notifier=notifier, delete_history=delete_history)
        self.tabs.addTab(self.endpoints, _("Endpoints"))
        self.tabs.addTab(self.general, _("General"))
        self.hotkeys = HotkeysPage(services, notifier, hotkeys)
        self.tabs.addTab(self.hotkeys, _("Hotkeys && capture"))
        layout.addWidget(self.tabs)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.setObjectName("settings_buttons")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self.finished.connect(self.endpoints.cancel_test)
        self.finished.connect(self.endpoints.stop_following)
        layout.addWidget(self.buttons)
        self._notifier = notifier
        self._services = services
        self.key_task: asyncio.Task[None] | None = None  # the keys OK is storing (tests wait for it)
        self._asking: QMessageBox | None = None

    def has_changes(self) -> bool:
        """True when OK would change something (or something shown cannot be saved as it is)."""
        settings = self._services.settings
        try:
            general = any(settings.get(key) != value for key, value in self.general.values().items())
            hotkeys = any(settings.get(key) != text for key, text in self.hotkeys.values().items())
        except ValueError:
            return True
        return general or hotkeys or self.endpoints.has_changes()

    def _accept(self) -> None:
        try:  # every page is checked before any is saved, so a refusal leaves nothing half-applied
            self.general.values()
            self.hotkeys.values()
            self.endpoints.check()
        except UserFacingError as exc:
            self._notifier.show_error(exc, self)
            return
        except ValueError as exc:
            self._notifier.show_error(UserFacingError(str(exc)), self)
            return
        self.key_task = self.endpoints.apply()
        self.general.apply()
        self.hotkeys.apply()
        self.accept()

    def reject(self) -> None:
        """Cancel, Esc or the close button: drop the changes, asking first if there are any."""
        if self._asking is not None:
            return
        if not self.has_changes():
            super().reject()
            return
        box = QMessageBox(QMessageBox.Icon.Question, _("Settings"), _("Save the changes you made?"),
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("unsaved_settings")
        box.setInformativeText(_("Discard drops them; Cancel goes back to the settings."))
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._answered)
        self._asking = box
        box.open()

    def _answered(self, answer: int) -> None:
        self._asking = None
        if answer == QMessageBox.StandardButton.Save:
            self._accept()
        elif answer == QMessageBox.StandardButton.Discard:
            super().reject()
