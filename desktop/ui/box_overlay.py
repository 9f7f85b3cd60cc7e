"""The model's grounding boxes drawn back where they were: outlined and numbered, on a picture or on the live screen.

`paint_boxes` draws numbered outlines (the reply's picture uses it too). `BoxOverlay` puts them over the live
screen: one frameless, always-on-top, click-through window per monitor the captured area touches, placed in
Qt's global logical coordinates (the ones the capture recorded) and painted at that monitor's device pixel
ratio. Each window is shaped to the outlines and labels, so without a compositing manager nothing but the
outlines covers the screen. It stays a few seconds, fades out and closes itself; Esc closes it at once; a
second one replaces the first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

import shiboken6
from PySide6.QtCore import (
    QEasingCurve,
    QEvent,
    QObject,
    QPoint,
    QRect,
    QRectF,
    Qt,
    QTimer,
    QVariantAnimation,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QRegion,
    QScreen,
)
from PySide6.QtWidgets import QApplication, QWidget

from desktop.chat.conversation import GroundingBox
from desktop.i18n import _
from desktop.logsetup import trace

log = logging.getLogger(__name__)

BOX_COLOUR = QColor(255, 45, 149)  # bright, and rare on screens: the outline and the number's tag
EDGE_COLOUR = QColor(32, 33, 36)  # a dark line either side, so the outline reads on light and dark screens
LABEL_TEXT_COLOUR = QColor(255, 255, 255)
HIGHLIGHT_FILL = QColor(255, 45, 149, 60)
STAY_MS = 6000
FADE_MS = 500
# Room around the captured area for the outline's width and a number tag above a box at its top edge.
_MARGIN = 32
_RING = 1  # the bright outline covers the box's edge pixel and one pixel either side
_EDGE = 1


def box_rect(box: GroundingBox, area: QRectF) -> QRect:
    """A box (thousandths of the picture) in the coordinates of `area`, where the picture was shown or captured."""
    left = round(area.x() + box.x1 / 1000 * area.width())
    top = round(area.y() + box.y1 / 1000 * area.height())
    right = round(area.x() + box.x2 / 1000 * area.width())
    bottom = round(area.y() + box.y2 / 1000 * area.height())
    # Edges as pixel rows and columns (inclusive): a box [100, …, 300, …] of 800 px spans columns 80 to 240.
    return QRect(QPoint(left, top), QPoint(max(left, right), max(top, bottom)))


def label_font() -> QFont:
    """The font of a box's number."""
    font = QFont(QGuiApplication.font())
    font.setBold(True)
    font.setPointSize(max(9, font.pointSize()))
    return font


def _rings(rect: QRect, width: int) -> QRegion:
    """The pixels within `width` of the rectangle's edge rows and columns."""
    outer = rect.adjusted(-width, -width, width, width)
    inner = rect.adjusted(width + 1, width + 1, -width - 1, -width - 1)
    ring = QRegion(outer)
    return ring.subtracted(QRegion(inner)) if inner.isValid() else ring


def label_rect(rect: QRect, number: int, bounds: QRect, metrics: QFontMetrics) -> QRect:
    """Where box `number`'s tag goes: above its top-left corner, or just inside it when there is no room above."""
    text = str(number)
    width = metrics.horizontalAdvance(text) + 8
    height = metrics.height() + 2
    outside = _RING + _EDGE + 1
    tag = QRect(rect.left() - outside, rect.top() - outside - height, max(width, height), height)
    if tag.top() < bounds.top():
        tag.moveTop(rect.top() + outside)
        tag.moveLeft(rect.left() + outside)
    if tag.right() > bounds.right():
        tag.moveRight(bounds.right())
    if tag.left() < bounds.left():
        tag.moveLeft(bounds.left())
    return tag


