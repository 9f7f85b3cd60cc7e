"""The history database's tables, and the forward migrations that bring any earlier file up to date.

The version lives in `PRAGMA user_version`; `MIGRATIONS[v]` takes a database from version `v` to
`v + 1`, and all the steps a file needs run in one transaction, so a failed upgrade leaves it as it
was. `PRAGMA application_id` marks the file as ours, so another program's SQLite file in our place
is recognised as foreign rather than "upgraded". Never edit a released migration: add the next one,
and commit a fixture database of the old version under tests/support/history/.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from enum import Enum
from pathlib import Path

from desktop.store.errors import HistoryFromNewerVersion

APPLICATION_ID = 0x474C4D56  # "GLMV"
# Replies in these states may still change; they are kept out of the search index until final.
UNFINISHED = ("waiting", "streaming")

# Version 1. Identity is a TEXT id (the model's), order is `position`; `seq` is the rowid, an
# alias kept stable by VACUUM, that the full-text indexes point at. Kind-specific attachment data
# (a document's chosen pages, an annotation's target) goes in `meta` as JSON, so new kinds are new
# rows and values, not new columns.
V1 = """
CREATE TABLE conversations (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL DEFAULT '',
    origin TEXT NOT NULL DEFAULT 'chat',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    pinned INTEGER NOT NULL DEFAULT 0,
    model TEXT NOT NULL DEFAULT ''
);
CREATE INDEX conversations_listed ON conversations (pinned DESC, updated DESC);
CREATE INDEX conversations_by_age ON conversations (updated);

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    reasoning TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    error TEXT,
    model TEXT NOT NULL DEFAULT '',
    endpoint_id TEXT NOT NULL DEFAULT '',
    thinking INTEGER,
    finish_reason TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    created REAL NOT NULL,
    answers_id TEXT,
    replaces_id TEXT,
    sent_image_sizes TEXT NOT NULL DEFAULT '[]',
    boxes TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX messages_in_conversation ON messages (conversation_id, position);
CREATE INDEX messages_answering ON messages (answers_id) WHERE answers_id IS NOT NULL;
CREATE INDEX messages_unfinished ON messages (state) WHERE state IN ('waiting', 'streaming');

-- What a streaming reply gained since its row was last written: appended, never rewritten, so
-- saving every 250 ms costs the new text, not the whole answer again. Folded into the row when
-- the reply ends (or at the next start).
CREATE TABLE reply_tail (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    reasoning TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (message_id, seq)
) WITHOUT ROWID;

-- Files stored once by content: attachments/<sha[:2]>/<sha>.<ext>.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    ext TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;

CREATE TABLE attachments (
    seq INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    mime TEXT NOT NULL DEFAULT '',
    width INTEGER,
    height INTEGER,
    origin TEXT NOT NULL DEFAULT '',
    blob_sha256 TEXT REFERENCES blobs (sha256),
    meta TEXT NOT NULL DEFAULT '{}',
    UNIQUE (message_id, position)
);
CREATE INDEX attachments_by_blob ON attachments (blob_sha256);

CREATE TABLE drafts (
    window_name TEXT PRIMARY KEY,
    text TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL
) WITHOUT ROWID;

CREATE TABLE draft_attachments (
    window_name TEXT NOT NULL REFERENCES drafts (window_name) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    mime TEXT NOT NULL DEFAULT '',
    width INTEGER,
    height INTEGER,
    origin TEXT NOT NULL DEFAULT '',
    blob_sha256 TEXT REFERENCES blobs (sha256),
    meta TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (window_name, position)
) WITHOUT ROWID;
CREATE INDEX draft_attachments_by_blob ON draft_attachments (blob_sha256);

-- Full-text search over titles, questions and answers. Trigram tokens match inside words and in
-- Chinese text, which has no spaces. External content: the text is stored once, in the tables
-- above, and the triggers keep the indexes in step. A reply is indexed once it is final.
CREATE VIRTUAL TABLE messages_fts USING fts5 (text, content = 'messages', content_rowid = 'seq',
                                              tokenize = 'trigram');
