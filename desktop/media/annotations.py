"""Annotations on a capture: the shapes the user draws, burned into the picture, and a note of the numbered marks.

The model gets the picture with the marks drawn in plus a short list of the numbered marks (markers and
numbered rectangles) in thousandths of the picture as sent, GLM-V's grounding convention, so a question
such as "what is at 2?" has an answer. Blur and pixelate replace the pixels under them, so the detail is
gone from what is sent, not merely covered. Pillow is imported only when something is drawn or a text
measured: the model itself is plain data, cheap to import, and saved with the conversation as JSON.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from desktop.i18n import _

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

    AnyFont = ImageFont.FreeTypeFont | ImageFont.ImageFont

log = logging.getLogger(__name__)

RGB = tuple[int, int, int]
Point = tuple[float, float]
Box = tuple[int, int, int, int]


class Tool(StrEnum):
    """What a shape is; the value is its name in the saved JSON."""

    PEN = "pen"
    LINE = "line"
    ARROW = "arrow"
    RECTANGLE = "rectangle"
    ELLIPSE = "ellipse"
    HIGHLIGHTER = "highlighter"
    TEXT = "text"
    MARKER = "marker"
    BLUR = "blur"
    PIXELATE = "pixelate"


REDACTIONS: Final = frozenset({Tool.BLUR, Tool.PIXELATE})
NUMBERED: Final = frozenset({Tool.MARKER, Tool.RECTANGLE})
_TWO_POINTS: Final = frozenset({Tool.LINE, Tool.ARROW, Tool.RECTANGLE, Tool.ELLIPSE, Tool.BLUR, Tool.PIXELATE})
_ONE_POINT: Final = frozenset({Tool.MARKER, Tool.TEXT})
_STROKES: Final = frozenset({Tool.PEN, Tool.HIGHLIGHTER})

MAX_WIDTH: Final = 1000.0
HIGHLIGHTER_OPACITY: Final = 0.35
TEXT_BACKGROUND_OPACITY: Final = 0.85
BADGE_SCALE: Final = 0.8  # a numbered rectangle's badge against a marker of the same width
_WHITE: Final[RGB] = (255, 255, 255)
_BLACK: Final[RGB] = (0, 0, 0)
_DARK: Final[RGB] = (32, 32, 32)


def marker_radius(width: float) -> float:
    """A marker's radius for a stroke width: large enough for two digits to read."""
    return max(12.0, 3.0 * width)


def text_size(width: float) -> int:
    """A text's font size in pixels for a stroke width."""
    return max(14, round(5 * width))


def text_padding(size: int) -> int:
    """Space between a text's background box and its glyphs."""
    return max(3, round(size * 0.25))


def arrow_head_length(width: float) -> float:
    """How far an arrow's head reaches back from its tip (before shortening to fit a short arrow)."""
    return max(12.0, 4.0 * width)


def is_light(colour: RGB) -> bool:
    """Whether white would not stand out on this colour (text on it is drawn dark instead)."""
    r, g, b = colour
    return 0.299 * r + 0.587 * g + 0.114 * b > 160


def _check_number(value: object, what: str) -> float:
    """A finite int or float (never a bool), or ValueError naming `what`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number: {value!r}"[:200])
    return float(value)


def _check_point(value: object) -> Point:
    """An (x, y) pair of finite numbers."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"a point is not an (x, y) pair: {value!r}"[:200])
    return _check_number(value[0], "a point's x"), _check_number(value[1], "a point's y")


def _check_colour(value: object) -> RGB:
    """Three ints 0-255."""
    if (not isinstance(value, tuple | list) or len(value) != 3
            or any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 255 for c in value)):
        raise ValueError(f"a colour is not three integers 0-255: {value!r}"[:200])
    return int(value[0]), int(value[1]), int(value[2])


def _check_box(value: object) -> Box:
    """Left, top, right, bottom: ints, not negative, with some area."""
    if (not isinstance(value, tuple | list) or len(value) != 4
            or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in value)):
        raise ValueError(f"a crop is not four integers >= 0: {value!r}"[:200])
    left, top, right, bottom = (int(c) for c in value)
    if right <= left or bottom <= top:
        raise ValueError(f"a crop has no area: {value!r}")
    return left, top, right, bottom


