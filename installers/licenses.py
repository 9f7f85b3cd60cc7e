"""Third-party notices for the installers (see docs/adr/006-license.md).

`runtime_distributions()` lists the distributions the app needs at run time, read from the installed
metadata of `glmv-desktop` (markers evaluated for this platform, the `dev` extra skipped).
`write_notices()` writes THIRD-PARTY-NOTICES.txt for a bundle: the project's license, then for each
bundled distribution its version, license, home page and the full text of every license, notice,
copying and authors file it ships; a section for the Python interpreter, one for Qt (LGPL-3.0, where
its source is, how to replace it), one for FFmpeg when PyAV is bundled (its license and configuration
as the bundled libavcodec reports them), and the texts of the GNU LGPL v3 and GPL v3.

Run it as a script in the environment that is being frozen:

    python installers/licenses.py OUT.txt [--exclude av ...]

Only the standard library is needed; `packaging` evaluates markers when it is installed, otherwise a
small evaluator of PEP 508 markers does.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import os
import platform
import re
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

__all__ = [
    "PROJECT_LICENSE",
    "PROJECT_NAME",
    "FFmpegBuild",
    "ffmpeg_build",
    "license_files",
    "license_of",
    "main",
    "marker_applies",
    "normalize",
    "runtime_distributions",
    "write_notices",
]

PROJECT_NAME = "GLM-V Desktop"
PROJECT_LICENSE = "Apache-2.0"
PROJECT_LICENSE_TITLE = "Apache License, Version 2.0"
ROOT_DISTRIBUTION = "glmv-desktop"

# The project's own offer of the copyleft components' source (ADR 006: each release publishes it).
SOURCE_OFFER = ("The same source archives are published with every GLM-V Desktop release, next to its\n"
                "  installers, for at least three years after that release.")

# Files whose text a distribution's notice reproduces (besides everything under .dist-info/licenses/).
_NOTICE_FILE = re.compile(r"^(licen[cs]e|copying|notice|authors|copyright)([._-].*)?$", re.IGNORECASE)
# Program files that happen to sit among license files (PyAV ships AUTHORS.py there).
_NOT_TEXT = {".py", ".pyc", ".pyi", ".pyd", ".so", ".dll", ".dylib", ".exe"}
# FFmpeg's GPL parts and the external libraries its configure lists as GPL (EXTERNAL_LIBRARY_GPL_LIST).
_FFMPEG_GPL = ("x264", "x265", "xvid", "postproc", "vidstab", "rubberband", "frei0r", "davs2", "xavs2", "xavs",
               "cdio", "avisynth")
_RULE = "=" * 100


def normalize(name: str) -> str:
    """A distribution or extra name as PEP 503 compares them: `PySide6_Essentials` -> `pyside6-essentials`."""
    return re.sub(r"[-_.]+", "-", name).lower()


# -- markers ---------------------------------------------------------------------------------------------------
def _environment() -> dict[str, str]:
    """The PEP 508 marker variables of this interpreter and platform."""
    implementation = sys.implementation.version
    return {
        "os_name": os.name,
        "sys_platform": sys.platform,
        "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "python_full_version": platform.python_version(),
        "implementation_name": sys.implementation.name,
        "implementation_version": f"{implementation.major}.{implementation.minor}.{implementation.micro}",
    }


def marker_applies(marker: str, extras: AbstractSet[str] = frozenset()) -> bool:
    """Whether a requirement's environment marker holds here, with the given extras requested.

    Uses `packaging` when it is installed, else `_simple_marker_applies`.
    """
    try:
        from packaging.markers import Marker
    except ImportError:
        return _simple_marker_applies(marker, extras)
    parsed = Marker(marker)
    return any(parsed.evaluate({"extra": extra}) for extra in (sorted(extras) or [""]))


_TOKEN = re.compile(r"""\s*(?:(?P<string>'[^']*'|"[^"]*")|(?P<op>===|==|!=|<=|>=|~=|<|>|\(|\))"""
                    r"""|(?P<word>not\s+in\b|[A-Za-z_][A-Za-z0-9_.]*))""")
_VERSION_VARIABLES = {"python_version", "python_full_version", "implementation_version"}


def _simple_marker_applies(marker: str, extras: AbstractSet[str] = frozenset()) -> bool:
    """A small PEP 508 marker evaluator: `and`, `or`, parentheses, the comparison operators, `in` and
    `not in`; the python and implementation versions compare as versions, the rest as strings."""
    tokens: list[tuple[str, str]] = []
    position = 0
    text = marker.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot read the marker {marker!r} at {text[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, re.sub(r"\s+", " ", match.group(kind))))
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    environment = _environment()
    wanted_extras = {normalize(extra) for extra in extras}
    index = 0

    def peek() -> tuple[str, str]:
        return tokens[index] if index < len(tokens) else ("end", "")

    def take() -> tuple[str, str]:
        nonlocal index
        token = peek()
        index += 1
        return token

    def value() -> tuple[str, str]:
        """(variable name or '', value) of one side of a comparison."""
        kind, word = take()
        if kind == "string":
            return "", word[1:-1]
        if kind == "word" and word in environment:
            return word, environment[word]
        if kind == "word" and word == "extra":
            return "extra", ""
        raise ValueError(f"unexpected {word!r} in the marker {marker!r}")

    def comparison() -> bool:
        if peek() == ("op", "("):
            take()
            result = disjunction()
            if take() != ("op", ")"):
                raise ValueError(f"unbalanced parentheses in the marker {marker!r}")
            return result
        left_name, left = value()
        kind, op = take()
        if kind not in ("op", "word") or op not in ("===", "==", "!=", "<=", ">=", "~=", "<", ">", "in", "not in"):
            raise ValueError(f"expected a comparison in the marker {marker!r}, found {op!r}")
        right_name, right = value()
        if "extra" in (left_name, right_name):
            other = normalize(right if left_name == "extra" else left)
            if op == "==":
                return other in wanted_extras
            if op == "!=":
                return other not in wanted_extras
            raise ValueError(f"cannot compare extras with {op!r} in the marker {marker!r}")
        return _compare(left, op, right, version=bool({left_name, right_name} & _VERSION_VARIABLES))

    def conjunction() -> bool:
        result = comparison()
        while peek() == ("word", "and"):
            take()
            result = comparison() and result
        return result

    def disjunction() -> bool:
        result = conjunction()
        while peek() == ("word", "or"):
            take()
            result = conjunction() or result
        return result

    result = disjunction()
    if index != len(tokens):
        raise ValueError(f"unexpected {peek()[1]!r} in the marker {marker!r}")
    return result


def _version_key(version: str) -> tuple[int, ...]:
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def _compare(left: str, op: str, right: str, *, version: bool) -> bool:
    if op == "in":
        return left in right
    if op == "not in":
        return left not in right
    if op == "===" or not version:
        if op in ("===", "=="):
            return left == right
        if op == "!=":
            return left != right
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}.get(op, False)
    if op in ("==", "!=") and right.endswith(".*"):
        prefix = _version_key(right[:-2])
        matches = _version_key(left)[:len(prefix)] == prefix
        return matches if op == "==" else not matches
    a, b = _version_key(left), _version_key(right)
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    if op == "~=":
        prefix = _version_key(right)[:-1]
        return a >= b and _version_key(left)[:len(prefix)] == prefix
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


