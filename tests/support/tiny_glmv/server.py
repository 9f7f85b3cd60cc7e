"""Run ``transformers serve`` on a tiny GLM-V model folder as a child process bound to 127.0.0.1."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_CHARS = 4000


def _free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TinyGlmvServer:
    """Context manager serving a model folder with ``transformers serve`` on a free local port."""

    def __init__(
        self, model_dir: Path, workdir: Path | None = None, startup_timeout: float = STARTUP_TIMEOUT_S
    ) -> None:
        """Prepare to serve ``model_dir``, keeping the log and the HF home in ``workdir`` (default: its parent)."""
        self.model = str(model_dir.resolve())
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._workdir = (workdir or model_dir.parent).resolve()
        self.log_path = self._workdir / f"transformers-serve-{self.port}.log"
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def _command(self) -> list[str]:
        """Return the ``transformers serve`` command line, pinned to the model on CPU."""
        return [
            sys.executable,
            "-m",
            "transformers.cli.transformers",
            "serve",
            self.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--trust-remote-code",
            "--device",
            "cpu",
            "--dtype",
            "float32",
            "--log-level",
            "error",
        ]

    def _environment(self) -> dict[str, str]:
        """Return an offline, quiet environment with a private HF home."""
        return {
            **os.environ,
            "HF_HOME": str(self._workdir / "hf-home"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
            "PYTHONWARNINGS": "ignore",
        }

    def log_tail(self) -> str:
        """Return the end of the server log."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]

    def __enter__(self) -> Self:
        """Start the server and wait until it lists the model."""
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self._environment(),
            start_new_session=True,
        )
        try:
            self._wait_ready(self._process)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Stop the server."""
        self.stop()

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        """Poll ``GET /v1/models`` until it answers 200, failing with the log tail if the server dies or stalls."""
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                raise RuntimeError(f"transformers serve exited with {code}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"transformers serve not ready after {self._startup_timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Send SIGTERM to the server's process group, SIGKILL after a grace period, and reap it."""
        process, self._process = self._process, None
        if process is not None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to a process group that may already be gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
