"""The annotation editor: draw on a picture before it is sent — and point at things the model can name.

Tools: select/move, pen, line, arrow, rectangle, ellipse, highlighter, text, numbered markers, blur,
pixelate, crop; a colour palette and the stroke width (the mouse wheel); Shift constrains lines to 45°
and boxes to squares; undo/redo; a key for every tool. Shapes stay data (`media.annotations`) until the
picture is sent; what the canvas shows of the finished shapes is drawn by the same renderer that makes
the pixels sent, so what you see is what the model gets. Only the shape being drawn is painted by Qt.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QColor,
    QImage,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
    QShortcut,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QColorDialog,
    QDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop.config.settings import SettingsStore
from desktop.i18n import _
from desktop.media.annotations import Annotations, Shape, Tool, marker_radius, render
from desktop.ui.operations import dialog_value

if TYPE_CHECKING:
    from PIL import Image

RGB = tuple[int, int, int]
CROP = "crop"  # not a shape: the crop is the picture's frame
SELECT = "select"
PALETTE: tuple[tuple[str, RGB], ...] = (
    (_("Red"), (230, 40, 40)), (_("Orange"), (245, 130, 20)), (_("Yellow"), (250, 210, 30)),
    (_("Green"), (40, 170, 70)), (_("Blue"), (30, 110, 230)), (_("Purple"), (150, 60, 200)),
    (_("Black"), (20, 20, 20)), (_("White"), (250, 250, 250)),
)
# (tool, label, key)
TOOLS: tuple[tuple[str, str, str], ...] = (
    (SELECT, _("Select and move"), "V"), (Tool.PEN, _("Pen"), "P"), (Tool.LINE, _("Line"), "L"),
    (Tool.ARROW, _("Arrow"), "A"), (Tool.RECTANGLE, _("Box (numbered)"), "R"), (Tool.ELLIPSE, _("Ellipse"), "E"),
    (Tool.HIGHLIGHTER, _("Highlighter"), "H"), (Tool.TEXT, _("Text"), "T"), (Tool.MARKER, _("Numbered marker"), "M"),
    (Tool.BLUR, _("Blur (redact)"), "B"), (Tool.PIXELATE, _("Pixelate (redact)"), "X"), (CROP, _("Crop"), "C"),
)
TWO_POINT = frozenset({Tool.LINE, Tool.ARROW, Tool.RECTANGLE, Tool.ELLIPSE, Tool.BLUR, Tool.PIXELATE})
BOXES = frozenset({Tool.RECTANGLE, Tool.ELLIPSE, Tool.BLUR, Tool.PIXELATE})


def to_qimage(picture: Image.Image) -> QImage:
    """A picture as a QImage (its own copy of the pixels)."""
    rgb = picture.convert("RGB")
    return QImage(rgb.tobytes(), rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888).copy()


def constrain(start: tuple[float, float], end: tuple[float, float], tool: str) -> tuple[float, float]:
    """Shift held: lines snap to multiples of 45°, boxes become squares."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    if tool in (Tool.LINE, Tool.ARROW):
        length = math.hypot(dx, dy)
        angle = round(math.atan2(dy, dx) / (math.pi / 4)) * (math.pi / 4)
        return start[0] + length * math.cos(angle), start[1] + length * math.sin(angle)
    side = max(abs(dx), abs(dy))
    return start[0] + math.copysign(side, dx or 1), start[1] + math.copysign(side, dy or 1)