# -- the dependency closure ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Requirement:
    name: str
    extras: frozenset[str]
    marker: str | None


def _parse_requirement(line: str) -> _Requirement:
    """Name, extras and marker of a Requires-Dist line (its version specifier is not needed here)."""
    requirement, _, marker = line.partition(";")
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", requirement)
    if not match:
        raise ValueError(f"cannot read the requirement {line!r}")
    extras = frozenset(normalize(extra) for extra in (match.group(2) or "").split(",") if extra.strip())
    return _Requirement(match.group(1), extras, marker.strip() or None)


def runtime_distributions(root: str = ROOT_DISTRIBUTION) -> list[str]:
    """The distributions `root` needs at run time here, recursively, sorted, without `root` itself.

    Requirements whose markers do not hold on this platform and Python are skipped, and so are the
    root's extras (its `dev` tools); extras that a requirement asks of a dependency are followed.
    Names are spelled as each distribution's metadata spells them (`PySide6_Essentials`). Raises
    `LookupError` when a needed distribution is not installed.
    """
    names: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    pending: list[tuple[str, frozenset[str], str]] = [(root, frozenset(), "")]
    while pending:
        name, extras, parent = pending.pop()
        if (normalize(name), extras) in seen:
            continue
        seen.add((normalize(name), extras))
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise LookupError(f"{name} (needed by {parent or 'the caller'}) is not installed") from None
        names[normalize(name)] = distribution.metadata["Name"] or name
        for line in distribution.requires or []:
            requirement = _parse_requirement(line)
            if requirement.marker is None or marker_applies(requirement.marker, extras):
                pending.append((requirement.name, requirement.extras, names[normalize(name)]))
    names.pop(normalize(root), None)
    return sorted(names.values(), key=normalize)


# -- one distribution's notice ---------------------------------------------------------------------------------
def _field(meta: metadata.PackageMetadata, name: str) -> str:
    """A metadata field's first value, stripped; '' when absent."""
    values = meta.get_all(name) or []
    return str(values[0]).strip() if values else ""


def license_of(distribution: metadata.Distribution) -> str:
    """The license as the metadata states it: License-Expression, else a short License field, with the
    license classifiers; 'not stated' when there is none."""
    meta = distribution.metadata
    stated: list[str] = []
    expression = _field(meta, "License-Expression")
    field = _field(meta, "License")
    if expression:
        stated.append(expression)
    elif field and "\n" not in field and len(field) <= 100 and field.upper() != "UNKNOWN":
        stated.append(field)
    for classifier in meta.get_all("Classifier") or []:
        if classifier.startswith("License ::"):
            label = classifier.split(" :: ")[-1]
            if label not in stated:
                stated.append(label)
    return "; ".join(stated) if stated else "not stated in the metadata"


def _home_page(distribution: metadata.Distribution) -> str:
    meta = distribution.metadata
    urls: dict[str, str] = {}
    for entry in meta.get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        urls.setdefault(re.sub(r"[^a-z]", "", label.lower()), url.strip())
    for label in ("homepage", "home", "source", "sourcecode", "repository", "code"):
        if urls.get(label):
            return urls[label]
    return _field(meta, "Home-page") or "not stated in the metadata"


def license_files(distribution: metadata.Distribution) -> list[PurePosixPath]:
    """The distribution's license, notice, copying, copyright and authors files (its .dist-info/licenses/
    folder and files so named anywhere in it), as paths relative to its installation folder."""
    found: list[PurePosixPath] = []
    for file in distribution.files or []:
        path = PurePosixPath(str(file).replace("\\", "/"))
        if "__pycache__" in path.parts or path.suffix.lower() in _NOT_TEXT:
            continue
        in_licenses = any(part.endswith(".dist-info") for part in path.parts[:-1]) and "licenses" in path.parts
        if in_licenses or _NOTICE_FILE.match(path.name):
            found.append(path)
    return sorted(found, key=lambda path: (len(path.parts), str(path).lower()))


def _read_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n") + "\n"


def _distribution_notice(distribution: metadata.Distribution, note: str) -> list[str]:
    name = distribution.metadata["Name"]
    lines = [_RULE, f"{name} {distribution.version}", _RULE, f"License: {license_of(distribution)}",
             f"Home page: {_home_page(distribution)}"]
    if note:
        lines.append(note)
    files = license_files(distribution)
    if not files:
        lines.append("The distribution ships no license file; its license is stated above.")
    for file in files:
        location = Path(str(distribution.locate_file(str(file))))
        if not location.is_file():
            continue
        lines += ["", f"---- {file.name} ({file}) ".ljust(100, "-"), "", _read_text(location)]
    lines.append("")
    return lines


# -- Qt, FFmpeg, Python ----------------------------------------------------------------------------------------
def _qt_version(pyside_version: str) -> str:
    try:
        return str(importlib.import_module("PySide6.QtCore").qVersion())
    except Exception:  # noqa: BLE001 - no Qt to ask (headless, broken install): the wheel's version says it
        return ".".join(pyside_version.split(".")[:3])


def _qt_section(pyside: metadata.Distribution, shiboken: metadata.Distribution | None) -> list[str]:
    qt = _qt_version(pyside.version)
    major_minor = ".".join(qt.split(".")[:2])
    names = f"{pyside.metadata['Name']} {pyside.version}" + (
        f", {shiboken.metadata['Name']} {shiboken.version}" if shiboken else "")
    return [
        _RULE, f"Qt {qt} and Qt for Python ({names})", _RULE,
        "License: GNU Lesser General Public License v3 (LGPL-3.0-only). Qt and Qt for Python are also offered",
        "under GPL-2.0-only, GPL-3.0-only and a commercial license; GLM-V Desktop uses them under the LGPL-3.0.",
        "Copyright (C) The Qt Company Ltd. and other contributors.",
        "",
        "GLM-V Desktop uses the Qt libraries and the PySide6/shiboken6 modules unmodified. They ship as separate",
        "shared libraries (in the PySide6 folder of the installation: Qt/lib, Qt/plugins, the PySide6 and",
        "shiboken6 modules; frameworks inside the application bundle on macOS), loaded at run time. You may",
        "replace them with a modified or another interface-compatible build of the same Qt and Qt for Python",
        f"version ({major_minor}.x) by putting your build in their place; nothing in GLM-V Desktop restricts",
        "modifying it for your own use or reverse engineering it to debug such modifications. On macOS, sign",
        "the application again after replacing them (for example with an ad-hoc signature).",
        "",
        "Source code (the complete corresponding source of the versions shipped):",
        f"  Qt {qt}: https://download.qt.io/archive/qt/{major_minor}/{qt}/single/qt-everywhere-src-{qt}.tar.xz",
        f"  Qt for Python {pyside.version}: https://code.qt.io/cgit/pyside/pyside-setup.git/ (tag v{pyside.version})",
        f"  {SOURCE_OFFER}",
        "",
        "Qt itself contains third-party components under their own licenses (for example ICU, HarfBuzz,",
        "FreeType, PCRE2, libpng, libjpeg, zlib, md4c, double-conversion); they are listed in the Qt",
        "documentation (\"Licenses Used in Qt\") and in the qt_attribution.json files of the Qt source.",
        "",
        "The full texts of the GNU LGPL v3 and of the GNU GPL v3 it refers to are in appendices A and B at the",
        "end of this file.",
        "",
    ]


