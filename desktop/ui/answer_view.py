"""Read-only rich-text views that grow with their content, and a streaming markdown answer view.

A streaming answer is rendered in two parts: the stable prefix (everything before the last blank
line outside code fences) and the tail that is still growing. Each repaint re-renders the tail and
at most one bounded segment of the prefix, so its cost does not grow with the answer and a
20k-token answer never stalls the UI.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QSizePolicy, QTextBrowser, QVBoxLayout, QWidget

from desktop.ui.markdown_html import COPY_CODE_SCHEME, render_answer, split_stable


class AutoHeightBrowser(QTextBrowser):
    """A QTextBrowser without its own scroll bar: as tall as its document."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        # Links are followed by `_follow`: a code block's Copy link is not a page to open.
        self.setOpenLinks(False)
        self.anchorClicked.connect(self._follow)
        self.code_blocks: tuple[str, ...] = ()
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
        self.setHtml(answer.html)

    def _follow(self, url: QUrl) -> None:
        if url.scheme() == COPY_CODE_SCHEME:
            index = int(url.path()) if url.path().isdigit() else -1
            if 0 <= index < len(self.code_blocks):
                QGuiApplication.clipboard().setText(self.code_blocks[index])
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
        self._tail = AutoHeightBrowser()
        self._tail.setObjectName("answer_tail")
        self._layout.addWidget(self._tail)
        self._source = ""
        self._stable_len = 0
        self._stable_source = ""

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
            segment = AutoHeightBrowser()
            segment.setObjectName("answer_segment")
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
