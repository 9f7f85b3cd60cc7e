"""Logging for the whole app: one handler to a rotating file and stderr, and a redaction filter.

The filter removes API keys and bearer tokens from every record, whoever logged it, so a log file
or a pasted traceback never leaks a secret.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import time
from pathlib import Path

_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-~+/=]{6,}"),
    re.compile(r"(?i)((?:api[_-]?key|authorization|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{10,}"),
    # Z.ai / BigModel keys look like "<32 hex>.<16 alnum>".
    re.compile(r"\b[0-9a-f]{32}\.[A-Za-z0-9]{16}\b"),
)
_known_secrets: set[str] = set()


def register_secret(secret: str) -> None:
    """Redact this exact string from every later log record (e.g. a key read from the keychain)."""
    if len(secret) >= 6:
        _known_secrets.add(secret)


def redact(text: str) -> str:
    """Return `text` with every known secret and anything shaped like a key replaced."""
    for secret in _known_secrets:
        text = text.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[redacted]", text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record, whoever logged it, with secrets removed from its message (arguments
    included), its traceback and its stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# Loggers whose debug lines print the arguments and results of the calls they run for us (qasync: every
# executor call, so keys, request bodies and pictures): kept at INFO even with -v.
_ARGUMENT_LOGGERS = ("qasync",)


def configure(log_dir: Path | None, *, verbose: bool = False) -> list[logging.Handler]:
    """Send logs to stderr (warnings and up, or all with `verbose`) and to `log_dir`/app.log; returns
    the handlers added to the root logger."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in _ARGUMENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    redactor = RedactingFilter()
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(fmt)
    console.addFilter(redactor)
    root.addHandler(console)
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            log_dir / "app.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
        file_handler.setFormatter(fmt)
        file_handler.addFilter(redactor)
        root.addHandler(file_handler)
        return [console, file_handler]
    return [console]


_T0 = time.monotonic()


def trace(event: str) -> None:
    """With GLMV_DESKTOP_TRACE=1, print a timestamped life-cycle event on stdout (tests and benchmarks read it)."""
    if os.environ.get("GLMV_DESKTOP_TRACE"):
        print(f"glmv-trace {time.monotonic() - _T0:.4f} {event}", flush=True)