@dataclass(frozen=True)
class Shape:
    """One thing drawn on the picture, in the pixels of the whole (uncropped) picture.

    Points: start and end for LINE, ARROW, RECTANGLE, ELLIPSE, BLUR, PIXELATE; one or more for PEN and
    HIGHLIGHTER; the centre of a MARKER and the top-left corner of a TEXT's box.
    """

    tool: Tool
    points: tuple[Point, ...]
    colour: RGB = (230, 40, 40)
    width: float = 4.0
    text: str = ""
    number: int | None = None

    def __post_init__(self) -> None:
        """Check the shape is drawable and normalise its fields (lists to tuples, ints to floats)."""
        try:
            tool = Tool(self.tool)
        except ValueError:
            raise ValueError(f"unknown tool: {self.tool!r}"[:200]) from None
        if not isinstance(self.points, tuple | list):
            raise ValueError(f"the points are not a list: {self.points!r}"[:200])
        points = tuple(_check_point(p) for p in self.points)
        if tool in _TWO_POINTS and len(points) != 2:
            raise ValueError(f"a {tool.value} takes 2 points, not {len(points)}")
        if tool in _ONE_POINT and len(points) != 1:
            raise ValueError(f"a {tool.value} takes 1 point, not {len(points)}")
        if tool in _STROKES and not points:
            raise ValueError(f"a {tool.value} takes at least 1 point")
        width = _check_number(self.width, "the width")
        if not 0 < width <= MAX_WIDTH:
            raise ValueError(f"the width is not between 0 and {MAX_WIDTH:g}: {width!r}")
        if not isinstance(self.text, str):
            raise ValueError(f"the text is not a string: {self.text!r}"[:200])
        if self.number is not None:
            if isinstance(self.number, bool) or not isinstance(self.number, int) or self.number < 1:
                raise ValueError(f"a mark number is not an integer >= 1: {self.number!r}"[:200])
            if tool not in NUMBERED:
                raise ValueError(f"a {tool.value} carries no number")
        object.__setattr__(self, "tool", tool)
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "colour", _check_colour(self.colour))
        object.__setattr__(self, "width", width)

    def bounds(self) -> tuple[float, float, float, float]:
        """Left, top, right, bottom of everything the shape paints (strokes, heads, badges, a text's box)."""
        if self.tool is Tool.MARKER:
            (x, y), r = self.points[0], marker_radius(self.width)
            return x - r, y - r, x + r, y + r
        if self.tool is Tool.TEXT:
            return _text_layout(self).box
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        left, top, right, bottom = min(xs), min(ys), max(xs), max(ys)
        if self.tool in REDACTIONS:
            return left, top, right, bottom
        half = self.width * (1.5 if self.tool is Tool.HIGHLIGHTER else 0.5)
        left, top, right, bottom = left - half, top - half, right + half, bottom + half
        if self.tool is Tool.ARROW:
            head = _arrow_head(self)
            if head is not None:
                left, right = min(left, *(p[0] for p in head)), max(right, *(p[0] for p in head))
                top, bottom = min(top, *(p[1] for p in head)), max(bottom, *(p[1] for p in head))
        if self.tool is Tool.RECTANGLE and self.number is not None:
            r = marker_radius(self.width) * BADGE_SCALE
            cx, cy = min(xs), min(ys)
            left, top = min(left, cx - r), min(top, cy - r)
        return left, top, right, bottom

    def moved(self, dx: float, dy: float) -> Shape:
        """The same shape shifted by (dx, dy) picture pixels."""
        return Shape(self.tool, tuple((x + dx, y + dy) for x, y in self.points), self.colour, self.width,
                     self.text, self.number)

    def to_json(self) -> dict[str, Any]:
        """The shape as JSON-ready data (text and number only when set)."""
        data: dict[str, Any] = {"tool": self.tool.value, "points": [[x, y] for x, y in self.points],
                                "colour": list(self.colour), "width": self.width}
        if self.text:
            data["text"] = self.text
        if self.number is not None:
            data["number"] = self.number
        return data

    @classmethod
    def from_json(cls, value: Any) -> Shape:
        """A shape from `to_json`'s data; ValueError with the reason on anything else."""
        if not isinstance(value, dict):
            raise ValueError(f"a shape is not an object: {value!r}"[:200])
        unknown = set(value) - {"tool", "points", "colour", "width", "text", "number"}
        if unknown:
            raise ValueError(f"a shape has unknown fields: {sorted(unknown)}")
        if "tool" not in value or "points" not in value:
            raise ValueError("a shape lacks its tool or its points")
        if not isinstance(value["points"], list):
            raise ValueError(f"a shape's points are not a list: {value['points']!r}"[:200])
        return cls(value["tool"], tuple(value["points"]), value.get("colour", (230, 40, 40)), value.get("width", 4.0),
                   value.get("text", ""), value.get("number"))