@dataclass(frozen=True)
class FFmpegBuild:
    """What the FFmpeg libraries bundled in PyAV's wheel say about themselves."""

    version: str
    license: str
    """As `avcodec_license()` reports it."""
    configuration: str
    """As `avcodec_configuration()` reports it (the configure command line)."""
    libraries: tuple[str, ...]
    """The shared library files bundled in the wheel (FFmpeg's and those it links)."""
    gpl_components: tuple[str, ...]
    """GPL parts enabled in the configuration or bundled as libraries (x264, x265, ...)."""

    @property
    def nonfree(self) -> bool:
        return "--enable-nonfree" in self.configuration

    @property
    def effective_license(self) -> str:
        """The license the bundled combination is distributed under, whatever `license` says."""
        if self.nonfree:
            return "nonfree (not redistributable)"
        version3 = "--enable-version3" in self.configuration or "version 3" in self.license
        if self.gpl_components or "--enable-gpl" in self.configuration:
            return "GPL-3.0-or-later" if version3 else "GPL-2.0-or-later"
        return "LGPL-3.0-or-later" if version3 else "LGPL-2.1-or-later"


def ffmpeg_build(distribution: str = "av") -> FFmpegBuild | None:
    """How the FFmpeg bundled with PyAV was built, read from its libavcodec; None when `av` is not
    installed. Raises `OSError` when the libraries cannot be found or loaded."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    libraries: dict[str, Path] = {}
    for file in dist.files or []:
        path = PurePosixPath(str(file).replace("\\", "/"))
        bundled = path.parts[0].endswith(".libs") or ".dylibs" in path.parts
        if bundled and re.search(r"\.(so(\.\d+)*|dylib|dll)$", path.name):
            libraries[path.name] = Path(str(dist.locate_file(str(file))))
    license_text, configuration, version = _ask_libavcodec(libraries)
    enabled = set(re.findall(r"--enable-(?:lib)?([a-z0-9_-]+)", configuration))
    bundled_names = " ".join(libraries).lower()
    gpl = tuple(part for part in _FFMPEG_GPL if part in enabled or re.search(rf"(^|\W)(lib)?{part}\W", bundled_names))
    return FFmpegBuild(version, license_text, configuration, tuple(sorted(libraries, key=str.lower)), gpl)


def _ask_libavcodec(libraries: dict[str, Path]) -> tuple[str, str, str]:
    """(license, configuration, FFmpeg version) from the bundled libavcodec and libavutil, through ctypes,
    or through PyAV's own module when the wheel keeps them elsewhere."""
    def find(stem: str) -> Path | None:
        return next((path for name, path in libraries.items() if re.match(rf"(lib)?{stem}\b", name)), None)

    avcodec, avutil = find("avcodec"), find("avutil")
    if avcodec and avutil:
        codec = ctypes.CDLL(str(avcodec))
        util = ctypes.CDLL(str(avutil))
        for function in (codec.avcodec_license, codec.avcodec_configuration, util.av_version_info):
            function.restype = ctypes.c_char_p
            function.argtypes = []
        return (codec.avcodec_license().decode(), codec.avcodec_configuration().decode(),
                util.av_version_info().decode())
    core = importlib.import_module("av._core")
    meta = core.library_meta["libavcodec"]
    return str(meta["license"]), str(meta["configuration"]), str(core.ffmpeg_version_info)


def _ffmpeg_section(av: metadata.Distribution, build: FFmpegBuild) -> list[str]:
    lines = [
        _RULE, f"FFmpeg {build.version} (bundled with {av.metadata['Name']} {av.version})", _RULE,
        f"License reported by libavcodec (avcodec_license()): {build.license}",
        f"License of the bundled combination: {build.effective_license}",
    ]
    if build.gpl_components:
        lines += [
            f"GPL components linked into it: {', '.join(build.gpl_components)} (GNU GPL version 2 or later);",
            "with them FFmpeg is covered by the GNU GPL as a whole, whatever avcodec_license() reports.",
        ]
    lines += [
        "Configuration (avcodec_configuration()):",
        f"  {build.configuration}",
        "Bundled shared libraries (FFmpeg's and the libraries it links):",
        *(f"  {name}" for name in build.libraries),
        "",
        "Source code:",
        f"  FFmpeg {build.version}: https://ffmpeg.org/releases/ffmpeg-{build.version}.tar.xz",
        "  The build scripts and the versions of the libraries above: https://github.com/PyAV-Org/pyav-ffmpeg",
        "  x264: https://www.videolan.org/developers/x264.html   x265: https://www.x265.org",
        f"  {SOURCE_OFFER}",
        "The full text of the GNU GPL v3 is in appendix B and that of the GNU LGPL v3 in appendix A.",
        "",
    ]
    return lines


def _python_section() -> list[str]:
    version = platform.python_version()
    lines = [_RULE, f"Python {version} (the interpreter and its standard library)", _RULE,
             "License: PSF-2.0 (Python Software Foundation License Version 2); see the history and terms below.",
             "Home page: https://www.python.org", ""]
    candidates = [Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt", Path(sys.base_prefix) / "LICENSE.txt",
                  Path(sys.base_prefix) / "LICENSE"]
    text = next((path for path in candidates if path.is_file()), None)
    short = ".".join(platform.python_version_tuple()[:2])
    lines.append(_read_text(text) if text else f"The terms are at https://docs.python.org/{short}/license.html\n")
    return lines


# -- the notices file ------------------------------------------------------------------------------------------
_NOTES = {
    "python-xlib": ("Note: LGPL-2.1-or-later. Its modules ship as Python source files (the Xlib folder of the "
                    "installation), which you may modify or replace."),
    "certifi": "Note: MPL-2.0, unmodified; its source form (cacert.pem and its Python files) ships as is.",
    "pyside6-essentials": "Note: see the Qt section above.",
    "pyside6": "Note: see the Qt section above.",
    "shiboken6": "Note: see the Qt section above.",
    "av": "Note: see the FFmpeg section above for the FFmpeg libraries this wheel bundles.",
}


