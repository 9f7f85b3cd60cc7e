"""The installers' third-party notices, built from the real environment's installed metadata (ADR 006)."""

from __future__ import annotations

import hashlib
import sys
from importlib import metadata
from pathlib import Path

import pytest

from installers import licenses

ROOT = Path(__file__).resolve().parents[2]
# SHA-256 of the official texts: the Apache License 2.0 (apache.org's LICENSE-2.0.txt) and the FSF's current
# LGPL-3.0 and GPL-3.0 (with https addresses).
APACHE_2_0 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
LGPL_3_0 = "e3a994d82e644b03a792a930f574002658412f62407f5fee083f2555c5f23118"
GPL_3_0 = "3972dc9744f6499f0f9b2dbf76696f2ae7ad8af9b23dde66d6af86c9dfb36986"


@pytest.fixture(scope="module")
def closure() -> list[str]:
    return licenses.runtime_distributions()


@pytest.fixture(scope="module")
def notices(closure: list[str], tmp_path_factory: pytest.TempPathFactory) -> str:
    out = licenses.write_notices(tmp_path_factory.mktemp("notices") / "THIRD-PARTY-NOTICES.txt", closure)
    return out.read_text(encoding="utf-8")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dist_file_text(distribution: str, name: str) -> str:
    """The text of a file `name` in `distribution`'s .dist-info, line ends made LF."""
    dist = metadata.distribution(distribution)
    files = [f for f in dist.files or [] if f.name == name and ".dist-info" in str(f)]
    assert files, f"{distribution} ships no {name}"
    text = Path(str(dist.locate_file(files[0]))).read_text(encoding="utf-8")
    return text.replace("\r\n", "\n").strip("\n")


def test_closure_is_the_apps_runtime_and_nothing_from_dev(closure: list[str]) -> None:
    names = {licenses.normalize(name) for name in closure}
    assert {"pyside6-essentials", "shiboken6", "httpx", "mss", "pillow", "keyring", "qasync", "av", "platformdirs",
            "markdown-it-py", "mdit-py-plugins", "pygments", "httpcore", "certifi"} <= names
    if sys.platform == "linux":
        assert {"python-xlib", "jeepney", "secretstorage"} <= names
    assert not names & {"glmv-desktop", "pytest", "pytest-qt", "pytest-timeout", "ruff", "mypy", "psutil", "torch",
                        "transformers", "numpy"}
    assert closure == sorted(closure, key=licenses.normalize)
    assert "PySide6_Essentials" in closure or "PySide6-Essentials" in closure  # spelled as its metadata does


def test_the_simple_marker_evaluator_agrees_with_packaging() -> None:
    pytest.importorskip("packaging")
    markers = {line.partition(";")[2].strip() for dist in metadata.distributions() for line in dist.requires or []
               if ";" in line}
    markers |= {'"linux" in sys_platform', 'python_full_version == "3.11.*"', "python_version ~= '3.10'",
                'python_version >= "3.11" and (sys_platform == "win32" or os_name == "posix")',
                "platform_release not in ''"}
    assert len(markers) > 50
    for marker in sorted(markers):
        for extras in (frozenset(), frozenset({"dev"}), frozenset({"tests", "standard"})):
            assert licenses._simple_marker_applies(marker, extras) == licenses.marker_applies(marker, extras), (
                marker, extras)


def test_the_notices_name_every_distribution_with_its_version_and_license(notices: str, closure: list[str]) -> None:
    assert notices.startswith("GLM-V Desktop: third-party notices\n")
    assert "licensed under the Apache License, Version 2.0 (Apache-2.0)" in notices
    for name in closure:
        dist = metadata.distribution(name)
        assert f"\n{dist.metadata['Name']} {dist.version}\n" in notices, name
        assert f"License: {licenses.license_of(dist)}\n" in notices, name


def test_the_notices_carry_the_full_license_texts(notices: str) -> None:
    for distribution, name in [("pillow", "LICENSE"), ("httpx", "LICENSE.md"), ("certifi", "LICENSE"),
                               ("qasync", "LICENSE"), ("cryptography", "LICENSE.APACHE")]:
        text = dist_file_text(distribution, name)
        assert len(text) > 500 and text in notices, (distribution, name)
    assert "Copyright © 2019, [Encode OSS Ltd](https://www.encode.io/)." in notices  # httpx's BSD-3-Clause
    if sys.platform == "linux":
        xlib = dist_file_text("python-xlib", "LICENSE")
        assert "GNU LESSER GENERAL PUBLIC LICENSE" in xlib[:100] and "Version 2.1, February 1999" in xlib[:200]
        assert xlib in notices


