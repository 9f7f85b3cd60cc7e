"""What the history hands to its readers: list rows, search hits, drafts."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from desktop.chat.conversation import Attachment, Role

# A search snippet marks each match as MATCH_START + matched text + MATCH_END.
MATCH_START = "\x02"
MATCH_END = "\x03"


class Origin(StrEnum):
    """Where a conversation was started."""

    CHAT = "chat"
    QUICK_ASK = "quick_ask"


@dataclass(frozen=True)
class StoredFile:
    """An attachment's file in the history, for a thumbnail read off the UI thread."""

    attachment_id: str
    path: Path
    mime: str
    width: int | None
    height: int | None


@dataclass(frozen=True)
class ConversationSummary:
    """One row of the history list."""

    id: str
    title: str
    origin: Origin
    created: float
    updated: float
    pinned: bool
    model: str  # of the last reply
    message_count: int
    thumbnail: StoredFile | None  # the conversation's first picture


@dataclass(frozen=True)
class SearchHit:
    """A message (or a title, with `message_id` None) that matches a search."""

    conversation_id: str
    message_id: str | None
    title: str
    snippet: str  # a window of the text around the matches, each marked MATCH_START … MATCH_END
    role: Role | None
    created: float
    rank: float  # FTS5's bm25 (lower is better); 0.0 for a query too short for the index

    def parts(self) -> list[tuple[str, bool]]:
        """The snippet as (text, is_match) pieces, for highlighting."""
        pieces: list[tuple[str, bool]] = []
        for i, chunk in enumerate(self.snippet.split(MATCH_START)):
            if i == 0:
                if chunk:
                    pieces.append((chunk, False))
                continue
            matched, _sep, rest = chunk.partition(MATCH_END)
            pieces.append((matched, True))
            if rest:
                pieces.append((rest, False))
        return pieces


@dataclass
class Draft:
    """What a window's composer held: text and attachments not sent yet."""

    text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    updated: float = 0.0
