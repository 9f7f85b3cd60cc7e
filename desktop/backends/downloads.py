"""Download a catalog model's weights from Hugging Face (or a mirror) or ModelScope, with byte progress,
resume across runs, prompt cancellation and checksum verification.

Wire shapes (as the public clients huggingface_hub and modelscope use them):

- Hugging Face: ``GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true`` answers a JSON list of
  ``{"type": "file"|"directory", "path", "size", "lfs": {"oid": sha256, "size"}}``, paginated with a
  ``Link: <…>; rel="next"`` header; files come from ``{endpoint}/{repo}/resolve/{revision}/{path}``, which
  redirects large (LFS/Xet) files to a CDN. Non-LFS files carry only a git blob id, so no sha256.
- ModelScope: ``GET {endpoint}/api/v1/models/{repo}/repo/files?Revision={rev}&Recursive=true`` answers
  ``{"Code": 200, "Data": {"Files": [{"Path", "Size", "Sha256", "Type": "blob"|"tree"}]}}``; files come from
  ``{endpoint}/api/v1/models/{repo}/repo?Revision={rev}&FilePath={path}``. Its default branch is ``master``.

Each file is written to ``<name>.part`` and renamed into place only when complete (and its sha256, when
known, matches), so an interrupted or cancelled download resumes with an HTTP Range request. A marker file
(``.glmv-complete.json``) is written last; `is_downloaded` trusts only it.
"""

from __future__ import annotations

import asyncio
import collections
import fnmatch
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol, TypeVar
from urllib.parse import quote, urlencode

import httpx

from desktop.backends.catalog import ModelSpec
from desktop.backends.catalog import format_bytes as format_bytes  # where doctor and older callers look for it
from desktop.config.schema import BY_KEY
from desktop.errors import UserFacingError
from desktop.i18n import _

log = logging.getLogger(__name__)

HUGGING_FACE_ENDPOINT = "https://huggingface.co"
MODELSCOPE_ENDPOINT = "https://www.modelscope.cn"
MARKER_NAME = ".glmv-complete.json"
PART_SUFFIX = ".part"
PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress reports a second
RETRY_DELAYS_S: tuple[float, ...] = (1.0, 2.0, 4.0)  # a dropped connection is retried this many times
_SPEED_WINDOW_S = 5.0
_HASH_BLOCK = 1 << 20

T = TypeVar("T")


class ModelSource(StrEnum):
    """Where model weights are downloaded from."""

    HUGGING_FACE = "huggingface"
    MODELSCOPE = "modelscope"

    @property
    def label(self) -> str:
        """The hub's name as users know it."""
        return {ModelSource.HUGGING_FACE: "Hugging Face", ModelSource.MODELSCOPE: "ModelScope"}[self]

    @property
    def default_revision(self) -> str:
        """The default branch: ``main`` on Hugging Face, ``master`` on ModelScope."""
        return "main" if self is ModelSource.HUGGING_FACE else "master"


def hub_endpoint(source: ModelSource, mirror: str | None = None) -> str:
    """The base URL for `source`; a Hugging Face mirror (like ``https://hf-mirror.com``) replaces the default."""
    if source is ModelSource.HUGGING_FACE:
        return (mirror or HUGGING_FACE_ENDPOINT).rstrip("/")
    return MODELSCOPE_ENDPOINT


@dataclass(frozen=True)
class RemoteFile:
    """One file of a model repository as the hub lists it."""

    path: str  # relative, with forward slashes
    size: int
    sha256: str | None


@dataclass(frozen=True)
class DownloadProgress:
    """Where a download stands; `done` can step back only when a server ignores a resume request."""

    file: str
    file_done: int
    file_total: int
    done: int
    total: int
    files_done: int
    files_total: int
    bytes_per_s: float


class DownloadError(UserFacingError):
    """A download failed; `resumable` says whether starting it again continues where it stopped."""

    def __init__(self, message: str, hint: str = "", *, detail: str = "", resumable: bool = False) -> None:
        super().__init__(message, hint, detail=detail)
        self.resumable = resumable


class DownloadCancelled(DownloadError):
    """The user cancelled; the partial files are kept so the download can be resumed."""

    def __init__(self) -> None:
        super().__init__(_("The download was cancelled."),
                         _("Start it again to continue where it stopped."), resumable=True)


class DiskUsage(Protocol):
    """What `shutil.disk_usage` answers (only `free` is used)."""

    @property
    def free(self) -> int: ...


