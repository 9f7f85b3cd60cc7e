#!/usr/bin/env python3
"""The app's translation catalogs: every user-visible string, its translations, and the compiled files.

    python installers/translations.py update     # add new strings to each .po (empty), drop the gone ones
    python installers/translations.py compile    # .po → .mo (the files the app loads; committed)
    python installers/translations.py check      # exit 1 on a string without a translation or a broken one

The strings are found in the source itself (every `_("…")` call in desktop/, read with the ast module, so
no gettext tools are needed), plus the strings of Python's argparse that the command line's help and errors
show. Catalogs live in resources/locale/<language>/LC_MESSAGES/glmv-desktop.po, with the .mo beside it.
"""

from __future__ import annotations

import ast
import re
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "desktop"
LOCALES = ROOT / "resources" / "locale"
DOMAIN = "glmv-desktop"
LANGUAGES = ("zh_CN",)
# What argparse itself prints (Python 3.11's argparse.py): its help headings, usage line and errors.
ARGPARSE = (
    "usage: ", "positional arguments", "options", "show this help message and exit",
    "the following arguments are required: %s", "unrecognized arguments: %s", "expected one argument",
    "invalid choice: %(value)r (choose from %(choices)s)", "invalid %(type)s value: %(value)r",
    "%(prog)s: error: %(message)s\n", "show program's version number and exit", "not allowed with argument %s",
    "ignored explicit argument %r", "expected at most one argument", "expected at least one argument",
)
_PLACEHOLDER = re.compile(r"\{[^{}]*\}|%\(\w+\)\w|%[sdr]")