@dataclass(frozen=True)
class Mark:
    """A numbered mark as the model is told of it: a point or a box in thousandths of the picture as sent."""

    number: int
    kind: str  # "point" (a marker) or "box" (a numbered rectangle)
    coordinates: tuple[int, ...]  # (x, y) or (x1, y1, x2, y2), 0-1000, origin top left


def _thousandths(value: float, origin: int, extent: int) -> int:
    """A coordinate in thousandths of an extent, rounded half up and clamped to 0..1000."""
    return min(1000, max(0, math.floor((value - origin) / extent * 1000 + 0.5)))


def _clip_box(box: Box, size: tuple[int, int]) -> Box:
    """A box clipped to a picture of `size`, at least one pixel wide and high."""
    width, height = size
    left = min(max(box[0], 0), width - 1)
    top = min(max(box[1], 0), height - 1)
    return left, top, min(max(box[2], left + 1), width), min(max(box[3], top + 1), height)


@dataclass(frozen=True)
class Annotations:
    """Everything drawn on one picture, in order, and the crop applied last."""

    shapes: tuple[Shape, ...] = ()
    crop: Box | None = None

    def __post_init__(self) -> None:
        """Check the crop and normalise lists to tuples."""
        if not all(isinstance(s, Shape) for s in self.shapes):
            raise ValueError("annotations hold something that is not a shape")
        object.__setattr__(self, "shapes", tuple(self.shapes))
        if self.crop is not None:
            object.__setattr__(self, "crop", _check_box(self.crop))

    @property
    def empty(self) -> bool:
        """Whether nothing is drawn and nothing cropped: the picture goes as it is."""
        return not self.shapes and self.crop is None

    @property
    def redacted(self) -> bool:
        """Whether a blur or pixelate hides part of the picture (the original must then not be sent or kept)."""
        return any(s.tool in REDACTIONS for s in self.shapes)

    def add(self, shape: Shape) -> Annotations:
        """These annotations with `shape` drawn last."""
        return Annotations((*self.shapes, shape), self.crop)

    def replace(self, index: int, shape: Shape) -> Annotations:
        """These annotations with the shape at `index` replaced (IndexError when there is none)."""
        shapes = list(self.shapes)
        shapes[index] = shape
        return Annotations(tuple(shapes), self.crop)

    def remove(self, index: int) -> Annotations:
        """These annotations without the shape at `index` (IndexError when there is none)."""
        shapes = list(self.shapes)
        del shapes[index]
        return Annotations(tuple(shapes), self.crop)

    def with_crop(self, crop: Box | None) -> Annotations:
        """These shapes with another crop (None: the whole picture)."""
        return Annotations(self.shapes, crop)

    def next_number(self) -> int:
        """The number the next marker or numbered rectangle gets: one above the highest in use."""
        return 1 + max((s.number for s in self.shapes if s.number is not None), default=0)

    def without_redactions(self) -> Annotations:
        """The same without blurs and pixelates (the crop kept)."""
        return Annotations(tuple(s for s in self.shapes if s.tool not in REDACTIONS), self.crop)

    def marks(self, size: tuple[int, int]) -> list[Mark]:
        """The numbered marks inside the crop, by number, in thousandths of the cropped picture.

        `size` is the whole picture's size. A marker whose centre lies outside the crop, or a rectangle
        wholly outside it, is left out; a rectangle partly outside is clipped to it.
        """
        left, top, right, bottom = _clip_box(self.crop or (0, 0, size[0], size[1]), size)
        width, height = right - left, bottom - top
        found = []
        for shape in self.shapes:
            if shape.tool not in NUMBERED or shape.number is None:
                continue
            if shape.tool is Tool.MARKER:
                x, y = shape.points[0]
                if left <= x <= right and top <= y <= bottom:
                    found.append(Mark(shape.number, "point", (_thousandths(x, left, width),
                                                              _thousandths(y, top, height))))
                continue
            (ax, ay), (bx, by) = shape.points
            x1, x2, y1, y2 = min(ax, bx), max(ax, bx), min(ay, by), max(ay, by)
            if x2 < left or x1 > right or y2 < top or y1 > bottom:
                continue
            found.append(Mark(shape.number, "box", (_thousandths(x1, left, width), _thousandths(y1, top, height),
                                                    _thousandths(x2, left, width), _thousandths(y2, top, height))))
        return sorted(found, key=lambda m: m.number)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data, read back by `from_json`."""
        return {"shapes": [s.to_json() for s in self.shapes], "crop": list(self.crop) if self.crop else None}

    @classmethod
    def from_json(cls, value: Any) -> Annotations:
        """Annotations from `to_json`'s data; ValueError with the reason on anything else."""
        if not isinstance(value, dict):
            raise ValueError(f"annotations are not an object: {value!r}"[:200])
        shapes = value.get("shapes", [])
        if not isinstance(shapes, list):
            raise ValueError(f"the shapes are not a list: {shapes!r}"[:200])
        return cls(tuple(Shape.from_json(s) for s in shapes), value.get("crop"))


