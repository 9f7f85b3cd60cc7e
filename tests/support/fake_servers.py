"""Small stand-in server programs for the supervisor's tests (standard library only).

Run as ``python fake_servers.py KIND PORT``:

- ``loading``: listens and answers 503 to everything, forever (a model that never finishes loading);
- ``silent``: prints a line and never listens;
- ``spawner``: starts a grandchild (``sleep``-like Python), prints ``grandchild PID``, answers 200 on /health;
- ``stubborn``: like ``spawner`` but ignores SIGTERM (so only SIGKILL stops it);
- ``port-taken``: prints uvicorn's "address already in use" error and exits with status 1.
"""

from __future__ import annotations

import http.server
import signal
import subprocess
import sys
import time

GRANDCHILD = "import time\nwhile True: time.sleep(1)"


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        body = b'{"status": "ok"}' if self.status == 200 else b'{"status": "loading"}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        print("request:", format % args, flush=True)


def _serve(port: int, status: int) -> None:
    _Handler.status = status
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    print(f"fake {kind} server starting", flush=True)
    if kind == "loading":
        print("loading shard 1/4", flush=True)
        _serve(port, 503)
    elif kind == "silent":
        print("loading weights forever", flush=True)
        while True:
            time.sleep(1)
    elif kind in ("spawner", "stubborn"):
        if kind == "stubborn":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", GRANDCHILD])
        print(f"grandchild {child.pid}", flush=True)
        _serve(port, 200)
    elif kind == "port-taken":
        print(f"ERROR:    [Errno 98] error while attempting to bind on address ('127.0.0.1', {port}): "
              "address already in use", flush=True)
        sys.exit(1)
    else:
        sys.exit(f"unknown kind {kind}")


if __name__ == "__main__":
    main()
