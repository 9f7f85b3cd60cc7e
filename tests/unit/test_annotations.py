"""Annotations burned into a capture: pixels of each shape, redactions that remove detail, crop, marks, JSON."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFont

from desktop.media import annotations as annotations_module
from desktop.media.annotations import (
    NUMBERED,
    REDACTIONS,
    Annotations,
    Mark,
    Shape,
    Tool,
    font_file,
    marker_radius,
    marks_note,
    render,
    text_padding,
    text_size,
)
from tests.support import desktop_env

GREY = (128, 128, 128)
RED = (230, 40, 40)
BLUE = (40, 90, 220)
YELLOW = (250, 230, 30)


def plain(size: tuple[int, int] = (200, 120), colour: tuple[int, int, int] = GREY) -> Image.Image:
    return Image.new("RGB", size, colour)


def noise(size: tuple[int, int] = (240, 160), seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def pixels(picture: Image.Image) -> np.ndarray[Any, Any]:
    return np.asarray(picture, dtype=np.int32)


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 3) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def neighbour_roughness(region: np.ndarray[Any, Any]) -> float:
    """How much each pixel differs from the one to its right and the one below: high for fine detail."""
    return float(np.concatenate([np.diff(region, axis=0).ravel(), np.diff(region, axis=1).ravel()]).std())


def one(shape: Shape) -> Annotations:
    return Annotations((shape,))


# --- shapes ---------------------------------------------------------------------------------------------------


def test_arrow_colours_its_line_and_its_head_and_nothing_far_from_it() -> None:
    picture = plain()
    out = render(picture, one(Shape(Tool.ARROW, ((20, 60), (180, 60)), RED, 4.0)))
    for x in (25, 60, 100, 140, 160):
        assert out.getpixel((x, 60)) == RED, x
        assert out.getpixel((x, 59)) == RED and out.getpixel((x, 61)) == RED
    # THEN the head, wider than the shaft, is filled up to the tip
    for xy in ((178, 60), (172, 60), (168, 64), (168, 56), (166, 65)):
        assert out.getpixel(xy) == RED, xy
    for xy in ((100, 20), (100, 100), (5, 5), (195, 60), (190, 60), (100, 66), (60, 54)):
        assert out.getpixel(xy) == GREY, xy


def test_diagonal_arrow_is_antialiased_along_its_edge() -> None:
    out = pixels(render(plain(), one(Shape(Tool.ARROW, ((20, 20), (150, 100)), BLUE, 6.0))))
    assert tuple(out[60, 85]) == BLUE  # on the line: 20 + 65 along x is 20 + 40 along y
    values = {tuple(p) for p in out.reshape(-1, 3)}
    assert len(values - {GREY, BLUE}) > 8  # blends of the two along the slanted edges


def test_rectangle_outline_is_coloured_and_its_inside_untouched() -> None:
    out = render(plain(), one(Shape(Tool.RECTANGLE, ((40, 30), (160, 90)), BLUE, 4.0)))
    for xy in ((100, 30), (100, 28), (100, 31), (160, 60), (100, 90), (40, 60), (40, 30), (160, 90)):
        assert out.getpixel(xy) == BLUE, xy
    for xy in ((100, 60), (50, 40), (150, 80), (100, 25), (100, 95), (35, 60)):
        assert out.getpixel(xy) == GREY, xy


def test_numbered_rectangle_has_its_number_in_a_badge_at_the_top_left() -> None:
    corners = (40, 30), (160, 90)
    plain_box = pixels(render(plain(), one(Shape(Tool.RECTANGLE, corners, BLUE, 4.0))))
    numbered = pixels(render(plain(), one(Shape(Tool.RECTANGLE, corners, BLUE, 4.0, number=3))))
    radius = round(marker_radius(4.0) * annotations_module.BADGE_SCALE)
    badge = numbered[30 - radius:30 + radius, 40 - radius:40 + radius]
    assert (np.abs(badge - BLUE).sum(axis=2) < 10).sum() > radius * radius  # a filled disc
    assert (badge.min(axis=2) > 200).sum() >= 5  # the white digit on it
    assert (plain_box[30 - radius:30 + radius, 40 - radius:40 + radius].min(axis=2) > 200).sum() == 0
    assert (numbered[50:, 60:] == plain_box[50:, 60:]).all()  # the rest is the same rectangle


def test_marker_is_a_filled_disc_with_a_white_number() -> None:
    out = pixels(render(plain(), one(Shape(Tool.MARKER, ((60, 60),), RED, 4.0, number=7))))
    radius = marker_radius(4.0)
    assert radius == 12
    for dx, dy in ((-9, 0), (9, 0), (0, -9), (0, 9), (-6, -6), (6, 6)):
        assert tuple(out[60 + dy, 60 + dx]) == RED, (dx, dy)
    centre = out[52:69, 52:69]
    assert (centre.min(axis=2) > 220).sum() >= 10  # the digit, white
    assert (np.abs(centre - RED).sum(axis=2) < 10).sum() > 100  # the disc around it
    assert tuple(out[60, 74]) == GREY and tuple(out[45, 60]) == GREY and tuple(out[72, 72]) == GREY


def test_marker_on_a_light_colour_has_a_dark_number() -> None:
    out = pixels(render(plain(), one(Shape(Tool.MARKER, ((60, 60),), YELLOW, 4.0, number=4))))
    centre = out[52:69, 52:69]
    assert (centre.max(axis=2) < 40).sum() >= 10
    assert (centre.min(axis=2) > 220).sum() == 0


def test_markers_with_two_and_three_digits_stay_inside_their_disc() -> None:
    for number in (12, 123):
        out = pixels(render(plain(), one(Shape(Tool.MARKER, ((60, 60),), RED, 4.0, number=number))))
        white = np.argwhere(out.min(axis=2) > 200)
        assert len(white) >= 10
        distances = np.hypot(white[:, 0] - 60, white[:, 1] - 60)
        assert distances.max() < marker_radius(4.0), number


def test_highlighter_is_translucent_and_does_not_darken_where_it_crosses_itself() -> None:
    there = render(plain(), one(Shape(Tool.HIGHLIGHTER, ((20, 50), (180, 50)), YELLOW, 4.0)))
    expected = tuple(round(0.35 * c + 0.65 * g) for c, g in zip(YELLOW, GREY, strict=True))
    assert near(there.getpixel((100, 50)), expected)
    assert near(there.getpixel((100, 45)), expected)  # three times the width: 12 px
    assert there.getpixel((100, 50)) != YELLOW
    assert there.getpixel((100, 60)) == GREY
    back_again = render(plain(), one(Shape(Tool.HIGHLIGHTER, ((20, 50), (180, 50), (20, 50)), YELLOW, 4.0)))
    assert back_again.getpixel((100, 50)) == there.getpixel((100, 50))


def test_pen_draws_a_round_capped_polyline() -> None:
    out = render(plain(), one(Shape(Tool.PEN, ((20, 20), (100, 20), (100, 100)), RED, 6.0)))
    for xy in ((20, 20), (60, 20), (100, 20), (100, 60), (100, 100), (18, 20), (100, 102)):
        assert out.getpixel(xy) == RED, xy
    assert out.getpixel((60, 60)) == GREY
    dot = render(plain(), one(Shape(Tool.PEN, ((50, 50),), RED, 6.0)))
    assert dot.getpixel((50, 50)) == RED and dot.getpixel((50, 56)) == GREY


def test_ellipse_draws_its_outline_only() -> None:
    out = render(plain(), one(Shape(Tool.ELLIPSE, ((40, 20), (160, 100)), BLUE, 4.0)))
    for xy in ((100, 20), (100, 100), (40, 60), (160, 60)):
        assert out.getpixel(xy) == BLUE, xy
    for xy in ((100, 60), (45, 25), (155, 95), (100, 14), (100, 106)):
        assert out.getpixel(xy) == GREY, xy


def test_text_has_a_light_box_behind_coloured_glyphs() -> None:
    dark_red = (180, 0, 0)
    shape = Shape(Tool.TEXT, ((20, 20),), dark_red, 4.0, text="Hello\nWorld")
    out = pixels(render(plain((240, 140)), one(shape)))
    size, pad = text_size(4.0), text_padding(text_size(4.0))
    assert (size, pad) == (20, 5)
    box_white = round(0.85 * 255 + 0.15 * 128)
    for x, y in ((21, 21), (20 + pad - 1, 40), (22, 20 + 2 * size + 2 * pad - 3)):
        assert near(tuple(out[y, x]), (box_white,) * 3, 2), (x, y)
    inside = out[20:20 + 2 * size + 3 * pad, 20:120]
    glyphs = np.abs(inside - dark_red).sum(axis=2) < 60
    assert glyphs.sum() > 80
    assert glyphs[: inside.shape[0] // 2].any() and glyphs[inside.shape[0] // 2:].any()  # both lines
    assert tuple(out[10, 10]) == GREY and tuple(out[130, 230]) == GREY


def test_text_in_a_light_colour_sits_on_a_dark_box() -> None:
    out = render(plain(), one(Shape(Tool.TEXT, ((20, 20),), (255, 255, 120), 4.0, text="Note")))
    assert max(out.getpixel((21, 21))) < 60  # type: ignore[arg-type]


def _draws_chinese(font: Any) -> bool:
    """Two different Chinese characters come out different (a font without them draws the same box twice)."""
    from PIL import ImageDraw

    drawn = []
    for character in "你好":
        picture = Image.new("L", (40, 40))
        ImageDraw.Draw(picture).text((5, 5), character, font=font, fill=255)
        drawn.append(picture.tobytes())
    return drawn[0] != drawn[1]


def test_chinese_text_draws_real_glyphs() -> None:
    found = font_file()
    if found is None or not _draws_chinese(ImageFont.truetype(found[0], 20, index=found[1])):
        message = "no font that draws Chinese is installed (fonts-noto-cjk provides one)"
        if desktop_env.STRICT:
            pytest.fail(message)
        pytest.skip(message)
    shape = Shape(Tool.TEXT, ((10, 10),), (0, 0, 0), 4.0, text="你好世界")
    out = pixels(render(plain((200, 80), (255, 255, 255)), one(shape)))
    ink = out.max(axis=2) < 100
    assert ink.sum() > 150
    columns = np.flatnonzero(ink.any(axis=0))
    assert columns.max() - columns.min() > 3 * text_size(4.0)  # four characters wide


def test_text_renders_with_pillows_own_font_when_none_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(annotations_module, "font_file", lambda bold=False: None)
    annotations_module._font.cache_clear()
    try:
        shapes = (Shape(Tool.TEXT, ((10, 10),), RED, 4.0, text="Hi 你好"),
                  Shape(Tool.MARKER, ((150, 60),), RED, 4.0, number=5))
        out = pixels(render(plain(), Annotations(shapes)))
    finally:
        annotations_module._font.cache_clear()
    assert (np.abs(out[10:50, 10:100] - RED).sum(axis=2) < 60).sum() > 20
    assert (out[50:70, 140:160].min(axis=2) > 220).sum() >= 5


# --- redactions -----------------------------------------------------------------------------------------------

BOX = (40, 30, 200, 130)


@pytest.mark.parametrize("tool", [Tool.BLUR, Tool.PIXELATE])
def test_redaction_removes_the_detail_and_leaves_the_rest_identical(tool: Tool) -> None:
    picture = noise()
    before = pixels(picture)
    out = pixels(render(picture, one(Shape(tool, ((BOX[0], BOX[1]), (BOX[2], BOX[3]))))))
    left, top, right, bottom = BOX
    original, redacted = before[top:bottom, left:right], out[top:bottom, left:right]
    assert neighbour_roughness(original) > 60
    assert neighbour_roughness(redacted) < 10
    assert np.abs(redacted - original).mean() > 30
    outside = np.ones(before.shape[:2], dtype=bool)
    outside[top:bottom, left:right] = False
    assert (out[outside] == before[outside]).all()
    assert (pixels(picture) == before).all()  # the input is left as it was


def test_pixelate_makes_blocks_of_one_colour() -> None:
    out = pixels(render(noise(), one(Shape(Tool.PIXELATE, ((40, 30), (200, 130))))))
    block = max(8, round(100 / 12))
    for by in range(30, 130 - block, block):
        for bx in range(40, 200 - block, block):
            assert len(np.unique(out[by:by + block, bx:bx + block].reshape(-1, 3), axis=0)) == 1


def test_blur_hides_small_text() -> None:
    from PIL import ImageDraw

    picture = plain((300, 100), (255, 255, 255))
    ImageDraw.Draw(picture).text((20, 40), "secret 1234 password", fill=(0, 0, 0), font=ImageFont.load_default(14))
    out = pixels(render(picture, one(Shape(Tool.BLUR, ((10, 30), (290, 70))))))
    region = out[30:70, 10:290]
    assert region.min() > 150  # no dark stroke of a glyph survives
    assert neighbour_roughness(region) < 3


def test_redaction_points_in_any_order_and_outside_the_picture() -> None:
    picture = noise()
    out = render(picture, Annotations((Shape(Tool.BLUR, ((200, 130), (40, 30))),
                                       Shape(Tool.PIXELATE, ((-50, -50), (20, 20))),
                                       Shape(Tool.BLUR, ((500, 500), (600, 600))))))
    assert out.size == picture.size
    assert neighbour_roughness(pixels(out)[30:130, 40:200]) < 10
    assert neighbour_roughness(pixels(out)[0:20, 0:20]) < 20


def test_only_redactions_draws_them_and_nothing_else() -> None:
    picture = noise()
    annotations = Annotations((Shape(Tool.BLUR, ((40, 30), (120, 100))),
                               Shape(Tool.ARROW, ((130, 20), (230, 140)), RED, 6.0),
                               Shape(Tool.MARKER, ((200, 40),), RED, number=1)))
    redacted = pixels(render(picture, annotations, only=REDACTIONS))
    everything = pixels(render(picture, annotations))
    before = pixels(picture)
    assert neighbour_roughness(redacted[30:100, 40:120]) < 10
    assert (redacted[:, 125:] == before[:, 125:]).all()
    assert (everything[:, 125:] != before[:, 125:]).any()


def test_render_returns_rgb_and_leaves_its_input_alone() -> None:
    picture = Image.new("RGBA", (100, 80), (10, 20, 30, 255))
    before = picture.tobytes()
    out = render(picture, one(Shape(Tool.LINE, ((10, 10), (90, 70)), RED)))
    assert out.mode == "RGB" and out.size == (100, 80)
    assert picture.tobytes() == before
    empty = render(plain(), Annotations())
    assert empty.tobytes() == plain().tobytes()


# --- crop and marks -------------------------------------------------------------------------------------------


def gradient(size: tuple[int, int]) -> Image.Image:
    ys, xs = np.mgrid[0:size[1], 0:size[0]]
    return Image.fromarray(np.stack([xs % 256, ys % 256, (xs + ys) % 256], axis=2).astype(np.uint8), "RGB")


def crop_example() -> Annotations:
    return Annotations((Shape(Tool.MARKER, ((150, 100),), RED, number=1),
                        Shape(Tool.MARKER, ((20, 20),), RED, number=2),
                        Shape(Tool.RECTANGLE, ((190, 140), (110, 60)), BLUE, number=3),
                        Shape(Tool.RECTANGLE, ((260, 160), (290, 190)), BLUE, number=4),
                        Shape(Tool.RECTANGLE, ((90, 140), (120, 180)), BLUE, number=5)),
                       crop=(100, 50, 250, 150))


def test_crop_sets_the_size_and_offsets_the_content() -> None:
    picture = gradient((300, 200))
    out = render(picture, crop_example())
    assert out.size == (150, 100)
    assert out.getpixel((5, 20)) == picture.getpixel((105, 70))
    assert out.getpixel((140, 5)) == picture.getpixel((240, 55))
    assert out.getpixel((41, 50)) == RED  # marker 1 at (150, 100), now at (50, 50)


def test_marks_are_relative_to_the_crop_and_those_outside_it_are_left_out() -> None:
    marks = crop_example().marks((300, 200))
    assert marks == [Mark(1, "point", (333, 500)), Mark(3, "box", (67, 100, 600, 900)),
                     Mark(5, "box", (0, 900, 133, 1000))]
    assert marks_note(crop_example(), (300, 200)) == (
        "Marks drawn on the picture (coordinates in thousandths of its width and height, origin top left):\n"
        "mark 1: point [333, 500]\nmark 3: box [67, 100, 600, 900]\nmark 5: box [0, 900, 133, 1000]")


def test_marks_are_in_thousandths_of_a_wide_picture_sorted_by_number() -> None:
    annotations = Annotations((Shape(Tool.RECTANGLE, ((1000, 800), (200, 100)), number=3),
                               Shape(Tool.MARKER, ((960, 540),), number=1),
                               Shape(Tool.ARROW, ((0, 0), (10, 10))),
                               Shape(Tool.MARKER, ((1919, 1),), number=2)))
    assert annotations.marks((1920, 1080)) == [
        Mark(1, "point", (500, 500)), Mark(2, "point", (999, 1)), Mark(3, "box", (104, 93, 521, 741))]
    assert Annotations((Shape(Tool.MARKER, ((1, 999),), number=1),)).marks((2000, 1000)) == [
        Mark(1, "point", (1, 999))]  # a half rounds up


def test_no_numbered_marks_no_note() -> None:
    assert marks_note(Annotations(), (100, 100)) == ""
    assert marks_note(one(Shape(Tool.RECTANGLE, ((0, 0), (10, 10)))), (100, 100)) == ""
    assert marks_note(one(Shape(Tool.MARKER, ((5, 5),), number=1)).with_crop((50, 50, 100, 100)), (100, 100)) == ""


def test_next_number() -> None:
    annotations = Annotations()
    assert annotations.next_number() == 1
    annotations = annotations.add(Shape(Tool.MARKER, ((5, 5),), number=annotations.next_number()))
    annotations = annotations.add(Shape(Tool.RECTANGLE, ((5, 5), (9, 9)), number=5))
    annotations = annotations.add(Shape(Tool.ARROW, ((5, 5), (9, 9))))
    assert annotations.next_number() == 6
    assert annotations.remove(1).next_number() == 2


# --- the model ------------------------------------------------------------------------------------------------


def every_tool() -> Annotations:
    return Annotations((
        Shape(Tool.PEN, ((1, 2), (3.5, 4), (5, 6)), (1, 2, 3), 2.5),
        Shape(Tool.LINE, ((0, 0), (10, 10))),
        Shape(Tool.ARROW, ((0, 0), (10, 10)), width=8),
        Shape(Tool.RECTANGLE, ((0, 0), (10, 10)), number=2),
        Shape(Tool.RECTANGLE, ((0, 0), (10, 10))),
        Shape(Tool.ELLIPSE, ((0, 0), (10, 10))),
        Shape(Tool.HIGHLIGHTER, ((0, 0),), YELLOW),
        Shape(Tool.TEXT, ((4, 4),), text="multi\nline 中文"),
        Shape(Tool.MARKER, ((4, 4),), number=1),
        Shape(Tool.BLUR, ((0, 0), (10, 10))),
        Shape(Tool.PIXELATE, ((0, 0), (10, 10))),
    ), crop=(1, 2, 30, 40))


def test_json_round_trip() -> None:
    annotations = every_tool()
    assert {s.tool for s in annotations.shapes} == set(Tool)
    data = json.loads(json.dumps(annotations.to_json()))
    assert Annotations.from_json(data) == annotations
    assert Annotations.from_json(Annotations().to_json()) == Annotations()


def _shape(**changes: Any) -> dict[str, Any]:
    return {"tool": "arrow", "points": [[0, 0], [1, 1]], "colour": [1, 2, 3], "width": 4} | changes


@pytest.mark.parametrize(("data", "reason"), [
    ([], "not an object"),
    ({"shapes": "no"}, "not a list"),
    ({"shapes": [_shape(tool="lasso")]}, "unknown tool"),
    ({"shapes": [_shape(points=[[0, 0]])]}, "takes 2 points, not 1"),
    ({"shapes": [_shape(tool="marker")]}, "takes 1 point, not 2"),
    ({"shapes": [_shape(tool="pen", points=[])]}, "at least 1 point"),
    ({"shapes": [_shape(points=[[0, "a"], [1, 1]])]}, "not a finite number"),
    ({"shapes": [_shape(points=[[0, float("nan")], [1, 1]])]}, "not a finite number"),
    ({"shapes": [_shape(points=[[0, 0, 0], [1, 1]])]}, r"not an \(x, y\) pair"),
    ({"shapes": [_shape(colour=[300, 0, 0])]}, "colour"),
    ({"shapes": [_shape(colour="red")]}, "colour"),
    ({"shapes": [_shape(colour=[1, 2])]}, "colour"),
    ({"shapes": [_shape(width=0)]}, "width"),
    ({"shapes": [_shape(width=True)]}, "width"),
    ({"shapes": [_shape(number=1)]}, "carries no number"),
    ({"shapes": [_shape(tool="marker", points=[[0, 0]], number=0)]}, "number"),
    ({"shapes": [_shape(text=5)]}, "text"),
    ({"shapes": [_shape(size=5)]}, "unknown fields"),
    ({"shapes": [{"tool": "pen"}]}, "lacks"),
    ({"shapes": [], "crop": [0, 0, 10]}, "crop"),
    ({"shapes": [], "crop": [10, 0, 5, 5]}, "no area"),
    ({"shapes": [], "crop": [-1, 0, 5, 5]}, "crop"),
])
def test_from_json_says_what_is_wrong(data: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Annotations.from_json(data)


def test_editing_returns_new_annotations() -> None:
    line = Shape(Tool.LINE, ((0, 0), (10, 10)))
    blur = Shape(Tool.BLUR, ((0, 0), (10, 10)))
    annotations = Annotations()
    assert annotations.empty and not annotations.redacted
    annotations = annotations.add(line).add(blur)
    assert not annotations.empty and annotations.redacted
    assert annotations.replace(0, blur).shapes == (blur, blur)
    assert annotations.remove(-1).shapes == (line,)
    assert annotations.without_redactions() == Annotations((line,))
    cropped = annotations.with_crop((0, 0, 5, 5))
    assert cropped.crop == (0, 0, 5, 5) and not Annotations().with_crop((0, 0, 5, 5)).empty
    assert cropped.without_redactions().crop == (0, 0, 5, 5)
    assert cropped.with_crop(None).crop is None
    with pytest.raises(IndexError):
        annotations.remove(5)


def test_bounds_include_strokes_heads_badges_and_text() -> None:
    assert Shape(Tool.LINE, ((10, 20), (30, 40)), width=4).bounds() == (8, 18, 32, 42)
    assert Shape(Tool.HIGHLIGHTER, ((10, 20),), width=4).bounds() == (4, 14, 16, 26)
    assert Shape(Tool.BLUR, ((30, 40), (10, 20))).bounds() == (10, 20, 30, 40)
    assert Shape(Tool.MARKER, ((50, 50),), width=4).bounds() == (38, 38, 62, 62)
    arrow = Shape(Tool.ARROW, ((0, 50), (100, 50)), width=4).bounds()
    assert arrow[0] == -2 and arrow[2] == 102 and arrow[1] <= 42 and arrow[3] >= 58  # head 8 px each side
    badge = Shape(Tool.RECTANGLE, ((50, 50), (90, 90)), number=1).bounds()
    assert badge[0] < 48 and badge[1] < 48 and badge[2:] == (92, 92)
    left, top, right, bottom = Shape(Tool.TEXT, ((10, 10),), text="ab\ncd").bounds()
    assert (left, top) == (10, 10) and right > 10 + 2 * 0.5 * 20 and bottom > 10 + 2 * 20


@pytest.mark.parametrize("shape", [
    Shape(Tool.PEN, ((30, 40), (80, 20), (120, 90)), RED, 5.0),
    Shape(Tool.LINE, ((30, 40), (170, 100)), RED, 3.0),
    Shape(Tool.ARROW, ((170, 100), (40, 30)), RED, 6.0),
    Shape(Tool.RECTANGLE, ((60, 40), (150, 90)), RED, 4.0, number=8),
    Shape(Tool.ELLIPSE, ((60, 40), (150, 90)), RED, 7.0),
    Shape(Tool.HIGHLIGHTER, ((40, 60), (160, 70)), YELLOW, 4.0),
    Shape(Tool.MARKER, ((100, 60),), RED, 5.0, number=42),
    Shape(Tool.TEXT, ((30, 30),), RED, 3.0, text="WWW wide\n你好 and more"),
    Shape(Tool.TEXT, ((30, 30),), RED, 2.0, text="il1"),
    Shape(Tool.BLUR, ((60, 40), (150, 90))),
], ids=lambda shape: shape.tool.value)
def test_bounds_hold_every_pixel_the_shape_changes(shape: Shape) -> None:
    picture = noise((240, 160)) if shape.tool in REDACTIONS else plain((240, 160))
    changed = np.argwhere((pixels(render(picture, one(shape))) != pixels(picture)).any(axis=2))
    left, top, right, bottom = shape.bounds()
    assert len(changed)
    assert changed[:, 1].min() >= left - 1 and changed[:, 1].max() <= right + 1
    assert changed[:, 0].min() >= top - 1 and changed[:, 0].max() <= bottom + 1
    if shape.tool is Tool.TEXT:  # measured in the font it is drawn in: the box exactly
        assert (changed[:, 1].min(), changed[:, 0].min(), changed[:, 1].max() + 1, changed[:, 0].max() + 1) == (
            left, top, right, bottom)


def test_moved_shifts_every_point() -> None:
    shape = Shape(Tool.PEN, ((1, 2), (3, 4)), RED, 3.0)
    assert shape.moved(10, -1) == Shape(Tool.PEN, ((11, 1), (13, 3)), RED, 3.0)


def test_shape_normalises_its_fields() -> None:
    shape = Shape("marker", [[1, 2]], [1, 2, 3], 2, number=1)  # type: ignore[arg-type]
    assert shape == Shape(Tool.MARKER, ((1.0, 2.0),), (1, 2, 3), 2.0, number=1)
    assert shape.tool is Tool.MARKER and isinstance(shape.width, float)
    assert {Tool.MARKER, Tool.RECTANGLE} == NUMBERED and {Tool.BLUR, Tool.PIXELATE} == REDACTIONS
