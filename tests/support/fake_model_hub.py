"""A small Hugging Face- and ModelScope-shaped model hub on 127.0.0.1 for the download tests (standard library).

It serves one repository's listing (HF ``/api/models/{repo}/tree/{rev}?recursive=true`` with Link-header
pages; ModelScope ``/api/v1/models/{repo}/repo/files``) and its files (HF ``/{repo}/resolve/{rev}/{path}``,
LFS files redirected to ``/cdn/…`` as the real hub does; ModelScope ``/api/v1/models/{repo}/repo?FilePath=``),
with Range support, and misbehaves on request:

- ``cut[path] = (n_bytes, times)``: send the headers and `n_bytes` of the body, then drop the connection;
- ``ignore_range = True``: answer 200 with the whole file even to a Range request;
- ``gated = True``: 401 without ``Authorization: Bearer <token>``, 403 with another token;
- ``wrong_sha``: paths whose listed sha256 is wrong;
- ``stall[path] = n_bytes``: send `n_bytes`, set `stalled`, then hold the connection until `release` is set
  or the hub stops.

Every request is recorded (`requests`), with its Range header and how many body bytes were sent.

Usage::

    with FakeModelHub({"config.json": b"{}"}) as hub:
        hub.url  # the endpoint
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

REPO = "glmv-test/Tiny-GLM-V"
TOKEN = "hf_test_token"  # the one token a gated hub accepts
_CHUNK = 16 * 1024


@dataclass
class HubRequest:
    """One request the hub received."""

    method: str
    path: str  # the URL path and query, unquoted
    file: str | None  # the repository file asked for, if any
    range: str | None
    authorization: str | None
    status: int = 0
    sent: int = 0  # body bytes written


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    hub: FakeModelHub


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections end, so stopping the hub never waits long
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        hub = self.server.hub
        split = urlsplit(self.path)
        path, query = unquote(split.path), parse_qs(split.query)
        record = HubRequest("GET", unquote(self.path), None, self.headers.get("Range"),
                            self.headers.get("Authorization"))
        with hub.lock:
            hub.requests.append(record)
        try:
            self._route(hub, path, query, record)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def do_HEAD(self) -> None:
        """What Hugging Face's own client asks before each file: its commit, ETag and size (LFS files through
        the same redirect as GET)."""
        hub = self.server.hub
        path = unquote(urlsplit(self.path).path)
        record = HubRequest("HEAD", unquote(self.path), None, None, self.headers.get("Authorization"))
        with hub.lock:
            hub.requests.append(record)
        name = path.removeprefix(f"/{hub.repo}/resolve/{hub.revision}/").removeprefix(
            f"/{hub.repo}/resolve/{hub.commit}/").removeprefix("/cdn/")
        data = hub.files.get(name)
        redirect = path.startswith(f"/{hub.repo}/resolve/") and data is not None and hub.lfs(name)
        record.file, record.status = name, (404 if data is None else 302 if redirect else 200)
        self.send_response(record.status)
        if data is not None:
            etag = hub.sha256(name) if hub.lfs(name) else hashlib.sha1(data).hexdigest()  # noqa: S324
            self.send_header("X-Repo-Commit", hub.commit)
            self.send_header("ETag", f'"{etag}"')
            if hub.lfs(name):
                self.send_header("X-Linked-Etag", f'"{etag}"')
                self.send_header("X-Linked-Size", str(len(data)))
            if redirect:
                self.send_header("Location", f"/cdn/{name}")
        self.send_header("Content-Length", "0" if data is None or redirect else str(len(data)))
        self.end_headers()

    def _route(self, hub: FakeModelHub, path: str, query: dict[str, list[str]], record: HubRequest) -> None:
        repo = hub.repo
        if path in (f"/api/models/{repo}/tree/{hub.revision}", f"/api/models/{repo}/tree/{hub.commit}"):
            self._tree(hub, query, record)
        elif path == f"/api/models/{repo}/revision/{hub.revision}":
            siblings = [{"rfilename": name, "size": len(data)} for name, data in hub.files.items()]
            self._json(record, 200, {"id": repo, "sha": hub.commit, "siblings": siblings, "private": False,
                                     "gated": False, "disabled": False})
        elif path == f"/api/v1/models/{repo}/repo/files":
            if query.get("Revision", [""])[0] != hub.modelscope_revision:
                return self._json(record, 404, {"Code": 10010205001, "Message": "revision not found"})
            files = [{"Name": name.rsplit("/", 1)[-1], "Path": name, "Size": len(data), "Type": "blob",
                      "Sha256": hub.listed_sha(name), "Revision": "abc123"} for name, data in hub.files.items()]
            files.append({"Name": "sub", "Path": "sub", "Size": 0, "Type": "tree", "Sha256": ""})
            self._json(record, 200, {"Code": 200, "Data": {"Files": files}, "Success": True})
        elif path.startswith((f"/{repo}/resolve/{hub.revision}/", f"/{repo}/resolve/{hub.commit}/")):
            name = path.removeprefix(f"/{repo}/resolve/{hub.revision}/").removeprefix(f"/{repo}/resolve/{hub.commit}/")
            record.file = name
            if not self._authorized(hub, record):
                return
            if name in hub.files and hub.lfs(name):
                record.status = 302
                self.send_response(302)
                self.send_header("Location", f"/cdn/{name}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._file(hub, name, record)
        elif path.startswith("/cdn/"):
            record.file = path.removeprefix("/cdn/")
            self._file(hub, record.file, record)
        elif path == f"/api/v1/models/{repo}/repo":
            record.file = query.get("FilePath", [""])[0]
            if not self._authorized(hub, record):
                return
            self._file(hub, record.file, record)
        else:
            self._json(record, 404, {"error": "Not Found"})

    def _authorized(self, hub: FakeModelHub, record: HubRequest) -> bool:
        if not hub.gated:
            return True
        if record.authorization == f"Bearer {hub.token}":
            return True
        status = 403 if record.authorization else 401
        self._json(record, status, {"error": "Access to model is restricted."}, {"X-Error-Code": "GatedRepo"})
        return False

    def _tree(self, hub: FakeModelHub, query: dict[str, list[str]], record: HubRequest) -> None:
        entries: list[dict[str, object]] = [{"type": "directory", "oid": "0" * 40, "path": "sub", "size": 0}]
        for name, data in hub.files.items():
            entry: dict[str, object] = {"type": "file", "oid": hashlib.sha1(data).hexdigest(),  # noqa: S324
                                        "size": len(data), "path": name}
            if hub.lfs(name):
                entry["lfs"] = {"oid": hub.listed_sha(name), "size": len(data), "pointerSize": 134}
            entries.append(entry)
        extra: dict[str, str] = {}
        if hub.page_size:
            start = int(query.get("cursor", ["0"])[0])
            end = start + hub.page_size
            if end < len(entries):
                next_url = f"{hub.url}/api/models/{hub.repo}/tree/{hub.revision}?recursive=true&cursor={end}"
                extra["Link"] = f'<{next_url}>; rel="next"'
            entries = entries[start:end]
        self._json(record, 200, entries, extra)

    def _file(self, hub: FakeModelHub, name: str, record: HubRequest) -> None:
        data = hub.files.get(name)
        if data is None:
            return self._json(record, 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
        start = 0
        status = 200
        if record.range and not hub.ignore_range:
            start = int(record.range.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                record.status = 416
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start:]
        record.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        limit = len(body)
        cut = False
        stall = False
        with hub.lock:
            if hub.cut.get(name, (0, 0))[1] > 0:
                n, times = hub.cut[name]
                hub.cut[name] = (n, times - 1)
                limit, cut = min(n, limit), True
            elif name in hub.stall:
                limit, stall = min(hub.stall.pop(name), limit), True
        for i in range(0, limit, _CHUNK):
            piece = body[i:min(i + _CHUNK, limit)]
            self.wfile.write(piece)
            record.sent += len(piece)
        self.wfile.flush()
        if stall:
            hub.stalled.set()
            while not hub.release.wait(0.05):
                if hub.stopping.is_set():
                    break
            else:
                self.wfile.write(body[limit:])
                record.sent += len(body) - limit
                return
        if cut or stall:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def _json(self, record: HubRequest, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        record.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        record.sent = len(data)


class FakeModelHub:
    """The hub, serving `files` as repository `repo` at revision ``main`` (ModelScope: ``master``)."""

    def __init__(self, files: dict[str, bytes], repo: str = REPO) -> None:
        self.files = dict(files)
        self.repo = repo
        self.revision = "main"
        self.commit = "0123456789abcdef0123456789abcdef01234567"  # the revision's commit, as HF reports it
        self.modelscope_revision = "master"
        self.token = TOKEN
        self.gated = False
        self.ignore_range = False
        self.wrong_sha: set[str] = set()
        self.cut: dict[str, tuple[int, int]] = {}
        self.stall: dict[str, int] = {}
        self.page_size = 0
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.requests: list[HubRequest] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.hub = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-model-hub",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @staticmethod
    def lfs(name: str) -> bool:
        """Weights are LFS files (sha256 listed, served through the CDN redirect); small text files are not."""
        return not name.endswith((".json", ".md", ".txt", ".jinja"))

    def sha256(self, name: str) -> str:
        return hashlib.sha256(self.files[name]).hexdigest()

    def listed_sha(self, name: str) -> str:
        return "0" * 64 if name in self.wrong_sha else self.sha256(name)

    def file_requests(self, name: str) -> list[HubRequest]:
        """The requests that returned (or tried to return) `name`'s bytes, oldest first."""
        with self.lock:
            return [r for r in self.requests if r.file == name and r.status in (200, 206, 416)]

    def content_requests(self) -> list[HubRequest]:
        with self.lock:
            return [r for r in self.requests if r.file is not None]

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.release.set()
        self._server.shutdown()
        self._server.server_close()  # joins the request threads
        self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
