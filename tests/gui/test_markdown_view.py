"""The streaming markdown view: incremental rendering shows the same as a full render."""

from __future__ import annotations

from desktop.ui.answer_view import MarkdownView
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
