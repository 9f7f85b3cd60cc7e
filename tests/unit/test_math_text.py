"""TeX to readable rich text, with the source kept when it cannot be shown faithfully."""

from __future__ import annotations

import pytest

from desktop.ui.math_text import math_html


@pytest.mark.parametrize(("tex", "shown"), [
    (r"\alpha + \beta \leq \gamma", "α + β ≤ γ"),
    (r"x^2 + y_{i}", "x<sup>2</sup> + y<sub>i</sub>"),
    (r"\frac{a}{b}", "a⁄b"),
    (r"\frac{n(n+1)}{2}", "(n(n+1))⁄(2)"),
    (r"\sqrt{2}", "√2"),
    (r"\mathbb{R}^n", "ℝ<sup>n</sup>"),
    (r"\sum_{k=1}^{n} k", "∑<sub>k=1</sub><sup>n</sup> k"),
    (r"a < b", "a &lt; b"),
])
def test_common_notation(tex: str, shown: str) -> None:
    assert shown in math_html(tex, display=False)


def test_display_math_is_centred() -> None:
    assert math_html(r"E = mc^2", display=True).startswith('<p align="center">')


@pytest.mark.parametrize("tex", [r"\begin{pmatrix}1 & 2\end{pmatrix}", r"\unknowncommand{x}", r"\frac{a"])
def test_anything_else_is_kept_as_source(tex: str) -> None:
    html = math_html(tex, display=False)
    assert html.startswith("<code>") and "\\" in html
