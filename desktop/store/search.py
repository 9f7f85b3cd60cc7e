"""Turning what the user typed into an FTS5 trigram query, and cutting snippets with the matches marked.

Trigram tokens need at least three characters, so shorter terms ("Qt", "中文") are matched with
LIKE instead: beside the index when the query also has longer terms, alone (a scan from the newest
message, stopped at the limit) when it has none.
"""

from __future__ import annotations

import re

from desktop.store.records import MATCH_END, MATCH_START

TRIGRAM = 3
_BEFORE = 30  # characters of context before the first match
_WIDTH = 140  # characters of snippet in all
_TERM = re.compile(r'"([^"]+)"|(\S+)')


def terms(query: str) -> list[str]:
    """The terms of a query: words, or "quoted phrases"; every term must match. Nothing else is syntax."""
    found = (phrase or word for phrase, word in _TERM.findall(query))
    cleaned = (t.replace(MATCH_START, "").replace(MATCH_END, "").strip() for t in found)
    return list(dict.fromkeys(t for t in cleaned if t))


def fts_query(long_terms: list[str]) -> str:
    """An FTS5 MATCH expression: every term as a quoted phrase (so no FTS5 syntax leaks in), ANDed."""
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in long_terms)


def like_pattern(term: str) -> str:
    """A LIKE pattern finding `term` anywhere (ESCAPE '\\')."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def split_terms(query: str) -> tuple[list[str], list[str]]:
    """(terms the trigram index can find, shorter terms for LIKE)."""
    found = terms(query)
    return [t for t in found if len(t) >= TRIGRAM], [t for t in found if len(t) < TRIGRAM]


def snippet(text: str, query_terms: list[str]) -> str:
    """About `_WIDTH` characters of `text` around its first match, every match inside marked."""
    flat = " ".join(text.split())
    if not query_terms:
        return flat[:_WIDTH]
    pattern = re.compile("|".join(re.escape(t) for t in sorted(query_terms, key=len, reverse=True)), re.IGNORECASE)
    first = pattern.search(flat)
    start = 0 if first is None else max(0, first.start() - _BEFORE)
    if start:
        space = flat.rfind(" ", start - 10, start)  # start on a word when one is near
        start = space + 1 if space > 0 else start
    end = min(len(flat), start + _WIDTH)
    if end < len(flat):
        space = flat.find(" ", end - 10, end + 10)
        end = space if space > 0 else end
    window = flat[start:end]
    marked = pattern.sub(lambda m: f"{MATCH_START}{m.group(0)}{MATCH_END}", window)
    return ("…" if start else "") + marked + ("…" if end < len(flat) else "")