class AnnotationCanvas(QWidget):
    """The picture with its shapes; turns mouse gestures into shapes in the picture's own pixels."""

    changed = Signal(object)  # the new Annotations (one step of the history)
    width_changed = Signal(float)
    text_wanted = Signal(float, float)  # a text's anchor, in picture pixels: the editor asks for the words

    def __init__(self, picture: Image.Image, annotations: Annotations, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("annotation_canvas")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.picture = picture
        self.annotations = annotations
        self.tool: str = Tool.ARROW
        self.colour: RGB = (230, 40, 40)
        self.stroke = 4.0
        self.selected: int | None = None
        self._points: list[tuple[float, float]] = []  # the shape being drawn
        self._drag_from: tuple[float, float] | None = None
        self._moving: Shape | None = None
        self._shift = False
        self._layer = QImage()  # the finished shapes, drawn by the renderer that makes what is sent
        self._scaled = QPixmap()
        self._relayer()

    # -- coordinates -----------------------------------------------------------------------------------------
    def scale(self) -> float:
        """Widget pixels per picture pixel (the picture fitted into the canvas, never above 2×)."""
        w, h = self.picture.size
        return min(self.width() / max(1, w), self.height() / max(1, h), 2.0)

    def origin(self) -> QPointF:
        """Where the picture's top-left corner is in the widget (centred)."""
        s = self.scale()
        return QPointF((self.width() - self.picture.width * s) / 2, (self.height() - self.picture.height * s) / 2)

    def to_picture(self, pos: QPointF) -> tuple[float, float]:
        """A widget position in picture pixels (clamped to the picture)."""
        s, o = self.scale(), self.origin()
        x = min(max((pos.x() - o.x()) / s, 0.0), float(self.picture.width))
        y = min(max((pos.y() - o.y()) / s, 0.0), float(self.picture.height))
        return x, y

    def to_widget(self, x: float, y: float) -> QPointF:
        """A picture position in widget pixels."""
        s, o = self.scale(), self.origin()
        return QPointF(o.x() + x * s, o.y() + y * s)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """The picture's own size, within reason (the dialog fits it to the screen)."""
        return QSize(min(self.picture.width, 1600), min(self.picture.height, 900))

    # -- the layer of finished shapes ---------------------------------------------------------------------------
    def set_annotations(self, annotations: Annotations, *, selected: int | None = None) -> None:
        """Show `annotations` (undo/redo, a move, a new shape)."""
        self.annotations = annotations
        self.selected = selected
        self._relayer()

    def _relayer(self, *, hide: int | None = None) -> None:
        shown = self.annotations.with_crop(None)
        if hide is not None:
            shown = shown.remove(hide)
        self._layer = to_qimage(render(self.picture, shown))
        self._rescale()

    def _rescale(self) -> None:
        s = self.scale()
        size = QSize(max(1, round(self.picture.width * s)), max(1, round(self.picture.height * s)))
        self._scaled = QPixmap.fromImage(self._layer).scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                              Qt.TransformationMode.SmoothTransformation)
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        """Refit the picture."""
        super().resizeEvent(event)
        self._rescale()

    # -- gestures -------------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Start a shape, pick one to move, or drop a marker or a text."""
        if event.button() != Qt.MouseButton.LeftButton:
            return
        point = self.to_picture(event.position())
        self._shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if self.tool == SELECT:
            self.selected = self.shape_at(point)
            if self.selected is not None:
                self._drag_from = point
                self._moving = self.annotations.shapes[self.selected]
                self._relayer(hide=self.selected)
            self.update()
            return
        if self.tool == Tool.MARKER:
            self._commit(Shape(Tool.MARKER, (point,), self.colour, self.stroke,
                               number=self.annotations.next_number()))
            return
        if self.tool == Tool.TEXT:
            self.text_wanted.emit(point[0], point[1])
            return
        self._points = [point, point]
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Grow the shape being drawn, or move the one picked."""
        point = self.to_picture(event.position())
        self._shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if self._moving is not None and self._drag_from is not None:
            dx, dy = point[0] - self._drag_from[0], point[1] - self._drag_from[1]
            self._moving = self.annotations.shapes[self.selected].moved(dx, dy)  # type: ignore[index]
            self.update()
            return
        if not self._points:
            return
        if self.tool in (Tool.PEN, Tool.HIGHLIGHTER):
            if math.dist(point, self._points[-1]) * self.scale() >= 1.5:
                self._points.append(point)
        else:
            self._points[-1] = constrain(self._points[0], point, self.tool) if self._shift else point
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        """Finish the shape (a click without a drag makes none) or the move."""
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if self._moving is not None and self.selected is not None:
            moved, index = self._moving, self.selected
            self._moving, self._drag_from = None, None
            if moved != self.annotations.shapes[index]:
                self.changed.emit(self.annotations.replace(index, moved))
            else:
                self._relayer()
            self.selected = index
            return
        points, self._points = self._points, []
        if len(points) < 2:
            return
        if self.tool not in (Tool.PEN, Tool.HIGHLIGHTER):
            end = self.to_picture(event.position())
            shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            points[-1] = constrain(points[0], end, self.tool) if shift else end
        start, end = points[0], points[-1]
        if self.tool == CROP:
            crop = (round(min(start[0], end[0])), round(min(start[1], end[1])), round(max(start[0], end[0])),
                    round(max(start[1], end[1])))
            if crop[2] - crop[0] >= 4 and crop[3] - crop[1] >= 4:
                self.changed.emit(self.annotations.with_crop(crop))
            self.update()
            return
        if self.tool in (Tool.PEN, Tool.HIGHLIGHTER):
            self._commit(Shape(Tool(self.tool), tuple(points), self.colour, self.stroke))
            return
        if math.dist(start, end) * self.scale() < 3:
            self.update()
            return  # a click is not a shape
        number = self.annotations.next_number() if self.tool == Tool.RECTANGLE else None
        self._commit(Shape(Tool(self.tool), (start, end), self.colour, self.stroke, number=number))

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        """The wheel changes the stroke width (of the selected shape too)."""
        steps = event.angleDelta().y() / 120
        if not steps:
            return
        self.stroke = float(min(40, max(1, round(self.stroke + steps))))
        self.width_changed.emit(self.stroke)
        if self.selected is not None:
            shape = self.annotations.shapes[self.selected]
            self.changed.emit(self.annotations.replace(self.selected, replace(shape, width=self.stroke)))
        event.accept()

    def _commit(self, shape: Shape) -> None:
        self.changed.emit(self.annotations.add(shape))

    def shape_at(self, point: tuple[float, float]) -> int | None:
        """The topmost shape whose bounds hold `point` (with a little slack), or None."""
        slack = 6 / max(self.scale(), 0.01)
        for index in range(len(self.annotations.shapes) - 1, -1, -1):
            left, top, right, bottom = self.annotations.shapes[index].bounds()
            if left - slack <= point[0] <= right + slack and top - slack <= point[1] <= bottom + slack:
                return index
        return None

    # -- painting -------------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        """The rendered layer, then the shape in progress, the selection and the crop frame."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(60, 60, 64))
        painter.drawPixmap(self.origin(), self._scaled)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self._moving is not None:
            self._paint_shape(painter, self._moving)
        if self._points:
            if self.tool == CROP:
                self._paint_frame(painter, self._points[0], self._points[-1], dashed=True)
            else:
                number = self.annotations.next_number() if self.tool in (Tool.RECTANGLE,) else None
                self._paint_shape(painter, Shape(Tool(self.tool), tuple(self._points), self.colour, self.stroke,
                                                 number=number))
        crop = self.annotations.crop
        if crop is not None:
            self._paint_crop(painter, crop)
        if self.selected is not None and self.selected < len(self.annotations.shapes):
            shape = self._moving or self.annotations.shapes[self.selected]
            left, top, right, bottom = shape.bounds()
            self._paint_frame(painter, (left, top), (right, bottom), dashed=True, colour=QColor(30, 110, 230))
        painter.end()

    def _pen(self, colour: RGB, width: float, alpha: int = 255) -> QPen:
        pen = QPen(QColor(*colour, alpha), max(1.0, width * self.scale()))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        return pen

    def _paint_shape(self, painter: QPainter, shape: Shape) -> None:
        """A shape being drawn or moved, drawn by Qt (the renderer draws it once it is finished)."""
        points = [self.to_widget(x, y) for x, y in shape.points]
        tool = shape.tool
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if tool in (Tool.PEN, Tool.HIGHLIGHTER):
            highlighter = tool is Tool.HIGHLIGHTER
            painter.setPen(self._pen(shape.colour, shape.width * (3 if highlighter else 1), 90 if highlighter else 255))
            path = QPainterPath(points[0])
            for point in points[1:]:
                path.lineTo(point)
            painter.drawPath(path)
        elif tool in (Tool.LINE, Tool.ARROW):
            painter.setPen(self._pen(shape.colour, shape.width))
            painter.drawLine(points[0], points[-1])
            if tool is Tool.ARROW:
                self._paint_head(painter, points[0], points[-1], shape)
        elif tool in BOXES:
            rect = QRectF(points[0], points[-1]).normalized()
            if tool in (Tool.BLUR, Tool.PIXELATE):
                painter.setPen(QPen(QColor(255, 255, 255), 1, Qt.PenStyle.DashLine))
                painter.setBrush(QColor(128, 128, 128, 120))
                painter.drawRect(rect)
            else:
                painter.setPen(self._pen(shape.colour, shape.width))
                if tool is Tool.ELLIPSE:
                    painter.drawEllipse(rect)
                else:
                    painter.drawRect(rect)
        elif tool is Tool.MARKER:
            radius = marker_radius(shape.width) * self.scale()
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(*shape.colour))
            painter.drawEllipse(points[0], radius, radius)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(QRectF(points[0].x() - radius, points[0].y() - radius, 2 * radius, 2 * radius),
                             Qt.AlignmentFlag.AlignCenter, str(shape.number or ""))
        elif tool is Tool.TEXT:
            painter.setPen(QColor(*shape.colour))
            painter.drawText(points[0], shape.text)

    def _paint_head(self, painter: QPainter, start: QPointF, end: QPointF, shape: Shape) -> None:
        length = max(12.0, 4 * shape.width) * self.scale()
        angle = math.atan2(end.y() - start.y(), end.x() - start.x())
        left = QPointF(end.x() - length * math.cos(angle - 0.45), end.y() - length * math.sin(angle - 0.45))
        right = QPointF(end.x() - length * math.cos(angle + 0.45), end.y() - length * math.sin(angle + 0.45))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(*shape.colour))
        painter.drawPolygon(QPolygonF([end, left, right]))

    def _paint_frame(self, painter: QPainter, a: tuple[float, float], b: tuple[float, float], *, dashed: bool,
                     colour: QColor | None = None) -> None:
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(colour or QColor(255, 255, 255), 1.5,
                            Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine))
        painter.drawRect(QRectF(self.to_widget(*a), self.to_widget(*b)).normalized())

    def _paint_crop(self, painter: QPainter, crop: tuple[int, int, int, int]) -> None:
        """Dim what the crop leaves out (it is not sent), and frame what it keeps."""
        whole = QRectF(self.to_widget(0, 0), self.to_widget(self.picture.width, self.picture.height))
        kept = QRectF(self.to_widget(crop[0], crop[1]), self.to_widget(crop[2], crop[3]))
        outside = QPainterPath()
        outside.addRect(whole)
        inside = QPainterPath()
        inside.addRect(kept)
        painter.fillPath(outside.subtracted(inside), QColor(0, 0, 0, 150))
        self._paint_frame(painter, (crop[0], crop[1]), (crop[2], crop[3]), dashed=False)


