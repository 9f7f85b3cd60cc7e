"""The Linux packaging pieces that need no build: the menu entry and AppStream metadata pass their validators,
install.sh is valid shell, the bundle check spots a library taken from the build machine, and the Flatpak
manifest builds from this version's tarball. (`installers/build.py linux`, run by .ci/run, builds and
installs the real packages.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "installers"))

from desktop import DESKTOP_ID, __version__  # noqa: E402

import build  # noqa: E402
import linux_packages  # noqa: E402


def test_the_version_built_is_the_apps() -> None:
    assert build.version() == __version__


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils is not installed")
def test_the_menu_entry_is_valid_and_offers_the_capture_actions(tmp_path: Path) -> None:
    entry = tmp_path / f"{DESKTOP_ID}.desktop"
    entry.write_text(linux_packages.desktop_entry("glmv-desktop"))
    completed = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0 and completed.stdout == "", completed.stdout
    text = entry.read_text()
    assert f"Icon={DESKTOP_ID}" in text and "Exec=glmv-desktop capture region" in text


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream is not installed")
def test_the_appstream_metadata_is_valid(tmp_path: Path) -> None:
    metainfo = tmp_path / f"{DESKTOP_ID}.metainfo.xml"
    metainfo.write_text(linux_packages.metainfo())
    completed = subprocess.run(["appstreamcli", "validate", "--no-net", str(metainfo)], capture_output=True,
                               text=True, check=False)
    assert completed.returncode == 0, completed.stdout
    assert f"<release version=\"{__version__}\"" in metainfo.read_text()
    assert linux_packages.license_id() == "Apache-2.0"


def test_install_sh_is_valid_shell(tmp_path: Path) -> None:
    script = tmp_path / "install.sh"
    script.write_text(linux_packages.INSTALL_SH.replace("__ID__", DESKTOP_ID))
    assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0


def test_the_bundle_check_names_a_library_taken_from_the_build_machine(tmp_path: Path) -> None:
    internal = tmp_path / "_internal"
    (internal / "PySide6" / "Qt" / "lib").mkdir(parents=True)
    (internal / "PySide6" / "Qt" / "lib" / "libQt6Core.so.6").write_bytes(b"")
    (internal / "libQt6Core.so.6").symlink_to("PySide6/Qt/lib/libQt6Core.so.6")  # a link into a wheel: fine
    (internal / "libpython3.11.so.1.0").write_bytes(b"")  # Python's own: fine
    (internal / "_cffi_backend.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")  # an extension module: fine
    (internal / "libgtk-3.so.0").write_bytes(b"")  # the build machine's GTK: not fine
    assert linux_packages.check_bundled_libraries(tmp_path) == ["libgtk-3.so.0"]


def test_the_flatpak_manifest_builds_from_this_versions_tarball() -> None:
    text = linux_packages.FLATPAK_MANIFEST.read_text()
    assert f"path: ../../../dist/glmv-desktop-{__version__}-linux-x86_64.tar.gz" in text
    assert f"id: {DESKTOP_ID}" in text
    for permission in linux_packages.FLATPAK_NEEDS:
        assert f"- {permission}" in text


def test_the_sources_published_are_those_of_the_bundled_versions() -> None:
    import release_sources

    assert release_sources.ffmpeg_url("8.1.2") == "https://ffmpeg.org/releases/ffmpeg-8.1.2.tar.xz"
    urls = release_sources.source_urls("6.11.3")
    assert urls[0] == "https://download.qt.io/official_releases/qt/6.11/6.11.3/submodules/qtbase-everywhere-src-6.11.3.tar.xz"
    assert urls[-1].endswith("/PySide6-6.11.3-src/pyside-setup-everywhere-src-6.11.3.tar.xz")
    assert {url.rsplit("/", 1)[1].split("-everywhere")[0] for url in urls} == {
        "qtbase", "qtsvg", "qtwayland", "qttranslations", "pyside-setup"}
