"""The settings file: values checked against `SCHEMA`, written atomically, never lost to corruption.

A file that cannot be read is moved aside (so nothing is destroyed) and the app starts from the
defaults, reporting what happened through `SettingsStore.recovered_from`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from desktop.config.schema import BY_KEY, MIGRATIONS, SCHEMA_VERSION, Setting

log = logging.getLogger(__name__)


class UnknownSettingError(KeyError):
    """A key that is not declared in the schema: a programming error, caught by the tests."""


def _setting(key: str) -> Setting:
    try:
        return BY_KEY[key]
    except KeyError:
        raise UnknownSettingError(key) from None


class SettingsStore:
    """Typed access to the settings file; listeners hear about every change."""

    def __init__(self, path: Path, schedule_save: Callable[[Callable[[], None]], None] | None = None) -> None:
        """`schedule_save`, when given, is handed `save` after each change instead of it being called
        at once: the app uses it to write from a worker thread, coalescing quick changes."""
        self.path = path
        self.schedule_save = schedule_save
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.recovered_from: Path | None = None
        self._values: dict[str, Any] = {}
        self._unknown: dict[str, Any] = {}
        self._listeners: list[Callable[[str, Any], None]] = []
        self._load()

    def get(self, key: str) -> Any:
        """Return the stored value of `key`, or its default."""
        setting = _setting(key)
        value = self._values.get(key, setting.default)
        return list(value) if isinstance(value, list) else value

    def set(self, key: str, value: Any) -> None:
        """Validate and store `value`, write the file, and tell listeners."""
        coerced = _setting(key).coerce(value)
        if self._values.get(key, BY_KEY[key].default) == coerced:
            return
        with self._lock:
            self._values[key] = coerced
        if self.schedule_save is not None:
            self.schedule_save(self.save)
        else:
            self.save()
        for listener in list(self._listeners):
            listener(key, coerced)

    def reset(self, key: str) -> None:
        """Return `key` to its default."""
        self.set(key, _setting(key).default)

    def subscribe(self, listener: Callable[[str, Any], None]) -> None:
        """Call `listener(key, value)` after every change."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[str, Any], None]) -> None:
        """Stop calling `listener` (a closed window's)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def save(self) -> None:
        """Write the file atomically (temp file + rename), keeping keys from newer versions; any thread."""
        with self._write_lock:  # snapshot and write together, so an older snapshot never lands last
            with self._lock:
                data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, **self._unknown, **self._values}
            self._write(data)

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, ensure_ascii=False, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("top level is not an object")
            version = int(raw.pop("schema_version", SCHEMA_VERSION))
            for target in range(version + 1, SCHEMA_VERSION + 1):
                raw = MIGRATIONS[target](raw)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            self._quarantine(exc)
            return
        for key, value in raw.items():
            setting = BY_KEY.get(key)
            if setting is None:
                self._unknown[key] = value
                continue
            try:
                self._values[key] = setting.coerce(value)
            except ValueError as exc:
                log.warning("Ignoring bad value for %s in %s: %s", key, self.path, exc)

    def _quarantine(self, exc: Exception) -> None:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            self.path.replace(aside)
        except OSError:
            aside = self.path  # cannot move it: leave it where it is, and never overwrite it
            self.schedule_save = lambda _save: None
            self.save = lambda: None  # type: ignore[method-assign]
        self.recovered_from = aside
        log.warning("Settings file %s could not be read (%s); kept it as %s and started from defaults",
                    self.path, exc, aside)
