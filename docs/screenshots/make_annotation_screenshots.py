"""Take the README's pictures of annotation: `annotate-editor.png`, the editor on a capture with numbered
marks, an arrow and a blurred address; and `send-preview.png`, *What will be sent* for a question about it.

The capture is a settings dialog drawn here; the editor, the renderer and the request are the app's own.
Rendered off screen unless a display is set.

    .venv/bin/python -m docs.screenshots.make_annotation_screenshots
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent / "annotate-editor.png"
PREVIEW_OUT = OUT.with_name("send-preview.png")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def make_capture() -> Image.Image:
    """A made-up account settings dialog, as a capture would show it."""
    picture = Image.new("RGB", (880, 520), (246, 246, 248))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, 879, 44), fill=(40, 44, 52))
    draw.text((18, 12), "Account settings", fill=(255, 255, 255), font=_font(18))
    rows = [("Name", "Ada Lovelace"), ("E-mail", "ada.lovelace@example.org"), ("Plan", "Team (12 seats)"),
            ("Two-factor", "Off")]
    for i, (label, value) in enumerate(rows):
        y = 80 + i * 62
        draw.text((40, y), label, fill=(90, 90, 96), font=_font(16))
        draw.rounded_rectangle((220, y - 8, 620, y + 28), 6, fill=(255, 255, 255), outline=(200, 200, 206))
        draw.text((232, y), value, fill=(20, 20, 24), font=_font(16))
    draw.rounded_rectangle((650, 258, 820, 296), 6, fill=(26, 115, 232))
    draw.text((676, 266), "Enable 2FA", fill=(255, 255, 255), font=_font(16))
    draw.rounded_rectangle((650, 440, 820, 480), 6, fill=(210, 50, 50))
    draw.text((672, 450), "Delete account", fill=(255, 255, 255), font=_font(16))
    draw.rounded_rectangle((470, 440, 630, 480), 6, fill=(230, 230, 234), outline=(200, 200, 206))
    draw.text((512, 450), "Export", fill=(20, 20, 24), font=_font(16))
    return picture


async def settle(rounds: int = 15) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0.03)


async def shoot() -> list[Path]:
    """Draw on the capture in the editor, then preview the request asking about it."""
    from PySide6.QtWidgets import QApplication

    from desktop.assistant.services import AppPaths, Services
    from desktop.chat.attachments import ImageAttachment
    from desktop.chat.conversation import Conversation
    from desktop.chat.request import AskOptions
    from desktop.config.profiles import Flavor, preset
    from desktop.media.annotations import Annotations, Shape, Tool
    from desktop.ui.annotator import AnnotationEditor
    from desktop.ui.send_preview import SendPreviewDialog, preview_request

    QApplication.setQuitOnLastWindowClosed(False)  # the editor closes before the preview opens
    work = Path(tempfile.mkdtemp(prefix="glmv-annotation-shot-"))
    Services.create(AppPaths(config=work / "c", data=work / "d", logs=work / "l"))
    capture = make_capture()
    red, blue = (230, 40, 40), (30, 110, 230)
    drawn = Annotations(shapes=(
        Shape(Tool.PIXELATE, ((224, 138), (616, 166))),
        Shape(Tool.MARKER, ((735, 230),), red, 4, number=1),
        Shape(Tool.RECTANGLE, ((460, 430), (830, 490)), blue, 4, number=2),
        Shape(Tool.ARROW, ((560, 330), (650, 282)), red, 5),
        Shape(Tool.TEXT, ((430, 320),), red, 4, text="Is this safe?"),
    ))
    editor = AnnotationEditor(capture, drawn, title="Annotate the selection")
    editor.resize(1000, 720)
    editor.show()
    editor.set_tool(Tool.MARKER)
    await settle()
    editor.grab().save(str(OUT))
    editor.reject()

    attachment = ImageAttachment.from_pixels(capture, "region.png", "screen")
    attachment.annotate(drawn)
    profile = preset(Flavor.ZAI, name="Z.ai")
    preview = await asyncio.to_thread(preview_request, profile, Conversation(),
                                      "Which of 1 and 2 should I press to turn on two-factor login?", [attachment],
                                      AskOptions(model="glm-4.6v", image_format="png"))
    dialog = SendPreviewDialog(preview)
    dialog.resize(940, 760)
    dialog.show()
    await settle()
    dialog.grab().save(str(PREVIEW_OUT))
    dialog.reject()
    return [OUT, PREVIEW_OUT]


def main() -> int:
    """Render the windows and save the PNGs."""
    from docs.screenshots.offscreen import run_offscreen

    for path in run_offscreen(shoot):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
