"""Run `glmv-desktop` as a real child process on a test display and read its trace events."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.desktop_env import XServer


def app_env(x: XServer, home: Path, **extra: str) -> dict[str, str]:
    """Environment for the app: the test display, private folders, trace events on stdout."""
    env = x.env()
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(home / name.lower())
    env["GLMV_DESKTOP_TRACE"] = "1"
    env.update(extra)
    return env


def write_settings(home: Path, base_url: str, **settings: object) -> None:
    """A settings file for an app with home `home`: one vLLM endpoint at `base_url`, active, plus `settings`."""
    config = home / "config" / "glmv-desktop"
    config.mkdir(parents=True, exist_ok=True)
    profile = {"id": "team", "name": "Team vLLM", "flavor": "vllm", "base_url": base_url, "model": "glm-4.6v"}
    (config / "settings.json").write_text(json.dumps({"schema_version": 1, "endpoint.profiles": [profile],
                                                      "endpoint.active": "team", **settings}))


class AppProcess:
    """The app as a child process; `wait_for(event)` returns the words after a trace event's name."""

    command: tuple[str, ...] = (sys.executable, "-m", "desktop")  # this Python's app, unless told otherwise

    def __init__(self, env: dict[str, str], *args: str, program: list[str] | None = None) -> None:
        """Start the app (`program`: another build of it, such as the frozen one; default: this Python's)."""
        self.env = env
        if program:
            self.command = tuple(program)
        self.process = subprocess.Popen([*self.command, *(args or ("run",))], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        start_new_session=True)
        self._lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.errors: list[str] = []
        threading.Thread(target=self._pump, args=(self.process.stdout, self.output, True), daemon=True,
                         name="app-stdout").start()
        threading.Thread(target=self._pump, args=(self.process.stderr, self.errors, False), daemon=True,
                         name="app-stderr").start()

    def _pump(self, stream: object, sink: list[str], trace: bool) -> None:
        for line in stream:  # type: ignore[attr-defined]
            sink.append(line.rstrip("\n"))
            if trace:
                self._lines.put(line.rstrip("\n"))

    def wait_for(self, event: str, timeout: float = 30.0) -> list[str]:
        """Block until the app traces `event`; fail with its output if it exits or times out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "glmv-trace" and parts[2] == event:
                return parts[3:]
        raise AssertionError(f"no '{event}' from the app; stdout: {self.output[-20:]} stderr: {self.errors[-20:]}")

    def cli(self, *args: str, timeout: float = 60, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run a second `glmv-desktop` with the same environment (`stdin` is its standard input)."""
        return subprocess.run([*self.command, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False, input=stdin)

    def wait_exit(self, timeout: float = 20) -> int:
        """Wait for the app to end; returns its exit status."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            import shutil
            if shutil.which("py-spy") or Path(sys.executable).with_name("py-spy").exists():
                dump = subprocess.run([str(Path(sys.executable).with_name("py-spy")), "dump", "--pid",
                                       str(self.process.pid)], capture_output=True, text=True, check=False)
                self.errors.append(dump.stdout + dump.stderr)
            tail = "\n".join([*self.output[-15:], "--- stderr ---", *self.errors[-30:]])
            raise AssertionError(f"the app did not exit within {timeout} s; its last output:\n{tail}") from None
        self._close_pipes()
        return code

    def _close_pipes(self) -> None:
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def kill(self) -> None:
        """End the app and everything it started, whatever state it is in."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._close_pipes()
