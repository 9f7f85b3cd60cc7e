"""Every window in Simplified Chinese on the real X display, with the Chinese fonts CI installs: no label or
button whose text is wider than its room. The check runs in a process of its own, started in Chinese, as a
user's app would be; the checker itself is shown to catch a clipped label."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from tests.support import desktop_env
from tests.support.zh_windows import clipped

ROOT = Path(__file__).resolve().parents[2]


def test_the_checker_finds_a_clipped_label_and_button(qtbot: Any) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    row = QHBoxLayout(window)
    label = QLabel("适配规划：可运行（有限制），使用模型的完整上下文")
    label.setFixedWidth(60)
    button = QPushButton("使用已有安装…")
    button.setFixedWidth(40)
    row.addWidget(label)
    row.addWidget(button)
    window.show()
    qtbot.waitExposed(window)
    found = clipped(window)
    assert len(found) == 2 and found[0].startswith("QLabel") and found[1].startswith("QPushButton"), found


def test_every_window_fits_its_chinese_text(x_display: desktop_env.XServer, tmp_path: Path) -> None:
    out = tmp_path / "clipped.json"
    env = {**os.environ, **x_display.env(), "LANGUAGE": "zh_CN", "LANG": "zh_CN.UTF-8", "QT_QPA_PLATFORM": "xcb"}
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(tmp_path / name.lower())
    done = subprocess.run([sys.executable, "-m", "tests.support.zh_windows", str(out), str(tmp_path / "pictures")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    said = json.loads(out.read_text(encoding="utf-8"))
    results = said["problems"]
    assert set(results) == {"chat", "settings", "quick_ask", "servers", "add_host", "annotate", "recording_pill",
                            "page_picker"}
    assert all(not problems for problems in results.values()), json.dumps(results, ensure_ascii=False, indent=1)
    # and it was Chinese that was checked
    assert said["titles"]["settings"] == "设置" and said["titles"]["add_host"] == "添加 SSH 主机", said["titles"]
