"""Read-only rich-text views that grow with their content, and a streaming markdown answer view.

A streaming answer is rendered in two parts: the stable prefix (everything before the last blank
line outside code fences) and the tail that is still growing. Each repaint re-renders the tail and
at most one bounded segment of the prefix, so its cost does not grow with the answer and a
20k-token answer never stalls the UI.

The `box N` placeholders a reply's grounding boxes leave in its text can be made links (`box:N`), so the
picture the boxes are drawn on and the text that names them point at each other on hover.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QGuiApplication, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QSizePolicy, QTextBrowser, QTextEdit, QVBoxLayout, QWidget

from desktop.ui.markdown_html import COPY_CODE_SCHEME, render_answer, split_stable

BOX_SCHEME = "box"  # `box:N` links stand for a reply's Nth grounding box
# A box placeholder as the answer's HTML has it: the inline code span `parser.describe_box` writes.
_BOX_PLACEHOLDER = re.compile(r"(<code\b[^>]*>)(box (\d+)(?::[^<]*)?)(</code>)")
_BOX_HIGHLIGHT = QColor(255, 45, 149, 70)


def link_boxes(html: str) -> str:
    """Make each `box N` placeholder in an answer's HTML a `box:N` link."""
    return _BOX_PLACEHOLDER.sub(
        lambda m: f'<a href="{BOX_SCHEME}:{m.group(3)}" style="text-decoration:none">{m.group(1)}{m.group(2)}'
                  f'{m.group(4)}</a>', html)


