"""The settings schema and file: validation, atomic writes, corruption, unknown keys, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.config.profiles import EndpointProfile, Flavor, ProfileBook, ProfileError, preset
from desktop.config.schema import BY_KEY, SCHEMA
from desktop.config.settings import SettingsStore, UnknownSettingError


def test_schema_defaults_are_valid_and_described() -> None:
    for setting in SCHEMA:
        assert setting.coerce(setting.default) == setting.default
        assert setting.description and setting.label
    assert len(BY_KEY) == len(SCHEMA)


def test_code_uses_only_declared_keys() -> None:
    """Every settings key the app reads or writes is declared in the schema."""
    import re

    root = Path(__file__).resolve().parents[2] / "desktop"
    used = set()
    for path in root.rglob("*.py"):
        used |= set(re.findall(r'settings\.(?:get|set|reset)\("([a-z_.]+)"', path.read_text(encoding="utf-8")))
    assert used, "the scan found no settings use at all"
    assert used <= set(BY_KEY), used - set(BY_KEY)


def test_round_trip_and_validation(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "s.json")
    store.set("images.token_budget", 1200)
    store.set("chat.thinking", "off")
    again = SettingsStore(tmp_path / "s.json")
    assert again.get("images.token_budget") == 1200 and again.get("chat.thinking") is False
    with pytest.raises(ValueError, match="between"):
        store.set("images.token_budget", 99999)
    with pytest.raises(ValueError, match="one of"):
        store.set("capture.scope", "moon")
    with pytest.raises(UnknownSettingError):
        store.get("no.such.key")


def test_listeners_hear_changes(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "s.json")
    heard: list[tuple[str, object]] = []
    store.subscribe(lambda k, v: heard.append((k, v)))
    store.set("capture.scope", "all")
    store.set("capture.scope", "all")
    assert heard == [("capture.scope", "all")]


def test_corrupt_file_is_kept_aside_and_defaults_used(tmp_path: Path, expect_log: object) -> None:
    expect_log("could not be read")  # type: ignore[operator]
    path = tmp_path / "s.json"
    path.write_text("{ not json", encoding="utf-8")
    store = SettingsStore(path)
    assert store.recovered_from is not None and store.recovered_from.read_text(encoding="utf-8") == "{ not json"
    assert store.get("images.token_budget") == BY_KEY["images.token_budget"].default


def test_keys_from_a_newer_version_survive_a_save(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"schema_version": 1, "future.feature": 3, "chat.thinking": False}), encoding="utf-8")
    store = SettingsStore(path)
    store.set("capture.scope", "all")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["future.feature"] == 3 and data["capture.scope"] == "all" and data["chat.thinking"] is False


def test_bad_values_in_the_file_fall_back_to_defaults(tmp_path: Path, expect_log: object) -> None:
    expect_log("Ignoring bad value")  # type: ignore[operator]
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"images.token_budget": "lots"}), encoding="utf-8")
    assert SettingsStore(path).get("images.token_budget") == BY_KEY["images.token_budget"].default


def test_profiles_fresh_install_and_edits(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "s.json")
    book = ProfileBook(store)
    assert [p.flavor for p in book.all()] == [Flavor.ZAI, Flavor.BIGMODEL, Flavor.VLLM]
    local = book.upsert(preset(Flavor.SGLANG, base_url="http://127.0.0.1:30000/v1/chat/completions/"))
    assert local.base_url == "http://127.0.0.1:30000/v1"
    book.set_active(local.id, "glm-x")
    reread = ProfileBook(SettingsStore(tmp_path / "s.json"))
    assert reread.active() == local and reread.active_model() == "glm-x"
    reread.remove(local.id)
    assert reread.get(local.id) is None
    assert "api_key" not in (tmp_path / "s.json").read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "url"), [("", "http://x/v1"), ("x", "ftp://x"), ("x", "localhost:8000")])
def test_invalid_profiles_say_what_to_fix(name: str, url: str) -> None:
    with pytest.raises(ProfileError):
        EndpointProfile(name=name, flavor=Flavor.CUSTOM, base_url=url, model="m").validated()


def test_malformed_profile_in_file_is_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"endpoint.profiles": [{"id": "a", "name": "ok", "flavor": "vllm",
                                                        "base_url": "http://127.0.0.1:8000/v1"},
                                                       {"id": "b", "flavor": "warp-drive"}]}), encoding="utf-8")
    book = ProfileBook(SettingsStore(path))
    assert [p.id for p in book.all()] == ["a"] and len(book.skipped) == 1


def test_config_cli_is_derived_from_the_schema(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "desktop", "config", *args], env=env, capture_output=True,
                              text=True, timeout=60, check=False)

    listed = cli("list").stdout
    for setting in SCHEMA:
        if setting.type is not list:
            assert setting.key in listed
    assert cli("set", "images.token_budget", "1500").returncode == 0
    assert cli("get", "images.token_budget").stdout.strip() == "1500"
    bad = cli("set", "images.token_budget", "9")
    assert bad.returncode == 2 and "between" in bad.stderr
    unknown = cli("get", "nope")
    assert unknown.returncode == 2 and "config list" in unknown.stderr
