"""`Secret`: an API key as a value that cannot be printed, logged or formatted by accident.

Libraries log the arguments and results of the calls they run for us (qasync logs every executor
call's arguments and result at debug level), so a key passed around as a plain `str` ends up in a
log file sooner or later. A `Secret` shows as `Secret('[redacted]')` everywhere; only `reveal()`
gives the text, at the one place that needs it (an HTTP header, a keychain call). Creating one
also registers the text with the log redactor, in case it was already copied somewhere.
"""

from __future__ import annotations

from desktop.logsetup import register_secret


class Secret:
    """A secret text (an API key) that never shows in `repr`, `str` or a format string."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        text = text.strip()
        register_secret(text)
        self._text = text

    def reveal(self) -> str:
        """The secret text itself: only for the header or keychain call that needs it."""
        return self._text

    def __repr__(self) -> str:
        return "Secret('[redacted]')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self._text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)

    def __reduce__(self) -> str:
        raise TypeError("a Secret is not pickled (it would land on disk)")
