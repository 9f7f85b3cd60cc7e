"""Take the README's picture of the app in Simplified Chinese: the real app on an Xvfb desktop, started with
LANGUAGE=zh_CN, asked about a screenshot in Chinese from the command line; the answer comes from the test
suite's protocol-faithful server (a Chinese answer with its reasoning), as no model runs here.

    .venv/bin/python -m docs.screenshots.make_chinese_screenshot
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import mss
from PIL import Image

from tests.support import desktop_env
from tests.support.app_process import AppProcess, app_env
from tests.support.documents import PageSpec, make_pdf
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer

OUT = Path(__file__).resolve().parent / "chat-zh.png"
ANSWER = ("这是一份**季度报告**的第一页：\n\n1. 标题说明这是第三季度的收入摘要；\n"
          "2. 红色方块标出的是同比下降的部分；\n3. 右侧的表格列出了各地区的数字。\n\n"
          "如果需要，我可以把表格整理成 Markdown。")
REASONING = "用户想知道截图内容。图中是一页 PDF，上方有标题，中间有红色方块……"


def window_box(picture: Image.Image) -> tuple[int, int, int, int]:
    """The chat window's part of the screen (it opens at the top left of the black desktop)."""
    middle_row, left_column = picture.height // 2, 40
    right = max(x for x in range(picture.width - 40) if picture.getpixel((x, middle_row)) != (0, 0, 0)) + 1
    bottom = max(y for y in range(picture.height) if picture.getpixel((left_column, y)) != (0, 0, 0)) + 1
    return 0, 0, right, bottom


def main() -> int:
    """Set the desktop up, ask in Chinese, and save the screen."""
    work = Path(tempfile.mkdtemp(prefix="glmv-zh-shot-"))
    x = desktop_env.start_xvfb(1280, 860)
    tray = desktop_env.start_tray(x)
    bus = desktop_env.start_session_bus(work / "data")
    report = work / "季度报告.pdf"
    report.write_bytes(make_pdf([PageSpec(colour=(200, 40, 40), lines=("Q3 revenue summary",))]))
    try:
        with FakeOpenAIServer(VLLM_NEW.evolve(content=ANSWER, reasoning=REASONING)) as server:
            config = work / "config" / "glmv-desktop"
            config.mkdir(parents=True)
            profile = {"id": "team", "name": "团队 vLLM", "flavor": "vllm", "base_url": server.base_url,
                       "model": "zai-org/GLM-4.6V"}
            (config / "settings.json").write_text(json.dumps({
                "schema_version": 1, "endpoint.profiles": [profile], "endpoint.active": "team",
                "ui.reasoning_expanded": True}, ensure_ascii=False), encoding="utf-8")
            app = AppProcess(app_env(x, work, DBUS_SESSION_BUS_ADDRESS=bus.address, LANGUAGE="zh_CN",
                                     LANG="zh_CN.UTF-8"))
            try:
                app.wait_for("tray-shown")
                app.cli("ask", "--file", str(report), "--send", "这份报告的第一页说了什么？")
                app.wait_for("reply-finished", timeout=60)
                time.sleep(1.0)
                with mss.MSS(display=x.display) as grabber:
                    shot = grabber.grab(grabber.monitors[1])
                picture = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
                picture.crop(window_box(picture)).save(OUT, optimize=True)
                app.cli("quit")
                app.wait_exit()
            finally:
                app.kill()
    finally:
        bus.stop()
        tray.stop()
        x.stop()
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
