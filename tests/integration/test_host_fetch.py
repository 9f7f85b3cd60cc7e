"""The fetcher the app runs on SSH hosts (desktop/backends/host_fetch.py), run here against the model hub on
127.0.0.1: resume after a cut, a server that ignores Range, a gated hub, a damaged file, no room, and the
token kept from other hosts on a redirect. (Its life as a job on a real host is in test_remote_jobs.py.)"""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from desktop.assistant.remote_models import fetch_error, parse_fetch_line
from desktop.backends import host_fetch
from desktop.backends.catalog import CATALOG
from desktop.backends.downloads import DownloadProgress, ModelSource, file_url
from desktop.backends.remote import HOST_MODULES, host_source
from tests.support.fake_model_hub import REPO, TOKEN, FakeModelHub

WEIGHTS = bytes(range(256)) * 4096  # 1 MiB
FILES = {"config.json": b'{"model_type": "glm4v"}', "model.safetensors": WEIGHTS}


def plan_for(hub: FakeModelHub, dest: Path, **sizes: int) -> dict[str, Any]:
    """The plan download_on_host makes from the hub's list (`sizes` overrides a listed size)."""
    return {"dest": str(dest), "files": [
        {"path": name, "size": sizes.get(name.replace(".", "_"), len(data)), "sha256": hub.listed_sha(name),
         "url": file_url(ModelSource.HUGGING_FACE, hub.url, REPO, "main", name)} for name, data in hub.files.items()]}


