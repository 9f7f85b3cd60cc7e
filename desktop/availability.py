"""Whether a platform feature (a capture handler, a hotkey backend) works here, and if not why."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Availability:
    """Whether a handler works here; if not, why, and what the user can do."""

    available: bool
    reason: str = ""
    how_to_fix: str = ""
