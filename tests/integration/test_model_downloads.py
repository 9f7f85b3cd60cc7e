"""Model downloads against a real local hub: progress, resume, Range quirks, checksums, gating, disk space, cancel."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from desktop.backends.catalog import BY_ID, ModelSpec, Precision
from desktop.backends.downloads import (
    MARKER_NAME,
    DownloadCancelled,
    DownloadError,
    DownloadProgress,
    ModelSource,
    RemoteFile,
    download_model,
    hub_endpoint,
    is_downloaded,
    list_files,
    select_files,
)
from tests.support.fake_model_hub import REPO, TOKEN, FakeModelHub

_rng = random.Random(4)
SHARD_1 = "model-00001-of-00002.safetensors"
SHARD_2 = "model-00002-of-00002.safetensors"
FILES = {
    "config.json": json.dumps({"architectures": ["Glm4vForConditionalGeneration"]}).encode(),
    SHARD_1: _rng.randbytes(300_000),
    SHARD_2: _rng.randbytes(250_000),
    "tokenizer.json": json.dumps({"model": {"type": "BPE", "vocab": {"a": 0}}}).encode(),
}
TOTAL = sum(len(b) for b in FILES.values())
NO_RETRY_WAIT = (0.0, 0.0, 0.0)

SPEC = dataclasses.replace(BY_ID["glm-4.6v-flash"], id="tiny", name="Tiny GLM-V", hf_repo=REPO,
                           modelscope_repo=REPO, download_bytes=TOTAL)


@pytest.fixture
def hub() -> Iterator[FakeModelHub]:
    with FakeModelHub(FILES) as server:
        yield server


def _plenty(_: Path) -> SimpleNamespace:
    return SimpleNamespace(free=10**12)


async def _download(hub: FakeModelHub, dest: Path, *, spec: ModelSpec = SPEC,
                    events: list[DownloadProgress] | None = None,
                    source: ModelSource = ModelSource.HUGGING_FACE, **kwargs: object) -> Path:
    events = [] if events is None else events
    kwargs.setdefault("disk_usage", _plenty)
    kwargs.setdefault("retry_delays", NO_RETRY_WAIT)
    async with httpx.AsyncClient(timeout=10) as client:
        return await download_model(client, spec, dest, source=source, endpoint=hub.url,
                                    on_progress=events.append, **kwargs)  # type: ignore[arg-type]


def _assert_complete(dest: Path, files: dict[str, bytes] = FILES) -> None:
    for name, data in files.items():
        assert (dest / name).read_bytes() == data, name
    assert not list(dest.rglob("*.part"))


def test_endpoints() -> None:
    assert hub_endpoint(ModelSource.HUGGING_FACE) == "https://huggingface.co"
    assert hub_endpoint(ModelSource.HUGGING_FACE, "https://hf-mirror.com/") == "https://hf-mirror.com"
    assert hub_endpoint(ModelSource.MODELSCOPE) == "https://www.modelscope.cn"


def test_full_download_reports_monotonic_progress_and_right_totals(hub: FakeModelHub, tmp_path: Path) -> None:
    dest = tmp_path / "models" / "tiny"
    assert not is_downloaded(SPEC, dest)
    events: list[DownloadProgress] = []

    assert asyncio.run(_download(hub, dest, events=events)) == dest

    _assert_complete(dest)
    assert is_downloaded(SPEC, dest)
    assert events, "no progress reported"
    assert all(e.total == TOTAL and e.files_total == len(FILES) for e in events)
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert [e.files_done for e in events] == sorted(e.files_done for e in events)
    assert all(0 <= e.file_done <= e.file_total == len(FILES[e.file]) for e in events)
    assert (events[-1].done, events[-1].files_done) == (TOTAL, len(FILES))
    marker = json.loads((dest / MARKER_NAME).read_text())
    assert marker["repo"] == REPO and marker["revision"] == "main"
    assert {f["path"] for f in marker["files"]} == set(FILES)
    # The weights came through the CDN redirect, like the real hub's LFS files.
    assert any(r.path.startswith("/cdn/") for r in hub.content_requests())

    # WHEN it runs again THEN nothing is fetched a second time.
    before = len(hub.content_requests())
    asyncio.run(_download(hub, dest))
    assert len(hub.content_requests()) == before


def test_resume_after_a_dropped_connection_fetches_no_byte_twice(hub: FakeModelHub, tmp_path: Path) -> None:
    hub.cut[SHARD_1] = (100_000, 1)
    dest = tmp_path / "tiny"

    asyncio.run(_download(hub, dest))

    _assert_complete(dest)
    first, second = hub.file_requests(SHARD_1)
    assert first.range is None and first.sent == 100_000
    assert second.range == "bytes=100000-" and second.status == 206
    assert first.sent + second.sent == len(FILES[SHARD_1])


def test_a_connection_that_keeps_dropping_ends_in_a_resumable_error(hub: FakeModelHub, tmp_path: Path) -> None:
    hub.cut[SHARD_2] = (0, 100)
    dest = tmp_path / "tiny"

    with pytest.raises(DownloadError) as caught:
        asyncio.run(_download(hub, dest))

    assert caught.value.resumable and "resumes" in caught.value.hint
    assert len(hub.file_requests(SHARD_2)) == len(NO_RETRY_WAIT) + 1
    assert not is_downloaded(SPEC, dest)
    hub.cut.clear()
    asyncio.run(_download(hub, dest))
    _assert_complete(dest)


def test_a_server_ignoring_range_still_gives_the_right_file(hub: FakeModelHub, tmp_path: Path) -> None:
    dest = tmp_path / "tiny"
    dest.mkdir()
    (dest / (SHARD_1 + ".part")).write_bytes(b"garbage that must not survive")
    hub.ignore_range = True

    asyncio.run(_download(hub, dest))

    _assert_complete(dest)
    (request,) = hub.file_requests(SHARD_1)
    assert request.range == "bytes=29-" and request.status == 200


def test_a_complete_part_is_placed_without_refetching(hub: FakeModelHub, tmp_path: Path) -> None:
    dest = tmp_path / "tiny"
    dest.mkdir()
    (dest / (SHARD_2 + ".part")).write_bytes(FILES[SHARD_2])

    asyncio.run(_download(hub, dest))

    _assert_complete(dest)
    assert hub.file_requests(SHARD_2) == []


def test_a_checksum_mismatch_leaves_no_file(hub: FakeModelHub, tmp_path: Path) -> None:
    hub.wrong_sha.add(SHARD_2)
    dest = tmp_path / "tiny"

    with pytest.raises(DownloadError, match="checksum"):
        asyncio.run(_download(hub, dest))

    assert not (dest / SHARD_2).exists() and not (dest / (SHARD_2 + ".part")).exists()
    assert not is_downloaded(SPEC, dest)


def test_a_gated_repository_asks_for_a_token(hub: FakeModelHub, tmp_path: Path) -> None:
    hub.gated = True
    dest = tmp_path / "tiny"

    with pytest.raises(DownloadError) as caught:
        asyncio.run(_download(hub, dest))
    assert "401" in caught.value.message and "token" in caught.value.hint

    with pytest.raises(DownloadError) as caught:
        asyncio.run(_download(hub, dest, token="hf_wrong"))
    assert "403" in caught.value.message and "token" in caught.value.hint

    asyncio.run(_download(hub, dest, token=TOKEN))
    _assert_complete(dest)
    cdn = [r for r in hub.content_requests() if r.path.startswith("/cdn/")]
    assert cdn and all(r.status in (200, 206) for r in cdn)


def test_not_enough_disk_space_fails_before_any_file_is_requested(hub: FakeModelHub, tmp_path: Path) -> None:
    dest = tmp_path / "not" / "yet" / "there"
    asked: list[Path] = []

    def small_disk(path: Path) -> SimpleNamespace:
        asked.append(path)
        return SimpleNamespace(free=1000)

    with pytest.raises(DownloadError) as caught:
        asyncio.run(_download(hub, dest, disk_usage=small_disk))

    assert asked == [tmp_path]
    assert f"{TOTAL / 1000:.1f} kB" in caught.value.message and "1.0 kB" in caught.value.message
    assert hub.content_requests() == []
    assert not dest.exists()


def test_disk_check_counts_only_what_is_missing(hub: FakeModelHub, tmp_path: Path) -> None:
    dest = tmp_path / "tiny"
    dest.mkdir()
    (dest / SHARD_1).write_bytes(FILES[SHARD_1])
    needed = TOTAL - len(FILES[SHARD_1])

    asyncio.run(_download(hub, dest, disk_usage=lambda _: SimpleNamespace(free=needed)))

    _assert_complete(dest)
    assert hub.file_requests(SHARD_1) == []


def _stalled_then(hub: FakeModelHub, dest: Path, stop: str) -> tuple[type[BaseException], int]:
    """Start a download that stalls in SHARD_2 after 64 kB, stop it (`event` or `task`); return what it raised."""
    hub.stall[SHARD_2] = 65_536
    part = dest / (SHARD_2 + ".part")

    async def go() -> type[BaseException]:
        cancel = asyncio.Event()
        task = asyncio.ensure_future(_download(hub, dest, cancel=cancel))
        await asyncio.to_thread(hub.stalled.wait, 10)
        for _ in range(500):  # until the bytes sent before the stall are on disk
            if part.exists() and part.stat().st_size == 65_536:
                break
            await asyncio.sleep(0.01)
        if stop == "event":
            cancel.set()
        else:
            task.cancel()
        try:
            await task
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            return type(exc)
        raise AssertionError("the download finished despite the cancel")

    raised = asyncio.run(go())
    return raised, part.stat().st_size


@pytest.mark.parametrize(("stop", "expected"), [("event", DownloadCancelled), ("task", asyncio.CancelledError)])
def test_cancel_keeps_the_part_and_a_second_call_resumes(hub: FakeModelHub, tmp_path: Path, stop: str,
                                                         expected: type[BaseException]) -> None:
    dest = tmp_path / "tiny"

    raised, kept = _stalled_then(hub, dest, stop)

    assert raised is expected
    assert kept == 65_536
    assert not (dest / SHARD_2).exists() and not is_downloaded(SPEC, dest)
    hub.release.set()
    asyncio.run(_download(hub, dest))
    _assert_complete(dest)
    assert is_downloaded(SPEC, dest)
    assert hub.file_requests(SHARD_2)[-1].range == "bytes=65536-"


def test_a_cancel_set_before_the_start_requests_nothing(hub: FakeModelHub, tmp_path: Path) -> None:
    async def go() -> None:
        cancel = asyncio.Event()
        cancel.set()
        await _download(hub, tmp_path / "tiny", cancel=cancel)

    with pytest.raises(DownloadCancelled):
        asyncio.run(go())
    assert hub.requests == []


def test_is_downloaded_needs_the_marker_and_the_files(hub: FakeModelHub, tmp_path: Path) -> None:
    dest = tmp_path / "tiny"
    asyncio.run(_download(hub, dest))
    assert is_downloaded(SPEC, dest)
    assert not is_downloaded(BY_ID["glm-4.6v"], dest)  # another model's folder
    (dest / SHARD_2).write_bytes(b"truncated")
    assert not is_downloaded(SPEC, dest)
    (dest / SHARD_2).unlink()
    assert not is_downloaded(SPEC, dest)


GGUF_FILES = {
    "GLM-4.6V-Flash-Q4_K_M.gguf": _rng.randbytes(40_000),
    "GLM-4.6V-Flash-Q8_0.gguf": _rng.randbytes(50_000),
    "GLM-4.6V-Flash-F16.gguf": _rng.randbytes(60_000),
    "mmproj-GLM-4.6V-Flash-Q8_0.gguf": _rng.randbytes(20_000),
    "README.md": b"# GLM-4.6V-Flash GGUF\n",
}


def test_gguf_patterns_pick_the_catalog_files(tmp_path: Path) -> None:
    gguf = BY_ID["glm-4.6v-flash-gguf"]
    assert gguf.precision is Precision.Q4_K_M
    wanted = {"GLM-4.6V-Flash-Q4_K_M.gguf", "mmproj-GLM-4.6V-Flash-Q8_0.gguf"}
    with FakeModelHub(GGUF_FILES, repo=gguf.hf_repo) as hub:

        async def listed() -> list[RemoteFile]:
            async with httpx.AsyncClient() as client:
                return await list_files(client, ModelSource.HUGGING_FACE, gguf.hf_repo, endpoint=hub.url,
                                        patterns=gguf.files)

        assert {f.path for f in asyncio.run(listed())} == wanted
        dest = tmp_path / "gguf"
        asyncio.run(_download(hub, dest, spec=gguf))
        assert {r.file for r in hub.content_requests()} == wanted
    _assert_complete(dest, {k: v for k, v in GGUF_FILES.items() if k in wanted})
    assert is_downloaded(gguf, dest)
    # No pattern: everything.
    every = [RemoteFile(p, len(b), None) for p, b in GGUF_FILES.items()]
    assert select_files(every, ()) == every


def test_hugging_face_listing_follows_pages(hub: FakeModelHub) -> None:
    hub.page_size = 2

    async def listed() -> list[RemoteFile]:
        async with httpx.AsyncClient() as client:
            return await list_files(client, ModelSource.HUGGING_FACE, REPO, endpoint=hub.url)

    files = asyncio.run(listed())
    assert [f.path for f in files] == list(FILES)
    by_path = {f.path: f for f in files}
    assert by_path[SHARD_1] == RemoteFile(SHARD_1, len(FILES[SHARD_1]), hub.sha256(SHARD_1))
    assert by_path["config.json"].sha256 is None  # a plain git file: only a blob id is listed
    assert len([r for r in hub.requests if "/tree/" in r.path]) == 3


def test_modelscope_listing_and_download(hub: FakeModelHub, tmp_path: Path) -> None:
    async def listed() -> list[RemoteFile]:
        async with httpx.AsyncClient() as client:
            return await list_files(client, ModelSource.MODELSCOPE, REPO, endpoint=hub.url)

    files = asyncio.run(listed())
    assert files == [RemoteFile(p, len(b), hub.sha256(p)) for p, b in FILES.items()]
    assert "Revision=master" in hub.requests[0].path and "Recursive=true" in hub.requests[0].path

    dest = tmp_path / "ms"
    asyncio.run(_download(hub, dest, source=ModelSource.MODELSCOPE))
    _assert_complete(dest)
    assert all(r.path.startswith(f"/api/v1/models/{REPO}/repo?") for r in hub.content_requests())
    assert is_downloaded(SPEC, dest)


def test_a_model_missing_on_modelscope_says_so(hub: FakeModelHub, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="not available on ModelScope"):
        asyncio.run(_download(hub, tmp_path, spec=BY_ID["glm-4.6v-flash-gguf"], source=ModelSource.MODELSCOPE))


def test_an_unsafe_listed_path_is_refused(tmp_path: Path) -> None:
    with FakeModelHub({"../escape.json": b"{}"}) as hub, pytest.raises(DownloadError, match="unsafe"):
        asyncio.run(_download(hub, tmp_path / "tiny"))
    assert not (tmp_path / "escape.json").exists()
