"""Open every window of the app and find text that does not fit: run in a process of its own, in the language
its environment asks for (LANGUAGE=zh_CN), on the display it is given.

    LANGUAGE=zh_CN python -m tests.support.zh_windows OUT.json [PICTURES_DIR]

Writes {"problems": {window: [problem, …]}, "titles": {window: title}} to OUT.json; with PICTURES_DIR, a PNG
of each window there too.
A problem is a label or button whose text is wider than the room it has (a clipped label), named by its
class, object name and text, with both widths.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def clipped(root: Any) -> list[str]:
    """Labels and buttons under `root` whose text needs more width than they have."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import Qt as GuiQt
    from PySide6.QtGui import QTextDocument
    from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget

    found = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not widget.isVisibleTo(root) or widget.width() <= 1:
            continue
        if isinstance(widget, QLabel) and widget.text() and not widget.wordWrap():
            text = widget.text()
            if widget.textFormat() == Qt.TextFormat.RichText or GuiQt.mightBeRichText(text):
                document = QTextDocument()
                document.setDefaultFont(widget.font())
                document.setHtml(text)
                need = int(document.idealWidth()) - 8  # the document's own margins
            else:
                need = max(widget.fontMetrics().horizontalAdvance(line) for line in text.split("\n"))
            have = widget.contentsRect().width() - 2 * widget.margin()
            if need > have + 2:
                found.append(f"QLabel {widget.objectName() or '-'} {text[:60]!r}: needs {need} px, has {have}")
        elif isinstance(widget, QAbstractButton) and widget.text():
            need, have = widget.sizeHint().width(), widget.width()
            if need > have + 2:
                found.append(f"{type(widget).__name__} {widget.objectName() or '-'} {widget.text()!r}: "
                             f"needs {need} px, has {have}")
    return found


async def _settle(seconds: float = 0.3) -> None:
    await asyncio.sleep(seconds)


async def check_all(pictures: Path | None) -> dict[str, dict[str, Any]]:
    """Open each window in turn, in its usual size, and check it (each tab of the settings too)."""
    import io

    from PIL import Image
    from PySide6.QtWidgets import QTabWidget

    from desktop.assistant.local_server import ServerManager
    from desktop.assistant.services import AppPaths, Services
    from desktop.backends.catalog import Engine
    from desktop.backends.hardware import GpuInfo, HardwareReport
    from desktop.chat.attachments import DocumentAttachment
    from desktop.chat.request import sending_for
    from desktop.config.hosts import HostBook
    from desktop.ui.annotator import AnnotationEditor
    from desktop.ui.chat_window import ChatWindow
    from desktop.ui.notifier import Notifier
    from desktop.ui.page_picker import PagePicker
    from desktop.ui.quick_ask import QuickAskPopup
    from desktop.ui.recording import RecordingPill
    from desktop.ui.servers.hosts import AddHostDialog
    from desktop.ui.servers.window import LocalServersWindow
    from desktop.ui.settings_dialog import SettingsDialog

    home = Path(tempfile.mkdtemp(prefix="glmv-zh-"))
    services = Services.create(AppPaths(config=home / "config", data=home / "data", logs=home / "logs"))
    notifier = Notifier()
    results: dict[str, list[str]] = {}
    titles: dict[str, str] = {}

    def probe(_models: Path) -> HardwareReport:
        gpu = GpuInfo(0, "NVIDIA L40S", "GPU-0", 46068, 45210, (8, 9), "580.95", "13.0")
        return HardwareReport("linux", "Ubuntu 24.04", "AMD Ryzen 9 7950X", 32, 131072, 120000, 921600, [gpu],
                              "580.95", "13.0", False, [])

    async def check(name: str, window: Any, after: Callable[[], Any] | None = None) -> None:
        window.show()
        await _settle()
        if after is not None:
            await after()
        found = clipped(window)
        if isinstance(window, SettingsDialog):
            for tabs in window.findChildren(QTabWidget):
                for index in range(tabs.count()):
                    tabs.setCurrentIndex(index)
                    await _settle(0.1)
                    found += [f"[{tabs.tabText(index)}] {p}" for p in clipped(window)]
        results[name] = sorted(set(found))
        titles[name] = window.windowTitle()
        if pictures is not None:
            window.grab().save(str(pictures / f"{name}.png"))
        window.hide()

    await check("chat", ChatWindow(services, notifier))
    await check("settings", SettingsDialog(services, notifier))
    await check("quick_ask", QuickAskPopup(services, notifier))
    manager = ServerManager(services.profiles, services.secrets, services.paths)
    servers = LocalServersWindow(services, notifier, manager, probe=probe)

    async def loaded() -> None:
        for _ in range(200):
            if servers.refresh_task is not None and servers.refresh_task.done():
                break
            await asyncio.sleep(0.05)
        servers.select("glm-4.6v-flash", Engine.VLLM)
        await _settle()

    await check("servers", servers, loaded)
    await check("add_host", AddHostDialog(HostBook(services.settings)))
    picture = Image.new("RGB", (800, 500), (240, 240, 240))
    await check("annotate", AnnotationEditor(picture, None))
    pill = RecordingPill()
    pill.show_progress(12.0, 60.0, 0)
    await check("recording_pill", pill)
    out = io.BytesIO()
    Image.new("RGB", (200, 280), (255, 255, 255)).save(out, "PDF", resolution=72)
    document = DocumentAttachment.from_pdf(out.getvalue(), "季度报告.pdf", "file")
    await check("page_picker", PagePicker(document, sending_for(None, 2700), None, [], notifier))
    servers.shutdown()
    await services.client.aclose()
    return {"problems": results, "titles": titles}


def main(argv: list[str]) -> int:
    """Check every window; write the problems as JSON."""
    from desktop.app import GlmvApplication, create_event_loop

    out = Path(argv[0])
    pictures = Path(argv[1]) if len(argv) > 1 else None
    if pictures is not None:
        pictures.mkdir(parents=True, exist_ok=True)
    app = GlmvApplication(sys.argv[:1])
    loop = create_event_loop(app)
    with loop:
        results = loop.run_until_complete(check_all(pictures))
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
