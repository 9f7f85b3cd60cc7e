"""The one place errors are shown: user-facing errors as a dialog with their hint, everything
else logged with its stack and shown as an unexpected error. Global exception hooks route here.

One dialog at a time: errors that arrive while it is open are added to it (the same one once),
so a burst of failures never stacks windows the user must close one by one.
"""

from __future__ import annotations

import html
import logging
import sys
import threading
import traceback
from types import TracebackType

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from desktop.errors import UserFacingError
from desktop.i18n import _

log = logging.getLogger(__name__)


class Notifier(QObject):
    """Shows errors and notices; safe to call from any thread."""

    _error = Signal(object, object)
    notice = Signal(str)  # informational text for a banner

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._error.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self.default_parent: QWidget | None = None
        self.shown: list[str] = []  # what was shown, newest last (for tests and diagnostics)
        self.dialog: QMessageBox | None = None  # the open error dialog, if any
        self._entries: list[tuple[str, str, str]] = []  # what the open dialog shows: text, hint, detail

    def show_error(self, error: BaseException, parent: QWidget | None = None) -> None:
        """Show `error` (from any thread)."""
        self._error.emit(error, parent)

    def _show(self, error: BaseException, parent: QWidget | None) -> None:
        if isinstance(error, UserFacingError):
            log.info("Shown to the user: %s (%s)", error.message, error.detail or error.hint)
            text, hint, detail = error.message, error.hint, error.detail
            icon = QMessageBox.Icon.Warning
        else:
            log.error("Unexpected error", exc_info=(type(error), error, error.__traceback__))
            text = _("Something went wrong: {error}").format(error=error)
            hint = _("Nothing you typed was lost. The details are in the log; please report them.")
            detail = "".join(traceback.format_exception(error))
            icon = QMessageBox.Icon.Critical
        self.shown.append(text)
        if self.dialog is not None and shiboken6.isValid(self.dialog) and self.dialog.isVisible():
            if all(entry[0] != text for entry in self._entries):
                self._entries.append((text, hint, detail))
                if icon is QMessageBox.Icon.Critical:
                    self.dialog.setIcon(icon)
                self._fill(self.dialog)
            return
        self._entries = [(text, hint, detail)]
        box = QMessageBox(icon, _("Unexpected error") if icon is QMessageBox.Icon.Critical else _("GLM-V Desktop"),
                          text, parent=parent or self.default_parent)
        box.setObjectName("error_dialog")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result, closed=box: self._closed(closed))
        self._fill(box)
        self.dialog = box
        box.open()

    def _fill(self, box: QMessageBox) -> None:
        parts = [f"<b>{html.escape(text)}</b>" + (f"<p>{html.escape(hint)}</p>" if hint else "")
                 for text, hint, _detail in self._entries]
        box.setText("<hr/>".join(parts))
        details = "\n\n".join(detail for _text, _hint, detail in self._entries if detail)
        if details:
            box.setDetailedText(details)

    def _closed(self, box: QMessageBox) -> None:
        if box is self.dialog:  # an older dialog closing later leaves the open one as it is
            self.dialog = None
            self._entries = []


def install_exception_hooks(notifier: Notifier) -> None:
    """Route uncaught exceptions (main and worker threads) to the notifier instead of losing them."""

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        notifier.show_error(value.with_traceback(tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            notifier.show_error(args.exc_value)

    sys.excepthook = hook
    threading.excepthook = thread_hook
