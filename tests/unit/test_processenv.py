"""The environment of the programs a frozen app starts: the library path its bundle set is taken back."""

from __future__ import annotations

import sys

import pytest

from desktop.processenv import child_environment


def test_a_frozen_app_gives_children_the_library_path_it_was_started_with(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/glmv-desktop/_internal")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/local/cuda/lib64")
    env = child_environment({"PYTHONUNBUFFERED": "1"})
    assert env["LD_LIBRARY_PATH"] == "/usr/local/cuda/lib64" and "LD_LIBRARY_PATH_ORIG" not in env
    assert env["PYTHONUNBUFFERED"] == "1"


def test_with_no_original_the_bundles_library_path_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/glmv-desktop/_internal")
    monkeypatch.delenv("LD_LIBRARY_PATH_ORIG", raising=False)
    assert "LD_LIBRARY_PATH" not in child_environment()


def test_from_source_the_environment_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sys, "frozen", raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/local/cuda/lib64")
    assert child_environment()["LD_LIBRARY_PATH"] == "/usr/local/cuda/lib64"
