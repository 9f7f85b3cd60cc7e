"""Fetch a model's files on an SSH host, where the app sends this file and runs it with the host's own Python
(3.9 or newer, standard library only) as a job of its own: it outlives a dropped connection, and a cancel
stops it there.

The plan comes in the environment, never on a command line: ``GLMV_FETCH_PLAN`` is JSON,
``{"dest": folder, "files": [{"path", "size", "sha256" (or null), "url"}]}``, made on the user's computer
from the hub's file list (`desktop.assistant.remote_models.download_on_host`); ``GLMV_HUB_TOKEN``, when
set, is sent to the hub (and dropped on a redirect to another host, as a CDN's signed URL refuses it).

Each file is written to ``<name>.part`` and renamed into place once whole and, when its sha256 is known,
verified; a cut, a crash or a cancel leaves the part, which the next run continues with an HTTP Range
request. ``.glmv-downloading`` marks the folder while it runs, ``.glmv-complete`` once every file is there.

It prints one line per event, each ``glmv-fetch`` then a word then JSON:
``glmv-fetch progress {"file", "file_done", "file_total", "done", "total", "files_done", "files_total",
"bytes_per_s"}`` (at most twice a second, and at each file's end) and, before exiting with status 1,
``glmv-fetch error {"kind", ...}``; the user's computer turns that into a message in the user's language.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

# The annotations are never evaluated (Python 3.9 reads `X | None` in them as text).
PREFIX = "glmv-fetch"
PLAN_VARIABLE = "GLMV_FETCH_PLAN"
TOKEN_VARIABLE = "GLMV_HUB_TOKEN"  # noqa: S105 - the variable's name, not a token
DOWNLOADING_MARKER = ".glmv-downloading"
COMPLETE_MARKER = ".glmv-complete"
PART_SUFFIX = ".part"
RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 15.0)  # a dropped connection is tried again this many times
RETRY_STATUSES = (429, 500, 502, 503, 504)
READ_BYTES = 256 * 1024
REPORT_EVERY_S = 0.5
TIMEOUT_S = 60.0


class Failure(Exception):
    """The fetch cannot go on: `kind` and its fields, for the user's computer to put into words."""

    def __init__(self, kind: str, **fields: Any) -> None:
        super().__init__(kind)
        self.fields: dict[str, Any] = dict(fields, kind=kind)


class _Retry(Exception):
    """One attempt at a file ended early: try again from the part's size."""


class _SameHostAuthorization(urllib.request.HTTPRedirectHandler):
    """Follow redirects, keeping the Range header but not the hub's token on the way to another host."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


class _Progress:
    def __init__(self, out: TextIO, total: int, files_total: int, clock: Callable[[], float]) -> None:
        self.out = out
        self.total = total
        self.files_total = files_total
        self.clock = clock
        self.done = 0
        self.files_done = 0
        self.started = clock()
        self.transferred = 0
        self.last = float("-inf")

    def report(self, path: str, file_done: int, file_total: int, *, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self.last < REPORT_EVERY_S:
            return
        self.last = now
        elapsed = now - self.started
        emit(self.out, "progress", file=path, file_done=file_done, file_total=file_total, done=self.done,
             total=self.total, files_done=self.files_done, files_total=self.files_total,
             bytes_per_s=round(self.transferred / elapsed) if elapsed > 0 else 0)


def emit(out: TextIO, word: str, **fields: Any) -> None:
    """One line of output for the user's computer."""
    out.write(f"{PREFIX} {word} {json.dumps(fields, ensure_ascii=False)}\n")
    out.flush()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _inside(dest: Path, relative: str) -> Path:
    """`relative` under `dest`, refusing a path that would land outside it."""
    parts = relative.split("/")
    if not relative or relative.startswith("/") or "\\" in relative or any(p in ("", ".", "..") for p in parts):
        raise Failure("unsafe_name", path=relative)
    return dest.joinpath(*parts)


def _part(final: Path) -> Path:
    return final.with_name(final.name + PART_SUFFIX)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _range_starts_at(response: Any, offset: int) -> bool:
    """Whether a 206 answer continues at `offset` (``Content-Range: bytes START-END/TOTAL``)."""
    try:
        return int(response.headers.get("Content-Range", "").split()[1].split("-")[0]) == offset
    except (IndexError, ValueError):
        return False


