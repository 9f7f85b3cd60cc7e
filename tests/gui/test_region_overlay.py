"""The frozen region overlay on the test session's real X display: selecting, resizing, moving,
picking a window or the whole monitor, confirming, cancelling, and exact pixels out."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QCursor, QFontMetrics, QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QToolButton

from desktop.capture.base import Rect, Screenshot, crop
from desktop.capture.window_list import WindowInfo
from desktop.ui.region_overlay import MIN_SIDE, OverlayAction, OverlayResult, RegionSelector, match_screens


def noise_picture(width: int, height: int, seed: int = 7) -> Image.Image:
    """A picture where every pixel differs from its neighbours, so any offset or scaling shows."""
    rng = random.Random(seed)
    return Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))


@pytest.fixture
def screen_shot(x_display: object) -> Screenshot:
    screen = QGuiApplication.primaryScreen()
    g = screen.geometry()
    return Screenshot(noise_picture(g.width(), g.height()), Rect(g.left(), g.top(), g.width(), g.height()), "test")


WINDOWS = [
    WindowInfo(11, "Front", Rect(100, 100, 400, 300), pid=4242),
    WindowInfo(12, "Behind", Rect(300, 200, 500, 400), pid=4243),
]


@pytest.fixture
def selector(qtbot: object, screen_shot: Screenshot) -> Iterator[RegionSelector]:
    chosen = RegionSelector([screen_shot], list(WINDOWS), own_pid=1)
    chosen.results = []  # type: ignore[attr-defined]
    chosen.finished.connect(chosen.results.append)  # type: ignore[attr-defined]
    chosen.cancelled.connect(lambda: chosen.results.append(None))  # type: ignore[attr-defined]
    chosen.show()
    overlay = chosen.overlays[0]
    qtbot.waitExposed(overlay)  # type: ignore[attr-defined]
    yield chosen
    chosen.cancel()
    chosen.deleteLater()


def drag(widget: object, start: tuple[int, int], end: tuple[int, int]) -> None:
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*start))
    QTest.mouseMove(widget, QPoint((start[0] + end[0]) // 2, (start[1] + end[1]) // 2))
    QTest.mouseMove(widget, QPoint(*end))
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*end))


def test_overlay_covers_the_monitor_at_native_resolution(selector: RegionSelector, screen_shot: Screenshot) -> None:
    overlay = selector.overlays[0]
    assert overlay.geometry() == QGuiApplication.primaryScreen().geometry()
    assert overlay.picture.area == screen_shot.monitor
    # WHEN the overlay is grabbed THEN under the dimming it shows the frozen picture, pixel for pixel
    assert overlay.pixmap.width() == screen_shot.image.width
    assert overlay.picture.scale == 1.0


def test_drag_resize_move_and_confirm_gives_exact_pixels(selector: RegionSelector, screen_shot: Screenshot) -> None:
    overlay = selector.overlays[0]
    # GIVEN a drag from (10, 20) to (209, 119), both ends included
    drag(overlay, (10, 20), (209, 119))
    assert selector.selection == Rect(10, 20, 200, 100)
    assert overlay.toolbar.isVisible()
    # WHEN the bottom-right handle is dragged 100 px right and 50 px down
    drag(overlay, (209, 119), (309, 169))
    assert selector.selection == Rect(10, 20, 300, 150)
    # WHEN the inside is dragged by (+40, +30)
    drag(overlay, (100, 100), (140, 130))
    assert selector.selection == Rect(50, 50, 300, 150)
    # WHEN the left edge is dragged right by 20
    drag(overlay, (50, 120), (70, 120))
    assert selector.selection == Rect(70, 50, 280, 150)
    # WHEN Enter is pressed THEN the overlay closes with that rectangle, and the crop is exact
    QTest.keyClick(overlay, Qt.Key.Key_Return)
    [result] = selector.results  # type: ignore[attr-defined]
    assert isinstance(result, OverlayResult)
    assert result.action is OverlayAction.ASK
    assert result.rect == Rect(70, 50, 280, 150)
    assert result.anchor.x() == 70 and result.anchor.width() == 280
    picture = crop([screen_shot], result.rect)
    assert picture.tobytes() == screen_shot.image.crop((70, 50, 350, 200)).tobytes()
    assert selector.overlays == []


def test_arrow_keys_nudge_and_shift_arrows_resize(selector: RegionSelector) -> None:
    overlay = selector.overlays[0]
    drag(overlay, (100, 100), (199, 199))
    QTest.keyClick(overlay, Qt.Key.Key_Right)
    QTest.keyClick(overlay, Qt.Key.Key_Down)
    assert selector.selection == Rect(101, 101, 100, 100)
    QTest.keyClick(overlay, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert selector.selection == Rect(101, 101, 99, 100)


def test_a_slipped_click_selects_nothing_and_a_tiny_selection_is_refused(selector: RegionSelector) -> None:
    overlay = selector.overlays[0]
    drag(overlay, (300, 300), (301, 301))
    assert selector.selection is None
    drag(overlay, (300, 300), (300 + MIN_SIDE - 2, 310))
    QTest.keyClick(overlay, Qt.Key.Key_Return)
    assert selector.results == []  # type: ignore[attr-defined]
    assert "at least" in selector.message
    assert selector.overlays  # still open, the user can drag again


def test_space_click_picks_the_topmost_window_under_the_pointer(qtbot: object, selector: RegionSelector) -> None:
    overlay = selector.overlays[0]
    # The real pointer goes there too, so no motion event from the X server moves it elsewhere.
    QCursor.setPos(overlay.mapToGlobal(QPoint(350, 250)))
    qtbot.waitUntil(lambda: selector.pointer == (350, 250), timeout=5000)  # type: ignore[attr-defined]
    QTest.mouseMove(overlay, QPoint(350, 250))
    QTest.keyPress(overlay, Qt.Key.Key_Space)
    assert selector.hover_window == WINDOWS[0]
    QTest.mouseClick(overlay, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(350, 250))
    QTest.keyRelease(overlay, Qt.Key.Key_Space)
    assert selector.selection == WINDOWS[0].rect
    assert selector.picked_window == WINDOWS[0]
    # the window behind is picked where only it is
    QCursor.setPos(overlay.mapToGlobal(QPoint(700, 550)))
    qtbot.waitUntil(lambda: selector.pointer == (700, 550), timeout=5000)  # type: ignore[attr-defined]
    QTest.keyPress(overlay, Qt.Key.Key_Space)
    QTest.mouseClick(overlay, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(700, 550))
    QTest.keyRelease(overlay, Qt.Key.Key_Space)
    assert selector.picked_window == WINDOWS[1]
    QTest.mouseDClick(overlay, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(700, 550))
    [result] = selector.results  # type: ignore[attr-defined]
    assert result.window == WINDOWS[1] and result.rect == WINDOWS[1].rect


def test_own_windows_are_not_picked(qtbot: object, screen_shot: Screenshot) -> None:
    own = RegionSelector([screen_shot], [WindowInfo(1, "Ours", Rect(0, 0, 800, 600), pid=99)], own_pid=99)
    try:
        own.pick_window_at(10, 10)
        assert own.selection is None
        assert "no window" in own.message
    finally:
        own.cancel()
        own.deleteLater()


def test_f_selects_the_whole_monitor_and_copy_button_confirms(selector: RegionSelector,
                                                              screen_shot: Screenshot) -> None:
    overlay = selector.overlays[0]
    QTest.mouseMove(overlay, QPoint(500, 500))
    QTest.keyClick(overlay, Qt.Key.Key_F)
    assert selector.selection == screen_shot.monitor
    copy = overlay.toolbar.findChild(QToolButton, "overlay_copy")
    assert copy is not None and copy.isVisible()
    QTest.mouseClick(copy, Qt.MouseButton.LeftButton)
    [result] = selector.results  # type: ignore[attr-defined]
    assert result.action is OverlayAction.COPY and result.rect == screen_shot.monitor


@pytest.mark.parametrize("how", ["escape", "right-click"])
def test_escape_or_right_click_cancels(selector: RegionSelector, how: str) -> None:
    overlay = selector.overlays[0]
    drag(overlay, (10, 10), (100, 100))
    if how == "escape":
        QTest.keyClick(overlay, Qt.Key.Key_Escape)
    else:
        QTest.mouseClick(overlay, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, QPoint(50, 50))
    assert selector.results == [None]  # type: ignore[attr-defined]
    assert selector.overlays == []


class FakeScreen:
    """Just the geometry of a Qt screen, for pairing logic with layouts this display cannot have."""

    def __init__(self, x: int, y: int, w: int, h: int) -> None:
        from PySide6.QtCore import QRect

        self._g = QRect(x, y, w, h)

    def geometry(self) -> object:
        return self._g


def test_one_desktop_picture_is_cut_along_the_screens(qapp: object) -> None:
    # GIVEN two screens side by side and one picture of the whole desktop (the Wayland portal)
    left, right = FakeScreen(0, 0, 1920, 1080), FakeScreen(1920, 0, 1280, 1024)
    whole = Screenshot(noise_picture(3200, 1080, seed=3), Rect(0, 0, 3200, 1080), "portal")
    pictures = match_screens([right, left], [whole])  # type: ignore[list-item]
    # THEN each screen gets exactly its own part of it
    assert [p.screen for p in pictures] == [left, right]
    assert [p.area for p in pictures] == [Rect(0, 0, 1920, 1080), Rect(1920, 0, 1280, 1024)]
    second = pictures[1].image
    assert (second.width(), second.height()) == (1280, 1024)
    assert second.pixelColor(5, 7).getRgb()[:3] == whole.image.getpixel((1925, 7))


def test_per_monitor_pictures_pair_by_position(qapp: object) -> None:
    left, right = FakeScreen(0, 0, 1920, 1080), FakeScreen(1920, 0, 1920, 1080)
    shots = [Screenshot(noise_picture(8, 8, seed=s), Rect(x, 0, 1920, 1080), "mss") for s, x in ((1, 1920), (2, 0))]
    pictures = match_screens([right, left], shots)  # type: ignore[list-item]
    assert [(p.screen, p.area.left) for p in pictures] == [(left, 0), (right, 1920)]


def test_hidpi_selection_returns_physical_pixels(qtbot: object, x_display: object) -> None:
    # GIVEN a picture at twice the screen's logical size (a HiDPI monitor)
    screen = QGuiApplication.primaryScreen()
    g = screen.geometry()
    shot = Screenshot(noise_picture(g.width() * 2, g.height() * 2, seed=5), Rect(0, 0, g.width() * 2, g.height() * 2),
                      "test")
    chosen = RegionSelector([shot], [], own_pid=1)
    results: list[object] = []
    chosen.finished.connect(results.append)
    chosen.show()
    overlay = chosen.overlays[0]
    qtbot.waitExposed(overlay)  # type: ignore[attr-defined]
    try:
        assert overlay.picture.scale == 2.0
        # WHEN a logical drag from (10, 20) to (110, 70)
        drag(overlay, (10, 20), (110, 70))
        QTest.keyClick(overlay, Qt.Key.Key_Return)
        # THEN the rectangle is in the picture's own pixels, not scaled down
        [result] = results
        assert isinstance(result, OverlayResult)
        assert (result.rect.left, result.rect.top) == (20, 40)
        assert result.rect.width == 201 and result.rect.height == 101
        assert result.anchor.x() == 10 and result.anchor.y() == 20
    finally:
        chosen.cancel()
        chosen.deleteLater()


@pytest.mark.parametrize("monitor", [Rect(7680, 2160, 3840, 2160), Rect(-3840, -2160, 3840, 2160)],
                         ids=["4K right of and below three others", "4K left of and above the primary"])
def test_the_magnifier_label_holds_its_longest_coordinates_and_colour(qtbot: object, x_display: object,
                                                                      monitor: Rect) -> None:
    # GIVEN a 4K monitor far out on a multi-monitor desktop (five-digit and negative physical coordinates)
    chosen = RegionSelector([Screenshot(Image.new("RGB", (monitor.width, monitor.height)), monitor, "test")], [],
                            own_pid=1)
    chosen.show()
    overlay = chosen.overlays[0]
    qtbot.waitExposed(overlay)  # type: ignore[attr-defined]
    try:
        metrics = QFontMetrics(overlay.magnifier_font(), overlay)
        xs = {monitor.left, monitor.right - 1, *_same_digits(monitor.left, monitor.right - 1)}
        ys = {monitor.top, monitor.bottom - 1, *_same_digits(monitor.top, monitor.bottom - 1)}
        colours = [QColor(f"#{digit * 6}") for digit in "0123456789ABCDEF"]
        # WHEN the pointer is anywhere, near every edge of the overlay, over any colour
        for local in (QPointF(5, 5), QPointF(overlay.width() - 5, overlay.height() - 5)):
            label = overlay.magnifier_label_rect(local)
            # THEN the label lies inside the magnifier, on the screen
            assert overlay.magnifier_rect(local).contains(label) and overlay.rect().contains(label)
            for x in xs:
                for y in ys:
                    for colour in colours:
                        lines = overlay.magnifier_lines((x, y), colour)
                        # AND every line of it fits the rect it is drawn into
                        needed = metrics.boundingRect(label, Qt.AlignmentFlag.AlignCenter, "\n".join(lines))
                        assert max(metrics.horizontalAdvance(line) for line in lines) <= label.width(), lines
                        assert label.contains(needed), (lines, needed, label)
    finally:
        chosen.cancel()
        chosen.deleteLater()


def _same_digits(low: int, high: int) -> list[int]:
    """Numbers between `low` and `high` written with one repeated digit (the widest digit shows up)."""
    found = []
    for length in range(1, 6):
        for digit in "123456789":
            for sign in (1, -1):
                value = sign * int(digit * length)
                if low <= value <= high:
                    found.append(value)
    return found