@dataclass(frozen=True)
class DiskSpace:
    """Room for a download: the bytes still to fetch against the bytes free on the disk that will hold them."""

    needed: int
    free: int
    where: Path  # the folder whose disk was measured: the download folder, or its nearest existing parent

    @property
    def enough(self) -> bool:
        """Whether what is still to fetch fits."""
        return self.needed <= self.free


def disk_space(dest: Path, needed: int, disk_usage: Callable[[Path], DiskUsage] = shutil.disk_usage) -> DiskSpace:
    """How `needed` more bytes compare with the free space of the disk `dest` is (or will be) on.

    Blocking (it asks the file system): call it off the UI thread.
    """
    where = _nearest_existing(dest)
    return DiskSpace(max(0, needed), disk_usage(where).free, where)


def not_enough_space(model: str, space: DiskSpace) -> DownloadError:
    """The error for a download that does not fit: how much is needed, how much is free, and what to do."""
    return DownloadError(
        _("Not enough disk space for {model}: {needed} more are needed, {free} are free on {where}.").format(
            model=model, needed=format_bytes(space.needed), free=format_bytes(space.free), where=space.where),
        _("Free some space there, or choose a folder on another disk for models: Settings → General → "
          "“{setting}” (glmv-desktop config set local.models_dir FOLDER).").format(
            setting=BY_KEY["local.models_dir"].label))


def repo_for(spec: ModelSpec, source: ModelSource) -> str:
    """The model's repository on `source`, or a DownloadError when that hub does not carry it."""
    if source is ModelSource.HUGGING_FACE:
        return spec.hf_repo
    if spec.modelscope_repo is None:
        raise DownloadError(_("{model} is not available on ModelScope.").format(model=spec.name),
                            _("Download it from Hugging Face or a Hugging Face mirror instead."))
    return spec.modelscope_repo


def select_files(files: Sequence[RemoteFile], patterns: Sequence[str]) -> list[RemoteFile]:
    """The files matching any of `patterns` (fnmatch on the path or the file name); all files when none."""
    if not patterns:
        return list(files)
    return [f for f in files
            if any(fnmatch.fnmatchcase(f.path, p) or fnmatch.fnmatchcase(PurePosixPath(f.path).name, p)
                   for p in patterns)]


def _auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _safe_relative(path: str) -> str:
    """Refuse a listed path that would land outside the model folder."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path or ":" in pure.parts[0]:
        raise DownloadError(_("The model hub listed a file with an unsafe name: {path}").format(path=path),
                            _("The repository may be damaged; try again later or use another source."))
    return str(pure)


def _access_error(repo: str, source: ModelSource, token: str | None, status: int) -> DownloadError:
    message = _("{hub} refused access to {repo} (HTTP {status}).").format(hub=source.label, repo=repo, status=status)
    if token:
        hint = _("The access token was refused or lacks access to this model. Check that you accepted the "
                 "model's licence on its page and that the token is valid, then try again.")
    else:
        hint = _("This model may be gated or private: accept its licence on the model's page, then add an "
                 "access token in Settings and try again.")
    return DownloadError(message, hint)


def http_error(repo: str, source: ModelSource, token: str | None, status: int, what: str) -> DownloadError:
    """The error for a hub's refusal (HTTP `status`) of `what` (a file, the file list) in `repo`."""
    if status in (401, 403):
        return _access_error(repo, source, token, status)
    if status == 404:
        return DownloadError(_("{hub} has no {what} in {repo}.").format(hub=source.label, what=what, repo=repo),
                             _("Check the model name and revision, or try the other source."))
    return DownloadError(_("{hub} answered HTTP {status} for {what}.").format(hub=source.label, status=status,
                                                                             what=what),
                         _("Try again later; the download resumes where it stopped."),
                         resumable=True)


def no_files_error(source: ModelSource, repo: str) -> DownloadError:
    """The error for a repository that lists none of the files a model needs."""
    return DownloadError(_("{hub} lists no matching files in {repo}.").format(hub=source.label, repo=repo),
                         _("Check the model name and revision, or try the other source."))


def damaged_error(path: str) -> DownloadError:
    """The error for a file whose sha256 is not the one the hub listed (it was deleted)."""
    return DownloadError(_("{file} arrived damaged: its checksum does not match.").format(file=path),
                         _("The damaged file was deleted; start the download again."), resumable=True)


def larger_error(path: str, source: ModelSource) -> DownloadError:
    """The error for a file that grew past the size the hub listed."""
    return DownloadError(_("{file} is larger than {hub} said it would be.").format(file=path, hub=source.label),
                         _("The repository may have changed while downloading; start the download again."),
                         resumable=True)


