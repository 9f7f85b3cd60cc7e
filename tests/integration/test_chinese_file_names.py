"""Chinese file names, end to end: a PDF, a Markdown note and a picture in a folder with a Chinese name, attached
from the command line with a Chinese question, reach the server under their names, are kept in the history
under them, come back when the conversation is reopened, and keep them through a Markdown and a JSON export
and an import."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from desktop.store.history import HistoryStore
from tests.support import desktop_env
from tests.support.app_process import AppProcess, app_env, write_settings
from tests.support.documents import PageSpec, make_pdf
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer

NAMES = ("季度报告.pdf", "会议笔记.md", "错误截图.png")


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(VLLM_NEW.evolve(content="三个文件都收到了。", reasoning="")) as fake:
        yield fake


def test_chinese_file_names_round_trip(x_display: desktop_env.XServer, tmp_path: Path,
                                       session_bus: desktop_env.SessionBus, server: FakeOpenAIServer) -> None:
    folder = tmp_path / "资料 2026"
    folder.mkdir()
    report, note, shot = (folder / name for name in NAMES)
    report.write_bytes(make_pdf([PageSpec(colour=(200, 40, 40), lines=("Quarterly report",))]))
    note.write_text("# 会议笔记\n\n收入下降的原因：汇率。\n", encoding="utf-8")
    Image.new("RGB", (120, 80), (30, 120, 200)).save(shot)
    write_settings(tmp_path, server.base_url, **{"chat.thinking": False})
    app = AppProcess(app_env(x_display, tmp_path, DBUS_SESSION_BUS_ADDRESS=session_bus.address))
    try:
        app.wait_for("started")
        asked = app.cli("ask", "--file", str(report), "--file", str(note), "--image", str(shot), "这些文件说了什么？",
                        "--send", timeout=120)
        assert asked.returncode == 0, asked.stderr
        assert app.wait_for("reply-finished", timeout=60) == ["complete"]
        assert app.cli("quit").returncode == 0
        assert app.wait_exit() == 0
    finally:
        app.kill()
    # the server got each under its name, and the question
    content = server.chat_requests[0].body["messages"][-1]["content"]
    texts = "\n".join(part["text"] for part in content if part["type"] == "text")
    assert "季度报告.pdf" in texts and "会议笔记.md" in texts and "收入下降的原因：汇率。" in texts
    assert content[-1] == {"type": "text", "text": "这些文件说了什么？"}
    # the history keeps the names, and gives them back
    data = tmp_path / "data" / "glmv-desktop"
    with HistoryStore.open(data) as store:
        [summary] = store.list_conversations()
        assert summary.title.startswith("这些文件说了什么")
        question = store.load_conversation(summary.id).messages[0]
        assert [attachment.name for attachment in question.attachments] == list(NAMES)
        markdown = store.export_markdown(summary.id, tmp_path / "导出")
        exported = store.export_json(summary.id)
    text = markdown.read_text(encoding="utf-8")
    assert "季度报告.pdf" in text and "会议笔记.md" in text and "错误截图" in text
    linked = {path.name for path in markdown.parent.rglob("*") if path.is_file()}
    assert any("季度报告" in name for name in linked) and any("错误截图" in name for name in linked), linked
    # and a JSON export imported elsewhere keeps them too
    round_trip = json.loads(json.dumps(exported, ensure_ascii=False))
    with HistoryStore.open(tmp_path / "elsewhere") as other:
        imported = other.import_json(round_trip)
        names = [a.name for a in other.load_conversation(imported).messages[0].attachments]
    assert names == list(NAMES)
