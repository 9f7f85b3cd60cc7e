"""The background-operation helper's contract, and deferred settings saves."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from desktop.config.settings import SettingsStore
from desktop.errors import UserFacingError
from desktop.ui.notifier import Notifier
from desktop.ui.operations import DeferredSave, Progress, run_async


def test_success_runs_on_the_ui_thread(qtbot: Any, qt_loop: Any) -> None:
    results: list[tuple[int, bool]] = []

    def work() -> int:
        return 41 + (threading.current_thread() is not threading.main_thread())

    task = run_async(asyncio.to_thread(work), notifier=Notifier(),
                     on_done=lambda v: results.append((v, threading.current_thread() is threading.main_thread())))
    qtbot.waitUntil(task.done)
    qtbot.waitUntil(lambda: bool(results))
    assert results == [(42, True)]


def test_failure_without_handler_goes_to_the_notifier(qtbot: Any, qt_loop: Any, monkeypatch: Any) -> None:
    notifier = Notifier()
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "open", lambda self: None)  # no dialog on screen during the test

    async def fail() -> None:
        raise UserFacingError("The thing broke.", "Do the other thing.")

    run_async(fail(), notifier=notifier)
    qtbot.waitUntil(lambda: notifier.shown == ["The thing broke."])


def test_cancel_and_deleted_owner_call_nothing(qtbot: Any, qt_loop: Any) -> None:
    called: list[str] = []

    async def slow() -> None:
        await asyncio.sleep(5)

    cancelled = run_async(slow(), notifier=Notifier(), on_done=lambda _: called.append("done"),
                          on_error=lambda _: called.append("error"))
    cancelled.cancel()
    owner = QObject()

    async def quick() -> int:
        await asyncio.sleep(0.05)
        return 1

    orphan = run_async(quick(), notifier=Notifier(), owner=owner, on_done=lambda _: called.append("orphan"))
    import shiboken6

    shiboken6.delete(owner)
    qtbot.waitUntil(lambda: cancelled.done() and orphan.done())
    qtbot.wait(50)
    assert called == []


def test_progress_from_a_worker_thread_arrives_on_the_ui_thread(qtbot: Any) -> None:
    progress = Progress()
    seen: list[tuple[float, str, bool]] = []
    progress.changed.connect(lambda f, m: seen.append((f, m, threading.current_thread() is threading.main_thread())))
    worker = threading.Thread(target=lambda: progress.report(0.5, "half"), name="asyncio_0")
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(seen))
    assert seen == [(0.5, "half", True)]


def test_deferred_save_coalesces_and_writes_off_the_ui_thread(qtbot: Any, qt_loop: Any, tmp_path: Path) -> None:
    saver = DeferredSave(Notifier(), delay_ms=50)
    store = SettingsStore(tmp_path / "settings.json", schedule_save=saver.schedule)
    writers: list[bool] = []
    original = store.save

    def tracking_save() -> None:
        writers.append(threading.current_thread() is threading.main_thread())
        original()

    store.save = tracking_save  # type: ignore[method-assign]
    for value in range(300, 400, 10):
        store.set("images.token_budget", value)
    assert not (tmp_path / "settings.json").exists()
    qtbot.waitUntil(lambda: (tmp_path / "settings.json").exists(), timeout=3000)
    qtbot.wait(100)
    assert writers == [False]
    assert json.loads((tmp_path / "settings.json").read_text())["images.token_budget"] == 390
    store.set("chat.thinking", False)
    saver.flush()
    assert json.loads((tmp_path / "settings.json").read_text())["chat.thinking"] is False
