"""Take the README's pictures of the chat window's history: `history-sidebar.png`, the sidebar with a
search typed, its hits highlighted, and the conversation of one hit opened at the matching answer; and
`history-sidebar-list.png`, the list itself (pinned, then by day, with thumbnails, quick asks marked).

The conversations are made up and written into a real history file with the store's own API; the
window, the sidebar, the search and the reading are the app's own. Rendered off screen unless a
display is set.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m docs.screenshots.make_history_screenshot
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent / "history-sidebar.png"
LIST_OUT = OUT.with_name("history-sidebar-list.png")
QUERY = "certificate"
HOUR = 3600.0

CERTIFICATE_ANSWER = (
    "The browser does not trust the server's **certificate**: it was issued for `intranet.example.com`, "
    "but the page was opened as `10.0.4.12`, so the names do not match.\n\n"
    "Open it by the name on the certificate, or ask whoever runs the server to add the address to the "
    "certificate's *Subject Alternative Name* list:\n\n"
    "```bash\nopenssl x509 -in server.crt -noout -ext subjectAltName\n```\n\n"
    "Installing the company's root certificate alone does not fix a name mismatch."
)

# (title, question, answer, hours before today's midnight (negative: today), picture, origin, pinned)
CONVERSATIONS: list[tuple[str, str, str, float, str | None, str, bool]] = [
    ("Release checklist for 2.4", "Turn this whiteboard photo into a checklist", "- [ ] Freeze the branch\n"
     "- [ ] Update the changelog\n- [ ] Tag and build the installers", 24 * 12 - 10.25, "board", "chat", True),
    ("Why is the certificate not trusted?", "Why does the browser say this certificate is not trusted?",
     CERTIFICATE_ANSWER, -9.6, "dialog", "chat", False),
    ("ModuleNotFoundError: numpy", "What does this error mean?", "The script runs with a Python that has no "
     "**numpy** installed. Install it into the same interpreter: `python -m pip install numpy`.", -8.2,
     "terminal", "quick_ask", False),
    ("Quarterly revenue chart", "What trend does this chart show?", "Revenue grows steadily until March, then "
     "drops by about a fifth while costs stay flat.", -5.5, "chart", "chat", False),
    ("数据库索引为什么没有生效", "数据库索引为什么没有生效？",
     "因为查询条件里对索引列用了函数，数据库无法使用索引。", -3.1, None, "quick_ask", False),
    ("Renew the staging certificate", "How do I renew the staging certificate before it expires?",
     "Run `certbot renew --cert-name staging.example.com`, then reload the web server so it serves the new "
     "certificate.", 4.0, None, "chat", False),
    ("Translate the settings dialog", "Translate the labels in this dialog into English",
     "Export → *Export*, 保存 → *Save*, 取消 → *Cancel*.", 6.5, "dialog", "quick_ask", False),
    ("Spreadsheet formula returns #VALUE!", "Why does this formula give #VALUE!?", "Column C holds text that "
     "looks like numbers; wrap it in `VALUE()` or convert the column.", 30.0, None, "chat", False),
    ("Docker build cannot reach the network", "The build stops at apt-get update", "The build runs behind the "
     "proxy: pass `--build-arg HTTPS_PROXY=…` or configure the daemon's proxy.", 52.0, "terminal", "chat", False),
    ("Summarise the migration slide", "Summarise this slide and list its risks", "Move the database first, then "
     "the services; the risks named are downtime, data loss and the old certificate chain.", 76.0, "board",
     "chat", False),
    ("Handwritten note to todo list", "Read this note and make a todo list", "- Call the printer vendor\n"
     "- Order toner\n- Book the meeting room", 24 * 9, None, "quick_ask", False),
    ("Mail server TLS certificate chain", "Is the certificate chain of the mail server complete?",
     "No: the intermediate certificate is missing, so some clients cannot build the chain to the root.",
     24 * 20, None, "chat", False),
]


def picture(kind: str) -> bytes:
    """A small made-up picture of the given kind (PNG)."""
    image = Image.new("RGB", (480, 320), "#ffffff")
    draw = ImageDraw.Draw(image)
    if kind == "terminal":
        draw.rectangle((0, 0, 480, 320), fill="#1e1f22")
        for row, colour in enumerate(("#c9d1d9", "#8b949e", "#8b949e", "#ff7b72")):
            draw.rectangle((24, 40 + row * 40, 24 + 380 - row * 50, 58 + row * 40), fill=colour)
    elif kind == "chart":
        draw.rectangle((0, 0, 480, 320), fill="#f8fafd")
        for n, height in enumerate((120, 150, 175, 210, 160, 150)):
            draw.rectangle((50 + n * 68, 290 - height, 90 + n * 68, 290), fill="#1a73e8")
    elif kind == "dialog":
        draw.rectangle((0, 0, 480, 320), fill="#e8eaed")
        draw.rectangle((60, 50, 420, 270), fill="#ffffff", outline="#c4c7c5", width=3)
        draw.ellipse((90, 90, 150, 150), fill="#f9ab00")
        draw.rectangle((170, 100, 390, 115), fill="#5f6368")
        draw.rectangle((170, 130, 340, 142), fill="#9aa0a6")
        draw.rectangle((300, 215, 400, 250), fill="#1a73e8")
    else:  # a whiteboard
        draw.rectangle((0, 0, 480, 320), fill="#fdfdf8")
        for row in range(4):
            draw.rectangle((40, 50 + row * 60, 70, 80 + row * 60), outline="#34a853", width=4)
            draw.line((90, 65 + row * 60, 300 + (row % 2) * 80, 65 + row * 60), fill="#3c4043", width=6)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def write_history(data_dir: Path) -> dict[str, str]:
    """Write the made-up conversations; returns their ids by title."""
    from desktop.chat.conversation import Attachment, Conversation, Message, ReplyState, Role
    from desktop.store import HistoryStore, Origin

    midnight = datetime.combine(date.today(), datetime.min.time()).timestamp()
    moment = [0.0]
    ids = {}
    with HistoryStore.open(data_dir, clock=lambda: moment[0]) as store:
        for title, question, answer, hours_before, kind, origin, pinned in CONVERSATIONS:
            at = min(midnight - hours_before * HOUR, time.time() - 60)
            conversation = Conversation(title=title, created=at - 120)
            files = [Attachment(name="screenshot.png", width=480, height=320, origin="screen", data=picture(kind))] \
                if kind else []
            asked = conversation.add_question(question, files)
            asked.created = at - 110
            conversation.messages.append(Message(
                Role.ASSISTANT, text=answer, state=ReplyState.COMPLETE, model="glm-4.6v-flash" if origin ==
                "quick_ask" else "glm-4.6v", endpoint_id="zai", answers=asked.id, created=at - 100,
                finish_reason="stop", completion_tokens=len(answer.split()) * 2))
            moment[0] = at
            store.save_conversation(conversation, Origin(origin))
            if pinned:
                store.set_pinned(conversation.id, True)
            ids[title] = conversation.id
    return ids


async def settle(rounds: int = 15) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0.03)


async def shoot() -> Path:
    """Open the window over the history, search, open a hit, and save the picture."""
    from desktop.assistant.history import HistoryWriter
    from desktop.assistant.services import AppPaths, Services
    from desktop.ui.chat_window import ChatWindow
    from desktop.ui.history_sidebar import HIT_ROLE
    from desktop.ui.notifier import Notifier

    work = Path(tempfile.mkdtemp(prefix="glmv-history-shot-"))
    ids = write_history(work / "data")
    services = Services.create(AppPaths(config=work / "config", data=work / "data", logs=work / "logs"))
    services.settings.set("ui.history_sidebar", True)
    writer = HistoryWriter(work / "data")
    writer.start()
    while writer.store is None:
        await asyncio.sleep(0.01)
    chat = ChatWindow(services, Notifier(), history=writer)
    chat.resize(1240, 780)
    chat.show()
    sidebar = chat.sidebar
    assert sidebar is not None
    while len(sidebar.model.summaries) < len(CONVERSATIONS):
        await asyncio.sleep(0.02)
    await settle()
    chat.grab().save(str(LIST_OUT))
    sidebar.search.setFocus()
    sidebar.search.setText(QUERY)
    while sidebar.searching or not sidebar.results_model.hits:
        await asyncio.sleep(0.02)
    wanted = ids["Why is the certificate not trusted?"]
    row = next(n for n, hit in enumerate(sidebar.results_model.hits)
               if hit.conversation_id == wanted and hit.message_id is not None and hit.role is not None
               and hit.role.value == "assistant")
    index = sidebar.results_model.index(row)
    sidebar.results.setCurrentIndex(index)
    hit = index.data(HIT_ROLE)
    opening = chat.open_conversation(hit.conversation_id, hit.message_id)
    if opening is not None:
        await opening
    await settle(12)
    chat.grab().save(str(OUT))
    chat.shutdown()
    writer.close()
    await services.client.aclose()
    return OUT


def main() -> int:
    """Render the window and save the PNG."""
    from docs.screenshots.offscreen import run_offscreen

    print(run_offscreen(shoot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
