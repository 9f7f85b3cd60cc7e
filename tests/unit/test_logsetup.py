"""API keys and bearer tokens never reach a log."""

from __future__ import annotations

import logging

from desktop.logsetup import RedactingFilter, redact, register_secret


def test_redacts_bearer_tokens_and_key_shapes() -> None:
    text = redact('Authorization: Bearer abcdef123456 and {"api_key": "sk-ABCDEFGHIJKLMNOP"} '
                  "and 0123456789abcdef0123456789abcdef.AbCdEfGhIjKlMnOp")
    assert "abcdef123456" not in text and "sk-ABCDEFGHIJKLMNOP" not in text and "AbCdEfGhIjKlMnOp" not in text
    assert text.count("[redacted]") >= 3


def test_registered_secret_is_redacted_from_records() -> None:
    register_secret("my-very-own-key-42")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sending %s", ("my-very-own-key-42",), None)
    RedactingFilter().filter(record)
    assert "my-very-own-key-42" not in record.getMessage()
