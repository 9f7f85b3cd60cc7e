"""The frozen-screen region overlay: every monitor is captured first, then shown full screen and
still, so the user selects exactly the pixels that were on screen when the hotkey was pressed.

One overlay window per monitor, each painting its monitor's picture at native resolution (a
pixmap whose device pixel ratio is the screen's, so one picture pixel is one screen pixel on
mixed-DPI desktops). The selection is one rectangle in the desktop's physical pixels, shared by
all overlays, so a window selected with Space+click may span monitors and a drag may cross them.

Mouse: drag to select; drag the handles to resize, the inside to move; double-click confirms;
right-click cancels. Keys: Enter asks, Esc cancels, Space+click picks the window under the
pointer, F (or Ctrl+A) picks the whole monitor, arrows move by a pixel, Shift+arrows resize,
Ctrl+C copies, Ctrl+S saves.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QScreen,
)
from PySide6.QtWidgets import QHBoxLayout, QToolButton, QWidget

from desktop.capture.base import Rect, Screenshot
from desktop.capture.window_list import WindowInfo, window_at
from desktop.i18n import _
from desktop.logsetup import trace

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

MIN_SIDE = 8  # physical pixels; smaller selections are almost always a slipped click
HANDLE = 8  # logical pixels, the side of a resize handle
MAGNIFIER_SOURCE = 15  # physical pixels shown around the pointer
MAGNIFIER_ZOOM = 8
MAGNIFIER_PADDING = 6  # logical pixels around the magnifier's label
_DIM = QColor(0, 0, 0, 120)
_ACCENT = QColor(56, 132, 255)


class OverlayAction(StrEnum):
    """What the user chose to do with the selection."""

    ASK = "ask"
    ANNOTATE = "annotate"  # draw on it first, then ask
    COPY = "copy"
    SAVE = "save"


@dataclass(frozen=True)
class OverlayResult:
    """A confirmed selection: the rectangle in physical pixels and in Qt's logical coordinates."""

    action: OverlayAction
    rect: Rect
    anchor: QRect  # the same rectangle in Qt's global logical coordinates, to place the popup beside it
    window: WindowInfo | None  # the window picked with Space+click, if that is how it was chosen


