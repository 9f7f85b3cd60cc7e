"""The one helper for background work from the UI, with a written contract.

Contract of `run_async`:
- it schedules a coroutine on the app's asyncio loop (qasync, i.e. the Qt thread); blocking or CPU
  work inside it must go through `asyncio.to_thread`, so the UI never waits;
- `on_done(result)` and `on_error(exc)` run on the UI thread, only if `owner` still exists;
- a failure without `on_error` goes to the notifier, which logs it with its stack and shows it;
- the returned task can be cancelled at any time; cancellation calls neither callback;
- workers never touch widgets: progress goes through `Progress`, a Qt signal, so it is delivered
  on the UI thread even when reported from a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal, SignalInstance
from PySide6.QtWidgets import QDialog

from desktop.ui.notifier import Notifier

T = TypeVar("T")


class Progress(QObject):
    """Thread-safe progress reports: fraction in 0..1 (or -1 when unknown) and a message."""

    changed = Signal(float, str)

    def report(self, fraction: float, message: str = "") -> None:
        """Report progress from any thread."""
        self.changed.emit(fraction, message)


def run_async(coro: Coroutine[Any, Any, T], *, notifier: Notifier, owner: QObject | None = None,
              on_done: Callable[[T], None] | None = None,
              on_error: Callable[[BaseException], None] | None = None) -> asyncio.Task[T]:
    """Run `coro` in the background under the contract above; returns its task."""
    task = asyncio.ensure_future(coro)

    def finished(done: asyncio.Task[T]) -> None:
        if done.cancelled():
            return
        error = done.exception()  # retrieved even when nobody is left to tell, so it is never "lost"
        if owner is not None and not shiboken6.isValid(owner):
            return
        if error is None:
            if on_done is not None:
                on_done(done.result())
        elif on_error is not None:
            on_error(error)
        else:
            notifier.show_error(error)

    task.add_done_callback(finished)
    return task


def reply_starter(notifier: Notifier) -> Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]:
    """How a `ChatSession` started by the UI runs its replies: `run_async`, an unexpected failure
    shown by the notifier (the session still gives the reply its final state)."""

    def start(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return run_async(coro, notifier=notifier)

    return start


class DeferredSave(QObject):
    """Coalesces quick changes and runs a save in a worker thread, so the UI never waits on disk."""

    def __init__(self, notifier: Notifier, delay_ms: int = 400, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._notifier = notifier
        self._save: Callable[[], None] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._run)

    def schedule(self, save: Callable[[], None]) -> None:
        """Save soon (restarts the delay)."""
        self._save = save
        self._timer.start()

    def _run(self) -> None:
        if self._save is not None:
            run_async(asyncio.to_thread(self._save), notifier=self._notifier, owner=self)

    def flush(self) -> None:
        """Save now if a save is pending (on quit)."""
        if self._timer.isActive() and self._save is not None:
            self._timer.stop()
            self._save()


async def dialog_value(dialog: QDialog, value: SignalInstance) -> Any:
    """Open `dialog` without a nested event loop (exec() would stall every other task, a streaming answer
    included) and wait for it: what `value` carries when the user accepts, None when it closes otherwise.
    The dialog is deleted once closed; a cancelled wait closes it."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any) -> None:
        if not answer.done():
            answer.set_result(result)

    value.connect(settle)
    # Closed without a value: settled a moment later, as some dialogs (QInputDialog) emit their value after
    # `finished`.
    dialog.finished.connect(lambda _code: loop.call_soon(settle, None))
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    try:
        return await answer
    finally:
        if shiboken6.isValid(dialog) and dialog.isVisible():
            dialog.reject()
