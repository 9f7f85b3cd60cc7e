"""A real OpenSSH server on 127.0.0.1, started by the tests: a free port, a temporary host key, and keys
that may log in (one without a passphrase, one with). The "remote" is this machine, as this user."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

SSHD = "/usr/sbin/sshd"
PASSPHRASE = "correct horse battery staple"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path, passphrase: str = "") -> Path:
    """A new ed25519 key pair at `path` (and `path`.pub); returns `path`."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "glmv-test", "-f", str(path)],
                   check=True)
    return path


def fingerprint(public_key: Path) -> str:
    """SHA256:… of a public key file."""
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key)], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[1]


class SshServer:
    """sshd -D on 127.0.0.1:port for as long as the context lasts."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None) -> None:
        """`env`: more variables for the sessions (SetEnv), besides HOME."""
        if not Path(SSHD).exists() or shutil.which("ssh") is None:
            pytest.skip("needs openssh-server and openssh-client (installed by .ci/run)")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        self.port = _free_port()
        self.user = getpass.getuser()
        self.host_key = keygen(folder / "host_ed25519")
        self.key = keygen(folder / "id_plain")
        self.locked_key = keygen(folder / "id_locked", PASSPHRASE)
        self.authorized = folder / "authorized_keys"
        self.authorized.write_text(Path(f"{self.key}.pub").read_text() + Path(f"{self.locked_key}.pub").read_text())
        self.authorized.chmod(0o600)
        # The "remote" user's home: a folder of the test's, so nothing lands in the real one.
        self.home = folder / "home"
        self.home.mkdir(exist_ok=True)
        self.log = folder / "sshd.log"
        self.config = folder / "sshd_config"
        session_env = "SetEnv " + " ".join(f"{k}={v}" for k, v in {"HOME": str(self.home), **(env or {})}.items())
        self.config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.authorized}", f"PidFile {folder / 'sshd.pid'}", "StrictModes no",
            "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password", "AllowTcpForwarding local", "X11Forwarding no",
            "AcceptEnv LANG LC_*", "Subsystem sftp internal-sftp", "LogLevel VERBOSE", session_env,
            "",
        ]))
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen: {self.log.read_text()}")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def host_fingerprint(self) -> str:
        """The fingerprint of the key the server presents."""
        return fingerprint(Path(f"{self.host_key}.pub"))

    def known_hosts_line(self) -> str:
        """The server's key as a known_hosts line."""
        kind, blob = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {blob}\n"


# A host's nvidia-smi that answers as a server with eight H100s: a stand-in for the GPUs this machine lacks
# (the probe that reads it, over SSH, is the app's own).
NVIDIA_SMI_8_H100 = """#!/bin/sh
case "$*" in
  *--query-gpu*)
    for i in 0 1 2 3 4 5 6 7; do
      echo "$i, NVIDIA H100 80GB HBM3, GPU-0000000$i, 81559, 80950, 9.0, 580.95.05"
    done ;;
  *) echo "| NVIDIA-SMI 580.95.05    Driver Version: 580.95.05    CUDA Version: 13.0 |" ;;
esac
"""


def eight_h100_path(folder: Path) -> str:
    """A PATH for the host's sessions whose nvidia-smi is the eight-H100 stand-in (written into `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    smi = folder / "nvidia-smi"
    smi.write_text(NVIDIA_SMI_8_H100)
    smi.chmod(0o755)
    return f"{folder}:/usr/local/bin:/usr/bin:/bin"


# A stand-in for a model server where none can run: it answers every GET (so /health) with 200 on 127.0.0.1:argv[1].
HEALTHY = """
import http.server, sys
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
print("serving", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


# `vllm serve …` where no GPU is: it prints its arguments and answers every GET (/health, /v1/models) on --port.
VLLM_STAND_IN = """#!{python}
import http.server, json, sys
args = sys.argv[1:]
print("vllm", " ".join(args), flush=True)
port = int(args[args.index("--port") + 1])
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"data": [{{"id": "zai-org/GLM-4.6V"}}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


def gpu_server_path(folder: Path, python: str) -> str:
    """A PATH whose nvidia-smi answers as eight H100s and whose vllm is the stand-in above (written into `folder`)."""
    path = eight_h100_path(folder)
    vllm = folder / "vllm"
    vllm.write_text(VLLM_STAND_IN.format(python=python))
    vllm.chmod(0o755)
    return path