def _translated_calls(source: Path) -> list[tuple[Path, ast.Call, str | None]]:
    """Every `_()` call in `source`'s modules (each parsed once, cached): its file, the call, and its string
    (None when the argument is not a string literal)."""
    if source not in _CALLS:
        calls = []
        for path in sorted(source.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_":
                    literal = (node.args and isinstance(node.args[0], ast.Constant)
                               and isinstance(node.args[0].value, str))
                    calls.append((path, node, node.args[0].value if literal else None))
        _CALLS[source] = calls
    return _CALLS[source]


_CALLS: dict[Path, list[tuple[Path, ast.Call, str | None]]] = {}


def extract(source: Path = SOURCE) -> dict[str, list[str]]:
    """Every string given to `_()` in `source`, with where it is (path:line), in source order; then argparse's."""
    found: dict[str, list[str]] = {}
    for path, node, text in _translated_calls(source):
        if text is not None:
            found.setdefault(text, []).append(f"{_shown(path)}:{node.lineno}")
    for message in ARGPARSE:
        found.setdefault(message, []).append("argparse")
    return found


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def not_literal(source: Path = SOURCE) -> list[str]:
    """Calls of `_()` whose argument is not a string literal (they cannot be translated): path:line each."""
    return [f"{_shown(path)}:{node.lineno}" for path, node, text in _translated_calls(source) if text is None]


# -- .po files ---------------------------------------------------------------------------------------------------
def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    parts = escaped.split("\n")
    if len(parts) == 1:
        return f'"{escaped}"'
    lines = [part + "\\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return '""\n' + "\n".join(f'"{line}"' for line in lines)


def _unquote(lines: list[str]) -> str:
    text = "".join(line.strip()[1:-1] for line in lines)
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(m.group(1), m.group(0)), text)


def read_po(path: Path) -> dict[str, str]:
    """msgid → msgstr of a .po file (the header, msgid "", left out)."""
    entries: dict[str, str] = {}
    if not path.exists():
        return entries
    key: str | None = None
    current: list[str] = []
    msgid: list[str] = []
    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if line.startswith("msgid "):
            msgid, key = [line[6:]], "msgid"
            current = msgid
        elif line.startswith("msgstr "):
            msgstr = [line[7:]]
            current, key = msgstr, "msgstr"
        elif line.startswith('"') and key is not None:
            current.append(line)
        elif not line or line.startswith("#"):
            if key == "msgstr":
                source = _unquote(msgid)
                if source:
                    entries[source] = _unquote(current)
            key = None
    return entries


def write_po(path: Path, language: str, found: dict[str, list[str]], translated: dict[str, str]) -> None:
    """The catalog for `language`: every found string, in source order, with its translation (or empty)."""
    header = (f'msgid ""\nmsgstr ""\n"Project-Id-Version: {DOMAIN}\\n"\n"Language: {language}\\n"\n'
              '"MIME-Version: 1.0\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n'
              '"Content-Transfer-Encoding: 8bit\\n"\n"Plural-Forms: nplurals=1; plural=0;\\n"\n')
    blocks = [header]
    for message, places in found.items():
        where = " ".join(places[:4])
        blocks.append(f"#: {where}\nmsgid {_quote(message)}\nmsgstr {_quote(translated.get(message, ''))}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(blocks), encoding="utf-8", newline="\n")


# -- .mo files ---------------------------------------------------------------------------------------------------
def mo_bytes(language: str, translated: dict[str, str]) -> bytes:
    """A GNU .mo file of the non-empty translations (and the header that names its charset)."""
    header = f"Project-Id-Version: {DOMAIN}\nLanguage: {language}\nContent-Type: text/plain; charset=UTF-8\n"
    pairs = sorted([("", header), *((k, v) for k, v in translated.items() if v)], key=lambda kv: kv[0].encode())
    ids = [k.encode("utf-8") for k, _v in pairs]
    strs = [v.encode("utf-8") for _k, v in pairs]
    count = len(pairs)
    offset = 7 * 4 + 16 * count  # after the header and the two tables of (length, offset)
    table: list[int] = []
    for item in [*ids, *strs]:
        table += [len(item), offset]
        offset += len(item) + 1
    head = struct.pack("<7I", 0x950412DE, 0, count, 7 * 4, 7 * 4 + 8 * count, 0, 0)
    return head + struct.pack(f"<{4 * count}I", *table) + b"".join(item + b"\0" for item in [*ids, *strs])


def catalog(language: str) -> tuple[Path, Path]:
    """The .po and .mo of `language`."""
    folder = LOCALES / language / "LC_MESSAGES"
    return folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"


def problems(language: str, found: dict[str, list[str]] | None = None) -> list[str]:
    """What is wrong with `language`'s catalog: strings without a translation, placeholders that differ, a stale
    .mo, and `_()` calls that cannot be translated."""
    found = extract() if found is None else found
    po, mo = catalog(language)
    translated = read_po(po)
    wrong = [f"{where}: _() of something that is not a string literal" for where in not_literal()]
    for message, places in found.items():
        text = translated.get(message, "")
        if not text:
            wrong.append(f"{places[0]}: no {language} translation for {message!r}")
        elif sorted(_PLACEHOLDER.findall(text)) != sorted(_PLACEHOLDER.findall(message)):
            wrong.append(f"{places[0]}: the {language} translation of {message!r} has other placeholders: {text!r}")
    if not mo.exists() or mo.read_bytes() != mo_bytes(language, {k: v for k, v in translated.items() if k in found}):
        wrong.append(f"{mo.relative_to(ROOT)} is not compiled from {po.name}: run installers/translations.py compile")
    return wrong


def main(argv: list[str]) -> int:
    """update | compile | check."""
    if len(argv) != 1 or argv[0] not in ("update", "compile", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    found = extract()
    for language in LANGUAGES:
        po, mo = catalog(language)
        translated = read_po(po)
        if argv[0] == "update":
            write_po(po, language, found, translated)
        elif argv[0] == "compile":
            mo.write_bytes(mo_bytes(language, {k: v for k, v in translated.items() if k in found}))
        else:
            wrong = problems(language, found)
            for line in wrong:
                print(line, file=sys.stderr)
            if wrong:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
