"""The history benchmarks: search and the list over a generated history, opening it, the chat window's
sidebar over it, and what a streamed answer costs on disk when the reply is saved every 250 ms."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from desktop.chat.conversation import Conversation, ReplyState
from desktop.store import HistoryStore
from desktop.ui.history_sidebar import PAGE
from tests.bench.run import Figure
from tests.bench.workloads import markdown_answer
from tests.support.history_fixture import build_history

# What people type into a history search: whole words, parts of words, Chinese, two terms.
QUERIES = ("certificate", "screenshot", "docker container", "permission denied", "ertifica", "spread",
           "数据库", "网络超时", "导出按钮", "配置 日志", "export button", "为什么编译")
SHORT_QUERIES = ("qt", "表格", "db")


def _written_bytes() -> int:
    """Bytes this process has handed to write() so far (/proc/self/io wchar: WAL, database and files)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("no wchar in /proc/self/io")


def _answer(tokens: int) -> tuple[str, str]:
    return markdown_answer(tokens // 4, seed=3), markdown_answer(tokens - tokens // 4)


def _ticks(reasoning: str, text: str, ticks: int) -> list[tuple[str, str]]:
    """The reply as it stands at each save: reasoning streams first, then the answer, evenly."""
    total = len(reasoning) + len(text)
    out = []
    for i in range(1, ticks + 1):
        upto = total * i // ticks
        out.append((reasoning[:upto], text[:max(0, upto - len(reasoning))]))
    return out


def bench_stream_writes(work: Path, runs: int, tokens: int, rate: float, every_s: float) -> list[Figure]:
    """Bytes written per streamed answer ÷ its text size, and the time of one update_reply."""
    reasoning, text = _answer(tokens)
    size = len((reasoning + text).encode())
    ticks = _ticks(reasoning, text, round(tokens / rate / every_s))
    ratios, rewrite_ratios, call_us, worst_us = [], [], [], []
    for run in range(runs):
        data = work / f"stream-{run}"
        with HistoryStore.open(data) as store:
            conversation = Conversation()
            question = conversation.add_question("Write a long answer", [])
            reply = conversation.start_reply(question, model="glm-4.6v", endpoint_id="bench", thinking=True)
            store.save_conversation(conversation)
            before = _written_bytes()
            times = []
            for reasoning_now, text_now in ticks:
                reply.state, reply.reasoning, reply.text = ReplyState.STREAMING, reasoning_now, text_now
                started = time.perf_counter()
                store.update_reply(reply)
                times.append((time.perf_counter() - started) * 1e6)
            reply.state = ReplyState.COMPLETE
            store.update_reply(reply)
        ratios.append((_written_bytes() - before) / size)  # closing checkpoints the WAL: counted too
        call_us.append(statistics.median(times))
        worst_us.append(max(times))
        rewrite_ratios.append(_rewrite_reference(work / f"rewrite-{run}", ticks, size))
        shutil.rmtree(data)
    note = (f"{tokens:,} tokens ({size / 1e3:,.0f} kB of text) at {rate:.0f} tok/s, saved every "
            f"{every_s * 1000:.0f} ms = {len(ticks)} saves, then the final one; bytes handed to write() (WAL, "
            f"checkpoints into the database, search index) ÷ text bytes")
    return [
        Figure("History: bytes written per streamed answer ÷ its text", "×", ratios, "report", note),
        Figure("  reference: rewriting the whole reply each save", "×", rewrite_ratios, "report",
               "the same saves as one UPDATE of the message's text each (what appending the growth avoids)"),
        Figure("History: update_reply while streaming, median call", "µs", call_us, "report",
               f"on the writer thread, a short transaction each; worst call {max(worst_us) / 1000:.1f} ms"),
    ]


def _rewrite_reference(data: Path, ticks: list[tuple[str, str]], size: int) -> float:
    with HistoryStore.open(data) as store:
        conversation = Conversation()
        question = conversation.add_question("Write a long answer", [])
        reply = conversation.start_reply(question, model="glm-4.6v", endpoint_id="bench", thinking=True)
        store.save_conversation(conversation)
    conn = sqlite3.connect(data / "history.sqlite3", isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = NORMAL")
        before = _written_bytes()
        for reasoning_now, text_now in ticks:
            conn.execute("UPDATE messages SET text = ?, reasoning = ?, state = 'streaming' WHERE id = ?",
                         (text_now, reasoning_now, reply.id))
        conn.execute("UPDATE messages SET state = 'complete' WHERE id = ?", (reply.id,))
    finally:
        conn.close()
    written = _written_bytes() - before
    shutil.rmtree(data)
    return written / size


def bench_history(work: Path, runs: int, conversations: int, stream_runs: int, tokens: int) -> list[Figure]:
    """Search, list and open over a generated history; the cost of streaming into it."""
    data = work / "history"
    stats = build_history(data, conversations)
    size_mb = (data / "history.sqlite3").stat().st_size / 1e6
    what = (f"{stats.conversations:,} conversations / {stats.messages:,} messages "
            f"({stats.text_bytes / 1e6:.0f} MB of text, a {size_mb:.0f} MB file; generated in {stats.seconds:.0f} s)")
    opened, checked = [], []
    for _ in range(runs):
        started = time.perf_counter()
        store = HistoryStore.open(data)
        opened.append((time.perf_counter() - started) * 1000)
        store.close()
        other = sqlite3.connect(data / "history.sqlite3")  # holds a -wal open, as a crashed app leaves one
        other.execute("SELECT count(*) FROM conversations").fetchone()
        started = time.perf_counter()
        store = HistoryStore.open(data)
        checked.append((time.perf_counter() - started) * 1000)
        store.close()
        other.close()
    search: list[float] = []
    short: list[float] = []
    first_page: list[float] = []
    with HistoryStore.open(data) as store:
        store.search("warm up")
        for _ in range(runs):
            for query in QUERIES:
                started = time.perf_counter()
                store.search(query, limit=50)
                search.append((time.perf_counter() - started) * 1000)
            for query in SHORT_QUERIES:
                started = time.perf_counter()
                store.search(query, limit=50)
                short.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            store.list_conversations(limit=50)
            first_page.append((time.perf_counter() - started) * 1000)
    figures = [
        Figure("History search", "ms", search, "≤ 50 ms",
               f"{what}; {len(QUERIES)} queries (English, parts of words, Chinese, two terms) × {runs} runs, "
               f"50 hits with snippets"),
        Figure("History search, 1–2 character terms", "ms", short, "report",
               f"{', '.join(SHORT_QUERIES)}: too short for trigrams, a LIKE scan from the newest message"),
        Figure("History list, first page of 50", "ms", first_page, "report",
               "titles, model, message count, first thumbnail's file; the sidebar's share of its ≤ 100 ms"),
        Figure("History open", "ms", opened, "report",
               "after a clean exit: header, application id, schema version, WAL"),
        Figure("History open after a crash", "ms", checked, "report",
               "a -wal file left behind: quick_check of every page first"),
    ]
    figures += bench_sidebar(data, runs, stats.conversations)
    shutil.rmtree(data)
    return figures + bench_stream_writes(work, stream_runs, tokens, 200.0, 0.25)


def bench_sidebar(data: Path, runs: int, conversations: int) -> list[Figure]:
    """The chat window's history sidebar over the generated history (sidebar_probe.py, off screen)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-m", "tests.bench.sidebar_probe", str(data), "--runs", str(runs)],  # noqa: S603
                         env=env, capture_output=True, text=True, check=True, timeout=300)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    what = f"{conversations:,} conversations"
    return [
        Figure(f"History sidebar shown, {what}", "ms", measured["toggle_ms"], "≤ 100 ms",
               "the chat window open with its sidebar closed: click on the sidebar button → the first page "
               f"({PAGE} conversations, grouped by day) painted; read in a worker thread, thumbnails after"),
        Figure(f"Chat window opened with its history sidebar, {what}", "ms", measured["open_ms"], "≤ 100 ms",
               "making and showing the chat window → the sidebar's first page painted"),
    ]