# -- listing -----------------------------------------------------------------------------------------------
async def list_files(client: httpx.AsyncClient, source: ModelSource, repo: str, revision: str | None = None,
                     endpoint: str | None = None, *, token: str | None = None,
                     patterns: Sequence[str] = ()) -> list[RemoteFile]:
    """Every file of `repo` at `revision` (filtered by `patterns`, fnmatch), with sizes and known sha256s.

    Raises:
        DownloadError: the hub refused, does not know the repository, or could not be reached.
    """
    base = (endpoint or hub_endpoint(source)).rstrip("/")
    revision = revision or source.default_revision
    try:
        if source is ModelSource.HUGGING_FACE:
            files = await _list_hugging_face(client, base, repo, revision, token)
        else:
            files = await _list_modelscope(client, base, repo, revision, token)
    except httpx.TransportError as exc:
        raise DownloadError(_("Could not reach {hub}: {error}").format(hub=source.label, error=exc),
                            _("Check the network connection or try a mirror."), resumable=True) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise DownloadError(_("{hub} sent a file list this app does not understand.").format(hub=source.label),
                            _("Try again later or use the other source."), detail=repr(exc)) from exc
    return select_files(files, patterns)


async def _get_listing(client: httpx.AsyncClient, url: str, repo: str, source: ModelSource,
                       token: str | None) -> httpx.Response:
    response = await client.get(url, headers=_auth_headers(token), follow_redirects=True)
    if response.status_code != 200:
        raise http_error(repo, source, token, response.status_code, _("file list"))
    return response


async def _list_hugging_face(client: httpx.AsyncClient, base: str, repo: str, revision: str,
                             token: str | None) -> list[RemoteFile]:
    url: str | None = (f"{base}/api/models/{quote(repo, safe='/')}/tree/{quote(revision, safe='')}"
                       "?recursive=true")
    files: list[RemoteFile] = []
    seen: set[str] = set()
    while url is not None and url not in seen:
        seen.add(url)
        response = await _get_listing(client, url, repo, ModelSource.HUGGING_FACE, token)
        entries = response.json()
        if not isinstance(entries, list):
            raise ValueError("tree listing is not a list")
        for entry in entries:
            if entry.get("type") != "file":
                continue
            lfs = entry.get("lfs") or {}
            oid = lfs.get("oid") or lfs.get("sha256")
            sha = str(oid).removeprefix("sha256:").lower() if oid else None
            size = int(lfs.get("size", entry["size"]) if lfs else entry["size"])
            files.append(RemoteFile(_safe_relative(str(entry["path"])), size, sha))
        next_link = response.links.get("next", {}).get("url")
        url = str(response.url.join(next_link)) if next_link else None
    return files


