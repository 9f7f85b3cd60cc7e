"""A generated history: N conversations of mixed English and Chinese questions and answers, a few
pictures shared between them, spread over two years. Written through the store's own API.

    .venv/bin/python -m tests.support.history_fixture OUT_DIR [--conversations 10000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from desktop.chat.conversation import Conversation, ImageAttachment, Message, ReplyState, Role
from desktop.store import HistoryStore, Origin

_EN = (
    "the build fails with an error about a missing header file in the release configuration",
    "why does this dialog say the certificate is not trusted when I open the settings page",
    "translate the table in this screenshot into CSV with one row per product",
    "where is the export button in this toolbar and what does the grey icon mean",
    "the chart shows monthly revenue dropping after March while the costs stay flat",
    "explain the stack trace: a null pointer in the parser when the input file is empty",
    "which setting changes the output folder for every target of the project",
    "summarise the slide about the migration plan and list the risks it names",
    "the terminal prints permission denied when the script writes to the log folder",
    "compare the two prices in the picture and tell me which plan is cheaper per month",
    "the form rejects my postcode although it has the right number of digits",
    "read the handwritten note and turn it into a short todo list",
)
_EN_WORDS = (
    "model", "screenshot", "window", "compiler", "dependency", "network", "timeout", "database", "index",
    "function", "variable", "browser", "invoice", "spreadsheet", "formula", "keyboard", "shortcut", "driver",
    "firmware", "update", "kernel", "memory", "process", "thread", "server", "response", "request", "token",
    "gradient", "matrix", "vector", "python", "rust", "javascript", "docker", "container", "pipeline",
    "deployment", "certificate", "password", "account", "layout", "button", "column", "row", "figure",
)
_ZH = (
    "这个错误是什么意思", "请把截图里的表格转换成CSV", "设置页面里的导出按钮在哪里", "帮我翻译这个对话框",
    "为什么编译的时候提示缺少头文件", "这张图表说明了什么趋势", "请总结这页幻灯片的要点", "这段代码哪里有问题",
    "网络请求超时应该怎么排查", "数据库索引为什么没有生效", "这个公式的结果为什么不对", "把手写笔记整理成待办事项",
)
_ZH_WORDS = (
    "模型", "截图", "窗口", "编译器", "依赖", "网络", "超时", "数据库", "索引", "函数", "变量", "浏览器",
    "发票", "表格", "公式", "键盘", "快捷键", "驱动", "固件", "更新", "内核", "内存", "进程", "线程", "服务器",
    "响应", "请求", "证书", "密码", "账户", "布局", "按钮", "列", "行", "图表", "配置", "日志", "权限",
)
_PICTURES = 24  # distinct pictures, each attached to many questions


@dataclass
class FixtureStats:
    """What was generated."""

    conversations: int
    messages: int
    attachments: int
    text_bytes: int
    seconds: float


def _sentence(rng: random.Random, chinese: bool, words: int) -> str:
    if chinese:
        return "".join(rng.choice(_ZH_WORDS) for _ in range(words)) + "。"
    picked = [rng.choice(_EN_WORDS) for _ in range(words)]
    return " ".join(picked).capitalize() + "."


def _paragraphs(rng: random.Random, chinese: bool, count: int) -> list[str]:
    """A pool of paragraphs that answers are assembled from (generating each answer afresh is slow)."""
    return [" ".join(_sentence(rng, chinese or rng.random() < 0.15, rng.randint(6, 16))
                     for _ in range(rng.randint(2, 4))) for _ in range(count)]


def _answer(rng: random.Random, pool: list[str]) -> str:
    paragraphs = [rng.choice(pool) for _ in range(rng.randint(2, 4))]
    if rng.random() < 0.3:
        paragraphs.append(f"```python\nresult = compute(items, {rng.randint(1, 99)})\nprint(result)\n```")
    return "\n\n".join(paragraphs)


def _question(rng: random.Random, chinese: bool) -> str:
    base = rng.choice(_ZH if chinese else _EN)
    return f"{base} {rng.choice(_ZH_WORDS if chinese else _EN_WORDS)}"


def _pictures() -> list[bytes]:
    out = []
    for i in range(_PICTURES):
        image = Image.new("RGB", (64, 48), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
        out.append(ImageAttachment.from_pixels(image, f"shot-{i}.png", "screen").original_bytes())
    return out


def build_history(data_dir: Path, conversations: int = 10_000, messages_per_conversation: int = 10,
                  seed: int = 1) -> FixtureStats:
    """Write `conversations` conversations (half questions, half answers) into the history at `data_dir`."""
    rng = random.Random(seed)
    pictures = _pictures()
    pools = {False: _paragraphs(rng, False, 4000), True: _paragraphs(rng, True, 4000)}
    now = time.time()
    moment = [now]
    started = time.perf_counter()
    messages = attachments = text_bytes = 0
    with HistoryStore.open(data_dir, clock=lambda: moment[0]) as store:
        for index in range(conversations):
            created = now - (conversations - index) * (2 * 365 * 86400 / conversations)
            chinese = rng.random() < 0.4
            conversation = Conversation(id=f"c{index:06d}", created=created)
            at = created
            for turn in range(messages_per_conversation // 2):
                files = []
                if turn == 0 and rng.random() < 0.2:
                    data = pictures[rng.randrange(_PICTURES)]
                    files.append(ImageAttachment(name="screenshot.png", width=64, height=48, origin="screen",
                                                 data=data))
                question = conversation.add_question(_question(rng, chinese), files)
                question.created = at
                reply = Message(Role.ASSISTANT, text=_answer(rng, pools[chinese]), state=ReplyState.COMPLETE,
                                model=rng.choice(("glm-4.6v", "glm-4.6v-flash", "glm-4.5v")), endpoint_id="zai",
                                created=at + 5, answers=question.id, finish_reason="stop",
                                prompt_tokens=rng.randint(200, 3000), completion_tokens=rng.randint(50, 800))
                conversation.messages.append(reply)
                at += 60
                messages += 2
                attachments += len(files)
                text_bytes += len(question.text.encode()) + len(reply.text.encode())
            moment[0] = at
            store.save_conversation(conversation, Origin.QUICK_ASK if rng.random() < 0.3 else Origin.CHAT)
    return FixtureStats(conversations, messages, attachments, text_bytes, time.perf_counter() - started)


# -- the schema fixtures: a tiny history written by each released schema, kept under tests/support/history/v<N>/
SCHEMA_FIXTURES = Path(__file__).resolve().parent / "history"
FIXTURE_TIME = 1_700_000_000.0


def fixture_picture() -> bytes:
    """The one picture of the schema fixtures (a small PNG)."""
    image = Image.new("RGB", (8, 6), (200, 30, 30))
    return ImageAttachment.from_pixels(image, "shot.png", "screen").original_bytes()


def fixture_conversations() -> list[tuple[Conversation, Origin, bool]]:
    """What every schema fixture holds, as (conversation, origin, pinned): a picture question in English
    with a failed attempt and a retry that completed with reasoning and a box, and a Chinese quick ask."""
    from desktop.chat.conversation import ErrorInfo, GroundingBox

    first = Conversation(title="Where is the export button?", id="fixture-chat", created=FIXTURE_TIME)
    picture = ImageAttachment(name="shot.png", width=8, height=6, origin="screen", data=fixture_picture(), id="att-1")
    question = Message(Role.USER, text="Where is the export button?", attachments=[picture], id="q-1",
                       created=FIXTURE_TIME + 1)
    failed = Message(Role.ASSISTANT, state=ReplyState.FAILED, model="glm-4.6v", endpoint_id="zai", thinking=True,
                     error=ErrorInfo("The server is busy.", "Retry in a minute.", "HTTP 429", retryable=True),
                     id="r-1", created=FIXTURE_TIME + 2, answers="q-1")
    retry = Message(Role.ASSISTANT, text="It is in the top right corner.", reasoning="The toolbar shows it.",
                    boxes=[GroundingBox(700.0, 10.5, 760.0, 40.0, 8, 6)], state=ReplyState.COMPLETE,
                    model="glm-4.6v", endpoint_id="zai", thinking=True, finish_reason="stop", prompt_tokens=812,
                    completion_tokens=40, id="r-2", created=FIXTURE_TIME + 3, sent_image_sizes=[(8, 6)],
                    answers="q-1")
    first.messages = [question, failed, retry]
    second = Conversation(title="这个错误是什么意思", id="fixture-quick", created=FIXTURE_TIME + 100)
    ask = Message(Role.USER, text="这个错误是什么意思", id="q-2", created=FIXTURE_TIME + 101)
    answer = Message(Role.ASSISTANT, text="这是一个网络超时错误。", state=ReplyState.COMPLETE, model="glm-4.6v-flash",
                     endpoint_id="local", thinking=False, finish_reason="stop", id="r-3",
                     created=FIXTURE_TIME + 102, answers="q-2")
    second.messages = [ask, answer]
    return [(first, Origin.CHAT, True), (second, Origin.QUICK_ASK, False)]


def write_schema_fixture(data_dir: Path) -> None:
    """Write the schema fixture's content with this version of the store (for a new schema's fixture)."""
    moment = [FIXTURE_TIME + 1000]
    with HistoryStore.open(data_dir, clock=lambda: moment[0]) as store:
        for conversation, origin, pinned in fixture_conversations():
            store.save_conversation(conversation, origin)
            if pinned:
                store.set_pinned(conversation.id, True)
            moment[0] += 1
        store.save_draft("chat", "half a question", [
            ImageAttachment(name="shot.png", width=8, height=6, origin="screen", data=fixture_picture(), id="att-d")])


def main() -> int:
    """Build a history in a folder (for trying the app or the CLI against a big one)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--schema-fixture", action="store_true",
                        help="write the small schema fixture instead (for tests/support/history/v<N>/)")
    args = parser.parse_args()
    if args.schema_fixture:
        write_schema_fixture(args.out)
        return 0
    stats = build_history(args.out, args.conversations)
    print(stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