def _attempt(opener: urllib.request.OpenerDirector, file: Mapping[str, Any], part: Path, token: str | None,
             progress: _Progress) -> None:
    """One request for the rest of `file`; returns when the part holds all of it."""
    size = int(file["size"])
    offset = _size(part)
    if offset > size:  # counted as `size` at the start
        _remove(part)
        progress.done -= size
        offset = 0
    if offset == size and size > 0:
        return
    # The URL is the hub's (or its mirror's), made by the app from the hub's file list.
    request = urllib.request.Request(str(file["url"]))  # noqa: S310
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = opener.open(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:  # nothing after the part, though the list says there is more: stale
            _remove(part)
            progress.done -= offset
            raise _Retry("HTTP 416") from None
        if exc.code in RETRY_STATUSES:
            raise _Retry(f"HTTP {exc.code}") from None
        raise Failure("http", status=exc.code, path=file["path"]) from None
    except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
        raise _Retry(str(exc)) from None
    with response:
        if response.status == 206 and _range_starts_at(response, offset):
            mode = "ab"
        else:  # the server sent the whole file again
            progress.done -= offset
            offset, mode = 0, "wb"
        file_done = offset
        with part.open(mode) as fh:
            while True:
                try:
                    chunk = response.read1(READ_BYTES)  # what has come, not waiting for a whole block
                except (OSError, http.client.HTTPException) as exc:
                    raise _Retry(str(exc)) from None
                if not chunk:
                    break
                fh.write(chunk)
                fh.flush()  # the part's size is what arrived, even if this is killed next
                file_done += len(chunk)
                progress.done += len(chunk)
                progress.transferred += len(chunk)
                progress.report(file["path"], file_done, size)
    received = _size(part)
    if received < size:
        raise _Retry(f"the answer ended at {received} of {size} bytes")
    if received > size:
        _remove(part)
        progress.done -= received
        raise Failure("larger", path=file["path"])


def _fetch_file(opener: urllib.request.OpenerDirector, file: Mapping[str, Any], final: Path, token: str | None,
                progress: _Progress, sleep: Callable[[float], None], retry_delays: tuple[float, ...]) -> None:
    part = _part(final)
    failures = 0
    while True:
        try:
            _attempt(opener, file, part, token, progress)
            break
        except _Retry as exc:
            if failures >= len(retry_delays):
                raise Failure("network", path=file["path"], detail=str(exc)) from None
            sleep(retry_delays[failures])
            failures += 1
    part.touch()  # an empty file gets no bytes
    if file.get("sha256") and _sha256(part) != str(file["sha256"]).lower():
        _remove(part)
        raise Failure("damaged", path=file["path"])
    part.replace(final)


def fetch(plan: Mapping[str, Any], token: str | None, out: TextIO, *, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep, retry_delays: tuple[float, ...] = RETRY_DELAYS_S) -> None:
    """Fetch the plan's files into its folder; raise Failure when that cannot be done."""
    dest = Path(str(plan["dest"])).expanduser()
    files: list[Mapping[str, Any]] = list(plan["files"])
    finals = {f["path"]: _inside(dest, str(f["path"])) for f in files}
    dest.mkdir(parents=True, exist_ok=True)
    _remove(dest / COMPLETE_MARKER)
    (dest / DOWNLOADING_MARKER).touch()
    complete = {f["path"] for f in files if finals[f["path"]].is_file() and _size(finals[f["path"]]) == int(f["size"])}
    present = sum(int(f["size"]) if f["path"] in complete else min(_size(_part(finals[f["path"]])), int(f["size"]))
                  for f in files)
    total = sum(int(f["size"]) for f in files)
    free = shutil.disk_usage(dest).free
    if total - present > free:
        raise Failure("space", needed=total - present, free=free, where=str(dest))
    progress = _Progress(out, total, len(files), clock)
    progress.done, progress.files_done = present, len(complete)
    opener = urllib.request.build_opener(_SameHostAuthorization)
    for file in files:
        if file["path"] in complete:
            continue
        final = finals[file["path"]]
        final.parent.mkdir(parents=True, exist_ok=True)
        _fetch_file(opener, file, final, token, progress, sleep, retry_delays)
        progress.files_done += 1
        progress.report(file["path"], int(file["size"]), int(file["size"]), force=True)
    if files and progress.files_done == len(complete):  # everything was there already
        last = files[-1]
        progress.report(last["path"], int(last["size"]), int(last["size"]), force=True)
    marker = dest / (COMPLETE_MARKER + ".tmp")
    marker.write_text(json.dumps({"files": [{"path": f["path"], "size": f["size"], "sha256": f.get("sha256")}
                                            for f in files]}))
    marker.replace(dest / COMPLETE_MARKER)
    _remove(dest / DOWNLOADING_MARKER)


def main(environ: Mapping[str, str] | None = None, out: TextIO = sys.stdout) -> int:
    """Run the plan in the environment; 0 when every file is in place, 1 on a failure (said on `out`), 2 when
    the plan is missing or malformed."""
    env = os.environ if environ is None else environ
    try:
        plan = json.loads(env[PLAN_VARIABLE])
        if not isinstance(plan, dict) or not isinstance(plan.get("files"), list) or "dest" not in plan:
            raise ValueError("not a plan")
    except (KeyError, ValueError) as exc:
        emit(out, "error", kind="plan", detail=str(exc))
        return 2
    try:
        fetch(plan, env.get(TOKEN_VARIABLE) or None, out)
    except Failure as exc:
        emit(out, "error", **exc.fields)
        return 1
    except OSError as exc:  # a full disk, a folder it may not write
        emit(out, "error", kind="os", detail=str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
