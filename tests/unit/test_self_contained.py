"""The tests and the app read nothing outside the repository: a user's clone has no folders beside it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_BESIDE = '/'.join(('..', 'shared'))  # the folder CI keeps beside a clone (written so no scan mistakes this for a use)
SOURCES = sorted(p for folder in ("desktop", "tests", "installers", "docs") for p in (ROOT / folder).rglob("*.py")
                 if p != Path(__file__).resolve())


def _parents_beyond_root(path: Path) -> list[int]:
    """Lines where `Path(__file__)...parents[N]` (or `.parent` chains) climb above the repository."""
    depth = len(path.relative_to(ROOT).parts) - 1  # parents[depth] is the root itself
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
                and node.value.attr == "parents" and isinstance(node.slice, ast.Constant)
                and isinstance(node.slice.value, int) and node.slice.value > depth):
            lines.append(node.lineno)
    return lines


def _strings_reaching_out(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                _BESIDE in node.value or node.value == _BESIDE.rsplit('/', 1)[1]):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_source_climbs_out_of_the_repository(path: Path) -> None:
    # GIVEN any module of the app, its tests, installers or docs scripts
    # THEN no path in it is built above the repository's root
    assert _parents_beyond_root(path) == [], f"{path.name} builds a path above the repository"
    assert _strings_reaching_out(path) == [], f"{path.name} names a folder outside the repository"


def test_the_two_monitor_config_lives_in_the_repository() -> None:
    from tests.support import multi_monitor

    assert multi_monitor.CONFIG.is_file()
    assert multi_monitor.CONFIG.is_relative_to(ROOT)
    assert "Virtual 3840 1080" in multi_monitor.CONFIG.read_text()
