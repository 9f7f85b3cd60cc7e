"""Text and code files for the model: their encoding recognised, their language named, their cost estimated.

A text file is sent inline, as text: code fenced with its language so the model reads it as code.
UTF-8 (with or without a BOM), UTF-16 (with a BOM, or recognised by its zero bytes) and GB18030
(Chinese files written by Windows tools) are recognised; anything with stray control bytes is not text.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import PurePath

from desktop.errors import UserFacingError
from desktop.i18n import _

MAX_TEXT_FILE_BYTES = 1024 * 1024  # about 250k tokens: more than any GLM-V context holds

# Suffix → the language name fenced code carries (Markdown's own names).
_LANGUAGES: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".ts": "typescript", ".tsx": "tsx", ".jsx": "jsx", ".java": "java", ".kt": "kotlin", ".kts": "kotlin",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp",
    ".cs": "csharp", ".go": "go", ".rs": "rust", ".rb": "ruby", ".php": "php", ".swift": "swift",
    ".m": "objectivec", ".mm": "objectivec", ".scala": "scala", ".lua": "lua", ".pl": "perl", ".r": "r",
    ".sh": "bash", ".bash": "bash", ".zsh": "bash", ".fish": "fish", ".ps1": "powershell", ".bat": "batch",
    ".sql": "sql", ".html": "html", ".htm": "html", ".xml": "xml", ".svg": "xml", ".css": "css",
    ".scss": "scss", ".json": "json", ".jsonl": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml",
    ".ini": "ini", ".cfg": "ini", ".conf": "ini", ".tex": "latex", ".dart": "dart", ".vue": "vue",
    ".dockerfile": "dockerfile", ".cmake": "cmake", ".gradle": "groovy", ".diff": "diff", ".patch": "diff",
}
_PROSE = {".md": "markdown", ".markdown": "markdown", ".csv": "csv", ".tsv": "tsv", ".txt": "", ".log": "",
          ".rst": "rst"}
_NAMED = {"dockerfile": "dockerfile", "makefile": "makefile", "cmakelists.txt": "cmake"}


class TextFileError(UserFacingError):
    """A file that cannot be sent as text."""


@dataclass(frozen=True)
class TextFile:
    """A decoded text file: its text, the encoding it was written in and its language ("" for prose)."""

    text: str
    encoding: str
    language: str
    fenced: bool  # code (and data) goes in a fence; Markdown and plain prose go as they are

    @property
    def lines(self) -> int:
        """How many lines it has."""
        return self.text.count("\n") + (1 if self.text and not self.text.endswith("\n") else 0)

    def for_model(self, name: str) -> str:
        """The text as the model gets it: its name, then the content (code fenced with its language)."""
        if not self.fenced:
            return _("File '{name}':").format(name=name) + f"\n\n{self.text.rstrip()}"
        fence = "```"
        while fence in self.text:  # a file that itself holds fences gets a longer one
            fence += "`"
        return _("File '{name}':").format(name=name) + f"\n\n{fence}{self.language}\n{self.text.rstrip()}\n{fence}"


def language_of(name: str) -> tuple[str, bool]:
    """The fence language for a file name and whether it is fenced at all (Markdown and .txt are not)."""
    path = PurePath(name)
    lower = path.name.lower()
    if lower in _NAMED:
        return _NAMED[lower], True
    suffix = path.suffix.lower()
    if suffix in _LANGUAGES:
        return _LANGUAGES[suffix], True
    if suffix in (".csv", ".tsv"):
        return _PROSE[suffix], True  # tables keep their columns inside a fence
    return _PROSE.get(suffix, ""), False


def _decode(data: bytes) -> tuple[str, str] | None:
    """The text and its encoding, or None if these bytes are not text."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(encoding), "UTF-16" if "16" in encoding else "UTF-8"
            except UnicodeDecodeError:
                return None
    head = data[:4096]
    if head and b"\x00" in head:
        # UTF-16 without a BOM: every other byte of ASCII text is zero.
        evens, odds = head[0::2].count(0), head[1::2].count(0)
        for zeros, encoding in ((odds, "utf-16-le"), (evens, "utf-16-be")):
            if zeros > len(head) // 4:
                try:
                    return data.decode(encoding), "UTF-16"
                except UnicodeDecodeError:
                    return None
        return None
    for encoding, label in (("utf-8", "UTF-8"), ("gb18030", "GB18030")):
        try:
            return data.decode(encoding), label
        except UnicodeDecodeError:
            continue
    return None


def _looks_like_text(text: str) -> bool:
    """Few control characters besides tab, newline, carriage return and form feed."""
    sample = text[:20000]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f\x1b")
    return controls <= max(2, len(sample) // 1000)


def decode_text(data: bytes, name: str) -> TextFile | None:
    """`data` as a text file, or None when it is not text (binary data)."""
    decoded = _decode(data)
    if decoded is None or not _looks_like_text(decoded[0]):
        return None
    text = decoded[0].replace("\r\n", "\n").replace("\r", "\n")
    language, fenced = language_of(name)
    return TextFile(text=text, encoding=decoded[1], language=language, fenced=fenced)


def read_text(data: bytes, name: str) -> TextFile:
    """`data` as a text file, or TextFileError saying why it cannot be sent as text."""
    if len(data) > MAX_TEXT_FILE_BYTES:
        raise TextFileError(
            _("'{name}' is {kb:,} KB of text; the limit is {limit:,} KB.").format(
                name=name, kb=len(data) // 1024, limit=MAX_TEXT_FILE_BYTES // 1024),
            _("Attach the part that matters (or several smaller files)."))
    found = decode_text(data, name)
    if found is None:
        raise TextFileError(_("'{name}' is not text in an encoding the app knows.").format(name=name),
                            _("Save it as UTF-8 (or UTF-16 / GB18030) and attach it again."))
    return found


def estimate_text_tokens(text: str) -> int:
    """About how many tokens GLM's tokenizer spends on `text`: ~4 characters of English per token,
    ~1.5 characters of Chinese (a rough figure for a budget, not a bill)."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return round(ascii_chars / 4 + (len(text) - ascii_chars) / 1.5)
