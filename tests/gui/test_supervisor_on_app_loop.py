"""The server supervisor runs on the app's own event loop (qasync on Qt's loop): a child server is
started, health-checked, and stopped from the UI thread's loop, as the local-server panel will."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from desktop.backends.supervisor import ServerCommand, ServerState, ServerSupervisor, free_port
from tests.support import fake_servers

FAKE = str(Path(fake_servers.__file__).resolve())


def test_supervisor_starts_and_stops_a_server_on_the_qasync_loop(run: Any, qt_loop: asyncio.AbstractEventLoop,
                                                                  tmp_path: Path) -> None:
    port = free_port()
    command = ServerCommand(argv=(sys.executable, FAKE, "spawner", str(port)), port=port, engine="fake")
    supervisor = ServerSupervisor(command, tmp_path / "server.log")

    async def scenario() -> tuple[ServerState, ServerState]:
        await supervisor.start()
        await supervisor.wait_ready(60)
        ready = supervisor.state
        await supervisor.stop()
        return ready, supervisor.state

    ready, stopped = run(scenario(), timeout_ms=60000)
    assert ready is ServerState.READY and stopped is ServerState.STOPPED
    assert "grandchild" in supervisor.log_tail()