def test_qt_section_states_the_lgpl_and_where_the_source_is(notices: str) -> None:
    version = metadata.version("PySide6_Essentials")
    qt = ".".join(version.split(".")[:3])
    major_minor = ".".join(version.split(".")[:2])
    assert f"\nQt {qt} and Qt for Python (PySide6_Essentials {version}, shiboken6 {version})\n" in notices
    assert "License: GNU Lesser General Public License v3 (LGPL-3.0-only)" in notices
    assert f"https://download.qt.io/archive/qt/{major_minor}/{qt}/single/qt-everywhere-src-{qt}.tar.xz" in notices
    assert f"(tag v{version})" in notices
    assert "reverse engineering" in notices
    assert licenses._LGPL_3_0 in notices and licenses._GPL_3_0 in notices


def test_embedded_gnu_texts_and_the_projects_license_are_the_official_ones() -> None:
    assert sha256(licenses._LGPL_3_0) == LGPL_3_0
    assert sha256(licenses._GPL_3_0) == GPL_3_0
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licenses.PROJECT_LICENSE == "Apache-2.0" and "Apache License\n" in text
    assert sha256(text) == APACHE_2_0
    # The same text as a dependency's copy of the Apache License 2.0.
    assert text.strip("\n") == dist_file_text("lazy-importer", "LICENSE")


def test_ffmpeg_facts_come_from_the_bundled_libavcodec(notices: str) -> None:
    build = licenses.ffmpeg_build()
    assert build is not None
    core = pytest.importorskip("av._core")
    meta = core.library_meta["libavcodec"]
    assert (build.license, build.configuration, build.version) == (
        meta["license"], meta["configuration"], core.ffmpeg_version_info)
    assert any("avcodec" in name for name in build.libraries)
    links_gpl = "--enable-libx264" in build.configuration or any("x264" in name for name in build.libraries)
    assert ("x264" in build.gpl_components) == links_gpl
    assert build.effective_license.startswith("GPL") == bool(build.gpl_components or "--enable-gpl" in
                                                               build.configuration)
    assert f"\nFFmpeg {build.version} (bundled with av {metadata.version('av')})\n" in notices
    assert f"Configuration (avcodec_configuration()):\n  {build.configuration}\n" in notices
    assert f"License of the bundled combination: {build.effective_license}\n" in notices


def test_with_a_gpl_ffmpeg_the_whole_bundle_is_conveyed_under_the_gpl(notices: str, tmp_path: Path) -> None:
    build = licenses.ffmpeg_build()
    assert build is not None and build.gpl_components, "this environment's PyAV should bundle x264"
    header = notices.split("Contents:")[0]
    assert "conveyed under\nthe GNU General Public License version 3 or later (GPL-3.0-or-later)" in header
    assert "linked with x264 and x265" in header
    assert "own source code stays under the Apache License, Version 2.0" in header
    # Without PyAV nothing in the bundle is GPL, and the header says nothing of it.
    out = licenses.write_notices(tmp_path / "n.txt", licenses.runtime_distributions(licenses.ROOT_DISTRIBUTION),
                                 exclude={"av"})
    assert "GPL-3.0-or-later" not in out.read_text(encoding="utf-8").split("Contents:")[0]


def test_the_build_bundles_pyav_and_its_notices() -> None:
    spec = (ROOT / "installers" / "pyinstaller" / "glmv-desktop.spec").read_text(encoding="utf-8")
    excludes = spec.split("EXCLUDES = [", 1)[1].split("]", 1)[0]
    assert '"av"' not in excludes
    build = (ROOT / "installers" / "build.py").read_text(encoding="utf-8")
    assert '"--exclude", "av"' not in build


def test_excluded_distributions_are_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "THIRD-PARTY-NOTICES.txt"
    assert licenses.main([str(out), "--exclude", "av", "--exclude", "Pygments"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_text(encoding="utf-8")
    assert f"\nav {metadata.version('av')}\n" not in text and "bundled with av" not in text
    assert "libavcodec" not in text and "libx264" not in text
    assert f"\nPygments {metadata.version('pygments')}\n" not in text
    assert f"\nhttpx {metadata.version('httpx')}\n" in text and "\nQt " in text


def test_the_closure_is_the_same_without_packaging(closure: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "packaging.markers", None)  # `from packaging.markers import …` now fails
    assert licenses.runtime_distributions() == closure
