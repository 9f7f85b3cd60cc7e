"""Take a picture of the quick-ask popup: a capture's thumbnail, a question and a finished answer.

The answer is set directly (no server); the popup is rendered off screen unless a display is set.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m docs.screenshots.make_quick_ask_screenshot
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent / "quick-ask.png"

ANSWER = (
    "The script runs with a Python that has no **numpy** installed, so `import numpy` fails.\n\n"
    "Install it into the same interpreter that runs the script:\n\n"
    "```bash\npython -m pip install numpy\n```\n\n"
    "If you use a virtual environment, activate it first (`source .venv/bin/activate`)."
)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def make_capture() -> Image.Image:
    """A made-up terminal window showing an error, as a user might select it."""
    image = Image.new("RGB", (1200, 640), "#1e1f22")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1200, 44), fill="#2b2d31")
    for i, colour in enumerate(("#ff5f57", "#febc2e", "#28c840")):
        draw.ellipse((18 + i * 28, 14, 34 + i * 28, 30), fill=colour)
    lines = [("$ python analyse.py data.csv", "#c9d1d9"), ("Traceback (most recent call last):", "#c9d1d9"),
             ('  File "analyse.py", line 3, in <module>', "#8b949e"), ("    import numpy as np", "#8b949e"),
             ("ModuleNotFoundError: No module named 'numpy'", "#ff7b72"), ("$ ", "#c9d1d9")]
    for row, (text, colour) in enumerate(lines):
        draw.text((32, 80 + row * 56), text, fill=colour, font=_font(34))
    return image


async def shoot() -> Path:
    """Build the popup with a finished answer and save its picture."""
    from PySide6.QtCore import QRect

    from desktop.assistant.services import AppPaths, Services
    from desktop.chat.conversation import Attachment, ReplyState
    from desktop.config.profiles import Flavor, preset
    from desktop.ui.notifier import Notifier
    from desktop.ui.quick_ask import QuickAskPopup

    work = Path(tempfile.mkdtemp(prefix="glmv-quick-ask-shot-"))
    services = Services.create(AppPaths(config=work / "config", data=work / "data", logs=work / "logs"))
    profile = services.profiles.upsert(preset(Flavor.VLLM, name="Local vLLM", base_url="http://127.0.0.1:8000/v1",
                                              model="glm-4.6v-flash"))
    services.profiles.set_active(profile.id, "glm-4.6v-flash")
    popup = QuickAskPopup(services, Notifier())
    capture = Attachment.from_pixels(make_capture(), "screenshot.png", "screen")
    popup.show_for(capture, QRect(120, 80, 600, 320))
    while popup._preparing is not None:  # noqa: SLF001 - the thumbnail is made in a worker thread
        await asyncio.sleep(0.02)
    question = popup.conversation.add_question("What does this error mean?", [capture])
    popup._pending = None  # noqa: SLF001 - asked by hand, without a server
    reply = popup.conversation.start_reply(question, model="glm-4.6v-flash", endpoint_id=profile.id, thinking=True)
    reply.reasoning = "The traceback ends in ModuleNotFoundError for numpy: the package is missing."
    reply.text, reply.state, reply.completion_tokens = ANSWER, ReplyState.COMPLETE, 96
    popup.add_question_widget(question)
    popup.view.add_message(reply)
    popup.view.flush()
    for _ in range(20):  # let the layout settle (heights follow the wrapped text)
        await asyncio.sleep(0.03)
    popup.grab().save(str(OUT))
    popup.hide()
    await services.client.aclose()
    return OUT


def main() -> int:
    """Render the popup and save the PNG."""
    from docs.screenshots.offscreen import run_offscreen

    print(run_offscreen(shoot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