class AnnotationEditor(QDialog):
    """Draw on a picture; `edited` gives the new Annotations when the user presses Done."""

    edited = Signal(object)

    def __init__(self, picture: Image.Image, annotations: Annotations | None, *, colour: RGB = (230, 40, 40),
                 width: float = 4.0, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("annotation_editor")
        self.setWindowTitle(title or _("Annotate"))
        self._undo: list[Annotations] = []
        self._redo: list[Annotations] = []
        self.canvas = AnnotationCanvas(picture, annotations or Annotations(), self)
        self.canvas.colour, self.canvas.stroke = colour, width
        self.canvas.changed.connect(self.apply)
        self.canvas.text_wanted.connect(self._ask_text)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.toolbar = QToolBar()
        self.toolbar.setObjectName("annotation_toolbar")
        self.tool_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for tool, label, key in TOOLS:
            action = QAction(label, self)
            action.setObjectName(f"tool_{tool}")
            action.setCheckable(True)
            action.setShortcut(QKeySequence(key))
            action.setToolTip(_("{tool} ({key})").format(tool=label, key=key))
            action.triggered.connect(lambda _checked=False, tool=tool: self.set_tool(tool))
            group.addAction(action)
            self.toolbar.addAction(action)
            self.tool_actions[tool] = action
        layout.addWidget(self.toolbar)

        row = QHBoxLayout()
        for name, rgb in PALETTE:
            swatch = QPushButton()
            swatch.setObjectName(f"colour_{name.lower()}")
            swatch.setToolTip(name)
            swatch.setFixedSize(QSize(22, 22))
            swatch.setStyleSheet(f"QPushButton {{ background: rgb{rgb}; border: 1px solid #888; border-radius: 3px; }}")
            swatch.clicked.connect(lambda _checked=False, rgb=rgb: self.set_colour(rgb))
            row.addWidget(swatch)
        more = QPushButton(_("More…"))
        more.setObjectName("colour_more")
        more.clicked.connect(self._choose_colour)
        row.addWidget(more)
        row.addSpacing(12)
        row.addWidget(QLabel(_("Width:")))
        self.width_box = QSpinBox()
        self.width_box.setObjectName("annotation_width")
        self.width_box.setRange(1, 40)
        self.width_box.setValue(round(width))
        self.width_box.setToolTip(_("Stroke width in picture pixels (or turn the mouse wheel over the picture)"))
        self.width_box.valueChanged.connect(lambda value: setattr(self.canvas, "stroke", float(value)))
        self.canvas.width_changed.connect(lambda value: self.width_box.setValue(round(value)))
        row.addWidget(self.width_box)
        row.addStretch(1)
        self.undo_button = QPushButton(_("Undo"))
        self.undo_button.setObjectName("annotation_undo")
        self.undo_button.clicked.connect(self.undo)
        self.redo_button = QPushButton(_("Redo"))
        self.redo_button.setObjectName("annotation_redo")
        self.redo_button.clicked.connect(self.redo)
        self.clear_button = QPushButton(_("Clear"))
        self.clear_button.setObjectName("annotation_clear")
        self.clear_button.clicked.connect(lambda: self.apply(Annotations()))
        for button in (self.undo_button, self.redo_button, self.clear_button):
            row.addWidget(button)
        layout.addLayout(row)
        layout.addWidget(self.canvas, 1)

        bottom = QHBoxLayout()
        self.hint = QLabel(_("Draw on the picture. Numbered boxes and markers are listed for the model, so you can "
                             "ask “what is 2?”. Blur and pixelate are burned in before anything is sent."))
        self.hint.setObjectName("annotation_hint")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("QLabel { color: #5f6368; }")
        bottom.addWidget(self.hint, 1)
        cancel = QPushButton(_("Cancel"))
        cancel.setObjectName("annotation_cancel")
        cancel.clicked.connect(self.reject)
        self.done_button = QPushButton(_("Done"))
        self.done_button.setObjectName("annotation_done")
        self.done_button.setDefault(True)
        self.done_button.clicked.connect(self.accept)
        bottom.addWidget(cancel)
        bottom.addWidget(self.done_button)
        layout.addLayout(bottom)

        QShortcut(QKeySequence.StandardKey.Undo, self, self.undo)
        QShortcut(QKeySequence.StandardKey.Redo, self, self.redo)
        QShortcut(QKeySequence("Ctrl+Y"), self, self.redo)
        QShortcut(QKeySequence(Qt.Key.Key_Delete), self, self.delete_selected)
        QShortcut(QKeySequence(Qt.Key.Key_Backspace), self, self.delete_selected)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.accept)
        self.set_tool(Tool.ARROW)
        self._update_buttons()

    # -- state ----------------------------------------------------------------------------------------------
    @property
    def annotations(self) -> Annotations:
        """The drawings as they stand."""
        return self.canvas.annotations

    def set_tool(self, tool: str) -> None:
        """Choose the tool (its key does the same)."""
        self.canvas.tool = tool
        self.canvas.selected = None
        self.tool_actions[tool].setChecked(True)
        self.canvas.setCursor(Qt.CursorShape.ArrowCursor if tool == SELECT else Qt.CursorShape.CrossCursor)
        self.canvas.update()

    def set_colour(self, rgb: RGB) -> None:
        """The colour of the next shapes (and of the selected one)."""
        self.canvas.colour = rgb
        selected = self.canvas.selected
        if selected is not None:
            self.apply(self.annotations.replace(selected, replace(self.annotations.shapes[selected], colour=rgb)),
                       keep_selection=True)

    def apply(self, annotations: Annotations, *, keep_selection: bool = False) -> None:
        """One step: the new drawings, undoable."""
        if annotations == self.annotations:
            return
        self._undo.append(self.annotations)
        self._redo.clear()
        self.canvas.set_annotations(annotations, selected=self.canvas.selected if keep_selection else None)
        self._update_buttons()

    def undo(self) -> None:
        """Take back the last step."""
        if self._undo:
            self._redo.append(self.annotations)
            self.canvas.set_annotations(self._undo.pop())
            self._update_buttons()

    def redo(self) -> None:
        """Do again what was undone."""
        if self._redo:
            self._undo.append(self.annotations)
            self.canvas.set_annotations(self._redo.pop())
            self._update_buttons()

    def delete_selected(self) -> None:
        """Remove the selected shape."""
        if self.canvas.selected is not None:
            self.apply(self.annotations.remove(self.canvas.selected))

    def _update_buttons(self) -> None:
        self.undo_button.setEnabled(bool(self._undo))
        self.redo_button.setEnabled(bool(self._redo))
        self.clear_button.setEnabled(not self.annotations.empty)

    # -- dialogs without a nested event loop ---------------------------------------------------------------------
    def _ask_text(self, x: float, y: float) -> None:
        dialog = QInputDialog(self)
        dialog.setObjectName("annotation_text_dialog")
        dialog.setWindowTitle(_("Text"))
        dialog.setLabelText(_("Text to put on the picture:"))
        dialog.setOption(QInputDialog.InputDialogOption.UsePlainTextEditForTextInput)

        def done(text: str) -> None:
            if text.strip():
                self.apply(self.annotations.add(Shape(Tool.TEXT, ((x, y),), self.canvas.colour, self.canvas.stroke,
                                                      text=text.strip())))

        dialog.textValueSelected.connect(done)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _choose_colour(self) -> None:
        dialog = QColorDialog(QColor(*self.canvas.colour), self)
        dialog.setObjectName("annotation_colour_dialog")
        dialog.colorSelected.connect(lambda colour: self.set_colour((colour.red(), colour.green(), colour.blue())))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def accept(self) -> None:
        """Done: hand the drawings on."""
        self.edited.emit(self.annotations)
        super().accept()