def marks_note(annotations: Annotations, size: tuple[int, int]) -> str:
    """The note sent beside the picture that lists its numbered marks ("" when there are none)."""
    marks = annotations.marks(size)
    if not marks:
        return ""
    lines = [_("Marks drawn on the picture (coordinates in thousandths of its width and height, origin top left):")]
    for mark in marks:
        if mark.kind == "point":
            x, y = mark.coordinates
            lines.append(_("mark {number}: point [{x}, {y}]").format(number=mark.number, x=x, y=y))
        else:
            x1, y1, x2, y2 = mark.coordinates
            lines.append(_("mark {number}: box [{x1}, {y1}, {x2}, {y2}]").format(
                number=mark.number, x1=x1, y1=y1, x2=x2, y2=y2))
    return "\n".join(lines)


# --- geometry shared by bounds() and the renderer ---------------------------------------------------------


def _arrow_head(shape: Shape) -> tuple[Point, Point, Point] | None:
    """Tip and the two back corners of an arrow's head; None for an arrow of no length."""
    (x0, y0), (x1, y1) = shape.points
    length = math.hypot(x1 - x0, y1 - y0)
    if length == 0:
        return None
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    head = min(arrow_head_length(shape.width), length)
    half = head * 0.5
    bx, by = x1 - ux * head, y1 - uy * head
    return (x1, y1), (bx - uy * half, by + ux * half), (bx + uy * half, by - ux * half)


# --- fonts ---------------------------------------------------------------------------------------------------

# Preferred families, CJK-capable first: a text may be Chinese.
_FAMILIES: Final = ("Noto Sans CJK SC", "Source Han Sans SC", "Source Han Sans CN", "Noto Sans SC",
                    "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback", "DejaVu Sans",
                    "Noto Sans", "Liberation Sans")
_BOLD_FAMILIES: Final = ("Noto Sans CJK SC", "Source Han Sans SC", "Source Han Sans CN", "DejaVu Sans",
                         "Noto Sans", "Liberation Sans")
_REGULAR_STYLES: Final = frozenset({"Regular", "Book", "Normal", "Roman"})

FontFile = tuple[str, int]  # path and face index in a collection
# One FreeType face is not safe to use from two threads at once, and fonts are shared between renders.
_FONT_LOCK: Final = threading.Lock()


