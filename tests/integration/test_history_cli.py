"""`glmv-desktop history …` as users type them, with the app running (it writes the history meanwhile) and
without it; retention carried out by the app at its start and when the setting changes.

Everything is real: the app as a child process asking the protocol-faithful server, the history file it
writes, and each command a separate `glmv-desktop` process on that file.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from desktop.chat.conversation import Conversation, ImageAttachment, ReplyState
from desktop.store.history import HistoryStore
from tests.support import desktop_env
from tests.support.app_process import AppProcess, app_env, write_settings
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer

QUESTION = "Which marsupial is the quokka in this picture?"
ANSWER = "A smiling quokka on a red background."
REASONING = "The animal is small and round; the background is red."
DAY = 86400.0
LIST_KEYS = {"id", "title", "origin", "created", "updated", "pinned", "model", "messages"}
HIT_KEYS = {"conversation_id", "message_id", "title", "role", "created", "snippet", "matches"}


def data_dir(home: Path) -> Path:
    return home / "data" / "glmv-desktop"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(VLLM_NEW.evolve(content=ANSWER, reasoning=REASONING)) as fake:
        yield fake


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "quokka.png"
    Image.new("RGB", (320, 200), (220, 20, 20)).save(path)
    return path


@pytest.fixture
def make_env(x_display: desktop_env.XServer, session_bus: desktop_env.SessionBus,
             server: FakeOpenAIServer) -> Callable[..., dict[str, str]]:
    def make(home: Path, **settings: object) -> dict[str, str]:
        write_settings(home, server.base_url, **settings)
        return app_env(x_display, home, DBUS_SESSION_BUS_ADDRESS=session_bus.address)

    return make


@pytest.fixture
def env(make_env: Callable[..., dict[str, str]], tmp_path: Path) -> dict[str, str]:
    return make_env(tmp_path / "home")


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[AppProcess]:
    process = AppProcess(env, "run")
    process.wait_for("started")
    yield process
    process.kill()


def offline_cli(env: dict[str, str]) -> AppProcess:
    """`glmv-desktop` commands with no app running."""
    cli = AppProcess.__new__(AppProcess)
    cli.env = env
    return cli


def history(app: AppProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return app.cli("history", *args)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """A command that failed with exit status 2, saying why and what to do (two lines or more)."""
    assert result.returncode == 2, (result.args, result.stdout, result.stderr)
    assert result.stderr.startswith("glmv-desktop: ") and len(result.stderr.strip().splitlines()) >= 2, result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    return result.stderr


def poll(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """`check()` once it is truthy (a few tries a second, up to `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def search(app: AppProcess, text: str) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = json.loads(ok(history(app, "search", text, "--json")))
    return hits


def listed(app: AppProcess) -> list[dict[str, Any]]:
    conversations: list[dict[str, Any]] = json.loads(ok(history(app, "list", "--json")))
    return conversations


def with_ids(export: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    """A copy of an export under another conversation id (messages renamed after it, links kept)."""
    copy = json.loads(json.dumps(export))
    renamed = {m["id"]: f"{conversation_id}m{i}" for i, m in enumerate(copy["messages"])}
    copy["conversation"]["id"] = conversation_id
    for message in copy["messages"]:
        message["id"] = renamed[message["id"]]
        for link in ("answers", "replaces"):
            if message[link]:
                message[link] = renamed[message[link]]
    return copy


def without_ids(export: dict[str, Any]) -> dict[str, Any]:
    """An export with what an import as a copy gives anew taken out: the conversation's and messages' ids
    (and the links between messages, which name them)."""
    copy = json.loads(json.dumps(export))
    del copy["conversation"]["id"]
    for message in copy["messages"]:
        for key in ("id", "answers", "replaces"):
            del message[key]
    return copy


def test_a_question_asked_from_the_cli_is_found_shown_exported_and_deleted_while_the_app_runs(
        app: AppProcess, picture: Path, tmp_path: Path, make_env: Callable[..., dict[str, str]]) -> None:
    # GIVEN a question with a picture, asked from the command line, answered in the running app
    ok(app.cli("ask", "--image", str(picture), QUESTION, "--send"))
    # WHEN it is searched for a moment later, THEN it is found (the question is saved as it is asked)
    hits = poll(lambda: search(app, "marsupial"))
    assert hits, "the question was not found in the history within 5 s"
    assert set(hits[0]) == HIT_KEYS and hits[0]["role"] == "user"
    assert [hits[0]["snippet"][a:b] for a, b in hits[0]["matches"]] == ["marsupial"]
    assert app.wait_for("reply-finished") == ["complete"]
    answer_hits = poll(lambda: [h for h in search(app, "smiling") if h["role"] == "assistant"])
    assert answer_hits and answer_hits[0]["conversation_id"] == hits[0]["conversation_id"]
    conversation_id = hits[0]["conversation_id"]
    # the list has it, with the model that answered
    [row] = listed(app)
    assert set(row) == LIST_KEYS
    assert (row["id"], row["messages"], row["model"], row["pinned"]) == (conversation_id, 2, "glm-4.6v", False)
    assert "marsupial" in ok(history(app, "list"))
    # `show` by a short prefix of the id: question, answer, reasoning folded, the picture with its size, the state
    shown = ok(history(app, "show", conversation_id[:6]))
    assert QUESTION in shown and ANSWER in shown and REASONING not in shown
    assert f"[Reasoning: {len(REASONING)} characters, folded" in shown
    assert re.search(r"\[Picture: .+, 320×200, [\d.]+ (kB|bytes)\]", shown), shown
    assert "· complete" in shown
    assert REASONING in ok(history(app, "show", conversation_id[:6], "--reasoning"))

    # Markdown: the .md, and the picture beside it, linked from it
    out = tmp_path / "exported"
    md = Path(ok(history(app, "export", conversation_id[:8], "--format", "md", "--out", str(out))).strip())
    assert md.parent == out and md.suffix == ".md"
    text = md.read_text(encoding="utf-8")
    assert QUESTION in text and ANSWER in text and REASONING in text
    [link] = re.findall(r"!\[[^\]]*\]\(<([^>]+)>\)", text)
    assert (md.parent / link).read_bytes() == picture.read_bytes()

    # JSON: on standard output, or as a file in --out; imported into a fresh profile, it exports the same
    exported = json.loads(ok(history(app, "export", conversation_id, "--format", "json")))
    saved = Path(ok(history(app, "export", conversation_id, "--format", "json", "--out", str(out))).strip())
    assert saved.parent == out and json.loads(saved.read_text(encoding="utf-8")) == exported
    fresh = offline_cli(make_env(tmp_path / "other-profile"))
    assert ok(history(fresh, "import", str(saved))).strip() == conversation_id
    assert json.loads(ok(history(fresh, "export", conversation_id, "--format", "json"))) == exported
    # imported where it already is, it is added as a copy: new ids (and links naming them), all else the same
    copied = history(app, "import", str(saved))
    copy_id = ok(copied).strip()
    assert copy_id != conversation_id and "copy" in copied.stderr
    copy = json.loads(ok(history(app, "export", copy_id, "--format", "json")))
    assert without_ids(copy) == without_ids(exported)

    # bad ids: unknown, too short, ambiguous
    refused(history(app, "show", "ffffffffffff"), "There is no conversation 'ffffffffffff'", "history list")
    refused(history(app, "export", "abc"), "too short", "at least 4")
    for twin in ("abcd0000000000a1", "abcd0000000000b2"):
        (tmp_path / f"{twin}.json").write_text(json.dumps(with_ids(exported, twin)), encoding="utf-8")
        assert ok(history(app, "import", str(tmp_path / f"{twin}.json"))).strip() == twin
    ambiguous = refused(history(app, "show", "abcd0000"), "more than one", "abcd0000000000a1", "abcd0000000000b2")
    assert "Give more of the id" in ambiguous
    assert QUESTION in ok(history(app, "show", "abcd0000000000a"))

    # delete one; delete-all is refused without --yes, then deletes everything
    assert "Deleted" in ok(history(app, "delete", copy_id[:5]))
    refused(history(app, "show", copy_id), "There is no conversation")
    assert copy_id not in {c["id"] for c in listed(app)}
    refused(history(app, "delete-all"), "Nothing was deleted", "--yes")
    assert len(listed(app)) == 3
    assert "Deleted 3 conversations" in ok(history(app, "delete-all", "--yes"))
    assert listed(app) == [] and search(app, "marsupial") == []
    assert "The history is empty." in ok(history(app, "list"))

    # THEN the app goes on saving what is asked next (its conversation was deleted under it)
    ok(app.cli("ask", "And now a wombat?", "--send"))
    assert app.wait_for("reply-finished") == ["complete"]
    assert poll(lambda: search(app, "wombat")), "the next question was not saved"
    assert app.cli("quit").returncode == 0
    assert app.wait_exit() == 0


def saved_conversation(store: HistoryStore, title: str, *, picture: bytes | None = None, pinned: bool = False,
                       age_days: float = 0.0) -> str:
    conversation = Conversation(title=title, created=time.time() - age_days * DAY)
    attachments = [ImageAttachment.from_bytes(picture, "quokka.png", "file")] if picture else []
    question = conversation.add_question(f"{title}: {QUESTION}", attachments)
    reply = conversation.start_reply(question, model="glm-4.6v", endpoint_id="team", thinking=True)
    reply.text, reply.reasoning, reply.state = ANSWER, REASONING, ReplyState.COMPLETE
    store.save_conversation(conversation)
    if pinned:
        store.set_pinned(conversation.id, True)
    return conversation.id


def test_every_history_command_works_with_the_app_not_running(env: dict[str, str], tmp_path: Path,
                                                              picture: Path) -> None:
    cli = offline_cli(env)
    # GIVEN no history yet: list and search say so (exit 0), a conversation cannot be named (exit 2)
    assert "No history yet" in ok(history(cli, "list"))
    listing = history(cli, "list", "--json")
    assert ok(listing).strip() == "[]" and "No history yet" in listing.stderr
    assert ok(history(cli, "search", "quokka", "--json")).strip() == "[]"
    for command in (("show", "abcd"), ("export", "abcd", "--format", "md"), ("delete", "abcd")):
        refused(history(cli, *command), "There is no history yet", "history import")
    refused(history(cli, "delete-all"), "--yes")
    assert "nothing to delete" in ok(history(cli, "delete-all", "--yes"))
    assert not data_dir(tmp_path / "home").exists(), "asking about no history made none"

    # and a history the app wrote before it quit
    with HistoryStore.open(data_dir(tmp_path / "home")) as store:
        first = saved_conversation(store, "Quokka", picture=picture.read_bytes())
        second = saved_conversation(store, "Wombat", pinned=True)
    # THEN each command works on it
    assert [c["id"] for c in listed(cli)] == [second, first]
    assert "* " + second in ok(history(cli, "list")) and "(2 messages, glm-4.6v)" in ok(history(cli, "list"))
    assert [c["id"] for c in json.loads(ok(history(cli, "list", "--limit", "1", "--json")))] == [second]
    assert {h["conversation_id"] for h in search(cli, "wombat")} == {second}
    assert "Wombat: " in ok(history(cli, "search", "wombat"))
    assert re.search(r"\[Picture: quokka\.png, 320×200, [\d.]+ (kB|bytes)\]", ok(history(cli, "show", first[:4])))
    md = Path(ok(history(cli, "export", first, "--out", str(tmp_path / "md"))).strip())
    assert md.is_file() and (md.parent / f"{md.stem}-files").is_dir()
    exported = ok(history(cli, "export", first, "--format", "json"))
    (tmp_path / "first.json").write_text(exported, encoding="utf-8")
    assert "Deleted" in ok(history(cli, "delete", first))
    assert ok(history(cli, "import", str(tmp_path / "first.json"))).strip() == first
    assert ok(history(cli, "export", first, "--format", "json")) == exported

    # every bad input says what is wrong and what to do, with exit status 2
    refused(history(cli, "import", str(tmp_path / "missing.json")), "There is no file", "--format json")
    (tmp_path / "notes.txt").write_text("just some notes", encoding="utf-8")
    refused(history(cli, "import", str(tmp_path / "notes.txt")), "not JSON")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}), encoding="utf-8")
    refused(history(cli, "import", str(tmp_path / "other.json")), "not a conversation exported", "'format'")
    broken = json.loads(exported)
    broken["messages"][0]["attachments"][0]["data"] = "bm90IHRoZSBwaWN0dXJl"
    (tmp_path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")
    refused(history(cli, "import", str(tmp_path / "broken.json")), "damaged")
    refused(history(cli, "import", str(tmp_path)), str(tmp_path))
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    for fmt in ("md", "json"):
        refused(history(cli, "export", first, "--format", fmt, "--out", str(tmp_path / "a-file")),
                "is a file, not a folder")
    refused(history(cli, "show", "zzzz"), "There is no conversation 'zzzz'")
    refused(history(cli, "show", "ab"), "too short")
    refused(history(cli, "search", "   "), "nothing to search for")
    bad_limit = history(cli, "list", "--limit", "0")
    assert bad_limit.returncode == 2 and "give 1 or more" in bad_limit.stderr
    assert len(listed(cli)) == 2, "nothing was changed by the refused commands"
    refused(history(cli, "delete-all"), "Nothing was deleted")
    assert "Deleted 2 conversations" in ok(history(cli, "delete-all", "--yes"))
    assert listed(cli) == []


def test_old_conversations_are_pruned_at_start_and_when_retention_changes(
        make_env: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    # GIVEN a history with conversations last changed 100 and 60 days ago, one of 100 days pinned, and today's
    home = tmp_path / "home"
    env = make_env(home, **{"history.retention": "90"})
    ids = {}
    for name, age, pinned in (("ancient", 100, False), ("pinned", 100, True), ("older", 60, False), ("new", 0, False)):
        with HistoryStore.open(data_dir(home), clock=lambda age=age: time.time() - age * DAY) as store:
            ids[name] = saved_conversation(store, name, pinned=pinned, age_days=age)
    # WHEN the app starts with "Keep history for" 90 days
    app = AppProcess(env, "run")
    try:
        app.wait_for("started")
        # THEN the one unpinned conversation older than that is deleted, in the background
        assert app.wait_for("history-pruned") == ["1"]
        assert {c["id"] for c in listed(app)} == {ids["pinned"], ids["older"], ids["new"]}
        # and when the setting becomes 30 days, the 60-day-old one goes too; the pinned one stays
        ok(app.cli("config", "set", "history.retention", "30"))
        assert app.wait_for("history-pruned") == ["1"]
        assert {c["id"] for c in listed(app)} == {ids["pinned"], ids["new"]}
        assert app.cli("quit").returncode == 0
        assert app.wait_exit() == 0
    finally:
        app.kill()