def box_shape(rects: Sequence[QRect], bounds: QRect, metrics: QFontMetrics) -> QRegion:
    """Every pixel `paint_boxes` paints for these boxes: outlines with their dark edges, and number tags."""
    shape = QRegion()
    for number, rect in enumerate(rects, start=1):
        shape = shape.united(_rings(rect, _RING + _EDGE)).united(QRegion(label_rect(rect, number, bounds, metrics)))
    return shape


def _fill(painter: QPainter, region: QRegion, colour: QColor) -> None:
    path = QPainterPath()
    path.addRegion(region)
    painter.fillPath(path, colour)


def paint_boxes(painter: QPainter, rects: Sequence[QRect], bounds: QRect, *, highlighted: int = 0) -> None:
    """Outline each box and number it 1, 2, … in order; box `highlighted` (1-based, 0 for none) gets a tinted
    inside. Exact pixels: the bright outline covers each edge row or column and one pixel either side."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    painter.setPen(Qt.PenStyle.NoPen)
    font = label_font()
    painter.setFont(font)
    metrics = QFontMetrics(font)
    for number, rect in enumerate(rects, start=1):
        if number == highlighted:
            painter.fillRect(rect, HIGHLIGHT_FILL)
        _fill(painter, _rings(rect, _RING + _EDGE).subtracted(_rings(rect, _RING)), EDGE_COLOUR)
        _fill(painter, _rings(rect, _RING), BOX_COLOUR)
        if number == highlighted:  # a second line inside: the highlighted box stands out without a colour of its own
            _fill(painter, _rings(rect.adjusted(_RING + 3, _RING + 3, -_RING - 3, -_RING - 3), 0), BOX_COLOUR)
        tag = label_rect(rect, number, bounds, metrics)
        painter.fillRect(tag, EDGE_COLOUR if number == highlighted else BOX_COLOUR)
        painter.setPen(LABEL_TEXT_COLOUR)
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, str(number))
        painter.setPen(Qt.PenStyle.NoPen)
    painter.restore()


class _ScreenBoxes(QWidget):
    """One monitor's part of a `BoxOverlay`: a click-through window shaped to the outlines it draws."""

    painted = Signal(int)  # the number of boxes it shows, once, on its first paint

    def __init__(self, screen: QScreen, geometry: QRect, rects: list[QRect]) -> None:
        super().__init__(None)
        self.setObjectName("box_overlay")
        self.setWindowTitle(_("Boxes on screen"))
        flags = (Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint | Qt.WindowType.Tool
                 | Qt.WindowType.WindowTransparentForInput | Qt.WindowType.WindowDoesNotAcceptFocus)
        if QGuiApplication.platformName() == "xcb":
            # Placed exactly and above panels: the outlines must sit on the pixels they point at.
            flags |= Qt.WindowType.X11BypassWindowManagerHint
        self.setWindowFlags(flags)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setScreen(screen)
        self.setGeometry(geometry)
        self.rects = [rect.translated(-geometry.topLeft()) for rect in rects]  # in this window's coordinates
        self._painted = False
        # Only the outlines and tags belong to the window: with no compositing manager a translucent window's
        # empty pixels would not show what is below.
        self.setMask(box_shape(self.rects, self.rect(), QFontMetrics(label_font())))

    def paintEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        """Draw the boxes; report the first paint."""
        painter = QPainter(self)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.fillRect(self.rect(), Qt.GlobalColor.transparent)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        paint_boxes(painter, self.rects, self.rect())
        painter.end()
        if not self._painted:
            self._painted = True
            trace(f"boxes-shown {len(self.rects)}")
            self.painted.emit(len(self.rects))