def write_notices(out: Path, distributions: Sequence[str], *, exclude: AbstractSet[str] = frozenset()) -> Path:
    """Write THIRD-PARTY-NOTICES.txt to `out` for the given distributions, less those in `exclude`
    (compared by normalized name); returns `out`. The file is UTF-8 with LF line ends."""
    excluded = {normalize(name) for name in exclude}
    chosen = [metadata.distribution(name) for name in distributions if normalize(name) not in excluded]
    chosen.sort(key=lambda dist: normalize(dist.metadata["Name"]))
    by_name = {normalize(dist.metadata["Name"]): dist for dist in chosen}
    pyside = by_name.get("pyside6-essentials") or by_name.get("pyside6")
    av = by_name.get("av")
    build = ffmpeg_build(av.metadata["Name"]) if av else None

    lines = [
        f"{PROJECT_NAME}: third-party notices",
        _RULE,
        f"{PROJECT_NAME} is licensed under the {PROJECT_LICENSE_TITLE} ({PROJECT_LICENSE}); its text is in",
        "LICENSE.txt next to this file. It bundles the third-party software listed below, each under its own",
        "license, whose full texts follow.",
        "",
    ]
    if build and build.effective_license.startswith("GPL"):
        lines += [
            "This binary distribution as a whole (the program with everything bundled with it) is conveyed under",
            "the GNU General Public License version 3 or later (GPL-3.0-or-later), because it includes FFmpeg",
            f"linked with {' and '.join(build.gpl_components) or 'GPL components'}, which are under the GNU GPL "
            "(see the FFmpeg section).",
            f"{PROJECT_NAME}'s own source code stays under the {PROJECT_LICENSE_TITLE}, which the GPL-3.0 allows to be",
            "combined this way. You may modify and redistribute this distribution under the GPL-3.0-or-later",
            "(appendix B); the complete corresponding source of its GPL parts is published with each release.",
            "",
        ]
    lines += [
        "Contents:",
        f"  Python {platform.python_version()}",
    ]
    if pyside:
        lines.append("  Qt and Qt for Python (LGPL-3.0-only)")
    if build:
        lines.append(f"  FFmpeg {build.version} ({build.effective_license})")
    lines += [f"  {dist.metadata['Name']} {dist.version}: {license_of(dist)}" for dist in chosen]
    if pyside or build:
        lines += ["  Appendix A: GNU Lesser General Public License v3", "  Appendix B: GNU General Public License v3"]
    lines.append("")
    lines += _python_section()
    if pyside:
        lines += _qt_section(pyside, by_name.get("shiboken6"))
    if av and build:
        lines += _ffmpeg_section(av, build)
    for dist in chosen:
        lines += _distribution_notice(dist, _NOTES.get(normalize(dist.metadata["Name"]), ""))
    if pyside or build:
        lines += [_RULE, "Appendix A: GNU Lesser General Public License v3", _RULE, "", _LGPL_3_0,
                  _RULE, "Appendix B: GNU General Public License v3", _RULE, "", _GPL_3_0]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="\n") as stream:
        stream.write("\n".join(lines).rstrip("\n") + "\n")
    return out


def main(argv: Iterable[str] | None = None) -> int:
    """`python installers/licenses.py OUT.txt [--exclude NAME ...]`: write the notices of this
    environment's runtime dependencies of glmv-desktop."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out", type=Path, help="the THIRD-PARTY-NOTICES.txt to write")
    parser.add_argument("--exclude", action="append", default=[], metavar="NAME",
                        help="a distribution left out of the bundle (repeatable), e.g. av")
    parser.add_argument("--root", default=ROOT_DISTRIBUTION, help="the distribution whose dependencies to list")
    args = parser.parse_args(None if argv is None else list(argv))
    out = write_notices(args.out, runtime_distributions(args.root), exclude=set(args.exclude))
    print(out)
    return 0



# -- license texts -----------------------------------------------------------------------------------------------
# Verbatim from the Free Software Foundation (the current texts, with https addresses); Qt's LGPL-3.0
# requires shipping both (LGPL-3.0 section 4(b)). tests/unit/test_licenses.py checks their SHA-256.

_LGPL_3_0 = """                   GNU LESSER GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.


  This version of the GNU Lesser General Public License incorporates
the terms and conditions of version 3 of the GNU General Public
License, supplemented by the additional permissions listed below.

  0. Additional Definitions.

  As used herein, "this License" refers to version 3 of the GNU Lesser
General Public License, and the "GNU GPL" refers to version 3 of the GNU
General Public License.

  "The Library" refers to a covered work governed by this License,
other than an Application or a Combined Work as defined below.

  An "Application" is any work that makes use of an interface provided
by the Library, but which is not otherwise based on the Library.
Defining a subclass of a class defined by the Library is deemed a mode
of using an interface provided by the Library.

  A "Combined Work" is a work produced by combining or linking an
Application with the Library.  The particular version of the Library
with which the Combined Work was made is also called the "Linked
Version".

  The "Minimal Corresponding Source" for a Combined Work means the
Corresponding Source for the Combined Work, excluding any source code
for portions of the Combined Work that, considered in isolation, are
based on the Application, and not on the Linked Version.

  The "Corresponding Application Code" for a Combined Work means the
object code and/or source code for the Application, including any data
and utility programs needed for reproducing the Combined Work from the
Application, but excluding the System Libraries of the Combined Work.

  1. Exception to Section 3 of the GNU GPL.

  You may convey a covered work under sections 3 and 4 of this License
without being bound by section 3 of the GNU GPL.

  2. Conveying Modified Versions.

  If you modify a copy of the Library, and, in your modifications, a
facility refers to a function or data to be supplied by an Application
that uses the facility (other than as an argument passed when the
facility is invoked), then you may convey a copy of the modified
version:

   a) under this License, provided that you make a good faith effort to
   ensure that, in the event an Application does not supply the
   function or data, the facility still operates, and performs
   whatever part of its purpose remains meaningful, or

   b) under the GNU GPL, with none of the additional permissions of
   this License applicable to that copy.

  3. Object Code Incorporating Material from Library Header Files.

  The object code form of an Application may incorporate material from
a header file that is part of the Library.  You may convey such object
code under terms of your choice, provided that, if the incorporated
material is not limited to numerical parameters, data structure
layouts and accessors, or small macros, inline functions and templates
(ten or fewer lines in length), you do both of the following:

   a) Give prominent notice with each copy of the object code that the
   Library is used in it and that the Library and its use are
   covered by this License.

   b) Accompany the object code with a copy of the GNU GPL and this license
   document.

  4. Combined Works.

  You may convey a Combined Work under terms of your choice that,
taken together, effectively do not restrict modification of the
portions of the Library contained in the Combined Work and reverse
engineering for debugging such modifications, if you also do each of
the following:

   a) Give prominent notice with each copy of the Combined Work that
   the Library is used in it and that the Library and its use are
   covered by this License.

   b) Accompany the Combined Work with a copy of the GNU GPL and this license
   document.

   c) For a Combined Work that displays copyright notices during
   execution, include the copyright notice for the Library among
   these notices, as well as a reference directing the user to the
   copies of the GNU GPL and this license document.

   d) Do one of the following:

       0) Convey the Minimal Corresponding Source under the terms of this
       License, and the Corresponding Application Code in a form
       suitable for, and under terms that permit, the user to
       recombine or relink the Application with a modified version of
       the Linked Version to produce a modified Combined Work, in the
       manner specified by section 6 of the GNU GPL for conveying
       Corresponding Source.

       1) Use a suitable shared library mechanism for linking with the
       Library.  A suitable mechanism is one that (a) uses at run time
       a copy of the Library already present on the user's computer
       system, and (b) will operate properly with a modified version
       of the Library that is interface-compatible with the Linked
       Version.

   e) Provide Installation Information, but only if you would otherwise
   be required to provide such information under section 6 of the
   GNU GPL, and only to the extent that such information is
   necessary to install and execute a modified version of the
   Combined Work produced by recombining or relinking the
   Application with a modified version of the Linked Version. (If
   you use option 4d0, the Installation Information must accompany
   the Minimal Corresponding Source and Corresponding Application
   Code. If you use option 4d1, you must provide the Installation
   Information in the manner specified by section 6 of the GNU GPL
   for conveying Corresponding Source.)

  5. Combined Libraries.

  You may place library facilities that are a work based on the
