"""Where the Local servers window runs servers: this computer or one of the user's SSH hosts.

`HostSelector` is the row at the top of the window (the computer, Add an SSH host…, Remove); `AddHostDialog`
asks for an address, a key file and the Python there; `trust_host` shows an unknown host's key fingerprints
and asks whether to trust them; `ask_passphrase` asks for a key's passphrase (kept in memory only for the
moment ssh needs it).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.assistant.remote_hosts import RemoteHosts
from desktop.config.hosts import HostBook, HostError, SshHostEntry
from desktop.i18n import _
from desktop.secret import Secret
from desktop.ui.operations import dialog_value

if TYPE_CHECKING:
    from desktop.backends.ssh import HostKeyUnknown

_ADD = "__add__"


class HostSelector(QWidget):
    """"Run on: [This computer ▾] [Remove host]"; emits `changed` with the chosen host (None: this computer)."""

    changed = Signal(object)  # SshHostEntry | None

    def __init__(self, book: HostBook, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.book = book
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(_("Run on:")))
        self.box = QComboBox()
        self.box.setObjectName("server_host")
        self.box.setMinimumContentsLength(18)
        layout.addWidget(self.box)
        self.remove_button = QPushButton(_("Remove host"))
        self.remove_button.setObjectName("remove_host")
        self.remove_button.clicked.connect(self._remove)
        layout.addWidget(self.remove_button)
        layout.addStretch(1)
        self._current: SshHostEntry | None = None
        self._fill(None)
        self.box.activated.connect(self._chosen)

    @property
    def current(self) -> SshHostEntry | None:
        """The chosen host (None: this computer)."""
        return self._current

    def _fill(self, select: str | None) -> None:
        self.box.blockSignals(True)
        self.box.clear()
        self.box.addItem(_("This computer"), "")
        for entry in self.book.all():
            self.box.addItem(entry.label, entry.id)
        self.box.insertSeparator(self.box.count())
        self.box.addItem(_("Add an SSH host…"), _ADD)
        index = self.box.findData(select or "")
        self.box.setCurrentIndex(max(0, index))
        self.box.blockSignals(False)
        self._current = self.book.get(select) if select else None
        self.remove_button.setEnabled(self._current is not None)

    def _chosen(self, index: int) -> None:
        data = self.box.itemData(index)
        if data == _ADD:
            self._add()
            return
        self.choose(str(data) or None)

    def choose(self, host_id: str | None) -> None:
        """Select a host by id (None: this computer) and tell the window."""
        before = self._current
        self._fill(host_id)
        if self._current != before:
            self.changed.emit(self._current)

    def _add(self) -> None:
        dialog = AddHostDialog(self.book, self.window())
        dialog.added.connect(lambda entry: self.choose(entry.id))
        dialog.rejected.connect(lambda: self._fill(self._current.id if self._current else None))
        dialog.open()

    def _remove(self) -> None:
        if self._current is not None:
            self.book.remove(self._current.id)
            self.choose(None)


class AddHostDialog(QDialog):
    """Address (user@host:port or an ~/.ssh/config alias), an optional key file, the Python there."""

    added = Signal(object)  # SshHostEntry

    def __init__(self, book: HostBook, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("add_host_dialog")
        self.setWindowTitle(_("Add an SSH host"))
        self.book = book
        layout = QVBoxLayout(self)
        intro = QLabel(_("A GPU server you can log in to with SSH. The app connects with your SSH setup "
                         "(~/.ssh/config, the SSH agent), runs the server there on its 127.0.0.1 only, and "
                         "reaches it through the SSH connection."))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.address = QLineEdit()
        self.address.setObjectName("host_address")
        self.address.setPlaceholderText(_("user@gpu-server or user@10.0.0.5:2222"))
        self.name = QLineEdit()
        self.name.setObjectName("host_name")
        self.name.setPlaceholderText(_("optional, e.g. Lab GPU box"))
        self.identity = QLineEdit()
        self.identity.setObjectName("host_key_file")
        self.identity.setPlaceholderText(_("optional: the SSH agent and ~/.ssh keys are tried"))
        browse = QPushButton(_("Choose…"))
        browse.clicked.connect(self._browse)
        key_row = QHBoxLayout()
        key_row.addWidget(self.identity, 1)
        key_row.addWidget(browse)
        self.python = QLineEdit("python3")
        self.python.setObjectName("host_python")
        form.addRow(_("Address:"), self.address)
        form.addRow(_("Name:"), self.name)
        form.addRow(_("Private key file:"), key_row)
        form.addRow(_("Python there:"), self.python)
        layout.addLayout(form)
        self.error = QLabel()
        self.error.setObjectName("host_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("QLabel { color: #c5221f; }")
        self.error.hide()
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(_("Add"))
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(520, self.sizeHint().height())

    def _browse(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(self, _("Choose the private key file"))
        if path:
            self.identity.setText(path)

    def _accept(self) -> None:
        try:
            entry = self.book.add(SshHostEntry(self.address.text().strip(), name=self.name.text().strip(),
                                               identity_file=self.identity.text().strip(),
                                               python=self.python.text().strip()))
        except HostError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.added.emit(entry)
        self.accept()


async def trust_host(parent: QWidget | None, unknown: HostKeyUnknown) -> bool:
    """Show an unknown host's key fingerprints; True when the user trusts them."""
    box = QMessageBox(parent)
    box.setObjectName("trust_host_dialog")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(_("Unknown SSH host"))
    box.setText(html.escape(unknown.message))
    box.setInformativeText("<pre>" + html.escape(unknown.detail) + "</pre>" + html.escape(unknown.hint))
    trust = box.addButton(_("Trust and connect"), QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)  # a stray Enter never trusts a key
    chosen = await dialog_value(box, box.buttonClicked)
    return chosen is trust


async def ask_passphrase(parent: QWidget | None, prompt: str) -> Secret | None:
    """Ask for what ssh asks (a key's passphrase); None when cancelled. Kept only in memory."""
    dialog = QInputDialog(parent)
    dialog.setObjectName("ssh_passphrase_dialog")
    dialog.setWindowTitle(_("SSH key passphrase"))
    dialog.setLabelText(prompt.strip() or _("Passphrase:"))
    dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
    text = await dialog_value(dialog, dialog.textValueSelected)
    return Secret(text) if text is not None else None


def remote_hosts_for(parent: QWidget | None, known_hosts: Path) -> RemoteHosts:
    """RemoteHosts that ask through dialogs over `parent`."""
    return RemoteHosts(known_hosts, ask_passphrase=lambda prompt: ask_passphrase(parent, prompt),
                       confirm_host=lambda unknown: trust_host(parent, unknown))
