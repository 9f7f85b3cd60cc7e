"""The streaming markdown view: incremental rendering shows the same as a full render."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QObject, QPoint, Qt, QUrl, Slot
from PySide6.QtGui import QColor, QDesktopServices, QFontInfo, QGuiApplication, QPalette, QTextCursor
from PySide6.QtTest import QTest

from desktop.ui.answer_view import AutoHeightBrowser, MarkdownView
from desktop.ui.markdown_html import render_markdown, split_stable

ANSWER = """# Result

The screen shows **an error**: `FileNotFoundError`.

1. Open the terminal
2. Run the command

```python
def main() -> None:
    print("hello")
```

| col | value |
|-----|-------|
| a   | 1     |

Math: $e^{i\\pi} + 1 = 0$ and \\(\\alpha \\leq \\beta\\).

$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$

Done."""


def test_streamed_rendering_equals_one_full_render(qtbot: object) -> None:
    streamed, full = MarkdownView(), MarkdownView()
    qtbot.addWidget(streamed)  # type: ignore[attr-defined]
    qtbot.addWidget(full)  # type: ignore[attr-defined]
    for end in range(1, len(ANSWER) + 1, 7):
        streamed.show_text(ANSWER[:end])
    streamed.show_text(ANSWER)
    full.show_text(ANSWER)
    normalise = lambda s: " ".join(s.split())  # noqa: E731
    assert normalise(streamed.toPlainText()) == normalise(full.toPlainText())
    text = streamed.toPlainText()
    assert "Result" in text and "FileNotFoundError" in text and 'print("hello")' in text
    assert "α ≤ β" in text and "∑" in text and "$" not in text


def test_code_is_highlighted_and_tables_render() -> None:
    html = render_markdown(ANSWER)
    assert "<table" in html and "color:" in html.lower()
    assert "font-weight: bold" in html  # pygments styles `def`


def test_unknown_tex_is_kept_as_source() -> None:
    html = render_markdown("$$\\begin{pmatrix}1 & 2\\end{pmatrix}$$")
    assert "\\begin{pmatrix}" in html


def test_stable_prefix_never_ends_inside_a_code_fence() -> None:
    text = "intro\n\n```\nline\n\nstill code\n"
    assert text[:split_stable(text)] == "intro\n\n"
    assert split_stable("a\n\nb\n\n") == len("a\n\nb\n\n")


def test_view_grows_with_content(qtbot: object) -> None:
    view = MarkdownView()
    qtbot.addWidget(view)  # type: ignore[attr-defined]
    view.resize(400, 50)
    view.show()
    qtbot.waitExposed(view)  # type: ignore[attr-defined]
    view.show_text("one line")
    qtbot.wait(10)  # type: ignore[attr-defined]
    small = view.sizeHint().height()
    view.show_text("one line\n\n" + "\n\n".join(f"paragraph {i}" for i in range(30)))
    qtbot.wait(10)  # type: ignore[attr-defined]
    assert view.sizeHint().height() > small * 5


# -- code: inline spans stand out, blocks stay readable, each block has its own Copy ------------------

LIGHT = ("#ffffff", "#202124")  # window, text
DARK = ("#202124", "#e8eaed")


def palette(window: str, text: str) -> QPalette:
    chosen = QPalette(QColor(window))
    for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Base):
        chosen.setColor(role, QColor(window))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text):
        chosen.setColor(role, QColor(text))
    return chosen


def contrast(a: QColor, b: QColor) -> float:
    """The WCAG contrast ratio of two colours (1 to 21; 4.5 is readable body text)."""

    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.fixture
def colours(request: pytest.FixtureRequest, qapp: Any) -> Iterator[tuple[str, str]]:
    """The application's palette for one test (a desktop's light or dark theme), put back after."""
    chosen: tuple[str, str] = request.param
    before = QGuiApplication.palette()
    QGuiApplication.setPalette(palette(*chosen))
    yield chosen
    QGuiApplication.setPalette(before)


def shown(qtbot: Any, text: str, *, finish: bool = True) -> MarkdownView:
    view = MarkdownView()
    view.setAutoFillBackground(True)  # as the conversation behind it does
    qtbot.addWidget(view)
    view.resize(520, 300)
    view.show()
    qtbot.waitExposed(view)
    view.show_text(text)
    if finish:
        view.finish()
    qtbot.wait(10)
    return view


def browsers(view: MarkdownView) -> list[AutoHeightBrowser]:
    """The views the answer is shown in, top to bottom."""
    return sorted((b for b in view.findChildren(AutoHeightBrowser) if b.isVisibleTo(view)), key=lambda b: b.y())


def rendered(view: MarkdownView, phrase: str) -> tuple[QColor, QColor, Any]:
    """(background as painted, text colour, char format) of `phrase` where the view shows it."""
    for browser in browsers(view):
        found = browser.document().find(phrase)
        if found.isNull():
            continue
        start, end = QTextCursor(found), QTextCursor(found)
        start.setPosition(found.selectionStart())
        end.setPosition(found.selectionEnd())
        first, last = browser.cursorRect(start), browser.cursorRect(end)
        picture = view.grab().toImage()
        counts: Counter[int] = Counter()
        for x in range(first.right() + 2, last.left() - 1):
            for y in range(first.top() + 1, first.bottom()):
                at = browser.viewport().mapTo(view, QPoint(x, y))
                counts[picture.pixel(at)] += 1
        inner = QTextCursor(found)
        inner.setPosition(found.selectionStart() + 1)
        fmt = inner.charFormat()
        text = fmt.foreground().color() if fmt.foreground().style() != Qt.BrushStyle.NoBrush \
            else browser.palette().color(QPalette.ColorRole.Text)
        return QColor.fromRgb(counts.most_common(1)[0][0]), text, fmt
    raise AssertionError(f"{phrase!r} is not shown")


@pytest.mark.parametrize("colours", [LIGHT, DARK], ids=["light", "dark"], indirect=True)
def test_inline_code_is_monospace_on_its_own_readable_background(qtbot: Any, colours: tuple[str, str]) -> None:
    view = shown(qtbot, "Run `git status --short` in the folder, then commit.")
    background, text, fmt = rendered(view, "status --short")
    page, _body_text, body = rendered(view, "in the folder")
    # THEN the code is set in a fixed-pitch font, unlike the sentence around it
    assert QFontInfo(fmt.font()).fixedPitch() and not QFontInfo(body.font()).fixedPitch()
    # AND it sits on a background of its own, which its text stays readable on
    assert contrast(background, page) >= 1.1, (background.name(), page.name())
    assert contrast(text, background) >= 4.5, (text.name(), background.name())


@pytest.mark.parametrize("colours", [LIGHT, DARK], ids=["light", "dark"], indirect=True)
@pytest.mark.parametrize("streaming", [False, True], ids=["final", "streaming tail"])
def test_code_blocks_are_readable_in_both_palettes(qtbot: Any, colours: tuple[str, str], streaming: bool) -> None:
    # GIVEN plain code (a language without a highlighter, or a block still streaming, is shown uncoloured)
    text = "Try:\n\n```bash\nsudo apt install ffm" if streaming else "Try:\n\n```text\nsudo apt install ffmpeg\n```\n"
    view = shown(qtbot, text, finish=not streaming)
    background, colour, _fmt = rendered(view, "apt install")
    assert contrast(colour, background) >= 4.5, (colour.name(), background.name())


TWO_BLOCKS = """Two steps.