CREATE VIRTUAL TABLE titles_fts USING fts5 (title, content = 'conversations', content_rowid = 'seq',
                                            tokenize = 'trigram');

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
WHEN new.state NOT IN ('waiting', 'streaming') BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.seq, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.state NOT IN ('waiting', 'streaming') BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
END;
CREATE TRIGGER messages_fts_unindex AFTER UPDATE OF text, state ON messages
WHEN old.state NOT IN ('waiting', 'streaming')
     AND (new.state IN ('waiting', 'streaming') OR old.text IS NOT new.text) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
END;
CREATE TRIGGER messages_fts_reindex AFTER UPDATE OF text, state ON messages
WHEN new.state NOT IN ('waiting', 'streaming')
     AND (old.state IN ('waiting', 'streaming') OR old.text IS NOT new.text) BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.seq, new.text);
END;

CREATE TRIGGER titles_fts_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO titles_fts (rowid, title) VALUES (new.seq, new.title);
END;
CREATE TRIGGER titles_fts_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO titles_fts (titles_fts, rowid, title) VALUES ('delete', old.seq, old.title);
END;
CREATE TRIGGER titles_fts_update AFTER UPDATE OF title ON conversations
WHEN old.title IS NOT new.title BEGIN
    INSERT INTO titles_fts (titles_fts, rowid, title) VALUES ('delete', old.seq, old.title);
    INSERT INTO titles_fts (rowid, title) VALUES (new.seq, new.title);
END;
"""

Migration = str | Callable[[sqlite3.Connection], None]
# MIGRATIONS[v] takes a database from version v to v + 1: SQL, or a function for data changes.
MIGRATIONS: tuple[Migration, ...] = (V1,)
LATEST = len(MIGRATIONS)


class FileKind(Enum):
    """What an opened file turned out to be."""

    EMPTY = "empty"  # new, or a database with nothing in it: version 0
    OURS = "ours"
    FOREIGN = "foreign"  # a SQLite database of some other program


def statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one by one (triggers included whole).

    `executescript` would commit first, so a migration could not run inside our transaction.
    """
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                yield pending.strip()
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement at the end of a migration: {pending.strip()[:80]}")


def file_kind(conn: sqlite3.Connection) -> FileKind:
    """Ours, empty, or another program's (raises sqlite3.DatabaseError for a damaged file)."""
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if application_id == APPLICATION_ID:
        return FileKind.OURS
    objects = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    return FileKind.EMPTY if application_id == 0 and objects == 0 and version == 0 else FileKind.FOREIGN


def migrate(conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database up to `len(migrations)` in one transaction; returns the version it had.

    Raises:
        HistoryFromNewerVersion: the file is from a newer app; nothing is changed.
    """
    conn.execute("BEGIN IMMEDIATE")  # re-read the version under the write lock: another process may migrate too
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > len(migrations):
            raise HistoryFromNewerVersion(path, found, len(migrations))
        for version in range(found, len(migrations)):
            step = migrations[version]
            if isinstance(step, str):
                for statement in statements(step):
                    conn.execute(statement)
            else:
                step(conn)
            conn.execute(f"PRAGMA user_version = {version + 1:d}")
        if found < len(migrations):
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return found


def header_problem(path: Path) -> str | None:
    """Why the file's first bytes show it is not a whole SQLite database, or None.

    SQLite reads a damaged file lazily, often failing only on the page that is damaged; the header
    tells cheaply whether the file is a database at all and whether it was cut short.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            header = handle.read(100)
    except FileNotFoundError:
        return None
    if size == 0:
        return None  # SQLite treats an empty file as a new database
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return "not a SQLite database (wrong header)"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count is valid when the change counter matches "version valid for" (SQLite file format §1.3.7).
    if pages and header[24:28] == header[92:96] and size < pages * page_size:
        return f"truncated: {size} bytes, the header says {pages} pages of {page_size}"
    return None
