"""Take the README's picture of the model pointing back: `boxes-on-screen.png`, a "window" on the desktop with
the answer's boxes drawn over it by *Show on screen*, and the chat window's answer with the same boxes on its
picture. It needs a real X display (the overlay is a window of its own over the screen):

    xvfb-run -s "-screen 0 1600x900x24" .venv/bin/python -m docs.screenshots.make_boxes_screenshot

The "window" is a picture shown where a capture would have found it; the conversation is written here (no
model runs); the reply widget, the overlay and the screen grab are real.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "boxes-on-screen.png"
AREA = (40, 60, 880, 520)  # where the captured "window" is on screen (logical = physical here)


async def shoot() -> Path:
    """Show the picture, the chat window's answer, then the boxes over the screen, and grab the screen."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QPixmap
    from PySide6.QtWidgets import QApplication, QLabel

    from desktop.assistant.services import AppPaths, Services
    from desktop.chat.attachments import ImageAttachment
    from desktop.chat.conversation import Conversation, GroundingBox, ReplyState
    from desktop.chat.parser import describe_box
    from desktop.ui.chat_window import ChatWindow
    from desktop.ui.message_widgets import ReplyWidget
    from desktop.ui.notifier import Notifier
    from docs.screenshots.make_annotation_screenshots import make_capture
    from docs.screenshots.offscreen import grab_screen

    QApplication.setQuitOnLastWindowClosed(False)
    work = Path(tempfile.mkdtemp(prefix="glmv-boxes-shot-"))
    capture = make_capture()
    capture.save(work / "capture.png")
    shown = QLabel()
    shown.setWindowFlags(Qt.WindowType.FramelessWindowHint | Qt.WindowType.Tool)
    shown.setPixmap(QPixmap(str(work / "capture.png")))
    shown.setGeometry(*AREA)
    shown.show()

    services = Services.create(AppPaths(config=work / "c", data=work / "d", logs=work / "l"))
    chat = ChatWindow(services, Notifier())
    chat.setGeometry(AREA[0] + AREA[2] + 20, 40, 640, 820)
    chat.show()
    attachment = ImageAttachment.from_pixels(capture, "region.png", "screen")
    attachment.screen_area = AREA
    conversation = Conversation()
    question = conversation.add_question("Where do I turn on two-factor login, and what should I not press?",
                                         [attachment])
    reply = conversation.start_reply(question, model="glm-4.6v", endpoint_id="zai", thinking=False)
    boxes = [GroundingBox(740, 497, 937, 571, 880, 520), GroundingBox(739, 846, 933, 925, 880, 520)]
    reply.boxes = boxes
    reply.text = (f"Press **Enable 2FA** {describe_box(1, boxes[0])} next to *Two-factor*. Do not press "
                  f"**Delete account** {describe_box(2, boxes[1])}: it removes the account for good.")
    reply.state, reply.finish_reason = ReplyState.COMPLETE, "stop"
    chat.session.replace_conversation(conversation)
    for _ in range(40):
        await asyncio.sleep(0.05)
    chat.view.flush()
    widget = chat.view.widget_for(reply)
    assert isinstance(widget, ReplyWidget)
    for _ in range(40):
        await asyncio.sleep(0.05)
    overlay = widget.show_on_screen()
    assert overlay is not None
    for _ in range(20):
        await asyncio.sleep(0.05)
    grab_screen((0, 0, AREA[0] + AREA[2] + 680, 880), OUT)
    overlay.close()
    chat.shutdown()
    await services.client.aclose()
    return OUT


def main() -> int:
    """Render on the display and save the PNG."""
    from docs.screenshots.offscreen import run_on_display

    return run_on_display(shoot)


if __name__ == "__main__":
    sys.exit(main())