async def _list_modelscope(client: httpx.AsyncClient, base: str, repo: str, revision: str,
                           token: str | None) -> list[RemoteFile]:
    query = urlencode({"Revision": revision, "Recursive": "true"})
    url = f"{base}/api/v1/models/{quote(repo, safe='/')}/repo/files?{query}"
    response = await _get_listing(client, url, repo, ModelSource.MODELSCOPE, token)
    body = response.json()
    data = body.get("Data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        message = body.get("Message", "") if isinstance(body, dict) else ""
        raise DownloadError(_("ModelScope could not list {repo}: {message}").format(repo=repo, message=message),
                            _("Check the model name and revision, or try Hugging Face."))
    files = []
    for entry in data.get("Files") or []:
        if entry.get("Type") == "tree":
            continue
        sha = entry.get("Sha256") or None
        files.append(RemoteFile(_safe_relative(str(entry["Path"])), int(entry["Size"]),
                                str(sha).lower() if sha else None))
    return files


def file_url(source: ModelSource, endpoint: str, repo: str, revision: str, path: str) -> str:
    """Where one file of the repository is downloaded from."""
    base = endpoint.rstrip("/")
    if source is ModelSource.HUGGING_FACE:
        return f"{base}/{quote(repo, safe='/')}/resolve/{quote(revision, safe='')}/{quote(path, safe='/')}"
    query = urlencode({"Revision": revision, "FilePath": path})
    return f"{base}/api/v1/models/{quote(repo, safe='/')}/repo?{query}"


# -- the marker --------------------------------------------------------------------------------------------
def _read_marker(dest: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((dest / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_downloaded(spec: ModelSpec, dest: Path) -> bool:
    """True when a download of `spec` into `dest` finished and its files are still there, at their sizes."""
    marker = _read_marker(dest)
    if marker is None or marker.get("repo") not in (spec.hf_repo, spec.modelscope_repo):
        return False
    try:
        return all((dest / f["path"]).is_file() and (dest / f["path"]).stat().st_size == int(f["size"])
                   for f in marker["files"])
    except (OSError, KeyError, TypeError, ValueError):
        return False


def _write_marker(dest: Path, spec: ModelSpec, source: ModelSource, repo: str, revision: str,
                  files: Sequence[RemoteFile]) -> None:
    data = {"model": spec.id, "source": source.value, "repo": repo, "revision": revision,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in files]}
    tmp = dest / (MARKER_NAME + ".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(dest / MARKER_NAME)


# -- downloading -------------------------------------------------------------------------------------------
def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _part_path(final: Path) -> Path:
    return final.with_name(final.name + PART_SUFFIX)


async def _in_thread(fn: Callable[..., T], *args: object) -> T:
    """Run blocking file work in a worker thread; on cancellation wait for it, so no file is closed under it."""
    task = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


def _hash_file(path: Path) -> Any:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest


def _write_chunk(fh: BinaryIO, chunk: bytes) -> None:
    fh.write(chunk)
    fh.flush()  # so the part's size is what arrived, even if the app dies next


class _Retry(Exception):
    """One attempt at a file ended early; try again from the part's size."""


class _Progress:
    """Totals across files and the throttled report."""

    def __init__(self, callback: Callable[[DownloadProgress], None], total: int, files_total: int,
                 clock: Callable[[], float]) -> None:
        self.callback = callback
        self.total = total
        self.files_total = files_total
        self.clock = clock
        self.done = 0
        self.files_done = 0
        self.transferred = 0
        self.last_report = float("-inf")
        self.samples: collections.deque[tuple[float, int]] = collections.deque()

    def rate(self, now: float) -> float:
        self.samples.append((now, self.transferred))
        while len(self.samples) > 2 and now - self.samples[1][0] >= _SPEED_WINDOW_S:
            self.samples.popleft()
        t0, b0 = self.samples[0]
        return (self.transferred - b0) / (now - t0) if now > t0 else 0.0

    def report(self, file: RemoteFile, file_done: int, *, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self.last_report < PROGRESS_INTERVAL_S:
            return
        self.last_report = now
        self.callback(DownloadProgress(file.path, file_done, file.size, self.done, self.total, self.files_done,
                                       self.files_total, self.rate(now)))


@dataclass
class _Job:
    client: httpx.AsyncClient
    source: ModelSource
    repo: str
    revision: str
    endpoint: str
    token: str | None
    progress: _Progress
    retry_delays: Sequence[float]


async def _fetch_file(job: _Job, file: RemoteFile, final: Path) -> None:
    """Download one file into its part file, verify it and move it into place, retrying dropped connections."""
    part = _part_path(final)
    failures = 0
    while True:
        try:
            await _attempt(job, file, part)
            break
        except _Retry as exc:
            if failures >= len(job.retry_delays):
                raise DownloadError(
                    _("The connection to {hub} kept dropping while downloading {file}.").format(
                        hub=job.source.label, file=file.path),
                    _("Check the network connection, then start the download again: it resumes where it "
                      "stopped."), detail=str(exc.__cause__ or exc), resumable=True) from exc
            delay = job.retry_delays[failures]
            failures += 1
            log.info("download of %s interrupted (%s); retrying in %.1f s", file.path, exc.__cause__ or exc, delay)
            await asyncio.sleep(delay)
    await _verify_and_place(file, part, final)


async def _attempt(job: _Job, file: RemoteFile, part: Path) -> None:
    """One request for the rest of `file`; returns when the part file holds all of it."""
    offset = _size(part)
    if offset > file.size:
        part.unlink()
        offset = 0
    if offset == file.size and file.size > 0:
        return
    headers = _auth_headers(job.token)
    if offset:
        headers["Range"] = f"bytes={offset}-"
    url = file_url(job.source, job.endpoint, job.repo, job.revision, file.path)
    progress = job.progress
    try:
        async with job.client.stream("GET", url, headers=headers, follow_redirects=True) as response:
            status = response.status_code
            if status == 416 and offset:
                # Nothing after the part, though the listing says there is more: the part is stale.
                part.unlink()
                progress.done -= offset
                raise _Retry(f"{file.path}: HTTP 416 at {offset} of {file.size} bytes")
            if status in (429, 500, 502, 503, 504):
                raise _Retry(f"HTTP {status}")
            if status not in (200, 206):
                raise http_error(job.repo, job.source, job.token, response.status_code, file.path)
            if status == 200 or not _range_starts_at(response, offset):
                if offset:
                    log.info("server ignored the resume request for %s; starting it again", file.path)
                progress.done -= offset
                offset = 0
                mode = "wb"
            else:
                mode = "ab"
            file_done = offset
            with part.open(mode) as fh:
                async for chunk in response.aiter_bytes():
                    await _in_thread(_write_chunk, fh, chunk)
                    file_done += len(chunk)
                    progress.done += len(chunk)
                    progress.transferred += len(chunk)
                    progress.report(file, file_done)
    except httpx.TransportError as exc:
        raise _Retry(str(exc)) from exc
    received = _size(part)
    if received < file.size:
        raise _Retry(f"{file.path}: the response ended at {received} of {file.size} bytes")
    if received > file.size:
        part.unlink()
        raise larger_error(file.path, job.source)


def _range_starts_at(response: httpx.Response, offset: int) -> bool:
    """Whether a 206 answer continues at `offset` (``Content-Range: bytes START-END/TOTAL``)."""
    content_range = response.headers.get("Content-Range", "")
    try:
        start = int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return False
    return start == offset


async def _verify_and_place(file: RemoteFile, part: Path, final: Path) -> None:
    if file.size == 0 and not part.exists():
        part.touch()
    if file.sha256 is not None:
        digest = await _in_thread(_hash_file, part)
        if digest.hexdigest() != file.sha256:
            part.unlink()
            raise damaged_error(file.path)
    part.replace(final)


async def download_model(client: httpx.AsyncClient, spec: ModelSpec, dest: Path, *, source: ModelSource,
                         endpoint: str | None = None, revision: str | None = None, token: str | None = None,
                         on_progress: Callable[[DownloadProgress], None],
                         cancel: asyncio.Event | None = None,
                         disk_usage: Callable[[Path], DiskUsage] = shutil.disk_usage,
                         retry_delays: Sequence[float] = RETRY_DELAYS_S,
                         clock: Callable[[], float] = time.monotonic) -> Path:
    """Download `spec`'s files (its `files` patterns, or the whole repository) into `dest`; return `dest`.

    Files already complete are skipped and ``.part`` files are resumed. Cancelling (setting `cancel`, or
    cancelling the task) stops promptly and keeps the ``.part`` files.

    Raises:
        DownloadCancelled: `cancel` was set.
        DownloadError: not enough disk space, access refused, a damaged file, or the connection kept dropping.
    """
    if cancel is None:
        return await _download(client, spec, dest, source, endpoint, revision, token, on_progress, disk_usage,
                               retry_delays, clock)
    if cancel.is_set():
        raise DownloadCancelled()
    work = asyncio.ensure_future(_download(client, spec, dest, source, endpoint, revision, token, on_progress,
                                           disk_usage, retry_delays, clock))
    watcher = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work, watcher):
            task.cancel()
        await asyncio.gather(work, watcher, return_exceptions=True)
    if work.cancelled():
        raise DownloadCancelled()
    return work.result()


async def _download(client: httpx.AsyncClient, spec: ModelSpec, dest: Path, source: ModelSource,
                    endpoint: str | None, revision: str | None, token: str | None,
                    on_progress: Callable[[DownloadProgress], None], disk_usage: Callable[[Path], DiskUsage],
                    retry_delays: Sequence[float], clock: Callable[[], float]) -> Path:
    repo = repo_for(spec, source)
    base = (endpoint or hub_endpoint(source)).rstrip("/")
    revision = revision or source.default_revision
    files = await list_files(client, source, repo, revision, base, token=token, patterns=spec.files)
    if not files:
        raise no_files_error(source, repo)
    finals = {f.path: dest.joinpath(*PurePosixPath(f.path).parts) for f in files}
    complete = {f.path for f in files if finals[f.path].is_file() and _size(finals[f.path]) == f.size}
    present = sum(f.size if f.path in complete else min(_size(_part_path(finals[f.path])), f.size) for f in files)
    total = sum(f.size for f in files)

    space = await asyncio.to_thread(disk_space, dest, total - present, disk_usage)
    if not space.enough:
        raise not_enough_space(spec.name, space)

    progress = _Progress(on_progress, total, len(files), clock)
    progress.done = present
    progress.files_done = len(complete)
    job = _Job(client, source, repo, revision, base, token, progress, retry_delays)
    for file in files:
        if file.path in complete:
            continue
        final = finals[file.path]
        final.parent.mkdir(parents=True, exist_ok=True)
        progress.report(file, min(_size(_part_path(final)), file.size))
        await _fetch_file(job, file, final)
        progress.files_done += 1
        progress.report(file, file.size, force=progress.files_done == len(files))
    if progress.files_done == len(complete):  # everything was already there
        progress.report(files[-1], files[-1].size, force=True)
    _write_marker(dest, spec, source, repo, revision, files)
    return dest
