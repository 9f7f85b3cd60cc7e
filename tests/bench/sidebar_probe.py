"""One run of the history-sidebar benchmark, in its own process: over a generated history, how long from
opening the chat window (its sidebar open), and from clicking the sidebar's button (closed until then),
until the sidebar's first page of conversations is painted. Prints one JSON line.

    QT_QPA_PLATFORM=offscreen python -m tests.bench.sidebar_probe DATA_DIR --runs 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject

from desktop.app import GlmvApplication, create_event_loop
from desktop.assistant.history import HistoryWriter
from desktop.assistant.services import AppPaths, Services
from desktop.ui.chat_window import ChatWindow
from desktop.ui.notifier import Notifier


class FirstPaint(QObject):
    """Notes when the sidebar's list first paints with conversations in it."""

    def __init__(self, chat: ChatWindow) -> None:
        super().__init__()
        assert chat.sidebar is not None
        self.sidebar = chat.sidebar
        self.at: float | None = None
        chat.sidebar.list.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """A paint of the list with rows in it: the first page is on screen."""
        if event.type() == QEvent.Type.Paint and self.at is None and self.sidebar.model.summaries:
            self.at = time.perf_counter()
        return False


async def _painted(probe: FirstPaint, timeout: float = 10.0) -> float:
    deadline = time.monotonic() + timeout
    while probe.at is None:
        if time.monotonic() > deadline:
            raise RuntimeError("the sidebar never painted a page")
        await asyncio.sleep(0.001)
    return probe.at


def main() -> int:
    """Open, toggle, measure; print {"open_ms": [...], "toggle_ms": [...], "conversations": N}."""
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    app = GlmvApplication(sys.argv[:1])
    loop = create_event_loop(app)
    home = Path(tempfile.mkdtemp(prefix="glmv-bench-sidebar-"))
    paths = AppPaths(home / "config", args.data, home / "logs")
    services = Services.create(paths)
    writer = HistoryWriter(args.data)
    result: dict[str, object] = {}

    async def settle(chat: ChatWindow) -> None:
        for _ in range(10):  # thumbnails, the warm-up thread, the first layout
            await asyncio.sleep(0.02)

    async def run() -> None:
        writer.start()
        while writer.store is None:
            await asyncio.sleep(0.01)
        result["conversations"] = await asyncio.to_thread(writer.store.count_conversations)
        opened: list[float] = []
        toggled: list[float] = []
        for _ in range(args.runs):
            window_services = Services.create(paths)  # each window subscribes to its own settings
            window_services.settings.set("ui.history_sidebar", True)
            started = time.perf_counter()
            chat = ChatWindow(window_services, Notifier(), history=writer)
            probe = FirstPaint(chat)
            chat.show()
            opened.append((await _painted(probe) - started) * 1000)
            await settle(chat)
            chat.shutdown()
            chat.deleteLater()
            await window_services.client.aclose()
            window_services = Services.create(paths)
            window_services.settings.set("ui.history_sidebar", False)
            chat = ChatWindow(window_services, Notifier(), history=writer)
            probe = FirstPaint(chat)
            chat.show()
            await settle(chat)
            started = time.perf_counter()
            chat.history_toggle.click()
            toggled.append((await _painted(probe) - started) * 1000)
            await settle(chat)
            chat.shutdown()
            chat.deleteLater()
            await window_services.client.aclose()
        result.update(open_ms=[round(v, 2) for v in opened], toggle_ms=[round(v, 2) for v in toggled])
        await services.client.aclose()
        app.quit()

    asyncio.ensure_future(run())
    with loop:
        loop.run_forever()
    writer.close()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
