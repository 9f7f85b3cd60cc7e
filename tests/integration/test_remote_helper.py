"""The program the app runs on an SSH host (given there with `python3 -c`), run here as ssh would run it.

On a host whose init does not reap orphans (many containers), a stopped server lingers as a zombie: it
runs no more, but `kill(pgid, 0)` still finds it. A stop must not wait for it, and a status must not
report it as running.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from desktop.backends.remote import _HELPER  # noqa: PLC2701

# A parent that starts a server in its own session and never reaps it: the server, once signalled,
# stays a zombie, as under an init that does not reap.
NEGLECTFUL_PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
print(child.pid, flush=True)
time.sleep(600)
"""


def helper(verb: str, state: Path, **args: Any) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _HELPER, verb], input=json.dumps({**args, "state": str(state)}),
                          capture_output=True, text=True, timeout=60, check=True)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(answer, dict)
    return answer


@pytest.fixture
def orphan_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A "server" whose parent never reaps it, recorded as the helper records one; yields (pid, state dir)."""
    parent = subprocess.Popen([sys.executable, "-c", NEGLECTFUL_PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        started = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19]
        state = tmp_path / "state"
        state.mkdir()
        (state / "server.json").write_text(json.dumps({"pid": pid, "pgid": pid, "started": started, "port": 1,
                                                       "engine": "vllm", "model": "m", "log_path": "x"}))
        yield pid, state
    finally:
        parent.kill()
        parent.communicate()


def test_a_stopped_server_left_a_zombie_is_stopped_at_once(orphan_server: tuple[int, Path]) -> None:
    pid, state = orphan_server
    assert helper("status", state)["record"]["pid"] == pid, "while it runs, the status finds it"
    # WHEN it is stopped (it dies on SIGTERM, and nobody reaps it)
    began = time.monotonic()
    answer = helper("stop", state, pgid=pid, started=helper("status", state)["record"]["started"], timeout=20)
    took = time.monotonic() - began
    # THEN the stop says so without waiting out its timeout for the zombie, and forgets the record
    assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, "the case this test is about"
    assert answer == {"stopped": True}
    assert took < 10, f"the stop waited {took:.1f} s for a process that had already exited"
    assert helper("status", state)["record"] is None


def test_a_server_that_exited_unreaped_is_not_reported_running(orphan_server: tuple[int, Path]) -> None:
    pid, state = orphan_server
    psutil.Process(pid).kill()
    for _ in range(100):
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.05)
    assert helper("status", state)["record"] is None, "a zombie is a crashed server, not a running one"
