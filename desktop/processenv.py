"""How the app starts other programs (engines, pip, nvidia-smi, a model server): their environment, and
the process group of their own that lets everything they spawn be stopped together.

A frozen Linux app runs with LD_LIBRARY_PATH pointing into its own bundle (PyInstaller sets it and
keeps the original in LD_LIBRARY_PATH_ORIG); a child must get the original back, or the system's
Python, pip or a model server would load the bundle's OpenSSL, libffi or zlib instead of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_LIBRARY_PATHS = ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH")


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment as it was before the app's own bundle changed it, plus `extra`."""
    env = dict(os.environ)
    if getattr(sys, "frozen", False):
        for name in _LIBRARY_PATHS:
            original = env.pop(f"{name}_ORIG", None)
            if original is not None:
                env[name] = original
            else:
                env.pop(name, None)
    env.update(extra or {})
    return env


def own_group_options() -> dict[str, Any]:
    """`subprocess`/asyncio keyword arguments that start a child in a process group of its own (a new
    session on POSIX), so a signal to the group reaches every process it spawns."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def group_alive(pgid: int) -> bool:
    """Whether any live process is in process group `pgid`. A zombie is not: it has exited, and only its
    parent's wait is pending (an init that reaps late can leave one for a while). POSIX only."""
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()  # the command name may hold spaces and parentheses
            if fields[0] != "Z" and int(fields[2]) == pgid:
                return True
        return False
    try:  # macOS: no /proc
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