def colour_setting(value: str) -> RGB:
    """A "#rrggbb" setting as a colour (red when it is not one)."""
    text = value.strip().lstrip("#")
    try:
        return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)) if len(text) == 6 else (230, 40, 40)
    except ValueError:
        return (230, 40, 40)


async def annotate(picture: Image.Image, annotations: Annotations | None, settings: SettingsStore, *,
                   title: str = "", parent: QWidget | None = None) -> Annotations | None:
    """Open the editor on `picture` (sized to the screen, without a nested event loop); the drawings when the user
    presses Done, None when they cancel."""
    editor = AnnotationEditor(picture, annotations, colour=colour_setting(settings.get("annotations.colour")),
                              width=float(settings.get("annotations.width")), title=title, parent=parent)
    screen = (parent.screen() if parent is not None else None) or editor.screen()
    available = screen.availableGeometry()
    wanted = QSize(picture.width + 40, picture.height + 150)
    editor.resize(wanted.boundedTo(QSize(int(available.width() * 0.92), int(available.height() * 0.92)))
                  .expandedTo(QSize(720, 480)))
    editor.move(available.center() - editor.rect().center())
    editor.canvas.setFocus()
    editor.activateWindow()
    drawn: Annotations | None = await dialog_value(editor, editor.edited)
    return drawn
