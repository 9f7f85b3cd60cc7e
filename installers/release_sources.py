#!/usr/bin/env python3
"""Fetch the source of the copyleft parts the installers bundle, to publish it with each release
(docs/adr/006-license.md): `python installers/release_sources.py OUT_DIR`.

- Qt and PySide6 (LGPL-3.0): the Qt Company's official archives of the Qt modules the bundle holds
  (qtbase with the xcb and Windows/Cocoa platforms, qtsvg, qtwayland, qttranslations) and pyside-setup
  (PySide6 and shiboken6), at the installed PySide6's version (PySide6 and its Qt share it).
- FFmpeg (GPL-3.0-or-later as bundled, with x264 and x265): FFmpeg's release archive at the version the
  installed PyAV's libavcodec reports, and PyAV's own source distribution at its installed version.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from importlib.metadata import version
from pathlib import Path

QT_MODULES = ("qtbase", "qtsvg", "qtwayland", "qttranslations")
OFFICIAL = "https://download.qt.io/official_releases"


def source_urls(pyside_version: str) -> list[str]:
    """The Qt archives for PySide6 `pyside_version` (x.y.z, the same as its Qt's)."""
    qt = ".".join(pyside_version.split(".")[:3])
    minor = ".".join(qt.split(".")[:2])
    urls = [f"{OFFICIAL}/qt/{minor}/{qt}/submodules/{module}-everywhere-src-{qt}.tar.xz" for module in QT_MODULES]
    urls.append(f"{OFFICIAL}/QtForPython/pyside6/PySide6-{qt}-src/pyside-setup-everywhere-src-{qt}.tar.xz")
    return urls


def ffmpeg_url(ffmpeg_version: str) -> str:
    """FFmpeg's release archive of `ffmpeg_version` (as libavutil's av_version_info() reports it)."""
    return f"https://ffmpeg.org/releases/ffmpeg-{ffmpeg_version}.tar.xz"


def _fetch(url: str, out: Path) -> None:
    target = out / url.rsplit("/", 1)[1]
    if target.exists():
        return
    print(f"fetching {url}", file=sys.stderr, flush=True)
    partial = target.with_suffix(target.suffix + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as sink:  # noqa: S310
        while chunk := response.read(1 << 20):
            sink.write(chunk)
    partial.replace(target)


def main(argv: list[str]) -> int:
    """Download each archive into OUT_DIR (skipping those already there)."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for url in source_urls(version("PySide6_Essentials")):
        _fetch(url, out)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from licenses import ffmpeg_build

    build = ffmpeg_build()
    if build is None:
        print("PyAV is not installed: the bundle has no FFmpeg, so no FFmpeg source to publish", file=sys.stderr)
        return 0
    _fetch(ffmpeg_url(build.version), out)
    # PyAV's own source (BSD-3-Clause), exactly the installed version.
    pip = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "--dest", str(out)]
    subprocess.run([*pip, f"av=={version('av')}"], check=True)  # noqa: S603 - our own arguments
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
