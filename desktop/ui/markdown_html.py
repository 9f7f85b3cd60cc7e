"""Markdown answers to the HTML subset QTextBrowser renders: tables, code highlighted by Pygments
(inline styles, since QTextDocument ignores class selectors), math via `math_text`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from desktop.i18n import _
from desktop.ui.math_text import math_html

COPY_CODE_SCHEME = "copy-code"  # `copy-code:N` links copy the answer's Nth code block
_CODE_BACKGROUND = "#f4f5f7"
# The block stays light in every palette (Pygments' default colours are made for a light background),
# so its uncoloured text and its Copy link must be dark in every palette too.
_CODE_TEXT = "#202124"
_COPY_LINK = "#1a5fb4"
# Translucent, so the span reads on light and dark palettes alike while its text keeps the palette's colour.
_INLINE_CODE_STYLE = "font-family:monospace; background-color:rgba(128, 128, 128, 0.2)"
# `\( … \)` and `\[ … \]` are common in GLM answers; markdown would eat their backslashes.
_BRACKET_MATH = re.compile(r"\\\[(.+?)\\\]|\\\((.+?)\\\)", re.DOTALL)
_CODE_SPLIT = re.compile(r"(```.*?(?:```|$)|`[^`\n]*`)", re.DOTALL)


@dataclass(frozen=True)
class RenderedAnswer:
    """An answer as HTML, and the source of each of its code blocks in order (what each block's Copy copies)."""

    html: str
    code_blocks: tuple[str, ...]


def _highlight(code: str, lang: str, index: int, enabled: bool = True) -> str:
    from pygments import highlight
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(lang) if lang else None
    except ClassNotFound:
        lexer = None
    if lexer is None or not enabled or len(code) > 200_000:
        body = html.escape(code)
    else:
        body = highlight(code, lexer, _formatter()).strip()
        body = body.removeprefix('<div class="highlight"><pre>').removesuffix("</pre></div>")
        body = re.sub(r'^<div[^>]*><pre[^>]*>', "", body).removesuffix("</pre></div>")
    return _code_block(body, lang, index)


def _code_block(body_html: str, lang: str, index: int) -> str:
    header = (f'<tr><td style="padding:6px 8px 0px 8px; color:#80868b; font-size:small">{html.escape(lang)}</td>'
              f'<td align="right" style="padding:6px 8px 0px 8px; font-size:small">'
              f'<a href="{COPY_CODE_SCHEME}:{index}" style="color:{_COPY_LINK}">{html.escape(_("Copy"))}</a></td></tr>')
    return (f'<table width="100%" cellpadding="8" cellspacing="0" style="background-color:{_CODE_BACKGROUND}; '
            f'margin-top:6px; margin-bottom:6px">{header}<tr><td colspan="2">'
            f'<pre style="font-family:monospace; margin:0; color:{_CODE_TEXT}">{body_html}</pre></td></tr></table>')


def _render_code_inline(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    return f'<code style="{_INLINE_CODE_STYLE}">{html.escape(tokens[idx].content)}</code>'


def _render_table_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    return ('<table border="1" cellspacing="0" cellpadding="5" '
            'style="border-collapse: collapse; border-color: #dadce0; margin-top: 6px; margin-bottom: 6px">')


def _render_fence(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    lang = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
    blocks: list[str] = env.setdefault("code_blocks", [])
    # The newline before the closing fence belongs to the fence: pasted into a terminal it would run the command.
    blocks.append(token.content.removesuffix("\n"))
    return _highlight(token.content, lang, len(blocks) - 1, enabled=not env.get("plain_code", False))


@lru_cache(maxsize=1)
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(noclasses=True, nowrap=True, style="default")


@lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark", {"html": False, "breaks": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("code_block", _render_fence)
    md.add_render_rule("code_inline", _render_code_inline)
    md.add_render_rule("table_open", _render_table_open)
    md.use(dollarmath_plugin, allow_space=True, allow_digits=False, double_inline=True,
           renderer=lambda content, opts: math_html(content, bool(opts.get("display_mode"))))
    return md


def _brackets_to_dollars(text: str) -> str:
    """Rewrite `\\( \\)` / `\\[ \\]` math as `$ $` / `$$ $$`, leaving code untouched."""
    if "\\(" not in text and "\\[" not in text:
        return text
    pieces = _CODE_SPLIT.split(text)
    for index in range(0, len(pieces), 2):
        pieces[index] = _BRACKET_MATH.sub(
            lambda m: f"$${m.group(1)}$$" if m.group(1) is not None else f"${m.group(2)}$", pieces[index])
    return "".join(pieces)


def prepare() -> None:
    """Import the markdown and highlighting machinery now (from a worker thread), not mid-answer."""
    render_markdown("# x\n\n*a* $x^2$\n\n| a |\n|---|\n| 1 |\n\n```python\nx = 1\n```\n\n```bash\nls\n```\n")
    from pygments.lexers import get_lexer_by_name

    for name in ("javascript", "json", "c", "cpp", "java", "rust", "go", "sql", "yaml", "html", "css"):
        get_lexer_by_name(name)


def render_answer(text: str, *, highlight: bool = True) -> RenderedAnswer:
    """Markdown answer text → HTML for QTextBrowser, with its code blocks' sources; `highlight=False` leaves
    code uncoloured (cheap, for the still-growing tail of a streaming answer, which is re-rendered many times)."""
    env: dict[str, Any] = {"plain_code": not highlight, "code_blocks": []}
    rendered: str = _markdown().render(_brackets_to_dollars(text), env)
    return RenderedAnswer(rendered, tuple(env["code_blocks"]))


def render_markdown(text: str, *, highlight: bool = True) -> str:
    """Markdown answer text → HTML for QTextBrowser (see `render_answer`)."""
    return render_answer(text, highlight=highlight).html


def split_stable(text: str) -> int:
    """Length of the prefix of a streaming answer that can no longer change its rendering.

    That is everything up to the last blank line outside a code fence or a $$ block; the rest (the
    tail) is re-rendered on each repaint while it grows.
    """
    stable = 0
    in_fence = False
    in_math = False
    pos = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
        elif not in_fence and stripped.startswith("$$") and not (len(stripped) > 2 and stripped.endswith("$$")):
            in_math = not in_math
        pos += len(line)
        if not stripped and not in_fence and not in_math and line.endswith("\n"):
            stable = pos
    return stable