def to_qimage(image: Image.Image) -> QImage:
    """An RGB Pillow image as a QImage sharing nothing with it (copied once)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    data = rgb.tobytes()
    return QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()


@dataclass
class _ScreenPicture:
    """One monitor: its Qt screen, the part of the desktop it shows, and the frozen pixels."""

    screen: QScreen
    area: Rect  # physical pixels
    image: QImage

    @property
    def scale(self) -> float:
        """Physical pixels per logical pixel on this monitor."""
        return self.area.width / max(1, self.screen.geometry().width())


def match_screens(screens: list[QScreen], shots: list[Screenshot]) -> list[_ScreenPicture]:
    """Pair each Qt screen with its monitor's picture.

    With one picture per monitor the two lists are paired by position; a single picture of the
    whole desktop (the Wayland portal) is cut up along the screens' geometries.
    """
    by_position = sorted(screens, key=lambda s: (s.geometry().left(), s.geometry().top()))
    if len(shots) == len(screens):
        pictures = []
        for screen, shot in zip(by_position, sorted(shots, key=lambda s: (s.monitor.left, s.monitor.top)), strict=True):
            pictures.append(_ScreenPicture(screen, shot.monitor, to_qimage(shot.image)))
        return pictures
    whole = shots[0]
    virtual = QRect()
    for screen in screens:
        virtual = virtual.united(screen.geometry())
    scale_x = whole.image.width / max(1, virtual.width())
    scale_y = whole.image.height / max(1, virtual.height())
    pictures = []
    for screen in by_position:
        g = screen.geometry()
        left, top = round((g.left() - virtual.left()) * scale_x), round((g.top() - virtual.top()) * scale_y)
        box = (left, top, left + round(g.width() * scale_x), top + round(g.height() * scale_y))
        area = Rect(whole.monitor.left + box[0], whole.monitor.top + box[1], box[2] - box[0], box[3] - box[1])
        pictures.append(_ScreenPicture(screen, area, to_qimage(whole.image.crop(box))))
    return pictures


class _Drag(StrEnum):
    NONE = ""
    CREATE = "create"
    MOVE = "move"
    LEFT = "l"
    RIGHT = "r"
    TOP = "t"
    BOTTOM = "b"
    TOP_LEFT = "tl"
    TOP_RIGHT = "tr"
    BOTTOM_LEFT = "bl"
    BOTTOM_RIGHT = "br"


class RegionSelector(QObject):
    """The selection shared by every monitor's overlay, and the overlays themselves."""

    finished = Signal(object)  # OverlayResult
    cancelled = Signal()

    def __init__(self, shots: list[Screenshot], windows: list[WindowInfo], *,
                 own_pid: int | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pictures = match_screens(QGuiApplication.screens(), shots)
        self.desktop = Rect.union([p.area for p in self.pictures])
        self.windows = windows
        self.own_pid = own_pid if own_pid is not None else os.getpid()
        self.selection: Rect | None = None
        self.picked_window: WindowInfo | None = None
        self.hover_window: WindowInfo | None = None
        self.pointer: tuple[int, int] | None = None  # physical
        self.space_down = False
        self.message = ""
        self._drag = _Drag.NONE
        self._drag_origin = (0, 0)
        self._drag_start_rect: Rect | None = None
        self._done = False
        self.overlays = [RegionOverlay(self, picture) for picture in self.pictures]

    # -- life cycle ----------------------------------------------------------------------------
    def show(self) -> None:
        """Show every overlay; the one under the pointer takes the keyboard."""
        for overlay in self.overlays:
            overlay.present()
        target = self._overlay_at_cursor()
        target.activateWindow()
        target.raise_()
        target.setFocus()
        # An override-redirect window gets no focus from the window manager: take the keyboard.
        if QGuiApplication.platformName() == "xcb":
            QTimer.singleShot(0, target.grabKeyboard)

    def close(self) -> None:
        """Take every overlay down."""
        for overlay in self.overlays:
            overlay.releaseKeyboard()
            overlay.hide()
            overlay.deleteLater()
        self.overlays = []

    def _overlay_at_cursor(self) -> RegionOverlay:
        screen = QGuiApplication.screenAt(QCursor.pos())
        for overlay in self.overlays:
            if overlay.picture.screen is screen:
                return overlay
        return self.overlays[0]

    def confirm(self, action: OverlayAction) -> None:
        """Finish with the current selection, unless it is too small (then say so)."""
        if self._done:
            return
        if self.selection is None or self.selection.width < MIN_SIDE or self.selection.height < MIN_SIDE:
            self.message = _("Drag over an area of at least {n}×{n} pixels first, or press Esc to cancel.").format(
                n=MIN_SIDE)
            self.repaint_all()
            return
        self._done = True
        result = OverlayResult(action, self.selection, self.logical_rect(self.selection), self.picked_window)
        self.close()
        self.finished.emit(result)

    def cancel(self) -> None:
        """Finish without a selection."""
        if self._done:
            return
        self._done = True
        self.close()
        self.cancelled.emit()

    # -- geometry ------------------------------------------------------------------------------
    def logical_rect(self, rect: Rect) -> QRect:
        """A physical rectangle in Qt's global logical coordinates (through the monitor holding its centre)."""
        cx, cy = rect.left + rect.width // 2, rect.top + rect.height // 2
        picture = next((p for p in self.pictures if p.area.contains(cx, cy)), self.pictures[0])
        g, s = picture.screen.geometry(), picture.scale
        return QRect(round(g.left() + (rect.left - picture.area.left) / s),
                     round(g.top() + (rect.top - picture.area.top) / s),
                     max(1, round(rect.width / s)), max(1, round(rect.height / s)))

    def _clamp(self, rect: Rect) -> Rect:
        return rect.intersection(self.desktop) or rect

    # -- input, in physical pixels -------------------------------------------------------------
    def press(self, x: int, y: int, handle: _Drag) -> None:
        """A left-button press at physical (x, y); `handle` is the part of the selection under it."""
        self.message = ""
        if self.space_down:
            self.pick_window_at(x, y)
            return
        self._drag_origin = (x, y)
        self._drag_start_rect = self.selection
        if handle is _Drag.NONE:
            self._drag = _Drag.CREATE
            self.selection = None
            self.picked_window = None
        else:
            self._drag = handle
        self.repaint_all()

    def move(self, x: int, y: int) -> None:
        """The pointer moved to physical (x, y), with or without a button held."""
        old_pointer = self.pointer
        self.pointer = (x, y)
        if self.space_down:
            hover = window_at(self.windows, x, y, self.own_pid)
            if hover != self.hover_window:
                self.hover_window = hover
                self.repaint_all()
        if self._drag is _Drag.NONE:
            self.repaint_around(old_pointer)
            self.repaint_around(self.pointer)
            return
        ox, oy = self._drag_origin
        start = self._drag_start_rect
        if self._drag is _Drag.CREATE:
            left, right = sorted((ox, x))
            top, bottom = sorted((oy, y))
            self.selection = self._clamp(Rect(left, top, right - left + 1, bottom - top + 1))
        elif self._drag is _Drag.MOVE and start is not None:
            dx = min(max(x - ox, self.desktop.left - start.left), self.desktop.right - start.right)
            dy = min(max(y - oy, self.desktop.top - start.top), self.desktop.bottom - start.bottom)
            self.selection = Rect(start.left + dx, start.top + dy, start.width, start.height)
        elif start is not None:
            left, top, right, bottom = start.left, start.top, start.right - 1, start.bottom - 1
            if "l" in self._drag.value:
                left = x
            if "r" in self._drag.value:
                right = x
            if "t" in self._drag.value:
                top = y
            if "b" in self._drag.value:
                bottom = y
            left, right = sorted((left, right))
            top, bottom = sorted((top, bottom))
            self.selection = self._clamp(Rect(left, top, right - left + 1, bottom - top + 1))
        self.picked_window = None
        self.repaint_all()

    def release(self) -> None:
        """The left button was released: a click that did not drag leaves no selection."""
        if self._drag is _Drag.CREATE and self.selection is not None and (
                self.selection.width <= 2 and self.selection.height <= 2):
            self.selection = None
        self._drag = _Drag.NONE
        self.repaint_all()

    def pick_window_at(self, x: int, y: int) -> None:
        """Select the window (frame included) under physical (x, y), cut to the desktop."""
        window = window_at(self.windows, x, y, self.own_pid)
        if window is None:
            self.message = _("There is no window under the pointer.")
        else:
            self.selection = self._clamp(window.rect)
            self.picked_window = window
        self.repaint_all()

    def pick_monitor_at(self, x: int, y: int) -> None:
        """Select the whole monitor under physical (x, y)."""
        picture = next((p for p in self.pictures if p.area.contains(x, y)), self.pictures[0])
        self.selection = picture.area
        self.picked_window = None
        self.message = ""
        self.repaint_all()

    def nudge(self, dx: int, dy: int, resize: bool) -> None:
        """Move (or with `resize`, grow/shrink) the selection by whole physical pixels."""
        if self.selection is None:
            return
        s = self.selection
        if resize:
            rect = Rect(s.left, s.top, max(1, s.width + dx), max(1, s.height + dy))
        else:
            dx = min(max(dx, self.desktop.left - s.left), self.desktop.right - s.right)
            dy = min(max(dy, self.desktop.top - s.top), self.desktop.bottom - s.bottom)
            rect = Rect(s.left + dx, s.top + dy, s.width, s.height)
        self.selection = self._clamp(rect)
        self.repaint_all()

    def key(self, event: QKeyEvent) -> bool:
        """Handle a key press from any overlay; True if it was ours."""
        key, mods = event.key(), event.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        if key == Qt.Key.Key_Escape:
            self.cancel()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.confirm(OverlayAction.ASK)
        elif key == Qt.Key.Key_E and not ctrl:
            self.confirm(OverlayAction.ANNOTATE)
        elif key == Qt.Key.Key_C and ctrl:
            self.confirm(OverlayAction.COPY)
        elif key == Qt.Key.Key_S and ctrl:
            self.confirm(OverlayAction.SAVE)
        elif (key == Qt.Key.Key_A and ctrl) or (key == Qt.Key.Key_F and not ctrl):
            self.pick_monitor_at(*(self.pointer or (self.desktop.left, self.desktop.top)))
        elif key == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self.space_down = True
                if self.pointer is not None:
                    self.hover_window = window_at(self.windows, *self.pointer, self.own_pid)
                self.repaint_all()
        elif (step := _ARROWS.get(Qt.Key(key))) is not None:
            dx, dy = step
            self.nudge(dx, dy, shift)
        else:
            return False
        return True

    def key_release(self, event: QKeyEvent) -> None:
        """Space released: back to drawing rectangles."""
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.space_down = False
            self.hover_window = None
            self.repaint_all()

    # -- painting ------------------------------------------------------------------------------
    def repaint_all(self) -> None:
        """Schedule a repaint of every overlay."""
        for overlay in self.overlays:
            overlay.update()
            overlay.place_toolbar()

    def repaint_around(self, point: tuple[int, int] | None) -> None:
        """Schedule a repaint of the magnifier's area around a physical point only."""
        if point is None:
            return
        for overlay in self.overlays:
            if overlay.picture.area.contains(*point):
                overlay.update(overlay.magnifier_rect(overlay.to_local(*point)).adjusted(-2, -2, 2, 2))
                overlay.update(overlay.help_rect())


_ARROWS = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}


