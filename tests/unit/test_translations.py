"""The Simplified Chinese catalog: every user-visible string has a translation with the same placeholders, the
compiled catalog is the one the .po makes, and the app (its Python strings, argparse's, Qt's) speaks Chinese
when the system or the setting asks for it."""

from __future__ import annotations

import gettext
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "installers"))

import translations  # noqa: E402

from desktop import i18n  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_every_user_visible_string_has_a_simplified_chinese_translation() -> None:
    wrong = translations.problems("zh_CN")
    assert not wrong, "\n".join(wrong[:40]) + (f"\n… and {len(wrong) - 40} more" if len(wrong) > 40 else "")


def test_the_catalog_finds_every_string_the_source_gives_to_the_translation_function(tmp_path: Path) -> None:
    package = tmp_path / "desktop"
    package.mkdir()
    (package / "a.py").write_text('x = _("One line")\ny = _("Two "\n      "parts {n}")\nz = _(name)\n')
    found = translations.extract(package)
    assert "One line" in found and "Two parts {n}" in found
    assert "usage: " in found, "argparse's own strings too"
    assert translations.not_literal(package) == [f"{package}/a.py:4"]


def test_po_files_and_compiled_catalogs_round_trip(tmp_path: Path) -> None:
    found = {"Plain": ["x:1"], 'With "quotes"\nand a line\n': ["x:2"], "Tab\there {n}": ["x:3"]}
    chinese = {"Plain": "普通", 'With "quotes"\nand a line\n': "带“引号”\n和一行\n", "Tab\there {n}": "制表\t在此 {n}"}
    po = tmp_path / "x.po"
    translations.write_po(po, "zh_CN", found, chinese)
    assert translations.read_po(po) == chinese
    compiled = gettext.GNUTranslations(io.BytesIO(translations.mo_bytes("zh_CN", chinese)))
    assert [compiled.gettext(k) for k in found] == list(chinese.values())
    if subprocess.run(["which", "msgfmt"], capture_output=True).returncode == 0:
        checked = subprocess.run(["msgfmt", "--check-format", "-o", str(tmp_path / "x.mo"), str(po)],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(("environ", "expected"), [
    ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}, "zh_CN"),
    ({"LC_ALL": "zh_SG.UTF-8"}, "zh_CN"),
    ({"LANG": "zh_TW.UTF-8"}, "en"),  # traditional Chinese is not what the catalog holds
    ({"LANG": "de_DE.UTF-8"}, "en"),
    ({"LANGUAGE": "en", "LANG": "zh_CN.UTF-8"}, "en"),
])
def test_the_language_follows_the_system(environ: dict[str, str], expected: str) -> None:
    assert i18n.system_language(environ) == expected


def test_the_app_speaks_chinese_in_its_strings_its_command_line_and_argparse(tmp_path: Path) -> None:
    code = ("from desktop.commands import build_parser; from desktop.config.schema import BY_KEY; "
            "import json; p = build_parser(); "
            "print(json.dumps({'help': p.format_help(), 'label': BY_KEY['chat.thinking'].label}))")
    env = {"PATH": "/usr/bin:/bin", "LANG": "zh_CN.UTF-8", "XDG_CONFIG_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    said = json.loads(out)
    assert said["label"] == translations.read_po(translations.catalog("zh_CN")[0])["Thinking"]
    assert said["help"].startswith(translations.read_po(translations.catalog("zh_CN")[0])["usage: "])
    assert "截取屏幕" in said["help"] or "截图" in said["help"], said["help"][:400]
    # the setting wins over the system
    (tmp_path / "glmv-desktop").mkdir()
    (tmp_path / "glmv-desktop" / "settings.json").write_text(json.dumps({"ui.language": "en"}))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["label"] == "Thinking"


def test_qt_speaks_chinese_too(tmp_path: Path) -> None:
    code = ("import sys; from desktop.app import GlmvApplication; "
            "from PySide6.QtWidgets import QDialogButtonBox; app = GlmvApplication(sys.argv[:1]); "
            "box = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel); "
            "print(box.button(QDialogButtonBox.StandardButton.Cancel).text())")
    env = {"PATH": "/usr/bin:/bin", "LANG": "zh_CN.UTF-8", "XDG_CONFIG_HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "取消"
