#!/usr/bin/env python3
"""Build GLM-V Desktop's installers, and check each one the way a user would meet it.

    python3 installers/build.py linux          # freeze, .deb + tarball, install each, smoke-test, remove
    python3 installers/build.py freeze         # the PyInstaller one-folder app in dist/ (any OS)
    python3 installers/build.py smoke EXE      # run EXE --smoke-test (on Linux under its own Xvfb if needed)
    python3 installers/build.py icons          # .ico / .icns / PNGs from the SVG icon into build/icons
    python3 installers/build.py version        # the version being built

`linux` sets up `.venv` like `from_source.py` (with PyInstaller) and re-runs itself there; the other
commands run in whatever Python starts them (the release workflow's). Only the standard library is
used until the venv exists. Everything is written to `dist/` (artifacts) and `build/` (scratch).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
BUILD = ROOT / "build"
APP_DIR_NAME = "glmv-desktop"
SMOKE_TIMEOUT_S = 120
# Lines a healthy start may print on stderr (none so far); anything else fails the smoke test.
ALLOWED_STDERR: tuple[re.Pattern[str], ...] = ()


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[build] {message}", file=sys.stderr, flush=True)


def version() -> str:
    """The version in desktop/__init__.py."""
    text = (ROOT / "desktop" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if match is None:
        sys.exit("No __version__ in desktop/__init__.py")
    return match.group(1)


# -- icons and notices ----------------------------------------------------------------------------------------
def make_icons() -> Path:
    """Render the SVG icon to PNGs (hicolor sizes), an .ico and an .icns, with Qt and Pillow."""
    out = BUILD / "icons"
    out.mkdir(parents=True, exist_ok=True)
    code = f"""
import os, sys
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
from PIL import Image
app = QGuiApplication([])
renderer = QSvgRenderer({str(ROOT / "resources" / "icons" / "glmv-desktop.svg")!r})
out = {str(out)!r}
for size in (16, 24, 32, 48, 64, 128, 256, 512, 1024):
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    image.save(os.path.join(out, f"{{size}}.png"))
big = Image.open(os.path.join(out, "1024.png"))
big.save(os.path.join(out, "glmv-desktop.ico"), sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
big.save(os.path.join(out, "glmv-desktop.icns"))
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    return out


def write_notices(out: Path) -> Path:
    """LICENSE.txt and THIRD-PARTY-NOTICES.txt for the bundle (see docs/adr/006-license.md)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "LICENSE", out / "LICENSE.txt")
    # With PyAV's FFmpeg (x264, x265) the bundle as a whole is GPL-3.0-or-later (docs/adr/006-license.md).
    subprocess.run([sys.executable, str(ROOT / "installers" / "licenses.py"), str(out / "THIRD-PARTY-NOTICES.txt")],
                   check=True, cwd=ROOT)
    return out


# -- freezing -----------------------------------------------------------------------------------------------------
def freeze() -> Path:
    """The one-folder app: dist/glmv-desktop/ (dist/GLM-V Desktop.app on macOS); returns the executable."""
    icons = make_icons()
    notices = write_notices(BUILD / "notices")
    icon = {"win32": icons / "glmv-desktop.ico", "darwin": icons / "glmv-desktop.icns"}.get(sys.platform)
    env = {**os.environ, "GLMV_NOTICES_DIR": str(notices), "GLMV_ICON": str(icon) if icon else "",
           "PYTHONDONTWRITEBYTECODE": "1"}
    log("freezing with PyInstaller (a few minutes)")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
                    "--distpath", str(DIST), "--workpath", str(BUILD / "pyinstaller"),
                    str(ROOT / "installers" / "pyinstaller" / "glmv-desktop.spec")], check=True, env=env, cwd=ROOT)
    folder = DIST / APP_DIR_NAME
    for name in ("LICENSE.txt", "THIRD-PARTY-NOTICES.txt"):  # beside the executable, where users look
        shutil.copy(notices / name, folder / name)
    if sys.platform == "darwin":  # the .app has them in Contents/Resources already (the spec's datas)
        executable = DIST / "GLM-V Desktop.app" / "Contents" / "MacOS" / "glmv-desktop"
    else:
        executable = folder / ("glmv-desktop.exe" if sys.platform == "win32" else "glmv-desktop")
    log(f"frozen in {time.monotonic() - started:.0f} s: {folder} ({folder_size(folder) / 1e6:.0f} MB)")
    return executable


def folder_size(path: Path) -> int:
    """Bytes of every file below `path` (links not followed)."""
    return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


# -- the smoke test -------------------------------------------------------------------------------------------------
def smoke(executable: Path | str, *, env: dict[str, str] | None = None) -> None:
    """Run `executable --smoke-test`; exit with its output when it fails or says anything unexpected on stderr."""
    environment = {**os.environ, **(env or {})}
    with _Display(environment):
        log(f"smoke test: {executable} --smoke-test")
        completed = subprocess.run([str(executable), "--smoke-test"], capture_output=True, text=True,
                                   timeout=SMOKE_TIMEOUT_S, env=environment, check=False)
    sys.stdout.write(completed.stdout)
    unexpected = [line for line in completed.stderr.splitlines()
                  if line.strip() and not any(p.search(line) for p in ALLOWED_STDERR)]
    if completed.returncode != 0 or unexpected:
        sys.stderr.write(completed.stderr)
        sys.exit(f"smoke test of {executable} failed (exit {completed.returncode}"
                 f"{', unexpected stderr' if unexpected else ''})")
    log("smoke test passed")


class _Display:
    """Xvfb with a tray host when there is no display on Linux; nothing elsewhere."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> _Display:
        if not sys.platform.startswith("linux") or self.env.get("DISPLAY") or self.env.get("WAYLAND_DISPLAY"):
            return self
        if shutil.which("Xvfb") is None:
            sys.exit("No display, and no Xvfb to make one: install xvfb (and trayer for the tray).")
        number = 90 + os.getpid() % 400
        self.processes.append(subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1920x1080x24", "-nolisten",
                                                "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.env["DISPLAY"] = f":{number}"
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists() and time.monotonic() < deadline:  # noqa: S108
            time.sleep(0.05)
        if shutil.which("trayer"):
            self.processes.append(subprocess.Popen(["trayer", "--edge", "top", "--align", "right"], env=self.env,
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.5)
        for name in ("XDG_SESSION_TYPE", "WAYLAND_DISPLAY"):
            self.env.pop(name, None)
        return self

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            process.terminate()
            process.wait(timeout=10)


# -- Linux packages -------------------------------------------------------------------------------------------------
def main() -> int:
    """Dispatch the commands in the module docstring."""
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "version":
        print(version())
        return 0
    if command == "icons":
        print(make_icons())
        return 0
    if command == "freeze":
        print(freeze())
        return 0
    if command == "smoke" and rest:
        smoke(rest[0])
        return 0
    if command == "linux":
        from linux_packages import build_and_check  # installers/linux_packages.py

        return build_and_check(rest)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
