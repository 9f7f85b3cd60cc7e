"""An API key typed into Settings reaches no file and no log, with debug logging on (`-v`)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from desktop import logsetup
from desktop.assistant.services import AppPaths, Services
from desktop.config.profiles import Flavor
from desktop.ui.notifier import Notifier
from desktop.ui.settings_dialog import SettingsDialog
from tests.support.fake_openai_server import FakeOpenAIServer, Scenario

# Shaped like no known key format, so only the app's own handling of keys can keep it out.
CANARY = "canary7Qx2LmZp9RtVw4"


class RawRecords(logging.Handler):
    """Every record as it was logged, before any handler's redaction could rewrite it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.messages.append(record.getMessage())


@pytest.fixture
def verbose_logging(app_paths: AppPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The app's logging as `glmv-desktop -v` sets it up (its stderr into a file), undone afterwards."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "qasync")}
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w", encoding="utf-8") as stream:
        monkeypatch.setattr(sys, "stderr", stream)
        handlers = logsetup.configure(app_paths.logs, verbose=True)
        raw = RawRecords()
        root.handlers.insert(0, raw)  # first, so it sees each record before a redacting handler rewrites it
        handlers.append(raw)
        yield stderr
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def files_under(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                yield path


def test_a_key_saved_and_used_with_debug_logging_is_written_nowhere(
        qtbot: Any, app_paths: AppPaths, services: Services, verbose_logging: Path,
        fake_server: FakeOpenAIServer) -> None:
    fake_server.set_scenario(Scenario(models=("glm-4.6v",), require_api_key=CANARY, content="Red and blue."))
    # GIVEN a key typed into a new endpoint, saved with OK (stored in the keychain from a worker thread)
    dialog = SettingsDialog(services, Notifier())
    qtbot.addWidget(dialog)
    dialog.show()
    page = dialog.endpoints
    page.add_profile(Flavor.VLLM)
    page.base_url.setText(fake_server.base_url)
    page.model.setCurrentText("glm-4.6v")
    page.api_key.setText(CANARY)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.key_task is not None
    qtbot.waitUntil(dialog.key_task.done, timeout=5000)
    assert dialog.key_task.exception() is None
    # WHEN the key is read back and sent (Test connection of the saved endpoint)
    again = SettingsDialog(services, Notifier())
    qtbot.addWidget(again)
    again.show()
    again.endpoints.list.setCurrentRow(again.endpoints.list.count() - 1)
    again.endpoints.test_connection()
    qtbot.waitUntil(lambda: "Vision works" in again.endpoints.test_result.text(), timeout=10000)
    assert fake_server.chat_requests[-1].headers.get("authorization") == f"Bearer {CANARY}"
    # and a library logs it as a plain argument
    logging.getLogger("some.library").debug("calling with %s", CANARY)
    again.close()
    for handler in logging.getLogger().handlers:
        handler.flush()
    # THEN no file the app wrote, and not its stderr, holds it
    err = verbose_logging.read_text(encoding="utf-8")
    assert CANARY not in err
    assert "calling with [redacted]" in err  # the debug log was really on
    # and not thanks to the redactor alone: no record carried it in the first place (keys travel as Secrets, and
    # qasync's argument-printing debug lines stay off)
    raw = next(h for h in logging.getLogger().handlers if isinstance(h, RawRecords))
    assert [m for m in raw.messages if CANARY in m] == ["calling with " + CANARY]
    assert not [r for r in raw.records if r.name.startswith("qasync") and r.levelno < logging.INFO]
    assert any(r.name.startswith("httpcore") and r.levelno == logging.DEBUG for r in raw.records)
    log_file = app_paths.logs / "app.log"
    assert "calling with [redacted]" in log_file.read_text(encoding="utf-8")
    xdg = [Path(os.environ[f"XDG_{name}_HOME"]) for name in ("CONFIG", "DATA", "STATE", "CACHE")
           if Path(os.environ.get(f"XDG_{name}_HOME", "/nonexistent")).is_dir()]
    leaks = [str(path) for path in files_under(app_paths.config, app_paths.data, app_paths.logs)
             if CANARY.encode() in path.read_bytes()]
    leaks += [str(path) for path in files_under(*xdg) if CANARY.encode() in path.read_bytes()]
    assert leaks == []
