#!/usr/bin/env python3
"""Set up GLM-V Desktop from this source tree and run it, or run its whole test suite.

    python3 installers/from_source.py run [glmv-desktop arguments]
    python3 installers/from_source.py test [pytest arguments]

Both install the Debian/Ubuntu packages they need (with sudo when not root), create `.venv`
with the Python dependencies (re-installed only when pyproject.toml changes), and then start
the app, or run ruff, mypy and pytest. Each stage says on stderr what it does and how long it
took, with the output of apt-get and pip, so an install is never mistaken for a hung start.
Only the standard library is used here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
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
    # Office and OpenDocument files become PDF pages through LibreOffice (no recommends: no Java, no GUI extras).
    "libreoffice-impress", "libreoffice-writer", "libreoffice-calc",
    # GPU servers over SSH: a real sshd on 127.0.0.1 started by the tests, and the client the app uses.
    "openssh-server", "openssh-client",
    # A real Chinese input method for the input tests: IBus with its pinyin engine.
    "ibus", "ibus-libpinyin",
]

# What `installers/build.py linux` adds: building the .deb, checking its menu entry and metadata, and a
# headless Wayland compositor to try the bundle on.
PACKAGING_PACKAGES = TEST_PACKAGES + ["dpkg-dev", "desktop-file-utils", "appstream", "flatpak-builder", "weston"]


def log(message: str) -> None:
    """Progress on stderr, so the app's and the tests' own output stay clean."""
    print(f"[from_source] {message}", file=sys.stderr, flush=True)


def took(started: float) -> str:
    """The time since `started` (time.monotonic()), for the stage lines."""
    return f"{time.monotonic() - started:.1f} s"


def run_stage(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    """Run a setup command with its output shown on stderr; if it fails, say so and exit with its status."""
    code = subprocess.call(command, stdout=sys.stderr, env=env)
    if code != 0:
        log(f"{what} failed (exit {code}); its output above says why")
        sys.exit(code)


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
    started = time.monotonic()
    if shutil.which("dpkg-query") is None:
        log("system packages: not checked (no dpkg here; on Debian/Ubuntu this step installs what Qt needs)")
        return
    missing = missing_packages(packages)
    if not missing:
        log(f"system packages: all {len(packages)} present (checked in {took(started)})")
        return
    prefix = [] if os.geteuid() == 0 else (["sudo"] if shutil.which("sudo") else None)
    command = "apt-get install -y --no-install-recommends " + " ".join(missing)
    if prefix is None or shutil.which("apt-get") is None:
        sys.exit(f"Missing system packages: {' '.join(missing)}\nInstall them (as root): {command}")
    log(f"system packages: installing {' '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not os.environ.get("GLMV_APT_UPDATED"):
        run_stage([*prefix, "apt-get", "update", "-q"], "apt-get update", env)
    run_stage([*prefix, "apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], "apt-get install",
              env)
    log(f"system packages: installed {len(missing)} in {took(started)}")


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
    if python.exists():
        log(f"virtual environment: using {VENV.name}")
    else:
        interpreter = pick_python()
        log(f"creating {VENV.name} with {interpreter}")
        started = time.monotonic()
        run_stage([interpreter, "-m", "venv", str(VENV)], "creating the virtual environment")
        log(f"created {VENV.name} in {took(started)}")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".installed-{extras or 'app'}"
    if stamp.exists() and stamp.read_text() == digest:
        log(f"Python dependencies are up to date ({extras or 'app'}: pyproject.toml is unchanged since they were "
            "installed)")
        return python
    target = f"{ROOT}[{extras}]" if extras else str(ROOT)
    log(f"installing the Python dependencies ({extras or 'app'}) with pip; the first time downloads them and takes "
        "a few minutes")
    started = time.monotonic()
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--editable", target]
    if not sys.stderr.isatty() and "PIP_PROGRESS_BAR" not in os.environ:
        # In a log the bar's redraws are noise; pip's "Downloading … (size)" lines still show the progress.
        command[4:4] = ["--progress-bar", "off"]
    run_stage(command, "pip")
    stamp.write_text(digest)
    log(f"Python dependencies installed in {took(started)}")
    return python


def run_app(args: list[str]) -> int:
    """Set up and start the app (in the tray)."""
    started = time.monotonic()
    install_system_packages(RUN_PACKAGES)
    ensure_venv("")
    program = VENV / "bin" / "glmv-desktop"
    log(f"setup done in {took(started)}; starting GLM-V Desktop as {program} (its commands, such as "
        f"'{program} quit', work from another terminal)")
    return subprocess.call([str(program), *args])


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
