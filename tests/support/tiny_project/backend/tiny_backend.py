"""A PEP 517/660 build backend of a few lines: pip builds this project's wheel (or editable wheel) with
nothing to fetch, so an install of it works offline."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

NAME, VERSION = "tiny_app", "0.1"
ROOT = Path(__file__).resolve().parent.parent
DIST_INFO = f"{NAME}-{VERSION}.dist-info"


def _wheel(directory: str, files: dict[str, str]) -> str:
    files = {
        **files,
        f"{DIST_INFO}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n",
        f"{DIST_INFO}/WHEEL": "Wheel-Version: 1.0\nGenerator: tiny_backend\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n",
        f"{DIST_INFO}/entry_points.txt": "[console_scripts]\nglmv-desktop = tiny_app:main\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{DIST_INFO}/RECORD"] = "\n".join([*record, f"{DIST_INFO}/RECORD,,"]) + "\n"
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(Path(directory) / name, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return name


def build_wheel(wheel_directory: str, config_settings: object = None, metadata_directory: object = None) -> str:
    """A wheel with the module in it."""
    return _wheel(wheel_directory, {"tiny_app.py": (ROOT / "tiny_app.py").read_text(encoding="utf-8")})


def build_editable(wheel_directory: str, config_settings: object = None, metadata_directory: object = None) -> str:
    """An editable wheel: a .pth file that puts this folder on the path."""
    return _wheel(wheel_directory, {"tiny_app.pth": f"{ROOT}\n"})
