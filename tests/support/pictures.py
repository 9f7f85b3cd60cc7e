"""Pictures the capture tests show on screen and then expect back, pixel for pixel."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw


def make_known_picture(path: Path, width: int, height: int) -> Image.Image:
    """A picture no screen shows by chance: colour bands, a grid and labelled blocks."""
    image = Image.new("RGB", (width, height), (250, 250, 245))
    draw = ImageDraw.Draw(image)
    for i, colour in enumerate([(220, 40, 40), (40, 160, 60), (40, 80, 220), (240, 200, 30)]):
        draw.rectangle((i * width // 4, height // 3, (i + 1) * width // 4 - 1, 2 * height // 3), fill=colour)
    for x in range(0, width, 37):
        draw.line((x, 0, x, height), fill=(120, 120, 120))
    for y in range(0, height, 29):
        draw.line((0, y, width, y), fill=(150, 150, 150))
    draw.text((100, 100), "GLM-V end-to-end test picture 42", fill=(0, 0, 0))
    image.save(path)
    return image
