"""What is left of a process session: its live members (a zombie has exited; only its parent's wait is
pending, and where that parent is an init that reaps late, it lingers for a while)."""

from __future__ import annotations

import os

import psutil


def session_members(sid: int) -> list[int]:
    """The pids of the live (non-zombie) processes in session `sid`, this test process excluded."""
    members = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and os.getsid(process.pid) == sid \
                    and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (OSError, psutil.Error):
            continue
    return members