def _known_fonts(bold: bool) -> list[FontFile]:
    """Font files the usual installs of each platform have, best first."""
    if sys.platform == "win32":
        folder = Path(os.environ.get("WINDIR", "C:\\Windows")) / "Fonts"
        names = ["msyhbd.ttc", "simhei.ttf", "segoeuib.ttf", "arialbd.ttf"] if bold else \
            ["msyh.ttc", "simhei.ttf", "segoeui.ttf", "arial.ttf"]
        return [(str(folder / name), 0) for name in names]
    if sys.platform == "darwin":
        if bold:
            return [("/System/Library/Fonts/Supplemental/Arial Bold.ttf", 0), ("/Library/Fonts/Arial Bold.ttf", 0)]
        return [("/System/Library/Fonts/PingFang.ttc", 0), ("/System/Library/Fonts/Hiragino Sans GB.ttc", 0),
                ("/System/Library/Fonts/STHeiti Light.ttc", 0), ("/Library/Fonts/Arial Unicode.ttf", 0),
                ("/System/Library/Fonts/Helvetica.ttc", 0)]
    weight = "Bold" if bold else "Regular"
    noto = [(f"/usr/share/fonts/{folder}/NotoSansCJK-{weight}.ttc", 2)
            for folder in ("opentype/noto", "noto-cjk", "google-noto-cjk", "opentype/noto-cjk")]
    wqy = [] if bold else [("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
                           ("/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc", 0),
                           ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0)]
    dejavu_name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    dejavu = [(f"/usr/share/fonts/{folder}/{dejavu_name}", 0) for folder in ("truetype/dejavu", "TTF", "dejavu")]
    return noto + wqy + dejavu