```python
print('first')
```

Then, in a terminal:

```bash
ls -la /tmp
echo "done"  # <b>not</b> markup
```

That is all."""


def click_each_copy(view: MarkdownView) -> list[str]:
    """Click every code block's Copy link, top to bottom; what the clipboard held after each click."""
    held = []
    for browser in browsers(view):
        block = browser.document().begin()
        while block.isValid():
            fragments = block.begin()
            while not fragments.atEnd():
                fragment = fragments.fragment()
                if fragment.text() == "Copy" and fragment.charFormat().isAnchor():
                    cursor = QTextCursor(browser.document())
                    cursor.setPosition(fragment.position() + 2)
                    QGuiApplication.clipboard().setText("(nothing copied)")
                    QTest.mouseClick(browser.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                                     browser.cursorRect(cursor).center())
                    held.append(QGuiApplication.clipboard().text())
                fragments += 1
            block = block.next()
    return held


def test_each_code_block_copy_puts_exactly_its_source_on_the_clipboard(qtbot: Any) -> None:
    view = shown(qtbot, TWO_BLOCKS)
    assert click_each_copy(view) == ["print('first')", 'ls -la /tmp\necho "done"  # <b>not</b> markup']


def test_copy_works_while_the_answer_streams_in_several_segments(qtbot: Any) -> None:
    # GIVEN an answer still streaming, its blocks in different segment views (each renders on its own)
    view = shown(qtbot, "", finish=False)
    view.SEGMENT_CHARS = 40
    for end in range(1, len(TWO_BLOCKS) + 1, 9):
        view.show_text(TWO_BLOCKS[:end])
    view.show_text(TWO_BLOCKS)
    qtbot.wait(10)
    assert len(browsers(view)) > 2
    assert click_each_copy(view) == ["print('first')", 'ls -la /tmp\necho "done"  # <b>not</b> markup']


class _OpenedLinks(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url.toString())


def test_a_link_in_an_answer_still_opens_in_the_browser(qtbot: Any) -> None:
    opened = _OpenedLinks()
    QDesktopServices.setUrlHandler("https", opened, "open")
    try:
        view = shown(qtbot, "See [the docs](https://example.org/docs) and `code`.")
        [browser] = browsers(view)
        found = browser.document().find("the docs")
        cursor = QTextCursor(browser.document())
        cursor.setPosition(found.selectionStart() + 3)
        QTest.mouseClick(browser.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         browser.cursorRect(cursor).center())
        assert opened.urls == ["https://example.org/docs"]
        assert browser.toPlainText().startswith("See the docs")  # the answer stays where it is
    finally:
        QDesktopServices.unsetUrlHandler("https")