class RegionOverlay(QWidget):
    """One monitor's frozen picture, full screen, with the shared selection drawn over it."""

    def __init__(self, selector: RegionSelector, picture: _ScreenPicture) -> None:
        super().__init__(None)
        self.selector = selector
        self.picture = picture
        self.setObjectName("region_overlay")
        self.setWindowTitle(_("Select a region"))
        flags = Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint | Qt.WindowType.Tool
        if QGuiApplication.platformName() == "xcb":
            # Above panels and docks, placed exactly, no animation: the picture must not move.
            flags |= Qt.WindowType.X11BypassWindowManagerHint
        self.setWindowFlags(flags)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.pixmap = QPixmap.fromImage(picture.image)
        self.pixmap.setDevicePixelRatio(picture.scale)
        self._painted = False
        self.toolbar = self._build_toolbar()

    def _build_toolbar(self) -> QWidget:
        return build_toolbar(self, self.selector)

    def present(self) -> None:
        """Cover this monitor exactly."""
        geometry = self.picture.screen.geometry()
        self.setScreen(self.picture.screen)
        self.setGeometry(geometry)
        if QGuiApplication.platformName() == "xcb":
            self.show()
        else:
            self.showFullScreen()

    # -- coordinates ---------------------------------------------------------------------------
    def to_physical(self, pos: QPointF | QPoint) -> tuple[int, int]:
        """A local logical position as a physical desktop pixel."""
        s = self.picture.scale
        return (self.picture.area.left + int(pos.x() * s), self.picture.area.top + int(pos.y() * s))

    def to_local(self, x: float, y: float) -> QPointF:
        """A physical desktop pixel as a local logical position."""
        s = self.picture.scale
        return QPointF((x - self.picture.area.left) / s, (y - self.picture.area.top) / s)

    def local_rect(self, rect: Rect) -> QRectF:
        """A physical rectangle in local logical coordinates."""
        top_left = self.to_local(rect.left, rect.top)
        s = self.picture.scale
        return QRectF(top_left, QSize(0, 0)).adjusted(0, 0, rect.width / s, rect.height / s)

    def handle_at(self, pos: QPointF) -> _Drag:
        """Which part of the selection is under a local position."""
        sel = self.selector.selection
        if sel is None:
            return _Drag.NONE
        r = self.local_rect(sel)
        near = HANDLE
        x, y = pos.x(), pos.y()
        on_left, on_right = abs(x - r.left()) <= near, abs(x - r.right()) <= near
        on_top, on_bottom = abs(y - r.top()) <= near, abs(y - r.bottom()) <= near
        inside_x = r.left() - near <= x <= r.right() + near
        inside_y = r.top() - near <= y <= r.bottom() + near
        if not (inside_x and inside_y):
            return _Drag.NONE
        for cond, handle in ((on_top and on_left, _Drag.TOP_LEFT), (on_top and on_right, _Drag.TOP_RIGHT),
                             (on_bottom and on_left, _Drag.BOTTOM_LEFT), (on_bottom and on_right, _Drag.BOTTOM_RIGHT),
                             (on_left, _Drag.LEFT), (on_right, _Drag.RIGHT), (on_top, _Drag.TOP),
                             (on_bottom, _Drag.BOTTOM)):
            if cond:
                return handle
        return _Drag.MOVE if r.contains(pos) else _Drag.NONE

    # -- events --------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.RightButton:
            self.selector.cancel()
        elif event.button() == Qt.MouseButton.LeftButton:
            self.selector.press(*self.to_physical(event.position()), self.handle_at(event.position()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.selector.move(*self.to_physical(event.position()))
        self.setCursor(_CURSORS[self.handle_at(event.position())])

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self.selector.release()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        sel = self.selector.selection
        if event.button() == Qt.MouseButton.LeftButton and sel is not None and sel.contains(
                *self.to_physical(event.position())):
            self.selector.confirm(OverlayAction.ASK)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if not self.selector.key(event):
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        self.selector.key_release(event)

    def event(self, event: QEvent) -> bool:
        """Tab would move the focus into the toolbar; the overlay keeps it."""
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Tab:
            return True
        return super().event(event)

    # -- painting ------------------------------------------------------------------------------
    def place_toolbar(self) -> None:
        """Put the toolbar under the selection (above it, or inside, when there is no room)."""
        sel = self.selector.selection
        centre_here = sel is not None and self.picture.area.contains(
            min(max(sel.left + sel.width // 2, self.picture.area.left), self.picture.area.right - 1),
            min(max(sel.bottom - 1, self.picture.area.top), self.picture.area.bottom - 1))
        if sel is None or not centre_here or self.selector._drag is not _Drag.NONE:
            self.toolbar.hide()
            return
        r = self.local_rect(sel).toAlignedRect()
        size = self.toolbar.sizeHint()
        x = min(max(0, r.right() - size.width()), self.width() - size.width())
        y = r.bottom() + 6
        if y + size.height() > self.height():
            y = r.top() - size.height() - 6
        if y < 0:
            y = r.bottom() - size.height() - 6
        self.toolbar.setGeometry(x, y, size.width(), size.height())
        self.toolbar.show()
        self.toolbar.raise_()

    def help_rect(self) -> QRect:
        """Where the help line is drawn (top centre)."""
        return QRect(0, 12, self.width(), 40)

    def magnifier_rect(self, local: QPointF) -> QRect:
        """Where the magnifier is drawn for a pointer at `local` (flipped near the edges)."""
        side = MAGNIFIER_SOURCE * MAGNIFIER_ZOOM
        label = self._magnifier_label_size()
        size = QSize(max(side, label.width()), side + label.height())
        x, y = int(local.x()) + 24, int(local.y()) + 24
        if x + size.width() > self.width():
            x = int(local.x()) - 24 - size.width()
        if y + size.height() > self.height():
            y = int(local.y()) - 24 - size.height()
        return QRect(QPoint(x, y), size)

    def magnifier_label_rect(self, local: QPointF) -> QRect:
        """Where the magnifier's coordinates and colour are written, below its zoomed pixels."""
        box = self.magnifier_rect(local)
        side = MAGNIFIER_SOURCE * MAGNIFIER_ZOOM
        return QRect(box.left(), box.top() + side, box.width(), box.height() - side)

    def magnifier_font(self) -> QFont:
        """The font of the overlay's labels (the magnifier's and the selection's size)."""
        font = QFont(self.font())
        font.setPointSizeF(max(9.0, font.pointSizeF()))
        return font

    def magnifier_lines(self, pointer: tuple[int, int], colour: QColor) -> list[str]:
        """The magnifier's label for a pointer at a physical pixel of `colour`."""
        return [f"{pointer[0]}, {pointer[1]}", colour.name().upper()]

    def _magnifier_label_size(self) -> QSize:
        """Room for the longest label any pointer on this desktop can produce, in the label's font."""
        metrics = QFontMetrics(self.magnifier_font(), self)
        # Proportional fonts have digits of different widths: measure the widest one in every place.
        digit = max("0123456789", key=metrics.horizontalAdvance)
        hex_digit = max("0123456789ABCDEF", key=metrics.horizontalAdvance)
        desktop = self.selector.desktop
        corners = [(x, y) for x in (desktop.left, desktop.right - 1) for y in (desktop.top, desktop.bottom - 1)]
        coordinates = max((re.sub(r"\d", digit, self.magnifier_lines(corner, QColor())[0]) for corner in corners),
                          key=metrics.horizontalAdvance)
        lines = [coordinates, "#" + hex_digit * 6]
        width = max(metrics.horizontalAdvance(line) for line in lines)
        height = metrics.lineSpacing() * (len(lines) - 1) + metrics.height()
        return QSize(width + 2 * MAGNIFIER_PADDING, height + 2 * MAGNIFIER_PADDING)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        clip = event.rect()
        painter.drawPixmap(clip, self.pixmap, QRectF(clip.x() * self.picture.scale, clip.y() * self.picture.scale,
                                                     clip.width() * self.picture.scale,
                                                     clip.height() * self.picture.scale).toAlignedRect())
        sel = self.selector.selection
        hover = self.selector.hover_window
        full = QRectF(self.rect())
        if sel is None:
            painter.fillRect(full, _DIM)
        else:
            r = self.local_rect(sel)
            for part in (QRectF(0, 0, full.width(), r.top()), QRectF(0, r.bottom(), full.width(), full.height()),
                         QRectF(0, r.top(), r.left(), r.height()),
                         QRectF(r.right(), r.top(), full.width() - r.right(), r.height())):
                if part.isValid():
                    painter.fillRect(part, _DIM)
            painter.setPen(QPen(_ACCENT, 2))
            painter.drawRect(r.adjusted(-1, -1, 1, 1))
            painter.setBrush(_ACCENT)
            painter.setPen(QPen(QColor("white"), 1))
            for hx in (r.left(), r.center().x(), r.right()):
                for hy in (r.top(), r.center().y(), r.bottom()):
                    if (hx, hy) != (r.center().x(), r.center().y()):
                        painter.drawEllipse(QPointF(hx, hy), HANDLE / 2 + 1, HANDLE / 2 + 1)
            self._paint_size(painter, r, sel)
        if hover is not None and self.selector.space_down:
            hr = self.local_rect(hover.rect)
            painter.setBrush(QColor(56, 132, 255, 50))
            painter.setPen(QPen(_ACCENT, 3))
            painter.drawRect(hr)
        self._paint_help(painter)
        pointer = self.selector.pointer
        if pointer is not None and self.picture.area.contains(*pointer) and self.selector._drag in (
                _Drag.NONE, _Drag.CREATE) and not self.toolbar.isVisible():
            self._paint_magnifier(painter, pointer)
        painter.end()
        if not self._painted:
            self._painted = True
            trace(f"overlay-shown {time.monotonic():.6f}")

    def _paint_size(self, painter: QPainter, r: QRectF, sel: Rect) -> None:
        text = f"{sel.width} × {sel.height}"
        painter.setFont(self.magnifier_font())
        box = painter.fontMetrics().boundingRect(text).adjusted(-6, -3, 6, 3)
        box.moveTopLeft(QPoint(int(r.left()), int(r.top()) - box.height() - 6))
        if box.top() < 0:
            box.moveTopLeft(QPoint(int(r.left()) + 6, int(r.top()) + 6))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(32, 33, 36, 220))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor("white"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_help(self, painter: QPainter) -> None:
        message = self.selector.message
        if not message:
            if self.selector.selection is not None:
                return
            if not self.picture.area.contains(*(self.selector.pointer or (self.picture.area.left,
                                                                          self.picture.area.top))):
                return
            message = _("Drag to select  ·  Space+click: a window  ·  F: the whole screen  ·  "
                        "Enter: ask  ·  Esc: cancel")
        metrics = painter.fontMetrics()
        width = metrics.horizontalAdvance(message) + 28
        box = QRect((self.width() - width) // 2, 12, width, metrics.height() + 14)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(32, 33, 36, 230))
        painter.drawRoundedRect(box, 8, 8)
        painter.setPen(QColor("white"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, message)

    def _paint_magnifier(self, painter: QPainter, pointer: tuple[int, int]) -> None:
        local = self.to_local(*pointer)
        box = self.magnifier_rect(local)
        side = MAGNIFIER_SOURCE * MAGNIFIER_ZOOM
        zoom_area = QRect(box.left() + (box.width() - side) // 2, box.top(), side, side)
        half = MAGNIFIER_SOURCE // 2
        px, py = pointer[0] - self.picture.area.left, pointer[1] - self.picture.area.top
        source = QRect(px - half, py - half, MAGNIFIER_SOURCE, MAGNIFIER_SOURCE)
        painter.fillRect(box, QColor(32, 33, 36, 235))
        painter.drawImage(zoom_area, self.picture.image, source)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        cell = MAGNIFIER_ZOOM
        painter.setPen(QPen(QColor("black"), 3))
        painter.drawRect(zoom_area.left() + half * cell, zoom_area.top() + half * cell, cell, cell)
        painter.setPen(QPen(QColor("white"), 1))
        painter.drawRect(zoom_area.left() + half * cell, zoom_area.top() + half * cell, cell, cell)
        painter.setPen(QPen(_ACCENT, 2))
        painter.drawRect(zoom_area)
        colour = self.picture.image.pixelColor(min(max(px, 0), self.picture.image.width() - 1),
                                               min(max(py, 0), self.picture.image.height() - 1))
        painter.setPen(QColor("white"))
        painter.setFont(self.magnifier_font())
        painter.drawText(self.magnifier_label_rect(local), Qt.AlignmentFlag.AlignCenter,
                         "\n".join(self.magnifier_lines(pointer, colour)))


def build_toolbar(parent: QWidget, selector: RegionSelector | None) -> QWidget:
    """The toolbar shown at the selection: Annotate, Copy, Save, Ask, cancel."""
    bar = QWidget(parent)
    bar.setObjectName("overlay_toolbar")
    bar.setAutoFillBackground(True)
    bar.setStyleSheet(
        "QWidget#overlay_toolbar { background: #202124; border: 1px solid #5f6368; border-radius: 6px; }"
        "QToolButton { color: white; background: transparent; padding: 4px 10px; border-radius: 4px; }"
        "QToolButton:hover { background: #3c4043; }"
        "QToolButton#overlay_ask { background: #1a73e8; font-weight: bold; }"
        "QToolButton#overlay_ask:hover { background: #4285f4; }")
    layout = QHBoxLayout(bar)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.setSpacing(2)
    for name, text, tip, action in (
        ("overlay_annotate", _("Annotate"), _("Draw on the selection, blur what is private, then ask (E)"),
         OverlayAction.ANNOTATE),
        ("overlay_copy", _("Copy"), _("Copy the selection to the clipboard (Ctrl+C)"), OverlayAction.COPY),
        ("overlay_save", _("Save…"), _("Save the selection as a PNG file (Ctrl+S)"), OverlayAction.SAVE),
        ("overlay_ask", _("Ask"), _("Ask GLM-V about the selection (Enter)"), OverlayAction.ASK),
    ):
        button = QToolButton(bar)
        button.setObjectName(name)
        button.setText(text)
        button.setToolTip(tip)
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        if selector is not None:
            button.clicked.connect(lambda _checked=False, a=action: selector.confirm(a))
        layout.addWidget(button)
    cancel = QToolButton(bar)
    cancel.setObjectName("overlay_cancel")
    cancel.setText("✕")
    cancel.setToolTip(_("Cancel (Esc)"))
    if selector is not None:
        cancel.clicked.connect(selector.cancel)
    layout.addWidget(cancel)
    bar.adjustSize()
    bar.hide()
    return bar


_CURSORS = {
    _Drag.NONE: Qt.CursorShape.CrossCursor, _Drag.CREATE: Qt.CursorShape.CrossCursor,
    _Drag.MOVE: Qt.CursorShape.SizeAllCursor,
    _Drag.LEFT: Qt.CursorShape.SizeHorCursor, _Drag.RIGHT: Qt.CursorShape.SizeHorCursor,
    _Drag.TOP: Qt.CursorShape.SizeVerCursor, _Drag.BOTTOM: Qt.CursorShape.SizeVerCursor,
    _Drag.TOP_LEFT: Qt.CursorShape.SizeFDiagCursor, _Drag.BOTTOM_RIGHT: Qt.CursorShape.SizeFDiagCursor,
    _Drag.TOP_RIGHT: Qt.CursorShape.SizeBDiagCursor, _Drag.BOTTOM_LEFT: Qt.CursorShape.SizeBDiagCursor,
}