class AutoHeightBrowser(QTextBrowser):
    """A QTextBrowser without its own scroll bar: as tall as its document."""

    box_hovered = Signal(int)  # the pointer is on the link of box N (1-based); 0 when it leaves the link
    box_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        # Links are followed by `_follow`: a code block's Copy link is not a page to open.
        self.setOpenLinks(False)
        self.anchorClicked.connect(self._follow)
        self.highlighted.connect(self._hovered)
        self.code_blocks: tuple[str, ...] = ()
        self.box_links = False  # `box N` placeholders become `box:N` links
        self._marked_box = 0
        self.setFrameShape(QTextBrowser.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextBrowser { background: transparent; }")
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self.setFixedHeight(self._content_height())

    def show_markdown(self, markdown: str, *, highlight: bool = True) -> None:
        """Show `markdown`; each code block's Copy link copies that block's source."""
        answer = render_answer(markdown, highlight=highlight)
        self.code_blocks = answer.code_blocks
        self.setHtml(link_boxes(answer.html) if self.box_links else answer.html)
        if self._marked_box:
            self.mark_box(self._marked_box)

    def box_link_cursors(self, number: int) -> list[QTextCursor]:
        """A selection of each piece of text that links to box `number`."""
        href = f"{BOX_SCHEME}:{number}"
        found = []
        block = self.document().begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fragment = it.fragment()
                if fragment.isValid() and fragment.charFormat().anchorHref() == href:
                    cursor = QTextCursor(self.document())
                    cursor.setPosition(fragment.position())
                    cursor.setPosition(fragment.position() + fragment.length(), QTextCursor.MoveMode.KeepAnchor)
                    found.append(cursor)
                it += 1
            block = block.next()
        return found

    def mark_box(self, number: int) -> None:
        """Highlight and underline the text naming box `number` (0: none)."""
        self._marked_box = number
        selections = []
        if number and self.box_links:
            form = QTextCharFormat()
            form.setBackground(_BOX_HIGHLIGHT)
            form.setFontUnderline(True)
            for cursor in self.box_link_cursors(number):
                selection = QTextEdit.ExtraSelection()
                selection.cursor = cursor
                selection.format = form
                selections.append(selection)
        self.setExtraSelections(selections)

    @staticmethod
    def box_number(url: QUrl) -> int:
        """N of a `box:N` link; 0 for any other link."""
        if url.scheme() == BOX_SCHEME and url.path().isdigit():
            return int(url.path())
        return 0

    def _hovered(self, url: QUrl) -> None:
        if self.box_links:
            self.box_hovered.emit(self.box_number(url))

    def _follow(self, url: QUrl) -> None:
        if url.scheme() == COPY_CODE_SCHEME:
            index = int(url.path()) if url.path().isdigit() else -1
            if 0 <= index < len(self.code_blocks):
                QGuiApplication.clipboard().setText(self.code_blocks[index])
        elif url.scheme() == BOX_SCHEME:
            if self.box_number(url):
                self.box_clicked.emit(self.box_number(url))
        elif not url.isRelative():
            QDesktopServices.openUrl(url)

    def _content_height(self) -> int:
        margins = self.contentsMargins()
        return int(self.document().size().height()) + margins.top() + margins.bottom() + 2

    def _fit_height(self) -> None:
        height = self._content_height()
        if height != self.height():
            self.setFixedHeight(height)

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 - Qt override
        """Re-layout at the new width, then fit the height to it."""
        super().resizeEvent(event)
        self.document().setTextWidth(self.viewport().width())
        self._fit_height()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """Preferred size: any width, the document's height."""
        return QSize(super().sizeHint().width(), self._content_height())


class MarkdownView(QWidget):
    """Shows markdown text that may keep growing; call `show_text` as often as you like.

    The stable part lives in a few segment views of about `SEGMENT_CHARS` of source each (each
    rendered whole, so formatting is exactly a full render's); the growing tail has its own view.
    A repaint re-renders at most one segment and the tail.
    """

    box_hovered = Signal(int)  # the pointer is on the text naming box N (1-based); 0 when it leaves it
    box_clicked = Signal(int)

    SEGMENT_CHARS = 1200
    # A finished answer up to this size is joined into one view, so one selection spans it all
    # (rendering it once more costs a few milliseconds; beyond this it could be felt).
    JOIN_CHARS = 8000

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        self._segments: list[AutoHeightBrowser] = []
        self._segment_sources: list[str] = []
        self._box_links = False
        self._marked_box = 0
        self._tail = self._browser("answer_tail")
        self._layout.addWidget(self._tail)
        self._source = ""
        self._stable_len = 0
        self._stable_source = ""

    def _browser(self, name: str) -> AutoHeightBrowser:
        view = AutoHeightBrowser()
        view.setObjectName(name)
        view.box_links = self._box_links
        view.box_hovered.connect(self.box_hovered)
        view.box_clicked.connect(self.box_clicked)
        if self._marked_box:
            view.mark_box(self._marked_box)
        return view

    def set_box_links(self, enabled: bool) -> None:
        """Make the `box N` placeholders of the text shown from now on `box:N` links (a reply whose boxes are drawn)."""
        self._box_links = enabled
        for view in self.views():
            view.box_links = enabled

    def mark_box(self, number: int) -> None:
        """Highlight the text naming box `number` (0: none)."""
        if number == self._marked_box:
            return
        self._marked_box = number
        for view in self.views():
            view.mark_box(number)

    @property
    def marked_box(self) -> int:
        """The box whose text is highlighted (0: none)."""
        return self._marked_box

    def views(self) -> list[AutoHeightBrowser]:
        """The views the text is shown in, in order."""
        return [*self._segments, self._tail]

    def show_text(self, text: str) -> None:
        """Render `text`; if it extends what is shown, only the changed part is rendered."""
        if text == self._source:
            return
        if not text.startswith(self._stable_source):
            self._reset()
        # The stable prefix always ends outside code fences and math blocks, so only the rest is scanned.
        stable = self._stable_len + split_stable(text[self._stable_len:])
        if stable > self._stable_len:
            self._append_stable(text[self._stable_len:stable])
            self._stable_len = stable
            self._stable_source = text[:stable]
        tail = text[stable:]
        if tail:
            # A code block still streaming is shown plain; it is highlighted once, when it closes.
            self._tail.show_markdown(tail, highlight=False)
        else:
            self._tail.clear()
        self._tail.setVisible(bool(tail))
        self._source = text

    def finish(self) -> None:
        """The text is final: join a moderate answer into one view (one selection covers it all)."""
        if len(self._segments) + (0 if self._tail.isHidden() else 1) <= 1 or len(self._source) > self.JOIN_CHARS:
            return
        text = self._source
        self._reset()
        self._append_stable(text)
        self._stable_len = len(text)
        self._stable_source = text
        self._source = text

    def _append_stable(self, markdown: str) -> None:
        if self._segments and len(self._segment_sources[-1]) + len(markdown) <= self.SEGMENT_CHARS:
            self._segment_sources[-1] += markdown
        else:
            segment = self._browser("answer_segment")
            self._layout.insertWidget(len(self._segments), segment)
            self._segments.append(segment)
            self._segment_sources.append(markdown)
        self._segments[-1].show_markdown(self._segment_sources[-1])

    def _reset(self) -> None:
        for segment in self._segments:
            segment.deleteLater()
        self._segments.clear()
        self._segment_sources.clear()
        self._tail.clear()
        self._source = ""
        self._stable_len = 0
        self._stable_source = ""

    def toPlainText(self) -> str:  # noqa: N802 - mirrors QTextEdit's name
        """The text as shown (tests and accessibility)."""
        views = [*self._segments, self._tail]
        return "\n".join(v.toPlainText() for v in views if v.toPlainText())
