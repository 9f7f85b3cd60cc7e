"""One run of the UI-stall benchmark, in its own process on a display: a chat window renders a long
answer streamed at a fixed token rate from the protocol-faithful server, while a 5 ms probe timer
measures how late the event loop runs. As in the app, the window's session is recorded in the history
as it streams (the writer thread saving the reply every 250 ms) and its history sidebar is open,
following the writes. Prints one JSON line.

    python -m tests.bench.stall_probe --tokens 20000 --rate 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer

from desktop.app import GlmvApplication, create_event_loop
from desktop.assistant.history import HistoryWriter, SessionRecorder
from desktop.assistant.services import AppPaths, Services
from desktop.assistant.session import ChatSession
from desktop.config.profiles import Flavor, preset
from desktop.store import Origin
from desktop.ui.chat_window import ChatWindow
from desktop.ui.notifier import Notifier
from desktop.ui.operations import reply_starter
from tests.bench.workloads import markdown_answer
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer

PROBE_MS = 5


def main() -> int:
    """Stream, render, measure; print {"worst_stall_ms", "p99_stall_ms", ...}."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--no-history", action="store_true", help="the window without the history (a reference)")
    args = parser.parse_args()
    app = GlmvApplication(sys.argv[:1])
    loop = create_event_loop(app)
    answer = markdown_answer(args.tokens)
    server = FakeOpenAIServer(VLLM_NEW.evolve(reasoning="Reading the screen first.", content=answer,
                                              tokens_per_second=args.rate))
    home = Path(tempfile.mkdtemp(prefix="glmv-bench-"))
    services = Services.create(AppPaths(home / "config", home / "data", home / "logs"))
    profile = services.profiles.upsert(preset(Flavor.VLLM, base_url=server.base_url, model="glm-4.6v"))
    services.profiles.set_active(profile.id, "glm-4.6v")
    notifier = Notifier()
    writer = HistoryWriter(home / "data")
    writer.start()

    def new_session() -> ChatSession:
        session = ChatSession(services.runner, reply_starter(notifier))
        SessionRecorder(session, writer, Origin.CHAT)
        return session

    if args.no_history:
        window = ChatWindow(services, notifier)
    else:
        window = ChatWindow(services, notifier, new_session=new_session, history=writer)
    window.resize(900, 1000)
    window.show()
    lateness: list[float] = []
    expected = [0.0]

    def probe() -> None:
        now = time.perf_counter()
        if expected[0]:
            lateness.append(max(0.0, (now - expected[0]) * 1000))
        expected[0] = now + PROBE_MS / 1000

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(probe)
    result: dict[str, object] = {}

    async def run() -> None:
        await asyncio.sleep(2.0)  # the user types the question meanwhile; the window warms up
        timer.start(PROBE_MS)
        started = time.perf_counter()
        window.composer.prompt.setPlainText("Explain everything on my screen in detail.")
        window.send()
        while window.busy:
            await asyncio.sleep(0.05)
        timer.stop()
        reply = window.conversation.messages[-1]
        await asyncio.to_thread(writer.flush)
        stored = None if args.no_history or writer.store is None else writer.store.load_conversation(
            window.conversation.id)
        ordered = sorted(lateness)
        result.update(
            worst_stall_ms=round(ordered[-1], 2) if ordered else None,
            p99_stall_ms=round(ordered[int(len(ordered) * 0.99)], 2) if ordered else None,
            probes=len(ordered), seconds=round(time.perf_counter() - started, 1),
            answer_chars=len(reply.text), state=reply.state.value,
            stored_chars=len(stored.messages[-1].text) if stored is not None else len(reply.text),
        )
        window.shutdown()
        await services.client.aclose()
        app.quit()

    asyncio.ensure_future(run())
    with loop:
        loop.run_forever()
    writer.close()
    server.close()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