class BoxOverlay(QObject):
    """A reply's boxes over the live screen, where the picture they point at was captured.

    `show_boxes` is the way to show one: it replaces the one shown before. The overlay stays `stay_ms`, fades out
    over `fade_ms` and closes itself; Esc (in any of the app's windows: the overlay itself takes no keyboard focus)
    closes it at once.
    """

    shown = Signal(int)  # every window has painted; the number of boxes
    closed = Signal()

    _current: ClassVar[BoxOverlay | None] = None

    def __init__(self, area: tuple[int, int, int, int], boxes: Sequence[GroundingBox], *, stay_ms: int = STAY_MS,
                 fade_ms: int = FADE_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("box_overlay_controller")
        self.area = area
        self.boxes = list(boxes)
        x, y, width, height = area
        self.rects = [box_rect(box, QRectF(x, y, width, height)) for box in self.boxes]
        self.windows: list[_ScreenBoxes] = []
        self._waiting = 0
        self._open = False
        self._stay = QTimer(self)
        self._stay.setSingleShot(True)
        self._stay.setInterval(max(0, stay_ms))
        self._stay.timeout.connect(self._fade)
        self._fader = QVariantAnimation(self)
        self._fader.setStartValue(1.0)
        self._fader.setEndValue(0.0)
        self._fader.setDuration(max(1, fade_ms))
        self._fader.setEasingCurve(QEasingCurve.Type.InQuad)
        self._fader.valueChanged.connect(self._set_opacity)
        self._fader.finished.connect(self.close)

    @classmethod
    def show_boxes(cls, area: tuple[int, int, int, int], boxes: Sequence[GroundingBox], *, stay_ms: int = STAY_MS,
                   fade_ms: int = FADE_MS) -> BoxOverlay:
        """Show `boxes` over `area` (x, y, width, height in global logical coordinates), replacing the overlay
        shown before, if any."""
        if cls._current is not None:
            cls._current.close()
        overlay = cls(area, boxes, stay_ms=stay_ms, fade_ms=fade_ms)
        cls._current = overlay
        overlay.show()
        return overlay

    @classmethod
    def current(cls) -> BoxOverlay | None:
        """The overlay on screen now, if any."""
        return cls._current

    @property
    def is_open(self) -> bool:
        """True from `show` until it has closed."""
        return self._open

    def show(self) -> None:
        """Open one window per monitor the area touches and start the countdown (an area on no screen now, say
        of a monitor since unplugged, closes at once)."""
        x, y, width, height = self.area
        reach = QRect(x, y, width, height).adjusted(-_MARGIN, -_MARGIN, _MARGIN, _MARGIN)
        for screen in QGuiApplication.screens():
            part = screen.geometry().intersected(reach)
            if part.isEmpty() or not screen.geometry().intersects(QRect(x, y, max(1, width), max(1, height))):
                continue
            window = _ScreenBoxes(screen, part, self.rects)
            window.painted.connect(self._window_painted)
            self.windows.append(window)
        if not self.windows:
            log.info("The boxes' area %s is on no screen now; nothing is shown", self.area)
            self.closed.emit()
            if BoxOverlay._current is self:
                BoxOverlay._current = None
            return
        self._open = True
        self._waiting = len(self.windows)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        for window in self.windows:
            window.show()
        self._stay.start()

    def close(self) -> None:
        """Take the boxes off the screen now."""
        if not self._open:
            return
        self._open = False
        self._stay.stop()
        self._fader.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        for window in self.windows:
            if shiboken6.isValid(window):
                window.close()
                window.deleteLater()
        self.windows.clear()
        if BoxOverlay._current is self:
            BoxOverlay._current = None
        self.closed.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Esc anywhere in the app closes the overlay, and does nothing else (a popup stays open)."""
        if (self._open and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
                and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Escape):
            event.accept()
            if event.type() == QEvent.Type.KeyPress:
                self.close()
            return True
        return super().eventFilter(watched, event)

    def _window_painted(self, _count: int) -> None:
        self._waiting -= 1
        if self._waiting == 0:
            self.shown.emit(len(self.boxes))

    def _fade(self) -> None:
        self._fader.start()

    def _set_opacity(self, value: object) -> None:
        for window in self.windows:
            if shiboken6.isValid(window):
                window.setWindowOpacity(float(value))  # type: ignore[arg-type]