Library side by side in a single library together with other library
facilities that are not Applications and are not covered by this
License, and convey such a combined library under terms of your
choice, if you do both of the following:

   a) Accompany the combined library with a copy of the same work based
   on the Library, uncombined with any other library facilities,
   conveyed under the terms of this License.

   b) Give prominent notice with the combined library that part of it
   is a work based on the Library, and explaining where to find the
   accompanying uncombined form of the same work.

  6. Revised Versions of the GNU Lesser General Public License.

  The Free Software Foundation may publish revised and/or new versions
of the GNU Lesser General Public License from time to time. Such new
versions will be similar in spirit to the present version, but may
differ in detail to address new problems or concerns.

  Each version is given a distinguishing version number. If the
Library as you received it specifies that a certain numbered version
of the GNU Lesser General Public License "or any later version"
applies to it, you have the option of following the terms and
conditions either of that published version or of any later version
published by the Free Software Foundation. If the Library as you
received it does not specify a version number of the GNU Lesser
General Public License, you may choose any version of the GNU Lesser
General Public License ever published by the Free Software Foundation.

  If the Library as you received it specifies that a proxy can decide
whether future versions of the GNU Lesser General Public License shall
apply, that proxy's public statement of acceptance of any version is
permanent authorization for you to choose that version for the
Library.
"""

_GPL_3_0 = """                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

                            Preamble

  The GNU General Public License is a free, copyleft license for
software and other kinds of works.

  The licenses for most software and other practical works are designed
to take away your freedom to share and change the works.  By contrast,
the GNU General Public License is intended to guarantee your freedom to
share and change all versions of a program--to make sure it remains free
software for all its users.  We, the Free Software Foundation, use the
GNU General Public License for most of our software; it applies also to
any other work released this way by its authors.  You can apply it to
your programs, too.

  When we speak of free software, we are referring to freedom, not
price.  Our General Public Licenses are designed to make sure that you
have the freedom to distribute copies of free software (and charge for
them if you wish), that you receive source code or can get it if you
want it, that you can change the software or use pieces of it in new
free programs, and that you know you can do these things.

  To protect your rights, we need to prevent others from denying you
these rights or asking you to surrender the rights.  Therefore, you have
certain responsibilities if you distribute copies of the software, or if
you modify it: responsibilities to respect the freedom of others.

  For example, if you distribute copies of such a program, whether
gratis or for a fee, you must pass on to the recipients the same
freedoms that you received.  You must make sure that they, too, receive
or can get the source code.  And you must show them these terms so they
know their rights.

  Developers that use the GNU GPL protect your rights with two steps:
(1) assert copyright on the software, and (2) offer you this License
giving you legal permission to copy, distribute and/or modify it.

  For the developers' and authors' protection, the GPL clearly explains
that there is no warranty for this free software.  For both users' and
authors' sake, the GPL requires that modified versions be marked as
changed, so that their problems will not be attributed erroneously to
authors of previous versions.

  Some devices are designed to deny users access to install or run
modified versions of the software inside them, although the manufacturer
can do so.  This is fundamentally incompatible with the aim of
protecting users' freedom to change the software.  The systematic
pattern of such abuse occurs in the area of products for individuals to
use, which is precisely where it is most unacceptable.  Therefore, we
have designed this version of the GPL to prohibit the practice for those
products.  If such problems arise substantially in other domains, we
stand ready to extend this provision to those domains in future versions
of the GPL, as needed to protect the freedom of users.

  Finally, every program is threatened constantly by software patents.
States should not allow patents to restrict development and use of
software on general-purpose computers, but in those that do, we wish to
avoid the special danger that patents applied to a free program could
make it effectively proprietary.  To prevent this, the GPL assures that
patents cannot be used to render the program non-free.

  The precise terms and conditions for copying, distribution and
modification follow.

                       TERMS AND CONDITIONS

  0. Definitions.

  "This License" refers to version 3 of the GNU General Public License.

  "Copyright" also means copyright-like laws that apply to other kinds of
works, such as semiconductor masks.

  "The Program" refers to any copyrightable work licensed under this
License.  Each licensee is addressed as "you".  "Licensees" and
"recipients" may be individuals or organizations.

  To "modify" a work means to copy from or adapt all or part of the work
in a fashion requiring copyright permission, other than the making of an
exact copy.  The resulting work is called a "modified version" of the
earlier work or a work "based on" the earlier work.

  A "covered work" means either the unmodified Program or a work based
on the Program.

  To "propagate" a work means to do anything with it that, without
permission, would make you directly or secondarily liable for
infringement under applicable copyright law, except executing it on a
computer or modifying a private copy.  Propagation includes copying,
distribution (with or without modification), making available to the
public, and in some countries other activities as well.

  To "convey" a work means any kind of propagation that enables other
parties to make or receive copies.  Mere interaction with a user through
a computer network, with no transfer of a copy, is not conveying.

  An interactive user interface displays "Appropriate Legal Notices"
to the extent that it includes a convenient and prominently visible
feature that (1) displays an appropriate copyright notice, and (2)
tells the user that there is no warranty for the work (except to the
extent that warranties are provided), that licensees may convey the
work under this License, and how to view a copy of this License.  If
the interface presents a list of user commands or options, such as a
menu, a prominent item in the list meets this criterion.

  1. Source Code.

  The "source code" for a work means the preferred form of the work
for making modifications to it.  "Object code" means any non-source
form of a work.

  A "Standard Interface" means an interface that either is an official
standard defined by a recognized standards body, or, in the case of
interfaces specified for a particular programming language, one that
is widely used among developers working in that language.

  The "System Libraries" of an executable work include anything, other
than the work as a whole, that (a) is included in the normal form of
packaging a Major Component, but which is not part of that Major
Component, and (b) serves only to enable use of the work with that
Major Component, or to implement a Standard Interface for which an
implementation is available to the public in source code form.  A
"Major Component", in this context, means a major essential component
(kernel, window system, and so on) of the specific operating system
(if any) on which the executable work runs, or a compiler used to
produce the work, or an object code interpreter used to run it.

  The "Corresponding Source" for a work in object code form means all
the source code needed to generate, install, and (for an executable
work) run the object code and to modify the work, including scripts to
control those activities.  However, it does not include the work's
System Libraries, or general-purpose tools or generally available free
programs which are used unmodified in performing those activities but
which are not part of the work.  For example, Corresponding Source
includes interface definition files associated with source files for
the work, and the source code for shared libraries and dynamically
linked subprograms that the work is specifically designed to require,
such as by intimate data communication or control flow between those
subprograms and other parts of the work.

  The Corresponding Source need not include anything that users
