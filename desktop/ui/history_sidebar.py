"""The chat window's history sidebar: saved conversations grouped by day, search, rename, pin, delete
with undo.

It reads the history on worker threads (the store's reader methods open one connection per thread)
and writes only through the `HistoryWriter`'s thread. What the user does shows at once: the change
is kept as an *override* on top of what the store returned until a reload made after the write has
come back, so a reload that raced the write never shows the old state again. The writer tells the
sidebar after each write (`add_listener`, on its own thread, relayed here by a queued signal), and
the sidebar reloads what it shows at most four times a second, keeping the selection and the scroll
position. Conversations come `PAGE` at a time as the list is scrolled, so a history of 10,000 opens
as fast as one of ten; thumbnails are decoded off the UI thread and cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import html
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QDate,
    QEvent,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTime,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QImageReader,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPalette,
    QPixmap,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from desktop.assistant.history import HistoryWriter
from desktop.i18n import _
from desktop.store.errors import ConversationNotFound, NotAnExport
from desktop.store.history import HistoryStore
from desktop.store.records import ConversationSummary, Origin, SearchHit, StoredFile
from desktop.ui.message_widgets import short_model_name
from desktop.ui.notifier import Notifier
from desktop.ui.operations import run_async

log = logging.getLogger(__name__)

PAGE = 60  # conversations per fetch: more than a tall window shows
REFRESH_INTERVAL_MS = 250  # at most four reloads a second, however fast the writer writes
SEARCH_DELAY_MS = 150  # typing pauses this long before a search starts
SEARCH_LIMIT = 50
UNDO_MS = 10_000
THUMB_SIDE = 36
ROW_HEIGHT = 54
HEADING_HEIGHT = 28
SNIPPET_LINES = 2

SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 1
HEADING_ROLE = Qt.ItemDataRole.UserRole + 2
HIT_ROLE = Qt.ItemDataRole.UserRole + 3
SNIPPET_ROLE = Qt.ItemDataRole.UserRole + 4

_MUTED = QColor("#5f6368")
_HEADING = QColor("#80868b")
_SELECTED = QColor("#dbe6fb")
_HOVER = QColor("#eef1f5")
_MATCH_STYLE = "background-color:#fde293; font-weight:600;"

_STYLE = """
QFrame#history_sidebar { background: #f7f8fa; border-right: 1px solid #e1e4e8; }
QLineEdit#history_search { border: 1px solid #d5d9de; border-radius: 6px; padding: 5px 8px; background: #ffffff; }
QLineEdit#history_search:focus { border: 1px solid #1a73e8; }
QListView { background: transparent; border: none; outline: none; }
QScrollBar:vertical { background: transparent; width: 10px; margin: 2px; }
QScrollBar::handle:vertical { background: #c9ced4; border-radius: 3px; min-height: 32px; }
QScrollBar::handle:vertical:hover { background: #aab1b9; }
QScrollBar::add-line:vertical, QScrollBar::sub-line:vertical { height: 0; }
QScrollBar::add-page:vertical, QScrollBar::sub-page:vertical { background: transparent; }
QLabel#history_placeholder { color: #80868b; padding: 24px 16px; }
QLabel#history_results_count { color: #80868b; padding: 2px 14px; font-size: small; }
QFrame#history_undo_banner { background: #323639; border-radius: 6px; }
QLabel#history_undo_text { color: #ffffff; }
QPushButton#history_undo { color: #8ab4f8; background: transparent; border: none; font-weight: 600; padding: 2px 6px; }
QPushButton#history_undo:hover { color: #aecbfa; }
"""


# -- grouping -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ListRow:
    """One row of the list: a day heading, or a conversation."""

    heading: str = ""
    summary: ConversationSummary | None = None

    @property
    def key(self) -> str:
        """What the row stands for, to tell whether two lists have the same shape."""
        return self.summary.id if self.summary is not None else "#" + self.heading


def day_heading(day: date, today: date) -> str:
    """Today, Yesterday, a weekday within the last week, else the date."""
    if day == today:
        return _("Today")
    if day == today - timedelta(days=1):
        return _("Yesterday")
    locale = QLocale()
    if today - timedelta(days=7) < day < today:
        return locale.dayName(day.isoweekday(), QLocale.FormatType.LongFormat)
    when = QDate(day.year, day.month, day.day)
    if day.year == today.year:
        return locale.toString(when, _("MMMM d"))
    return locale.toString(when, _("MMMM d, yyyy"))


def list_rows(summaries: list[ConversationSummary], now: float) -> list[ListRow]:
    """The summaries (pinned first, then newest) with a heading before each group: Pinned, then each day."""
    today = datetime.fromtimestamp(now).date()
    rows: list[ListRow] = []
    last: str | None = None
    pinned = _("Pinned")
    days: dict[date, str] = {}
    for summary in summaries:
        if summary.pinned:
            heading = pinned
        else:
            day = datetime.fromtimestamp(summary.updated).date()
            heading = days.get(day) or days.setdefault(day, day_heading(day, today))
        if heading != last:
            rows.append(ListRow(heading=heading))
            last = heading
        rows.append(ListRow(summary=summary))
    return rows


def list_order(summary: ConversationSummary) -> tuple[bool, float]:
    """Where a conversation goes in the list (smaller first): pinned first, then the most recently changed."""
    return not summary.pinned, -summary.updated


def in_list_order(summaries: list[ConversationSummary]) -> list[ConversationSummary]:
    """The store's order."""
    return sorted(summaries, key=list_order)


_MARKUP = re.compile(r"\*\*|__|~~|`+|^#+\s|(?<=\s)#+\s")


def snippet_html(hit: SearchHit) -> str:
    """The hit's snippet as rich text, each match highlighted (Markdown's emphasis and code marks left out)."""
    return "".join(f'<span style="{_MATCH_STYLE}">{html.escape(text)}</span>' if match
                   else html.escape(_MARKUP.sub("", text)) for text, match in hit.parts())


def one_per_conversation(hits: list[SearchHit]) -> list[SearchHit]:
    """The first (newest) hit of each conversation: a conversation is listed once, opened at that message."""
    seen: set[str] = set()
    kept = []
    for hit in hits:
        if hit.conversation_id not in seen:
            seen.add(hit.conversation_id)
            kept.append(hit)
    return kept


def short_date(when: float, now: float) -> str:
    """A time today, else the date (with the year when it is not this year's)."""
    moment, today = datetime.fromtimestamp(when), datetime.fromtimestamp(now).date()
    locale = QLocale()
    if moment.date() == today:
        return locale.toString(QTime(moment.hour, moment.minute), QLocale.FormatType.ShortFormat)
    day = QDate(moment.year, moment.month, moment.day)
    return locale.toString(day, _("MMM d") if moment.year == today.year else _("MMM d, yyyy"))


def row_time(summary: ConversationSummary) -> str:
    """The time of day a conversation last changed (its heading says which day)."""
    moment = datetime.fromtimestamp(summary.updated)
    return QLocale().toString(QTime(moment.hour, moment.minute), QLocale.FormatType.ShortFormat)


# -- models ---------------------------------------------------------------------------------------------
class ConversationListModel(QAbstractListModel):
    """The conversations loaded so far, with their day headings; more are fetched as the view scrolls."""

    rename_requested = Signal(str, str)  # conversation id, new title

    def __init__(self, fetch_more: Callable[[], None], clock: Callable[[], float],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fetch_more = fetch_more
        self.clock = clock
        self.summaries: list[ConversationSummary] = []
        self._rows: list[ListRow] = []
        self.complete = True  # the last load reached the end of the history
        self.fetching = False

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        """Headings and conversations."""
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Title, heading, summary."""
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == HEADING_ROLE:
            return row.summary is None
        if row.summary is None:
            return row.heading if role == Qt.ItemDataRole.DisplayRole else None
        summary = row.summary
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return summary.title or _("Untitled conversation")
        if role == SUMMARY_ROLE:
            return summary
        if role == Qt.ItemDataRole.ToolTipRole:
            return summary.title
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        """Headings are not selectable; conversations can be renamed in place."""
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if self._rows[index.row()].summary is None:
            return Qt.ItemFlag.ItemIsEnabled
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEditable

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any,  # noqa: N802 - Qt override
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        """A title typed in place: the sidebar renames (through the writer) and updates the row."""
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        summary = self._rows[index.row()].summary
        title = " ".join(str(value).split())
        if summary is None or not title or title == summary.title:
            return False
        self.rename_requested.emit(summary.id, title)
        return True

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802 - Qt override
        """More conversations are in the history than loaded."""
        return not parent.isValid() and not self.complete and not self.fetching

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:  # noqa: N802 - Qt override
        """Load the next page (in the background)."""
        if not parent.isValid() and not self.complete and not self.fetching:
            self._fetch_more()

    # -- changing it ------------------------------------------------------------------------------------
    def show(self, summaries: list[ConversationSummary], complete: bool) -> None:
        """Show these conversations; rows that keep their place are updated in place (an editor stays open)."""
        rows = list_rows(summaries, self.clock())
        self.complete = complete
        self.summaries = summaries
        if [r.key for r in rows] == [r.key for r in self._rows]:
            self._rows = rows
            if rows:
                self.dataChanged.emit(self.index(0), self.index(len(rows) - 1))
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def append(self, summaries: list[ConversationSummary], complete: bool) -> None:
        """Add a page after what is loaded (grouping only ever adds rows at the end)."""
        known = {s.id for s in self.summaries}
        fresh = [s for s in summaries if s.id not in known]
        self.complete = complete
        if not fresh:
            return
        rows = list_rows([*self.summaries, *fresh], self.clock())
        first = len(self._rows)
        if [r.key for r in rows[:first]] != [r.key for r in self._rows]:
            self.show([*self.summaries, *fresh], complete)
            return
        self.beginInsertRows(QModelIndex(), first, len(rows) - 1)
        self.summaries = [*self.summaries, *fresh]
        self._rows = rows
        self.endInsertRows()

    def index_of(self, conversation_id: str) -> QModelIndex:
        """The row of a conversation, or an invalid index."""
        for number, row in enumerate(self._rows):
            if row.summary is not None and row.summary.id == conversation_id:
                return self.index(number)
        return QModelIndex()

    def summary(self, conversation_id: str) -> ConversationSummary | None:
        """A loaded conversation's summary."""
        return next((s for s in self.summaries if s.id == conversation_id), None)

    def headings(self) -> list[str]:
        """The headings shown, in order (for tests and the screenshot)."""
        return [r.heading for r in self._rows if r.summary is None]

    def rows_with_thumbnail(self, attachment_id: str) -> list[int]:
        """The rows showing this picture."""
        return [n for n, r in enumerate(self._rows) if r.summary is not None and r.summary.thumbnail is not None
                and r.summary.thumbnail.attachment_id == attachment_id]


class SearchResultsModel(QAbstractListModel):
    """The hits of the last search."""

    def __init__(self, clock: Callable[[], float], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.clock = clock
        self.hits: list[SearchHit] = []
        self._html: list[str] = []

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        """One row per hit."""
        return 0 if parent.isValid() else len(self.hits)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Title, the hit, its highlighted snippet."""
        if not index.isValid() or index.row() >= len(self.hits):
            return None
        hit = self.hits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return hit.title or _("Untitled conversation")
        if role == HIT_ROLE:
            return hit
        if role == SNIPPET_ROLE:
            return self._html[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return hit.title
        return None

    def show(self, hits: list[SearchHit]) -> None:
        """Show these hits."""
        self.beginResetModel()
        self.hits = hits
        self._html = [snippet_html(h) for h in hits]
        self.endResetModel()


# -- thumbnails -----------------------------------------------------------------------------------------
def decode_thumbnail(path: Path, side: int) -> QImage:
    """A `side`×`side` square from the middle of a picture file, decoded at about that size (worker thread)."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and size.width() > 0 and size.height() > 0:
        scale = max(side / size.width(), side / size.height())
        if scale < 1:
            reader.setScaledSize(QSize(max(side, round(size.width() * scale)), max(side, round(size.height() * scale))))
    image = reader.read()
    if image.isNull():
        raise OSError(reader.errorString())
    edge = min(image.width(), image.height())
    image = image.copy((image.width() - edge) // 2, (image.height() - edge) // 2, edge, edge)
    if edge != side:
        image = image.scaled(side, side, Qt.AspectRatioMode.IgnoreAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


class ThumbnailCache(QObject):
    """Thumbnails of the history's pictures, decoded in worker threads; the least recently used are dropped."""

    ready = Signal(str)  # attachment id

    def __init__(self, notifier: Notifier, side: int = THUMB_SIDE, capacity: int = 600,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._notifier = notifier
        self._side = side
        self._capacity = capacity
        self._pixmaps: OrderedDict[str, QPixmap | None] = OrderedDict()  # None: the file could not be read
        self._tasks: dict[str, asyncio.Task[QImage]] = {}

    def get(self, stored: StoredFile, ratio: float) -> QPixmap | None:
        """The thumbnail, or None while it is being decoded (then `ready` says when it is there)."""
        key = stored.attachment_id
        if key in self._pixmaps:
            self._pixmaps.move_to_end(key)
            return self._pixmaps[key]
        if key not in self._tasks:
            side = round(self._side * max(1.0, ratio))
            self._tasks[key] = run_async(
                asyncio.to_thread(decode_thumbnail, stored.path, side), notifier=self._notifier, owner=self,
                on_done=lambda image: self._decoded(key, image, ratio),
                on_error=lambda exc: self._failed(key, exc))
        return None

    def _decoded(self, key: str, image: QImage, ratio: float) -> None:
        self._tasks.pop(key, None)
        pixmap = QPixmap.fromImage(image)
        pixmap.setDevicePixelRatio(max(1.0, ratio))
        self._keep(key, pixmap)

    def _failed(self, key: str, error: BaseException) -> None:
        self._tasks.pop(key, None)
        log.info("No thumbnail for a history picture: %s", error)
        self._keep(key, None)

    def _keep(self, key: str, pixmap: QPixmap | None) -> None:
        self._pixmaps[key] = pixmap
        while len(self._pixmaps) > self._capacity:
            self._pixmaps.popitem(last=False)
        self.ready.emit(key)

    def cancel(self) -> None:
        """Stop decoding (the window is closing)."""
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()


# -- painting -------------------------------------------------------------------------------------------
def _rounded(painter: QPainter, rect: QRect, radius: float, colour: QColor) -> None:
    path = QPainterPath()
    path.addRoundedRect(rect.adjusted(0, 0, -1, -1), radius, radius)
    painter.fillPath(path, colour)


class ConversationDelegate(QStyledItemDelegate):
    """Paints a heading, or a conversation: thumbnail, title, model and time (a quick ask says so)."""

    def __init__(self, thumbnails: ThumbnailCache, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thumbnails = thumbnails

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        """Headings are shorter than conversations."""
        return QSize(option.rect.width(), HEADING_HEIGHT if index.data(HEADING_ROLE) else ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        """Draw one row."""
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = option.rect
        if index.data(HEADING_ROLE):
            font = QFont(option.font)
            font.setPointSizeF(font.pointSizeF() * 0.85)
            font.setWeight(QFont.Weight.DemiBold)
            painter.setFont(font)
            painter.setPen(_HEADING)
            painter.drawText(rect.adjusted(14, 8, -8, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             str(index.data()))
            painter.restore()
            return
        summary: ConversationSummary = index.data(SUMMARY_ROLE)
        state = option.state
        card = rect.adjusted(6, 1, -6, -1)
        if state & QStyle.StateFlag.State_Selected:
            _rounded(painter, card, 8, _SELECTED)
        elif state & QStyle.StateFlag.State_MouseOver:
            _rounded(painter, card, 8, _HOVER)
        thumb = QRect(card.left() + 8, card.top() + (card.height() - THUMB_SIDE) // 2, THUMB_SIDE, THUMB_SIDE)
        pixmap = None
        if summary.thumbnail is not None:
            widget = option.widget
            pixmap = self._thumbnails.get(summary.thumbnail, widget.devicePixelRatioF() if widget else 1.0)
        if pixmap is not None:
            path = QPainterPath()
            path.addRoundedRect(thumb, 6, 6)
            painter.setClipPath(path)
            painter.drawPixmap(thumb, pixmap)
            painter.setClipping(False)
            painter.setPen(QColor("#d9dde3"))
            painter.drawPath(path)
        else:
            _rounded(painter, thumb, 6, QColor("#e3e7ed"))
            letter = (summary.title.strip()[:1] or "·").upper()
            font = QFont(option.font)
            font.setWeight(QFont.Weight.DemiBold)
            painter.setFont(font)
            painter.setPen(QColor("#5f6368"))
            painter.drawText(thumb, Qt.AlignmentFlag.AlignCenter, letter)
        text_left = thumb.right() + 10
        text_rect = QRect(text_left, card.top() + 8, card.right() - text_left - 8, card.height() - 16)
        title_font = QFont(option.font)
        title_font.setWeight(QFont.Weight.Medium)
        painter.setFont(title_font)
        painter.setPen(option.palette.color(QPalette.ColorRole.Text))
        title_metrics = QFontMetrics(title_font)
        title = title_metrics.elidedText(str(index.data()), Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, title)
        detail_font = QFont(option.font)
        detail_font.setPointSizeF(detail_font.pointSizeF() * 0.85)
        painter.setFont(detail_font)
        painter.setPen(_MUTED)
        metrics = QFontMetrics(detail_font)
        when = row_time(summary)
        time_width = metrics.horizontalAdvance(when)
        detail_rect = QRect(text_rect.left(), text_rect.bottom() - metrics.height() + 1, text_rect.width(),
                            metrics.height())
        painter.drawText(detail_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, when)
        detail = short_model_name(summary.model) if summary.model else ""
        if summary.origin is Origin.QUICK_ASK:
            detail = _("Quick ask · {model}").format(model=detail) if detail else _("Quick ask")
        left = detail_rect.adjusted(0, 0, -(time_width + 10), 0)
        painter.drawText(left, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         metrics.elidedText(detail, Qt.TextElideMode.ElideRight, max(0, left.width())))
        painter.restore()

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,  # noqa: N802 - Qt override
                     index: QModelIndex | QPersistentModelIndex) -> QWidget:
        """Rename in place: a line edit over the title."""
        editor = QLineEdit(parent)
        editor.setObjectName("history_rename_editor")
        editor.setFrame(True)
        return editor

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:  # noqa: N802
        """Start from the title, all selected."""
        assert isinstance(editor, QLineEdit)
        editor.setText(str(index.data(Qt.ItemDataRole.EditRole)))
        editor.selectAll()

    def updateEditorGeometry(self, editor: QWidget, option: QStyleOptionViewItem,  # noqa: N802 - Qt override
                             index: QModelIndex | QPersistentModelIndex) -> None:
        """Over the title line."""
        rect = option.rect
        left = rect.left() + 6 + 8 + THUMB_SIDE + 6
        editor.setGeometry(QRect(left, rect.top() + 4, rect.right() - left - 8, editor.sizeHint().height()))


def _hit_fonts(base: QFont) -> tuple[QFont, QFont]:
    title = QFont(base)
    title.setWeight(QFont.Weight.DemiBold)
    detail = QFont(base)
    detail.setPointSizeF(detail.pointSizeF() * 0.88)
    return title, detail


class SearchHitDelegate(QStyledItemDelegate):
    """Paints a hit: the conversation's title and date, then the snippet with its matches highlighted."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        """The title's line and two of snippet."""
        title, detail = _hit_fonts(option.font)
        height = QFontMetrics(title).height() + 3 + SNIPPET_LINES * QFontMetrics(detail).lineSpacing() + 14
        return QSize(option.rect.width(), height)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        """Draw one hit."""
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = option.rect
        card = rect.adjusted(6, 1, -6, -1)
        state = option.state
        if state & QStyle.StateFlag.State_Selected:
            _rounded(painter, card, 8, _SELECTED)
        elif state & QStyle.StateFlag.State_MouseOver:
            _rounded(painter, card, 8, _HOVER)
        hit: SearchHit = index.data(HIT_ROLE)
        model = index.model()
        clock = model.clock if isinstance(model, SearchResultsModel) else time.time
        inner = card.adjusted(10, 6, -10, -6)
        title_font, detail_font = _hit_fonts(option.font)
        when = short_date(hit.created, clock())
        detail_metrics = QFontMetrics(detail_font)
        when_width = detail_metrics.horizontalAdvance(when)
        title_metrics = QFontMetrics(title_font)
        painter.setFont(title_font)
        painter.setPen(option.palette.color(QPalette.ColorRole.Text))
        title_rect = QRect(inner.left(), inner.top(), inner.width() - when_width - 8, title_metrics.height())
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         title_metrics.elidedText(str(index.data()), Qt.TextElideMode.ElideRight, title_rect.width()))
        painter.setFont(detail_font)
        painter.setPen(_MUTED)
        painter.drawText(QRect(inner.right() - when_width, inner.top(), when_width, title_metrics.height()),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, when)
        document = QTextDocument()
        document.setDefaultFont(detail_font)
        document.setDocumentMargin(0)
        document.setDefaultStyleSheet("body { color: #3c4043; }")
        document.setHtml(f"<body>{index.data(SNIPPET_ROLE)}</body>")
        document.setTextWidth(inner.width())
        snippet_top = inner.top() + title_metrics.height() + 3
        clip = QRect(0, 0, inner.width(), SNIPPET_LINES * detail_metrics.lineSpacing())
        painter.translate(inner.left(), snippet_top)
        document.drawContents(painter, clip)
        painter.restore()


# -- the sidebar ----------------------------------------------------------------------------------------
class _Relay(QObject):
    """Carries the writer thread's notices to the UI thread (a queued signal)."""

    changed = Signal()
    job_done = Signal(int)


class SearchField(QLineEdit):
    """The search box: Esc clears it (or, empty, hands the focus back) instead of hiding the window."""

    leave = Signal()

    def event(self, event: QEvent) -> bool:
        """Take Esc before the window's shortcut does."""
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) \
                and event.key() == Qt.Key.Key_Escape:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        """Esc clears; Esc on an empty field leaves it; Down goes to the results."""
        if event.key() == Qt.Key.Key_Escape:
            if self.text():
                self.clear()
            else:
                self.leave.emit()
            return
        super().keyPressEvent(event)


@dataclass
class _Override:
    """A change the user made that the store may not have yet, applied on top of every reload."""

    apply: Callable[[list[ConversationSummary]], list[ConversationSummary]]
    written_by: int | None = None  # the first reload generation sure to see it in the store


class HistorySidebar(QFrame):
    """Saved conversations by day, search, and Rename / Pin / Delete with undo, for the chat window."""

    open_requested = Signal(str, object)  # conversation id, message id (or None) to show
    renamed = Signal(str, str)  # conversation id, title
    deleted = Signal(str)  # conversation id (the window leaves it if it shows it)
    leave_search = Signal()  # Esc in an empty search field: back to the composer

    def __init__(self, writer: HistoryWriter, notifier: Notifier, *, clock: Callable[[], float] = time.time,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("history_sidebar")
        self.setStyleSheet(_STYLE)
        self.setMinimumWidth(220)
        self._writer = writer
        self._notifier = notifier
        self._clock = clock
        self._current: str | None = None
        self._overrides: dict[int, _Override] = {}
        self._next_op = 0
        self._generation = 0  # of list reloads; a page or a reload of an older one is dropped
        self._loaded = False
        self._stale = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._search_task: asyncio.Task[Any] | None = None
        self._search_generation = 0
        self._undo: tuple[ConversationSummary, dict[str, Any], int] | None = None

        self._relay = _Relay()
        self._relay.changed.connect(self._history_changed, Qt.ConnectionType.QueuedConnection)
        self._relay.job_done.connect(self._job_done, Qt.ConnectionType.QueuedConnection)
        self._remove_listener: Callable[[], None] | None = writer.add_listener(self._relay.changed.emit)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_INTERVAL_MS)
        self._refresh_timer.timeout.connect(self._refresh_now)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._search_now)
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.setInterval(UNDO_MS)
        self._undo_timer.timeout.connect(self._forget_undo)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 8)
        layout.setSpacing(6)
        self.search = SearchField()
        self.search.setObjectName("history_search")
        self.search.setPlaceholderText(_("Search conversations (Ctrl+K)"))
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._search_edited)
        self.search.returnPressed.connect(self._open_first_hit)
        self.search.leave.connect(self.leave_search)
        search_row = QHBoxLayout()
        search_row.setContentsMargins(10, 0, 10, 0)
        search_row.addWidget(self.search)
        layout.addLayout(search_row)

        self.thumbnails = ThumbnailCache(notifier, parent=self)
        self.model = ConversationListModel(self._fetch_more, clock, self)
        self.model.rename_requested.connect(self.rename)
        self.list = QListView()
        self.list.setObjectName("history_list")
        self.list.setModel(self.model)
        self.list.setItemDelegate(ConversationDelegate(self.thumbnails, self.list))
        self.list.setMouseTracking(True)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.clicked.connect(self._open_index)
        self.list.activated.connect(self._open_index)
        self.thumbnails.ready.connect(self._thumbnail_ready)

        self.results_model = SearchResultsModel(clock, self)
        self.results = QListView()
        self.results.setObjectName("history_results")
        self.results.setModel(self.results_model)
        self.results.setItemDelegate(SearchHitDelegate(self.results))
        self.results.setMouseTracking(True)
        self.results.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results.clicked.connect(self._open_hit)
        self.results.activated.connect(self._open_hit)

        self.placeholder = QLabel()
        self.placeholder.setObjectName("history_placeholder")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.stack = QStackedWidget()
        self.results_count = QLabel()
        self.results_count.setObjectName("history_results_count")
        self.results_page = QWidget()
        results_layout = QVBoxLayout(self.results_page)
        results_layout.setContentsMargins(0, 0, 0, 0)
        results_layout.setSpacing(2)
        results_layout.addWidget(self.results_count)
        results_layout.addWidget(self.results, 1)
        for page in (self.list, self.results_page, self.placeholder):
            self.stack.addWidget(page)
        layout.addWidget(self.stack, 1)

        self.undo_banner = QFrame()
        self.undo_banner.setObjectName("history_undo_banner")
        banner = QHBoxLayout(self.undo_banner)
        banner.setContentsMargins(10, 6, 6, 6)
        self.undo_text = QLabel()
        self.undo_text.setObjectName("history_undo_text")
        banner.addWidget(self.undo_text, 1)
        self.undo_button = QPushButton(_("Undo"))
        self.undo_button.setObjectName("history_undo")
        self.undo_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.undo_button.clicked.connect(self.undo)
        banner.addWidget(self.undo_button)
        banner_row = QHBoxLayout()
        banner_row.setContentsMargins(8, 0, 8, 0)
        banner_row.addWidget(self.undo_banner)
        layout.addLayout(banner_row)
        self.undo_banner.hide()

        self.rename_action = self._action("history_rename", _("Rename"), QKeySequence(Qt.Key.Key_F2),
                                          lambda: self._on_selected(self.start_rename))
        self.pin_action = self._action("history_pin", _("Pin"), QKeySequence("Ctrl+P"),
                                       lambda: self._on_selected(self.toggle_pin))
        self.delete_action = self._action("history_delete", _("Delete"), QKeySequence(QKeySequence.StandardKey.Delete),
                                          lambda: self._on_selected(self.delete))
        self.list.installEventFilter(self)
        self._show_placeholder(_("Opening the history…"))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """The list's keys (F2, Ctrl+P, Delete) also when its window is not the active one."""
        if watched is self.list and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) \
                and self.list.state() is not QAbstractItemView.State.EditingState:
            keys = QKeySequence(event.keyCombination())
            for action in (self.rename_action, self.pin_action, self.delete_action):
                if action.shortcut() == keys:
                    action.trigger()
                    return True
        return super().eventFilter(watched, event)

    def _action(self, name: str, text: str, keys: QKeySequence, slot: Callable[[], None]) -> QAction:
        action = QAction(text, self.list)
        action.setObjectName(name)
        action.setShortcut(keys)
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.triggered.connect(slot)
        self.list.addAction(action)
        return action

    # -- loading --------------------------------------------------------------------------------------
    def _store(self) -> HistoryStore | None:
        return self._writer.store

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        """Shown: load what changed while hidden."""
        super().showEvent(event)
        if not self._loaded or self._stale:
            self.reload()

    def reload(self) -> asyncio.Task[Any] | None:
        """Read again what the list shows (at least the first page), in the background."""
        store = self._store()
        if store is None:
            if self._writer.started and not self._writer.running:
                self._show_placeholder(_("The history could not be opened; this session's conversations are "
                                         "kept in memory only."))
            return None
        self._stale = False
        self._generation += 1
        generation = self._generation
        # What can be seen and a page more: a list scrolled far down keeps the rest as it was loaded
        # (changes come at the top: new answers, pins), so a reload stays as cheap as a page.
        bottom = self.list.indexAt(QPoint(1, max(0, self.list.viewport().height() - 1)))
        seen = bottom.row() + 1 if bottom.isValid() else self.model.rowCount()
        limit = max(PAGE, min(len(self.model.summaries), seen + PAGE))
        self.model.fetching = True
        task = run_async(asyncio.to_thread(store.list_conversations, limit, 0), notifier=self._notifier, owner=self,
                         on_done=lambda rows: self._reloaded(generation, rows, limit),
                         on_error=lambda exc: self._load_failed(generation, exc))
        self._track(task)
        return task

    def _reloaded(self, generation: int, rows: list[ConversationSummary], limit: int) -> None:
        if generation != self._generation:
            return  # a newer reload is on its way
        self.model.fetching = False
        self._loaded = True
        for op, override in list(self._overrides.items()):
            if override.written_by is not None and generation >= override.written_by:
                del self._overrides[op]
        complete = len(rows) < limit
        if not complete and len(self.model.summaries) > limit:
            fresh, last = {s.id for s in rows}, list_order(rows[-1])
            rows = rows + [s for s in self.model.summaries if s.id not in fresh and list_order(s) > last]
            complete = self.model.complete
        self._show(self._with_overrides(rows), complete)

    def _load_failed(self, generation: int, error: BaseException) -> None:
        if generation == self._generation:
            self.model.fetching = False
        log.info("The history list could not be read: %s", error)
        if not self.model.summaries:
            self._show_placeholder(_("The history could not be read: {error}").format(error=error))

    def _fetch_more(self) -> None:
        store = self._store()
        if store is None:
            return
        generation = self._generation
        offset = len(self.model.summaries)
        self.model.fetching = True

        def done(rows: list[ConversationSummary]) -> None:
            if generation != self._generation:
                return
            self.model.fetching = False
            self.model.append(self._with_overrides(rows), len(rows) < PAGE)

        self._track(run_async(asyncio.to_thread(store.list_conversations, PAGE, offset), notifier=self._notifier,
                              owner=self, on_done=done, on_error=lambda exc: self._load_failed(generation, exc)))

    def _with_overrides(self, rows: list[ConversationSummary]) -> list[ConversationSummary]:
        for override in self._overrides.values():
            rows = override.apply(rows)
        return rows

    def _show(self, summaries: list[ConversationSummary], complete: bool) -> None:
        """Show these conversations, keeping the scroll position and the current conversation selected."""
        bar = self.list.verticalScrollBar()
        position = bar.value()
        self.model.show(summaries, complete)
        if self.search.text().strip():
            return
        if not summaries:
            self._show_placeholder(_("No conversations yet. What you ask in the chat window or in a quick ask "
                                     "is kept here."))
            return
        self.stack.setCurrentWidget(self.list)
        self._select_current()
        bar.setValue(position)

    def _show_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self.stack.setCurrentWidget(self.placeholder)

    def _history_changed(self) -> None:
        """The writer wrote something: reload soon (at most every `REFRESH_INTERVAL_MS`)."""
        if not self.isVisible():
            self._stale = True
            return
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _refresh_now(self) -> None:
        self.reload()
        if self.search.text().strip():
            self._search_now()

    # -- the current conversation ----------------------------------------------------------------------
    def set_current(self, conversation_id: str | None) -> None:
        """Mark the conversation the window shows."""
        self._current = conversation_id
        self._select_current()

    def _select_current(self) -> None:
        index = self.model.index_of(self._current) if self._current else QModelIndex()
        selection = self.list.selectionModel()
        if index.isValid():
            if self.list.currentIndex() != index:
                selection.setCurrentIndex(index, selection.SelectionFlag.ClearAndSelect)
        elif selection.hasSelection() or self.list.currentIndex().isValid():
            selection.clear()  # no current row either: the keys act on nothing

    def _open_index(self, index: QModelIndex) -> None:
        summary = index.data(SUMMARY_ROLE)
        if isinstance(summary, ConversationSummary):
            self.open_requested.emit(summary.id, None)

    # -- rename, pin, delete, undo ---------------------------------------------------------------------
    def _on_selected(self, action: Callable[[str], object]) -> None:
        index = self.list.currentIndex()
        if not self.list.selectionModel().isSelected(index):
            return
        summary = index.data(SUMMARY_ROLE)
        if isinstance(summary, ConversationSummary):
            action(summary.id)

    def _context_menu(self, point: QPoint) -> None:
        index = self.list.indexAt(point)
        summary = index.data(SUMMARY_ROLE)
        if not isinstance(summary, ConversationSummary):
            return
        self.list.setCurrentIndex(index)
        self.pin_action.setText(_("Unpin") if summary.pinned else _("Pin"))
        menu = QMenu(self)
        menu.setObjectName("history_menu")
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        opening = menu.addAction(_("Open"))
        opening.triggered.connect(lambda: self.open_requested.emit(summary.id, None))
        for action in (self.rename_action, self.pin_action, self.delete_action):
            menu.addAction(action)
        menu.popup(self.list.viewport().mapToGlobal(point))

    def start_rename(self, conversation_id: str) -> None:
        """Edit the title in place (F2)."""
        index = self.model.index_of(conversation_id)
        if index.isValid():
            self.list.setCurrentIndex(index)
            self.list.edit(index)

    def rename(self, conversation_id: str, title: str) -> None:
        """Give a conversation a new title."""
        self._change(lambda s: dataclasses.replace(s, title=title) if s.id == conversation_id else s,
                     lambda store: store.rename(conversation_id, title))
        self.renamed.emit(conversation_id, title)

    def toggle_pin(self, conversation_id: str) -> None:
        """Pin a conversation (listed first, never pruned) or unpin it."""
        summary = self.model.summary(conversation_id)
        if summary is not None:
            self.set_pinned(conversation_id, not summary.pinned)

    def set_pinned(self, conversation_id: str, pinned: bool) -> None:
        """Pin or unpin a conversation."""
        self._change(lambda s: dataclasses.replace(s, pinned=pinned) if s.id == conversation_id else s,
                     lambda store: store.set_pinned(conversation_id, pinned), resort=True)

    def _change(self, each: Callable[[ConversationSummary], ConversationSummary],
                write: Callable[[HistoryStore], object], *, resort: bool = False) -> None:
        def apply(rows: list[ConversationSummary]) -> list[ConversationSummary]:
            changed = [each(s) for s in rows]
            return in_list_order(changed) if resort else changed

        def job(store: HistoryStore) -> None:
            # Deleted meanwhile (by the CLI, or a delete queued before): nothing to change.
            with contextlib.suppress(ConversationNotFound):
                write(store)
            self._relay.job_done.emit(op)

        op = self._override(apply)
        self._writer.run(job)

    def _override(self, apply: Callable[[list[ConversationSummary]], list[ConversationSummary]]) -> int:
        self._next_op += 1
        self._overrides[self._next_op] = _Override(apply)
        self._show(apply(self.model.summaries), self.model.complete)
        return self._next_op

    def _job_done(self, op: int) -> None:
        """The writer has done this change: the next reload reads it from the store."""
        override = self._overrides.get(op)
        if override is not None:
            override.written_by = self._generation + 1

    def delete(self, conversation_id: str) -> None:
        """Delete a conversation, with Undo offered for a while (its export is kept until then)."""
        summary = self.model.summary(conversation_id)
        if summary is None:
            return
        self._forget_undo()
        kept: dict[str, Any] = {}  # filled and read on the writer thread only, in the order of its jobs

        def job(store: HistoryStore) -> None:
            try:
                data = store.export_json(conversation_id)
            except ConversationNotFound:
                data = None
            if data is not None:
                for message in data.get("messages", []):
                    if message.get("state") in ("waiting", "streaming"):
                        message["state"] = "stopped"  # deleting it stopped its reply
                kept["data"] = data
                store.delete_conversation(conversation_id)
            self._relay.job_done.emit(op)

        op = self._override(lambda rows: [s for s in rows if s.id != conversation_id])
        self._writer.saved.discard(conversation_id)  # continued after all, it would be saved afresh
        self._writer.run(job)
        self._undo = (summary, kept, op)
        title = summary.title or _("Untitled conversation")
        if len(title) > 40:
            title = title[:39] + "…"
        self.undo_text.setText(_("Deleted “{title}”").format(title=title))
        self.undo_banner.show()
        self._undo_timer.start()
        self.deleted.emit(conversation_id)

    def undo(self) -> None:
        """Bring the last deleted conversation back, as it was (same id, pinned or not)."""
        if self._undo is None:
            return
        summary, kept, deleting = self._undo
        self._forget_undo()
        self._overrides.pop(deleting, None)

        def job(store: HistoryStore) -> None:
            data = kept.pop("data", None)
            if data is not None:
                try:
                    store.import_json(data)
                except NotAnExport as exc:  # cannot happen with our own export; told, not retried for ever
                    log.warning("The deleted conversation could not be restored: %s", exc)
            self._relay.job_done.emit(op)

        def restore(rows: list[ConversationSummary]) -> list[ConversationSummary]:
            return rows if any(s.id == summary.id for s in rows) else in_list_order([*rows, summary])

        op = self._override(restore)
        self._writer.run(job)

    def _forget_undo(self) -> None:
        self._undo_timer.stop()
        self.undo_banner.hide()
        self._undo = None

    # -- search ---------------------------------------------------------------------------------------
    def focus_search(self) -> None:
        """Ctrl+K: type a search."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _search_edited(self, text: str) -> None:
        if text.strip():
            self._search_timer.start()
            return
        self._search_timer.stop()
        self._search_generation += 1
        if self._search_task is not None:
            self._search_task.cancel()
            self._search_task = None
        self.results_model.show([])
        if self.model.summaries:
            self.stack.setCurrentWidget(self.list)
            self._select_current()
        elif self._loaded:
            self._show(self.model.summaries, self.model.complete)
        else:
            self._show_placeholder(_("Opening the history…"))

    def _search_now(self) -> asyncio.Task[Any] | None:
        query = self.search.text().strip()
        store = self._store()
        if not query or store is None:
            return None
        self._search_generation += 1
        generation = self._search_generation
        if self._search_task is not None:
            self._search_task.cancel()  # its thread finishes, but its answer is no longer wanted

        def done(hits: list[SearchHit]) -> None:
            if generation != self._search_generation:
                return
            self._search_task = None
            hits = one_per_conversation(hits)
            self.results_model.show(hits)
            if hits:
                self.results_count.setText(_("{count} conversations").format(count=len(hits)) if len(hits) > 1
                                           else _("1 conversation"))
                self.stack.setCurrentWidget(self.results_page)
                self.results.scrollToTop()
            else:
                self._show_placeholder(_("No conversation contains “{query}”.").format(query=query))

        def failed(error: BaseException) -> None:
            if generation == self._search_generation:
                self._search_task = None
                self._show_placeholder(_("The search failed: {error}").format(error=error))
            log.info("History search failed: %s", error)

        self._search_task = run_async(asyncio.to_thread(store.search, query, SEARCH_LIMIT), notifier=self._notifier,
                                      owner=self, on_done=done, on_error=failed)
        self._track(self._search_task)
        return self._search_task

    @property
    def showing_results(self) -> bool:
        """The search's hits are shown (not the list, nor a notice)."""
        return self.stack.currentWidget() is self.results_page

    @property
    def searching(self) -> bool:
        """A search is waiting for the typing to pause, or running."""
        return self._search_timer.isActive() or self._search_task is not None

    def _open_hit(self, index: QModelIndex) -> None:
        hit = index.data(HIT_ROLE)
        if isinstance(hit, SearchHit):
            self.open_requested.emit(hit.conversation_id, hit.message_id)

    def _open_first_hit(self) -> None:
        if self.showing_results and self.results_model.hits:
            index = self.results.currentIndex()
            self._open_hit(index if index.isValid() else self.results_model.index(0))

    # -- the rest -------------------------------------------------------------------------------------
    def _thumbnail_ready(self, attachment_id: str) -> None:
        for row in self.model.rows_with_thumbnail(attachment_id):
            index = self.model.index(row)
            self.list.update(index)

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def shutdown(self) -> None:
        """Stop listening to the writer and cancel what is loading (the window is closing)."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        for timer in (self._refresh_timer, self._search_timer, self._undo_timer):
            timer.stop()
        self.thumbnails.cancel()
        for task in list(self._tasks):
            task.cancel()
