"""Guard against PySide6 6.12 on Python <= 3.11, which drops a reference from None on every void
Qt call until the interpreter aborts (`Fatal Python error: none_dealloc`)."""

from __future__ import annotations

import os
import subprocess
import sys

import PySide6


def test_installed_pyside_is_not_the_broken_combination() -> None:
    major, minor = (int(x) for x in PySide6.__version__.split(".")[:2])
    assert not (sys.version_info < (3, 12) and (major, minor) >= (6, 12)), (
        f"PySide6 {PySide6.__version__} on Python {sys.version.split()[0]} crashes; pyproject pins <6.12 on 3.11")


def test_200k_void_qt_calls_do_not_crash() -> None:
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication, QWidget\n"
        "app = QApplication(sys.argv[:1])\n"
        "w = QWidget()\n"
        "before = sys.getrefcount(None)\n"
        "for i in range(200_000):\n"
        "    w.move(i % 50, 0)\n"
        "    w.setObjectName('x')\n"
        "print(sys.getrefcount(None) - before)\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert abs(int(result.stdout.strip().splitlines()[-1])) < 1000
