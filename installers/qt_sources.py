#!/usr/bin/env python3
"""Fetch the source archives of the Qt and PySide6 versions the installers bundle, to publish them with
each release (LGPL-3.0; docs/adr/006-license.md): `python installers/qt_sources.py OUT_DIR`.

The version is the installed PySide6's (PySide6 and the Qt it bundles share it). The archives are the
Qt Company's official ones: the Qt modules the app's bundle holds (qtbase with the xcb and Windows/Cocoa
platforms, qtsvg, qtwayland, qttranslations) and pyside-setup (PySide6 and shiboken6).
"""

from __future__ import annotations

import sys
import urllib.request
from importlib.metadata import version
from pathlib import Path

QT_MODULES = ("qtbase", "qtsvg", "qtwayland", "qttranslations")
OFFICIAL = "https://download.qt.io/official_releases"


def source_urls(pyside_version: str) -> list[str]:
    """The archives for PySide6 `pyside_version` (x.y.z, the same as its Qt's)."""
    qt = ".".join(pyside_version.split(".")[:3])
    minor = ".".join(qt.split(".")[:2])
    urls = [f"{OFFICIAL}/qt/{minor}/{qt}/submodules/{module}-everywhere-src-{qt}.tar.xz" for module in QT_MODULES]
    urls.append(f"{OFFICIAL}/QtForPython/pyside6/PySide6-{qt}-src/pyside-setup-everywhere-src-{qt}.tar.xz")
    return urls


def main(argv: list[str]) -> int:
    """Download each archive into OUT_DIR (skipping those already there)."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for url in source_urls(version("PySide6_Essentials")):
        target = out / url.rsplit("/", 1)[1]
        if target.exists():
            continue
        print(f"fetching {url}", file=sys.stderr, flush=True)
        partial = target.with_suffix(target.suffix + ".part")
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as sink:  # noqa: S310
            while chunk := response.read(1 << 20):
                sink.write(chunk)
        partial.replace(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
