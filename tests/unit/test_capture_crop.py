"""Cutting a desktop region out of per-monitor pictures: exact pixels, across monitors, black gaps."""

from __future__ import annotations

import random

from PIL import Image

from desktop.capture.base import Monitor, Rect, Screenshot, crop


def noise(width: int, height: int, seed: int) -> Image.Image:
    """A picture whose pixels all differ from their neighbours, so any shift shows."""
    return Image.frombytes("RGB", (width, height), random.Random(seed).randbytes(width * height * 3))


def shot(image: Image.Image, left: int, top: int) -> Screenshot:
    return Screenshot(image=image, monitor=Monitor(left, top, *image.size), handler="test")


# A tall monitor on the left and a shorter one on its right, top-aligned: below the short one is a gap.
LEFT = noise(200, 100, 1)
RIGHT = noise(120, 50, 2)
SHOTS = [shot(LEFT, 0, 0), shot(RIGHT, 200, 0)]


def test_region_inside_one_monitor_is_its_pixels() -> None:
    cut = crop(SHOTS, Rect(210, 5, 30, 20))
    assert cut.size == (30, 20)
    assert cut.tobytes() == RIGHT.crop((10, 5, 40, 25)).tobytes()


def test_region_spanning_two_monitors_is_put_together_with_a_black_gap() -> None:
    # GIVEN a region from x=150 to 250 and y=20 to 80: it crosses into the right monitor,
    # and its lower right part (y >= 50 on the right) lies outside every monitor
    cut = crop(SHOTS, Rect(150, 20, 100, 60))
    assert cut.size == (100, 60)
    # THEN the left half is the left monitor's pixels, the upper right the right monitor's, the rest black
    assert cut.crop((0, 0, 50, 60)).tobytes() == LEFT.crop((150, 20, 200, 80)).tobytes()
    assert cut.crop((50, 0, 100, 30)).tobytes() == RIGHT.crop((0, 20, 50, 50)).tobytes()
    gap = cut.crop((50, 30, 100, 60))
    assert gap.getextrema() == ((0, 0), (0, 0), (0, 0))


def test_region_past_the_desktop_edge_is_black_there() -> None:
    cut = crop(SHOTS, Rect(-10, -5, 20, 10))
    assert cut.crop((10, 5, 20, 10)).tobytes() == LEFT.crop((0, 0, 10, 5)).tobytes()
    assert cut.crop((0, 0, 10, 10)).getextrema() == ((0, 0), (0, 0), (0, 0))


def test_monitor_left_of_the_primary_has_negative_coordinates() -> None:
    shots = [shot(LEFT, 0, 0), shot(RIGHT, -120, 30)]
    cut = crop(shots, Rect(-20, 40, 40, 10))
    assert cut.crop((0, 0, 20, 10)).tobytes() == RIGHT.crop((100, 10, 120, 20)).tobytes()
    assert cut.crop((20, 0, 40, 10)).tobytes() == LEFT.crop((0, 40, 20, 50)).tobytes()
