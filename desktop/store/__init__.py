"""The conversation history: SQLite (WAL, FTS5 trigram search), attachment files stored once by content, export."""

from desktop.store.errors import (
    ConversationNotFound,
    HistoryDamaged,
    HistoryError,
    HistoryFromNewerVersion,
    HistoryFull,
    HistoryMovedAside,
    HistoryReadFailed,
    HistoryUnavailable,
    HistoryWriteFailed,
    NotAnExport,
)
from desktop.store.history import BLOBS_FOLDER, FILE_NAME, HistoryStore
from desktop.store.records import MATCH_END, MATCH_START, ConversationSummary, Draft, Origin, SearchHit, StoredFile

__all__ = [
    "BLOBS_FOLDER", "FILE_NAME", "MATCH_END", "MATCH_START", "ConversationNotFound", "ConversationSummary", "Draft",
    "HistoryDamaged", "HistoryError", "HistoryFromNewerVersion", "HistoryFull", "HistoryMovedAside",
    "HistoryReadFailed", "HistoryStore", "HistoryUnavailable", "HistoryWriteFailed", "NotAnExport", "Origin",
    "SearchHit", "StoredFile",
]