def run(plan: dict[str, Any], token: str | None = None) -> tuple[int, list[DownloadProgress], dict[str, Any] | None]:
    """The fetcher as the host runs it (its own process, the plan in its environment); its exit status, its
    progress and its failure, as the app reads its output."""
    env = {"GLMV_FETCH_PLAN": json.dumps(plan), "PATH": "/usr/bin:/bin", **({"GLMV_HUB_TOKEN": token} if token else {})}
    done = subprocess.run([sys.executable, str(Path(host_fetch.__file__))], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    events = [parse_fetch_line(line) for line in done.stdout.splitlines()]
    progress = [e for e in events if isinstance(e, DownloadProgress)]
    failures = [e for e in events if isinstance(e, dict)]
    assert done.stderr == "", done.stderr
    return done.returncode, progress, failures[-1] if failures else None


def test_a_cut_download_is_resumed_and_checked(tmp_path: Path) -> None:
    with FakeModelHub(FILES) as hub:
        hub.cut["model.safetensors"] = (300_000, 2)  # two answers dropped part-way
        code, progress, failure = run(plan_for(hub, tmp_path / "m"))
        ranges = [r.range for r in hub.file_requests("model.safetensors") if r.file and r.path.startswith("/cdn/")]
    assert (code, failure) == (0, None)
    assert (tmp_path / "m/model.safetensors").read_bytes() == WEIGHTS
    assert ranges == [None, "bytes=300000-", "bytes=600000-"], "each try continued where the cut left it"
    assert progress[-1].done == progress[-1].total == len(WEIGHTS) + len(FILES["config.json"])
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    assert json.loads((tmp_path / "m/.glmv-complete").read_text())["files"][1]["size"] == len(WEIGHTS)
    assert not (tmp_path / "m/.glmv-downloading").exists() and not list(tmp_path.rglob("*.part"))


def test_a_part_is_continued_and_a_server_ignoring_range_starts_it_again(tmp_path: Path) -> None:
    dest = tmp_path / "m"
    dest.mkdir()
    (dest / "model.safetensors.part").write_bytes(WEIGHTS[:500_000])
    with FakeModelHub(FILES) as hub:
        assert run(plan_for(hub, dest))[0] == 0
        first = [r for r in hub.file_requests("model.safetensors") if r.path.startswith("/cdn/")]
    assert [r.range for r in first] == ["bytes=500000-"] and first[0].sent == len(WEIGHTS) - 500_000
    (dest / "model.safetensors").unlink()
    (dest / "model.safetensors.part").write_bytes(b"x" * 500_000)  # not the file's start: only Range tells
    with FakeModelHub(FILES) as hub:
        hub.ignore_range = True
        code, progress, _failure = run(plan_for(hub, dest))
    assert code == 0 and (dest / "model.safetensors").read_bytes() == WEIGHTS
    assert progress[-1].done == progress[-1].total


def test_failures_are_told_in_a_form_the_app_words(tmp_path: Path) -> None:
    spec = CATALOG[0]
    with FakeModelHub(FILES) as hub:
        hub.gated = True
        refused = run(plan_for(hub, tmp_path / "gated"))
        wrong_token = run(plan_for(hub, tmp_path / "gated"), token="hf_other")
        accepted = run(plan_for(hub, tmp_path / "gated"), token=TOKEN)
        hub.gated = False
        hub.wrong_sha.add("model.safetensors")
        damaged = run(plan_for(hub, tmp_path / "damaged"))
        hub.wrong_sha.clear()
        no_room = run(plan_for(hub, tmp_path / "big", model_safetensors=1 << 60))
    assert refused[0] == 1 and refused[2] == {"kind": "http", "status": 401, "path": "config.json"}
    assert wrong_token[2] is not None and wrong_token[2]["status"] == 403
    assert accepted[0] == 0 and (tmp_path / "gated/model.safetensors").read_bytes() == WEIGHTS
    assert damaged[2] == {"kind": "damaged", "path": "model.safetensors"}
    assert not (tmp_path / "damaged/model.safetensors").exists() and not list(tmp_path.rglob("damaged/*.part"))
    assert no_room[2] is not None and no_room[2]["kind"] == "space" and not list((tmp_path / "big").glob("*.safe*"))
    # and the app says each in words, with what to do
    words = {name: fetch_error(result[2], spec, ModelSource.HUGGING_FACE, REPO, "gpu-box")
             for name, result in {"refused": refused, "damaged": damaged, "no_room": no_room}.items()
             if result[2] is not None}
    assert words["refused"].message == f"Hugging Face refused access to {REPO} (HTTP 401)."
    assert "access token" in words["refused"].hint
    assert words["damaged"].message == "model.safetensors arrived damaged: its checksum does not match."
    assert words["no_room"].message.startswith(f"Not enough disk space on gpu-box for {spec.name}: ")
    assert str(tmp_path / "big") in words["no_room"].message and "Free some space there" in words["no_room"].hint


def test_a_network_that_keeps_dropping_gives_up_with_the_file_named(tmp_path: Path) -> None:
    with FakeModelHub(FILES) as hub:
        hub.cut["model.safetensors"] = (1000, 99)
        out = io.StringIO()
        with pytest.raises(host_fetch.Failure) as caught:
            host_fetch.fetch(plan_for(hub, tmp_path / "m"), None, out, sleep=lambda _s: None, retry_delays=(0, 0))
    assert caught.value.fields["kind"] == "network" and caught.value.fields["path"] == "model.safetensors"
    assert (tmp_path / "m/model.safetensors.part").stat().st_size == 3000, "what came is kept for the next try"


def test_a_listed_name_outside_the_folder_is_refused(tmp_path: Path) -> None:
    plan = {"dest": str(tmp_path / "m"), "files": [{"path": "../evil", "size": 1, "sha256": None, "url": "x"}]}
    with pytest.raises(host_fetch.Failure) as caught:
        host_fetch.fetch(plan, None, io.StringIO())
    assert caught.value.fields == {"kind": "unsafe_name", "path": "../evil"}
    assert host_fetch.main({}, io.StringIO()) == 2, "no plan"


def test_the_hubs_token_is_not_sent_on_to_another_host() -> None:
    handler = host_fetch._SameHostAuthorization()  # noqa: SLF001
    request = urllib.request.Request("https://hub.example/r/resolve/main/w", headers={
        "Authorization": "Bearer t", "Range": "bytes=5-"})
    elsewhere = handler.redirect_request(request, None, 302, "Found", {}, "https://cdn.example/w?sig=1")
    same = handler.redirect_request(request, None, 302, "Found", {}, "https://hub.example/other")
    assert elsewhere is not None and same is not None
    assert not elsewhere.has_header("Authorization") and elsewhere.get_header("Range") == "bytes=5-"
    assert same.get_header("Authorization") == "Bearer t"


@pytest.mark.parametrize("name", HOST_MODULES)
def test_what_runs_on_hosts_is_python_3_9(name: str) -> None:
    # Hosts run their own Python (3.9 or newer): the grammar of these modules must be 3.9's.
    ast.parse(host_source(name), filename=name, feature_version=(3, 9))


def test_the_probe_is_the_same_bytes_at_any_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # The host's cache names it by its hash: bytes that changed with the clock left a new copy at every probe.
    import time

    from desktop.backends.remote import probe_archive

    probe_archive.cache_clear()
    now = probe_archive()
    probe_archive.cache_clear()
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert probe_archive() == now
