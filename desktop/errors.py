"""The base of every error the user may see: a short message plus a hint saying what to do.

Domain code raises subclasses of `UserFacingError`; the UI's notifier is the one place that shows
them. `detail` keeps technical text (a server's raw body, a log tail) for a "Details" view.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """An error whose message and hint are written for the user."""

    def __init__(self, message: str, hint: str = "", *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message
