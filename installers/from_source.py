#!/usr/bin/env python3
"""Set up GLM-V Desktop from this source tree and run it, or run its whole test suite.

    python3 installers/from_source.py run [glmv-desktop arguments]
    python3 installers/from_source.py test [pytest arguments]

Both install the Debian/Ubuntu packages they need (with sudo when not root), create `.venv`
with the Python dependencies (re-installed only when pyproject.toml changes), and then start
the app, or run ruff, mypy and pytest. Only the standard library is used here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"

# What Qt's xcb platform plugin and the app need at run time on a Debian/Ubuntu desktop.
RUN_PACKAGES = [
    "libxcb-cursor0", "libxkbcommon-x11-0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0",
    "libxcb-render-util0", "libxcb-shape0", "libxcb-xkb1", "libxcb-sync1", "libxcb-xfixes0", "libxcb-shm0",
    "libegl1", "libgl1", "libfontconfig1", "libdbus-1-3", "libglib2.0-0", "fonts-dejavu-core",
]
# What the tests add: a real X display, a tray host, a keyring on a private bus, input automation.
TEST_PACKAGES = RUN_PACKAGES + [
    "xvfb", "xauth", "x11-utils", "x11-xserver-utils", "xdotool", "trayer", "dbus", "dbus-x11",
    "gnome-keyring", "libsecret-tools", "procps", "fonts-noto-cjk",
    # Two monitors in tests (Xvfb has one CRTC) and the capture benchmark's reference tool.
    "xserver-xorg-core", "xserver-xorg-video-dummy", "flameshot",
]

# What `installers/build.py linux` adds: building the .deb, checking its menu entry and metadata, and a
# headless Wayland compositor to try the bundle on.
PACKAGING_PACKAGES = TEST_PACKAGES + ["dpkg-dev", "desktop-file-utils", "appstream", "flatpak-builder", "weston"]


def log(message: str) -> None:
    """Progress on stderr, so the app's and the tests' own output stay clean."""
    print(f"[from_source] {message}", file=sys.stderr, flush=True)


def missing_packages(packages: list[str]) -> list[str]:
    """Packages dpkg does not report as installed (none when this is not a dpkg system)."""
    if shutil.which("dpkg-query") is None:
        return []
    missing = []
    for package in packages:
        result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True,
                                check=False)
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


def install_system_packages(packages: list[str]) -> None:
    """apt-get install what is missing, as root or through sudo; otherwise say how."""
    missing = missing_packages(packages)
    if not missing:
        return
    prefix = [] if os.geteuid() == 0 else (["sudo"] if shutil.which("sudo") else None)
    command = "apt-get install -y --no-install-recommends " + " ".join(missing)
    if prefix is None or shutil.which("apt-get") is None:
        sys.exit(f"Missing system packages: {' '.join(missing)}\nInstall them (as root): {command}")
    log(f"installing system packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not os.environ.get("GLMV_APT_UPDATED"):
        subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=env)


def pick_python() -> str:
    """Python 3.11 first (the CPU build of torch for the tests ships for it), else this one if ≥ 3.11."""
    for candidate in ("python3.11", "python3.12", "python3.13"):
        found = shutil.which(candidate)
        if found:
            return found
    if sys.version_info >= (3, 11):
        return sys.executable
    sys.exit("GLM-V Desktop needs Python 3.11 or newer.")


def ensure_venv(extras: str) -> Path:
    """Create .venv and install the project (with `extras`) when pyproject.toml changed."""
    python = VENV / "bin" / "python"
    if not python.exists():
        interpreter = pick_python()
        log(f"creating {VENV.name} with {interpreter}")
        subprocess.run([interpreter, "-m", "venv", str(VENV)], check=True)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".installed-{extras or 'app'}"
    if not stamp.exists() or stamp.read_text() != digest:
        target = f"{ROOT}[{extras}]" if extras else str(ROOT)
        log(f"installing the Python dependencies ({extras or 'app'}); the first time takes a few minutes")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--editable", target], check=True)
        stamp.write_text(digest)
    return python


def run_app(args: list[str]) -> int:
    """Set up and start the app (in the tray)."""
    install_system_packages(RUN_PACKAGES)
    ensure_venv("")
    return subprocess.call([str(VENV / "bin" / "glmv-desktop"), *args])


def run_tests(args: list[str]) -> int:
    """Set up and run the whole suite: lint, types, then every test with nothing skipped."""
    install_system_packages(TEST_PACKAGES)
    python = ensure_venv("dev")
    env = {**os.environ, "GLMV_TEST_STRICT": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("DISPLAY", None)  # the suite starts its own displays
    steps = [
        ("ruff", [str(python), "-m", "ruff", "check", "desktop", "tests", "installers", "docs"]),
        ("mypy", [str(python), "-m", "mypy"]),
        ("pytest", [str(python), "-m", "pytest", "-ra", *args]),
    ]
    for name, command in steps:
        log(f"running {name}")
        code = subprocess.call(command, cwd=ROOT, env=env)
        if code != 0:
            log(f"{name} failed (exit {code})")
            return code
    log("all checks passed")
    return 0


def main() -> int:
    """Dispatch `run` / `test` / `system-packages [test|package]`."""
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test", "system-packages"):
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "system-packages":
        wanted = {"test": TEST_PACKAGES, "package": PACKAGING_PACKAGES}.get(rest[0] if rest else "", RUN_PACKAGES)
        install_system_packages(wanted)
        return 0
    return run_app(rest) if command == "run" else run_tests(rest)


if __name__ == "__main__":
    sys.exit(main())