can regenerate automatically from other parts of the Corresponding
Source.

  The Corresponding Source for a work in source code form is that
same work.

  2. Basic Permissions.

  All rights granted under this License are granted for the term of
copyright on the Program, and are irrevocable provided the stated
conditions are met.  This License explicitly affirms your unlimited
permission to run the unmodified Program.  The output from running a
covered work is covered by this License only if the output, given its
content, constitutes a covered work.  This License acknowledges your
rights of fair use or other equivalent, as provided by copyright law.

  You may make, run and propagate covered works that you do not
convey, without conditions so long as your license otherwise remains
in force.  You may convey covered works to others for the sole purpose
of having them make modifications exclusively for you, or provide you
with facilities for running those works, provided that you comply with
the terms of this License in conveying all material for which you do
not control copyright.  Those thus making or running the covered works
for you must do so exclusively on your behalf, under your direction
and control, on terms that prohibit them from making any copies of
your copyrighted material outside their relationship with you.

  Conveying under any other circumstances is permitted solely under
the conditions stated below.  Sublicensing is not allowed; section 10
makes it unnecessary.

  3. Protecting Users' Legal Rights From Anti-Circumvention Law.

  No covered work shall be deemed part of an effective technological
measure under any applicable law fulfilling obligations under article
11 of the WIPO copyright treaty adopted on 20 December 1996, or
similar laws prohibiting or restricting circumvention of such
measures.

  When you convey a covered work, you waive any legal power to forbid
circumvention of technological measures to the extent such circumvention
is effected by exercising rights under this License with respect to
the covered work, and you disclaim any intention to limit operation or
modification of the work as a means of enforcing, against the work's
users, your or third parties' legal rights to forbid circumvention of
technological measures.

  4. Conveying Verbatim Copies.

  You may convey verbatim copies of the Program's source code as you
receive it, in any medium, provided that you conspicuously and
appropriately publish on each copy an appropriate copyright notice;
keep intact all notices stating that this License and any
non-permissive terms added in accord with section 7 apply to the code;
keep intact all notices of the absence of any warranty; and give all
recipients a copy of this License along with the Program.

  You may charge any price or no price for each copy that you convey,
and you may offer support or warranty protection for a fee.

  5. Conveying Modified Source Versions.

  You may convey a work based on the Program, or the modifications to
produce it from the Program, in the form of source code under the
terms of section 4, provided that you also meet all of these conditions:

    a) The work must carry prominent notices stating that you modified
    it, and giving a relevant date.

    b) The work must carry prominent notices stating that it is
    released under this License and any conditions added under section
    7.  This requirement modifies the requirement in section 4 to
    "keep intact all notices".

    c) You must license the entire work, as a whole, under this
    License to anyone who comes into possession of a copy.  This
    License will therefore apply, along with any applicable section 7
    additional terms, to the whole of the work, and all its parts,
    regardless of how they are packaged.  This License gives no
    permission to license the work in any other way, but it does not
    invalidate such permission if you have separately received it.

    d) If the work has interactive user interfaces, each must display
    Appropriate Legal Notices; however, if the Program has interactive
    interfaces that do not display Appropriate Legal Notices, your
    work need not make them do so.

  A compilation of a covered work with other separate and independent
works, which are not by their nature extensions of the covered work,
and which are not combined with it such as to form a larger program,
in or on a volume of a storage or distribution medium, is called an
"aggregate" if the compilation and its resulting copyright are not
used to limit the access or legal rights of the compilation's users
beyond what the individual works permit.  Inclusion of a covered work
in an aggregate does not cause this License to apply to the other
parts of the aggregate.

  6. Conveying Non-Source Forms.

  You may convey a covered work in object code form under the terms
of sections 4 and 5, provided that you also convey the
machine-readable Corresponding Source under the terms of this License,
in one of these ways:

    a) Convey the object code in, or embodied in, a physical product
    (including a physical distribution medium), accompanied by the
    Corresponding Source fixed on a durable physical medium
    customarily used for software interchange.

    b) Convey the object code in, or embodied in, a physical product
    (including a physical distribution medium), accompanied by a
    written offer, valid for at least three years and valid for as
    long as you offer spare parts or customer support for that product
    model, to give anyone who possesses the object code either (1) a
    copy of the Corresponding Source for all the software in the
    product that is covered by this License, on a durable physical
    medium customarily used for software interchange, for a price no
    more than your reasonable cost of physically performing this
    conveying of source, or (2) access to copy the
    Corresponding Source from a network server at no charge.

    c) Convey individual copies of the object code with a copy of the
    written offer to provide the Corresponding Source.  This
    alternative is allowed only occasionally and noncommercially, and
    only if you received the object code with such an offer, in accord
    with subsection 6b.

    d) Convey the object code by offering access from a designated
    place (gratis or for a charge), and offer equivalent access to the
    Corresponding Source in the same way through the same place at no
    further charge.  You need not require recipients to copy the
    Corresponding Source along with the object code.  If the place to
    copy the object code is a network server, the Corresponding Source
    may be on a different server (operated by you or a third party)
    that supports equivalent copying facilities, provided you maintain
    clear directions next to the object code saying where to find the
    Corresponding Source.  Regardless of what server hosts the
    Corresponding Source, you remain obligated to ensure that it is
    available for as long as needed to satisfy these requirements.

    e) Convey the object code using peer-to-peer transmission, provided
    you inform other peers where the object code and Corresponding
    Source of the work are being offered to the general public at no
    charge under subsection 6d.

  A separable portion of the object code, whose source code is excluded
from the Corresponding Source as a System Library, need not be
included in conveying the object code work.

  A "User Product" is either (1) a "consumer product", which means any
tangible personal property which is normally used for personal, family,
or household purposes, or (2) anything designed or sold for incorporation
into a dwelling.  In determining whether a product is a consumer product,
doubtful cases shall be resolved in favor of coverage.  For a particular
product received by a particular user, "normally used" refers to a
typical or common use of that class of product, regardless of the status
of the particular user or of the way in which the particular user
actually uses, or expects or is expected to use, the product.  A product
is a consumer product regardless of whether the product has substantial
commercial, industrial or non-consumer uses, unless such uses represent
the only significant mode of use of the product.

  "Installation Information" for a User Product means any methods,
procedures, authorization keys, or other information required to install
and execute modified versions of a covered work in that User Product from
a modified version of its Corresponding Source.  The information must
suffice to ensure that the continued functioning of the modified object
code is in no case prevented or interfered with solely because
modification has been made.

  If you convey an object code work under this section in, or with, or
specifically for use in, a User Product, and the conveying occurs as
part of a transaction in which the right of possession and use of the
User Product is transferred to the recipient in perpetuity or for a
fixed term (regardless of how the transaction is characterized), the
Corresponding Source conveyed under this section must be accompanied
by the Installation Information.  But this requirement does not apply
if neither you nor any third party retains the ability to install
modified object code on the User Product (for example, the work has
been installed in ROM).

  The requirement to provide Installation Information does not include a
