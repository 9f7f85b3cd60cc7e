"""Markdown answers to the HTML subset QTextBrowser renders: tables, code highlighted by Pygments
(inline styles, since QTextDocument ignores class selectors), math via `math_text`.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

from desktop.ui.math_text import math_html

_CODE_BACKGROUND = "#f4f5f7"
# `\( … \)` and `\[ … \]` are common in GLM answers; markdown would eat their backslashes.
_BRACKET_MATH = re.compile(r"\\\[(.+?)\\\]|\\\((.+?)\\\)", re.DOTALL)
_CODE_SPLIT = re.compile(r"(```.*?(?:```|$)|`[^`\n]*`)", re.DOTALL)


def _highlight(code: str, lang: str, enabled: bool = True) -> str:
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
    return _code_block(body, lang)


def _code_block(body_html: str, lang: str) -> str:
    label = (f'<tr><td style="padding:6px 8px 0px 8px; color:#80868b; font-size:small">{html.escape(lang)}</td></tr>'
             if lang else "")
    return (f'<table width="100%" cellpadding="8" cellspacing="0" style="background-color:{_CODE_BACKGROUND}; '
            f'margin-top:6px; margin-bottom:6px">{label}<tr><td><pre style="font-family:monospace; margin:0">'
            f"{body_html}</pre></td></tr></table>")


def _render_table_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    return ('<table border="1" cellspacing="0" cellpadding="5" '
            'style="border-collapse: collapse; border-color: #dadce0; margin-top: 6px; margin-bottom: 6px">')


def _render_fence(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    lang = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
    return _highlight(token.content, lang, enabled=not env.get("plain_code", False))


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


def render_markdown(text: str, *, highlight: bool = True) -> str:
    """Markdown answer text → HTML for QTextBrowser; `highlight=False` leaves code uncoloured (cheap,
    for the still-growing tail of a streaming answer, which is re-rendered many times)."""
    rendered: str = _markdown().render(_brackets_to_dollars(text), {"plain_code": not highlight})
    return rendered


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
