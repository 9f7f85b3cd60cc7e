"""TeX math to readable rich text for QTextBrowser: Unicode symbols, <sup>/<sub>, fractions.

QTextBrowser has no math engine and WebEngine is out (see docs/adr/002-math-rendering.md): common
notation becomes Unicode with superscripts and subscripts; anything we do not understand is kept
as TeX source, so nothing the model wrote is lost.
"""

from __future__ import annotations

import html
import re

_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν",
    "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "φ", "varphi": "φ",
    "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ",
    "Pi": "Π", "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    "times": "×", "cdot": "·", "div": "÷", "pm": "±", "mp": "∓", "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥",
    "neq": "≠", "ne": "≠", "approx": "≈", "equiv": "≡", "sim": "∼", "simeq": "≃", "propto": "∝",
    "infty": "∞", "partial": "∂", "nabla": "∇", "sum": "∑", "prod": "∏", "int": "∫", "oint": "∮",
    "in": "∈", "notin": "∉", "subset": "⊂", "subseteq": "⊆", "supset": "⊃", "supseteq": "⊇", "cup": "∪",
    "cap": "∩", "emptyset": "∅", "forall": "∀", "exists": "∃", "neg": "¬", "land": "∧", "lor": "∨",
    "to": "→", "rightarrow": "→", "leftarrow": "←", "Rightarrow": "⇒", "Leftarrow": "⇐", "iff": "⇔",
    "leftrightarrow": "↔", "mapsto": "↦", "ldots": "…", "cdots": "⋯", "dots": "…", "circ": "∘",
    "degree": "°", "angle": "∠", "perp": "⊥", "parallel": "∥", "langle": "⟨", "rangle": "⟩",
    "quad": "\u2003", "qquad": "\u2003\u2003", ",": "\u2009", ";": "\u2005", "!": "", " ": " ",
    "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉", "prime": "′", "star": "⋆", "ast": "∗",
    "{": "{", "}": "}", "%": "%", "$": "$", "&": "&", "#": "#", "_": "_",
    "sin": "sin", "cos": "cos", "tan": "tan", "log": "log", "ln": "ln", "exp": "exp", "lim": "lim",
    "max": "max", "min": "min", "det": "det", "arg": "arg",
}
_BLACKBOARD = {"R": "ℝ", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "C": "ℂ", "P": "ℙ"}
_IGNORED = {"left", "right", "big", "Big", "bigg", "Bigg", "displaystyle", "limits", "nolimits"}
_TEXT_COMMANDS = {"text", "mathrm", "textrm", "operatorname", "mathit", "textit", "mathbf", "textbf", "boldsymbol"}
_COMMAND = re.compile(r"\\([A-Za-z]+|.)")


class _Unsupported(Exception):
    pass


class _Reader:
    def __init__(self, source: str) -> None:
        self.s = source
        self.i = 0

    def group(self) -> str:
        """The next argument: a {braced group} or one token, rendered."""
        self.skip_space()
        if self.i >= len(self.s):
            return ""
        if self.s[self.i] == "{":
            depth, start = 0, self.i
            while self.i < len(self.s):
                ch = self.s[self.i]
                if ch == "\\":
                    self.i += 2
                    continue
                depth += (ch == "{") - (ch == "}")
                self.i += 1
                if depth == 0:
                    return render_tex(self.s[start + 1:self.i - 1])
            raise _Unsupported
        if self.s[self.i] == "\\":
            match = _COMMAND.match(self.s, self.i)
            assert match is not None
            self.i = match.end()
            return _command(match.group(1), self)
        self.i += 1
        return html.escape(self.s[self.i - 1])

    def raw_group(self) -> str:
        """The next {braced group} as source text."""
        self.skip_space()
        if self.i < len(self.s) and self.s[self.i] == "{":
            end = self.s.find("}", self.i)
            if end < 0:
                raise _Unsupported
            text, self.i = self.s[self.i + 1:end], end + 1
            return text
        self.i += 1
        return self.s[self.i - 1:self.i]

    def skip_space(self) -> None:
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1


def _command(name: str, reader: _Reader) -> str:
    if name in _SYMBOLS:
        return html.escape(_SYMBOLS[name])
    if name in _IGNORED:
        return ""
    if name == "frac" or name == "dfrac" or name == "tfrac":
        num, den = reader.group(), reader.group()
        return f"({num})⁄({den})" if len(num) > 1 or len(den) > 1 else f"{num}⁄{den}"
    if name == "sqrt":
        inner = reader.group()
        return f"√({inner})" if len(inner) > 1 else f"√{inner}"
    if name in _TEXT_COMMANDS:
        inner = reader.group()
        if name in ("mathbf", "textbf", "boldsymbol"):
            return f"<b>{inner}</b>"
        return f'<span style="font-style:normal">{inner}</span>'
    if name == "mathbb":
        raw = reader.raw_group()
        return "".join(_BLACKBOARD.get(c, c) for c in raw)
    if name in ("hat", "bar", "vec", "tilde", "dot", "overline"):
        marks = {"hat": "\u0302", "bar": "\u0304", "vec": "\u20d7", "tilde": "\u0303", "dot": "\u0307",
                 "overline": "\u0305"}
        return reader.group() + marks[name]
    raise _Unsupported


def render_tex(source: str) -> str:
    """TeX → rich text; raises _Unsupported for constructs it cannot show faithfully."""
    reader = _Reader(source)
    out: list[str] = []
    while reader.i < len(source):
        ch = source[reader.i]
        if ch == "\\":
            match = _COMMAND.match(source, reader.i)
            assert match is not None
            if match.group(1) in ("begin", "end", "\\"):
                raise _Unsupported
            reader.i = match.end()
            out.append(_command(match.group(1), reader))
        elif ch in "^_":
            reader.i += 1
            tag = "sup" if ch == "^" else "sub"
            out.append(f"<{tag}>{reader.group()}</{tag}>")
        elif ch in "{}":
            reader.i += 1
        elif ch == "&":
            raise _Unsupported
        else:
            reader.i += 1
            out.append(html.escape(ch))
    return "".join(out)


def math_html(source: str, display: bool) -> str:
    """HTML for one math span or block: rendered if we can, otherwise the TeX source in monospace."""
    try:
        body = f'<span style="font-family:serif; font-style:italic">{render_tex(source.strip())}</span>'
    except _Unsupported:
        body = f'<code>{html.escape(source.strip())}</code>'
    if display:
        return f'<p align="center">{body}</p>\n'
    return body