def _fontconfig_fonts(bold: bool) -> list[FontFile]:
    """The installed fonts of the preferred families, in order of preference, as fontconfig lists them."""
    program = shutil.which("fc-list")
    if program is None:
        return []
    try:
        listing = subprocess.run([program, "-f", "%{family}\t%{style}\t%{file}\t%{index}\n"],  # noqa: S603
                                 capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    families = _BOLD_FAMILIES if bold else _FAMILIES
    ranked: list[tuple[int, FontFile]] = []
    for line in listing.splitlines():
        parts = line.split("\t")
        if len(parts) != 4 or not parts[3].isdigit():
            continue
        names, styles = set(parts[0].split(",")), set(parts[1].split(","))
        if not (("Bold" in styles) if bold else bool(styles & _REGULAR_STYLES)):
            continue
        rank = next((i for i, family in enumerate(families) if family in names), None)
        if rank is not None:
            ranked.append((rank, (parts[2], int(parts[3]))))
    return [font for _rank, font in sorted(ranked)]


@functools.cache
def font_file(bold: bool = False) -> FontFile | None:
    """The scalable font text (or, bold, a mark's number) is drawn in; None when none was found."""
    finders: list[Callable[[bool], list[FontFile]]] = [_known_fonts, _fontconfig_fonts]
    if sys.platform.startswith("linux"):
        finders.reverse()
    for finder in finders:
        for path, index in finder(bold):
            if Path(path).is_file():
                return path, index
    log.info("no scalable %s font found: text on annotations uses Pillow's own", "bold" if bold else "regular")
    return None


@functools.lru_cache(maxsize=64)
def _font(size: int, bold: bool) -> tuple[AnyFont, bool]:
    """A font of `size` pixels, and whether it is really bold (else the caller thickens the strokes)."""
    from PIL import ImageFont

    for wanted in (True, False) if bold else (False,):
        found = font_file(wanted)
        if found is None:
            continue
        path, index = found
        for face in dict.fromkeys((index, 0)):
            try:
                return ImageFont.truetype(path, size, index=face), wanted
            except OSError as error:
                log.warning("cannot load the font %s (face %d): %s", path, face, error)
    return ImageFont.load_default(size), False


# --- the renderer --------------------------------------------------------------------------------------------

_Painter = Callable[["ImageDraw.ImageDraw", Callable[[Point], Point], int], None]


def _paint_mask(picture: Image.Image, bounds: tuple[float, float, float, float], colour: RGB,
                paint: _Painter, opacity: float = 1.0) -> None:
    """Fill `colour` through an antialiased mask that `paint` draws, supersampled, over `bounds` only.

    `paint` gets a drawing context on the mask, a function from picture to mask coordinates and the
    supersampling factor (to scale widths); the mask is reduced and pasted, so the cost is the box's area.
    """
    from PIL import Image, ImageDraw

    left, top = max(0, math.floor(bounds[0]) - 1), max(0, math.floor(bounds[1]) - 1)
    right, bottom = min(picture.width, math.ceil(bounds[2]) + 2), min(picture.height, math.ceil(bounds[3]) + 2)
    if right <= left or bottom <= top:
        return
    scale = 4 if (right - left) * (bottom - top) <= 256 * 256 else 2
    offset = (scale - 1) / 2

    def to_mask(point: Point) -> Point:
        return (point[0] - left) * scale + offset, (point[1] - top) * scale + offset

    mask = Image.new("L", ((right - left) * scale, (bottom - top) * scale), 0)
    paint(ImageDraw.Draw(mask), to_mask, scale)
    mask = mask.reduce(scale)
    if opacity < 1.0:
        mask = mask.point([round(v * opacity) for v in range(256)])
    picture.paste(colour, (left, top, right, bottom), mask)


def _dots(draw: ImageDraw.ImageDraw, centres: Iterable[Point], radius: float) -> None:
    """Filled circles: round caps and joins for a stroke."""
    inner = max(0.0, radius - 0.5)  # Pillow fills the pixels from x0 to x1 inclusive
    for x, y in centres:
        draw.ellipse((x - inner, y - inner, x + inner, y + inner), fill=255)


def _stroke(picture: Image.Image, shape: Shape, width: float, opacity: float = 1.0) -> None:
    """A polyline through the shape's points with round joins and caps."""

    def paint(draw: ImageDraw.ImageDraw, to_mask: Callable[[Point], Point], scale: int) -> None:
        points = [to_mask(p) for p in shape.points]
        pixels = max(1, round(width * scale))
        if len(points) > 1:
            draw.line(points, fill=255, width=pixels)
        _dots(draw, points, pixels / 2)

    _paint_mask(picture, shape.bounds(), shape.colour, paint, opacity)


def _draw_pen(picture: Image.Image, shape: Shape) -> None:
    """A freehand stroke."""
    _stroke(picture, shape, shape.width)


def _draw_line(picture: Image.Image, shape: Shape) -> None:
    """A straight line with round ends."""
    _stroke(picture, shape, shape.width)


def _draw_highlighter(picture: Image.Image, shape: Shape) -> None:
    """A wide translucent stroke: what is under it stays readable."""
    _stroke(picture, shape, shape.width * 3, HIGHLIGHTER_OPACITY)


def _draw_arrow(picture: Image.Image, shape: Shape) -> None:
    """A line ending in a filled triangular head at the end point."""
    head = _arrow_head(shape)
    if head is None:
        _stroke(picture, Shape(Tool.PEN, shape.points[:1], shape.colour, shape.width), shape.width)
        return
    tip, back_left, back_right = head
    start = shape.points[0]
    # The shaft stops inside the head, so its square end cannot show past the sides of the head.
    neck = ((back_left[0] + back_right[0] + 2 * tip[0]) / 4, (back_left[1] + back_right[1] + 2 * tip[1]) / 4)

    def paint(draw: ImageDraw.ImageDraw, to_mask: Callable[[Point], Point], scale: int) -> None:
        pixels = max(1, round(shape.width * scale))
        a, b = to_mask(start), to_mask(neck)
        draw.line([a, b], fill=255, width=pixels)
        _dots(draw, [a], pixels / 2)
        draw.polygon([to_mask(tip), to_mask(back_left), to_mask(back_right)], fill=255)

    _paint_mask(picture, shape.bounds(), shape.colour, paint)


def _draw_ellipse(picture: Image.Image, shape: Shape) -> None:
    """An ellipse's outline inside the box the two points span."""
    (ax, ay), (bx, by) = shape.points
    half = shape.width / 2

    def paint(draw: ImageDraw.ImageDraw, to_mask: Callable[[Point], Point], scale: int) -> None:
        x0, y0 = to_mask((min(ax, bx) - half, min(ay, by) - half))
        x1, y1 = to_mask((max(ax, bx) + half, max(ay, by) + half))
        draw.ellipse((x0 + 0.5, y0 + 0.5, x1 - 0.5, y1 - 0.5), outline=255, width=max(1, round(shape.width * scale)))

    _paint_mask(picture, shape.bounds(), shape.colour, paint)


def _draw_rectangle(picture: Image.Image, shape: Shape) -> None:
    """A rectangle's outline centred on the box the points span; its number in a badge at the top left."""
    from PIL import ImageDraw

    (ax, ay), (bx, by) = shape.points
    pixels = max(1, round(shape.width))
    left, top = round(min(ax, bx) - shape.width / 2), round(min(ay, by) - shape.width / 2)
    right = max(left, round(max(ax, bx) + shape.width / 2) - 1)
    bottom = max(top, round(max(ay, by) + shape.width / 2) - 1)
    # Axis-aligned edges on whole pixels are sharp as they are: no mask needed, whatever the rectangle's size.
    ImageDraw.Draw(picture).rectangle((left, top, right, bottom), outline=shape.colour, width=pixels)
    if shape.number is not None:
        radius = marker_radius(shape.width) * BADGE_SCALE
        cx = min(max(min(ax, bx), radius), picture.width - radius)
        cy = min(max(min(ay, by), radius), picture.height - radius)
        _badge(picture, (cx, cy), radius, shape.colour, shape.number)


def _draw_marker(picture: Image.Image, shape: Shape) -> None:
    """A filled disc with its number in the middle."""
    _badge(picture, shape.points[0], marker_radius(shape.width), shape.colour, shape.number)


def _badge(picture: Image.Image, centre: Point, radius: float, colour: RGB, number: int | None) -> None:
    """A disc of `colour` with `number` centred on it, white (black on a light colour) and bold."""
    from PIL import ImageDraw

    x, y = centre

    def paint(draw: ImageDraw.ImageDraw, to_mask: Callable[[Point], Point], scale: int) -> None:
        x0, y0 = to_mask((x - radius, y - radius))
        x1, y1 = to_mask((x + radius, y + radius))
        draw.ellipse((x0 + 0.5, y0 + 0.5, x1 - 0.5, y1 - 0.5), fill=255)

    _paint_mask(picture, (x - radius, y - radius, x + radius, y + radius), colour, paint)
    if number is None:
        return
    label = str(number)
    size = max(8, round(radius * 1.15))
    fill = _BLACK if is_light(colour) else _WHITE
    draw = ImageDraw.Draw(picture)
    with _FONT_LOCK:
        font, bold = _font(size, bold=True)
        ink = draw.textbbox((0, 0), label, font=font)
        if ink[2] - ink[0] > radius * 1.5:  # three digits or more: shrink to stay inside the disc
            size = max(6, math.floor(size * radius * 1.5 / (ink[2] - ink[0])))
            font, bold = _font(size, bold=True)
            ink = draw.textbbox((0, 0), label, font=font)
        stroke = 0 if bold else max(1, size // 14)
        origin = (x - (ink[0] + ink[2]) / 2, y - (ink[1] + ink[3]) / 2)
        draw.text(origin, label, font=font, fill=fill, stroke_width=stroke, stroke_fill=fill)


@dataclass(frozen=True)
class _TextLayout:
    """Where a text shape's box and lines go, measured in the font it is drawn in."""

    font: AnyFont
    padding: int
    line_height: int
    lines: tuple[str, ...]
    box: Box  # left, top, right, bottom of the background box, before clipping to the picture


def _text_layout(shape: Shape) -> _TextLayout:
    """A text shape's box: the widest line and every line's height, plus padding, from its top-left corner."""
    size = text_size(shape.width)
    pad = text_padding(size)
    lines = tuple(shape.text.split("\n"))
    x, y = round(shape.points[0][0]), round(shape.points[0][1])
    with _FONT_LOCK:
        font, _bold = _font(size, bold=False)
        height = _line_height(font)
        width = max(font.getlength(line) for line in lines)
    return _TextLayout(font, pad, height, lines,
                       (x, y, x + math.ceil(width) + 2 * pad, y + height * len(lines) + 2 * pad))


def _line_height(font: AnyFont) -> int:
    """The distance between the baselines of two lines of text in `font`."""
    from PIL import ImageFont

    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        return ascent + descent
    bbox = font.getbbox("Ag")
    return int(bbox[3] - bbox[1]) + 2


def _draw_text(picture: Image.Image, shape: Shape) -> None:
    """The text on a nearly opaque box: white behind a dark colour, dark behind a light one."""
    from PIL import Image, ImageDraw

    if not shape.text.strip():
        return
    layout = _text_layout(shape)
    x, y, right, bottom = layout.box
    clipped = (max(0, x), max(0, y), min(picture.width, right), min(picture.height, bottom))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        return
    background = _DARK if is_light(shape.colour) else _WHITE
    opacity = round(255 * TEXT_BACKGROUND_OPACITY)
    picture.paste(background, clipped, Image.new("L", (clipped[2] - clipped[0], clipped[3] - clipped[1]), opacity))
    draw = ImageDraw.Draw(picture)
    pad, height = layout.padding, layout.line_height
    with _FONT_LOCK:
        for row, line in enumerate(layout.lines):
            draw.text((x + pad, y + pad + row * height), line, font=layout.font, fill=shape.colour)


def _region(picture: Image.Image, shape: Shape) -> Box | None:
    """The whole pixels a redaction covers, within the picture; None when that is nothing."""
    left, top, right, bottom = shape.bounds()
    box = (max(0, math.floor(left)), max(0, math.floor(top)),
           min(picture.width, math.ceil(right)), min(picture.height, math.ceil(bottom)))
    return box if box[2] > box[0] and box[3] > box[1] else None


def _draw_blur(picture: Image.Image, shape: Shape) -> None:
    """A strong blur whose detail cannot be recovered: averaged into blocks first, then blurred and smoothed."""
    from PIL import Image, ImageFilter

    box = _region(picture, shape)
    if box is None:
        return
    region = picture.crop(box)
    width, height = region.size
    radius = max(8.0, min(width, height) / 6)
    # Averaging blocks of a quarter of the radius throws away what a Gaussian alone would only attenuate
    # (and a deconvolution could bring back); it also makes the blur itself cheap.
    block = max(1, int(radius / 4))
    small = region.resize((max(1, math.ceil(width / block)), max(1, math.ceil(height / block))), Image.Resampling.BOX)
    small = small.filter(ImageFilter.GaussianBlur(radius / block))
    picture.paste(small.resize((width, height), Image.Resampling.BILINEAR), box)


def _draw_pixelate(picture: Image.Image, shape: Shape) -> None:
    """Square blocks of one colour each, the mean of the pixels they replace."""
    from PIL import Image

    box = _region(picture, shape)
    if box is None:
        return
    region = picture.crop(box)
    width, height = region.size
    block = max(8, round(min(width, height) / 12))
    small = region.reduce(block)  # the blocks at the right and bottom edges average what is left there
    blocks = small.resize((small.width * block, small.height * block), Image.Resampling.NEAREST)
    picture.paste(blocks.crop((0, 0, width, height)), box)


_DRAW: Final[dict[Tool, Callable[[Image.Image, Shape], None]]] = {
    Tool.PEN: _draw_pen,
    Tool.LINE: _draw_line,
    Tool.ARROW: _draw_arrow,
    Tool.RECTANGLE: _draw_rectangle,
    Tool.ELLIPSE: _draw_ellipse,
    Tool.HIGHLIGHTER: _draw_highlighter,
    Tool.TEXT: _draw_text,
    Tool.MARKER: _draw_marker,
    Tool.BLUR: _draw_blur,
    Tool.PIXELATE: _draw_pixelate,
}


def _overlaps(bounds: tuple[float, float, float, float], box: Box) -> bool:
    """Whether a shape's bounds touch a box."""
    return bounds[2] >= box[0] - 1 and bounds[0] <= box[2] + 1 and bounds[3] >= box[1] - 1 and bounds[1] <= box[3] + 1


def render(picture: Image.Image, annotations: Annotations, *, only: frozenset[Tool] | None = None) -> Image.Image:
    """A new RGB picture with the shapes drawn in, in order, then cropped; `picture` is left as it was.

    `only` draws just those tools (the redactions alone, say, for a picture kept without the other marks).
    """
    out = picture.convert("RGB")
    if out is picture:
        out = picture.copy()
    crop = _clip_box(annotations.crop, out.size) if annotations.crop is not None else None
    for shape in annotations.shapes:
        if only is not None and shape.tool not in only:
            continue
        if crop is not None and not _overlaps(shape.bounds(), crop):
            continue  # nothing of it would be sent
        _DRAW[shape.tool](out, shape)
    return out.crop(crop) if crop is not None else out