requirement to continue to provide support service, warranty, or updates
for a work that has been modified or installed by the recipient, or for
the User Product in which it has been modified or installed.  Access to a
network may be denied when the modification itself materially and
adversely affects the operation of the network or violates the rules and
protocols for communication across the network.

  Corresponding Source conveyed, and Installation Information provided,
in accord with this section must be in a format that is publicly
documented (and with an implementation available to the public in
source code form), and must require no special password or key for
unpacking, reading or copying.

  7. Additional Terms.

  "Additional permissions" are terms that supplement the terms of this
License by making exceptions from one or more of its conditions.
Additional permissions that are applicable to the entire Program shall
be treated as though they were included in this License, to the extent
that they are valid under applicable law.  If additional permissions
apply only to part of the Program, that part may be used separately
under those permissions, but the entire Program remains governed by
this License without regard to the additional permissions.

  When you convey a copy of a covered work, you may at your option
remove any additional permissions from that copy, or from any part of
it.  (Additional permissions may be written to require their own
removal in certain cases when you modify the work.)  You may place
additional permissions on material, added by you to a covered work,
for which you have or can give appropriate copyright permission.

  Notwithstanding any other provision of this License, for material you
add to a covered work, you may (if authorized by the copyright holders of
that material) supplement the terms of this License with terms:

    a) Disclaiming warranty or limiting liability differently from the
    terms of sections 15 and 16 of this License; or

    b) Requiring preservation of specified reasonable legal notices or
    author attributions in that material or in the Appropriate Legal
    Notices displayed by works containing it; or

    c) Prohibiting misrepresentation of the origin of that material, or
    requiring that modified versions of such material be marked in
    reasonable ways as different from the original version; or

    d) Limiting the use for publicity purposes of names of licensors or
    authors of the material; or

    e) Declining to grant rights under trademark law for use of some
    trade names, trademarks, or service marks; or

    f) Requiring indemnification of licensors and authors of that
    material by anyone who conveys the material (or modified versions of
    it) with contractual assumptions of liability to the recipient, for
    any liability that these contractual assumptions directly impose on
    those licensors and authors.

  All other non-permissive additional terms are considered "further
restrictions" within the meaning of section 10.  If the Program as you
received it, or any part of it, contains a notice stating that it is
governed by this License along with a term that is a further
restriction, you may remove that term.  If a license document contains
a further restriction but permits relicensing or conveying under this
License, you may add to a covered work material governed by the terms
of that license document, provided that the further restriction does
not survive such relicensing or conveying.

  If you add terms to a covered work in accord with this section, you
must place, in the relevant source files, a statement of the
additional terms that apply to those files, or a notice indicating
where to find the applicable terms.

  Additional terms, permissive or non-permissive, may be stated in the
form of a separately written license, or stated as exceptions;
the above requirements apply either way.

  8. Termination.

  You may not propagate or modify a covered work except as expressly
provided under this License.  Any attempt otherwise to propagate or
modify it is void, and will automatically terminate your rights under
this License (including any patent licenses granted under the third
paragraph of section 11).

  However, if you cease all violation of this License, then your
license from a particular copyright holder is reinstated (a)
provisionally, unless and until the copyright holder explicitly and
finally terminates your license, and (b) permanently, if the copyright
holder fails to notify you of the violation by some reasonable means
prior to 60 days after the cessation.

  Moreover, your license from a particular copyright holder is
reinstated permanently if the copyright holder notifies you of the
violation by some reasonable means, this is the first time you have
received notice of violation of this License (for any work) from that
copyright holder, and you cure the violation prior to 30 days after
your receipt of the notice.

  Termination of your rights under this section does not terminate the
licenses of parties who have received copies or rights from you under
this License.  If your rights have been terminated and not permanently
reinstated, you do not qualify to receive new licenses for the same
material under section 10.

  9. Acceptance Not Required for Having Copies.

  You are not required to accept this License in order to receive or
run a copy of the Program.  Ancillary propagation of a covered work
occurring solely as a consequence of using peer-to-peer transmission
to receive a copy likewise does not require acceptance.  However,
nothing other than this License grants you permission to propagate or
modify any covered work.  These actions infringe copyright if you do
not accept this License.  Therefore, by modifying or propagating a
covered work, you indicate your acceptance of this License to do so.

  10. Automatic Licensing of Downstream Recipients.

  Each time you convey a covered work, the recipient automatically
receives a license from the original licensors, to run, modify and
propagate that work, subject to this License.  You are not responsible
for enforcing compliance by third parties with this License.

  An "entity transaction" is a transaction transferring control of an
organization, or substantially all assets of one, or subdividing an
organization, or merging organizations.  If propagation of a covered
work results from an entity transaction, each party to that
transaction who receives a copy of the work also receives whatever
licenses to the work the party's predecessor in interest had or could
give under the previous paragraph, plus a right to possession of the
Corresponding Source of the work from the predecessor in interest, if
the predecessor has it or can get it with reasonable efforts.

  You may not impose any further restrictions on the exercise of the
rights granted or affirmed under this License.  For example, you may
not impose a license fee, royalty, or other charge for exercise of
rights granted under this License, and you may not initiate litigation
(including a cross-claim or counterclaim in a lawsuit) alleging that
any patent claim is infringed by making, using, selling, offering for
sale, or importing the Program or any portion of it.

  11. Patents.

  A "contributor" is a copyright holder who authorizes use under this
License of the Program or a work on which the Program is based.  The
work thus licensed is called the contributor's "contributor version".

  A contributor's "essential patent claims" are all patent claims
owned or controlled by the contributor, whether already acquired or
hereafter acquired, that would be infringed by some manner, permitted
by this License, of making, using, or selling its contributor version,
but do not include claims that would be infringed only as a
consequence of further modification of the contributor version.  For
purposes of this definition, "control" includes the right to grant
patent sublicenses in a manner consistent with the requirements of
this License.

  Each contributor grants you a non-exclusive, worldwide, royalty-free
patent license under the contributor's essential patent claims, to
make, use, sell, offer for sale, import and otherwise run, modify and
propagate the contents of its contributor version.

  In the following three paragraphs, a "patent license" is any express
agreement or commitment, however denominated, not to enforce a patent
(such as an express permission to practice a patent or covenant not to
sue for patent infringement).  To "grant" such a patent license to a
party means to make such an agreement or commitment not to enforce a
patent against the party.

  If you convey a covered work, knowingly relying on a patent license,
and the Corresponding Source of the work is not available for anyone
to copy, free of charge and under the terms of this License, through a
publicly available network server or other readily accessible means,
then you must either (1) cause the Corresponding Source to be so
available, or (2) arrange to deprive yourself of the benefit of the
patent license for this particular work, or (3) arrange, in a manner
consistent with the requirements of this License, to extend the patent
license to downstream recipients.  "Knowingly relying" means you have
actual knowledge that, but for the patent license, your conveying the
covered work in a country, or your recipient's use of the covered work
in a country, would infringe one or more identifiable patents in that
country that you have reason to believe are valid.

  If, pursuant to or in connection with a single transaction or
arrangement, you convey, or propagate by procuring conveyance of, a
covered work, and grant a patent license to some of the parties
receiving the covered work authorizing them to use, propagate, modify
or convey a specific copy of the covered work, then the patent license
you grant is automatically extended to all recipients of the covered
work and works based on it.

  A patent license is "discriminatory" if it does not include within
the scope of its coverage, prohibits the exercise of, or is
conditioned on the non-exercise of one or more of the rights that are
specifically granted under this License.  You may not convey a covered
work if you are a party to an arrangement with a third party that is
in the business of distributing software, under which you make payment
to the third party based on the extent of your activity of conveying
the work, and under which the third party grants, to any of the
parties who would receive the covered work from you, a discriminatory
patent license (a) in connection with copies of the covered work
conveyed by you (or copies made from those copies), or (b) primarily
for and in connection with specific products or compilations that
contain the covered work, unless you entered into that arrangement,
or that patent license was granted, prior to 28 March 2007.

  Nothing in this License shall be construed as excluding or limiting
any implied license or other defenses to infringement that may
otherwise be available to you under applicable patent law.

  12. No Surrender of Others' Freedom.

  If conditions are imposed on you (whether by court order, agreement or
otherwise) that contradict the conditions of this License, they do not
excuse you from the conditions of this License.  If you cannot convey a
covered work so as to satisfy simultaneously your obligations under this
License and any other pertinent obligations, then as a consequence you may
not convey it at all.  For example, if you agree to terms that obligate you
to collect a royalty for further conveying from those to whom you convey
the Program, the only way you could satisfy both those terms and this
License would be to refrain entirely from conveying the Program.

  13. Use with the GNU Affero General Public License.

  Notwithstanding any other provision of this License, you have
permission to link or combine any covered work with a work licensed
under version 3 of the GNU Affero General Public License into a single
combined work, and to convey the resulting work.  The terms of this
License will continue to apply to the part which is the covered work,
but the special requirements of the GNU Affero General Public License,
section 13, concerning interaction through a network will apply to the
combination as such.

  14. Revised Versions of this License.

  The Free Software Foundation may publish revised and/or new versions of
the GNU General Public License from time to time.  Such new versions will
be similar in spirit to the present version, but may differ in detail to
address new problems or concerns.

  Each version is given a distinguishing version number.  If the
Program specifies that a certain numbered version of the GNU General
Public License "or any later version" applies to it, you have the
option of following the terms and conditions either of that numbered
version or of any later version published by the Free Software
Foundation.  If the Program does not specify a version number of the
GNU General Public License, you may choose any version ever published
by the Free Software Foundation.

  If the Program specifies that a proxy can decide which future
versions of the GNU General Public License can be used, that proxy's
public statement of acceptance of a version permanently authorizes you
to choose that version for the Program.

  Later license versions may give you additional or different
permissions.  However, no additional obligations are imposed on any
author or copyright holder as a result of your choosing to follow a
later version.

  15. Disclaimer of Warranty.

  THERE IS NO WARRANTY FOR THE PROGRAM, TO THE EXTENT PERMITTED BY
APPLICABLE LAW.  EXCEPT WHEN OTHERWISE STATED IN WRITING THE COPYRIGHT
HOLDERS AND/OR OTHER PARTIES PROVIDE THE PROGRAM "AS IS" WITHOUT WARRANTY
OF ANY KIND, EITHER EXPRESSED OR IMPLIED, INCLUDING, BUT NOT LIMITED TO,
THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR
PURPOSE.  THE ENTIRE RISK AS TO THE QUALITY AND PERFORMANCE OF THE PROGRAM
IS WITH YOU.  SHOULD THE PROGRAM PROVE DEFECTIVE, YOU ASSUME THE COST OF
ALL NECESSARY SERVICING, REPAIR OR CORRECTION.

  16. Limitation of Liability.

  IN NO EVENT UNLESS REQUIRED BY APPLICABLE LAW OR AGREED TO IN WRITING
WILL ANY COPYRIGHT HOLDER, OR ANY OTHER PARTY WHO MODIFIES AND/OR CONVEYS
THE PROGRAM AS PERMITTED ABOVE, BE LIABLE TO YOU FOR DAMAGES, INCLUDING ANY
GENERAL, SPECIAL, INCIDENTAL OR CONSEQUENTIAL DAMAGES ARISING OUT OF THE
USE OR INABILITY TO USE THE PROGRAM (INCLUDING BUT NOT LIMITED TO LOSS OF
DATA OR DATA BEING RENDERED INACCURATE OR LOSSES SUSTAINED BY YOU OR THIRD
PARTIES OR A FAILURE OF THE PROGRAM TO OPERATE WITH ANY OTHER PROGRAMS),
EVEN IF SUCH HOLDER OR OTHER PARTY HAS BEEN ADVISED OF THE POSSIBILITY OF
SUCH DAMAGES.

  17. Interpretation of Sections 15 and 16.

  If the disclaimer of warranty and limitation of liability provided
above cannot be given local legal effect according to their terms,
reviewing courts shall apply local law that most closely approximates
an absolute waiver of all civil liability in connection with the
Program, unless a warranty or assumption of liability accompanies a
copy of the Program in return for a fee.

                     END OF TERMS AND CONDITIONS

            How to Apply These Terms to Your New Programs

  If you develop a new program, and you want it to be of the greatest
possible use to the public, the best way to achieve this is to make it
free software which everyone can redistribute and change under these terms.

  To do so, attach the following notices to the program.  It is safest
to attach them to the start of each source file to most effectively
state the exclusion of warranty; and each file should have at least
the "copyright" line and a pointer to where the full notice is found.

    <one line to give the program's name and a brief idea of what it does.>
    Copyright (C) <year>  <name of author>

    This program is free software: you can redistribute it and/or modify
    it under the terms of the GNU General Public License as published by
    the Free Software Foundation, either version 3 of the License, or
    (at your option) any later version.

    This program is distributed in the hope that it will be useful,
    but WITHOUT ANY WARRANTY; without even the implied warranty of
    MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
    GNU General Public License for more details.

    You should have received a copy of the GNU General Public License
    along with this program.  If not, see <https://www.gnu.org/licenses/>.

Also add information on how to contact you by electronic and paper mail.

  If the program does terminal interaction, make it output a short
notice like this when it starts in an interactive mode:

    <program>  Copyright (C) <year>  <name of author>
    This program comes with ABSOLUTELY NO WARRANTY; for details type `show w'.
    This is free software, and you are welcome to redistribute it
    under certain conditions; type `show c' for details.

The hypothetical commands `show w' and `show c' should show the appropriate
parts of the General Public License.  Of course, your program's commands
might be different; for a GUI interface, you would use an "about box".

  You should also get your employer (if you work as a programmer) or school,
if any, to sign a "copyright disclaimer" for the program, if necessary.
For more information on this, and how to apply and follow the GNU GPL, see
<https://www.gnu.org/licenses/>.

  The GNU General Public License does not permit incorporating your program
into proprietary programs.  If your program is a subroutine library, you
may consider it more useful to permit linking proprietary applications with
the library.  If this is what you want to do, use the GNU Lesser General
Public License instead of this License.  But first, please read
<https://www.gnu.org/licenses/why-not-lgpl.html>.
"""


if __name__ == "__main__":
    sys.exit(main())
