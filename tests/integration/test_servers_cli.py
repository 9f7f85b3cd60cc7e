"""`glmv-desktop servers list|start|stop` in the running app, with an SSH host that is a real sshd on 127.0.0.1:
the host listed, a start there checked for real over SSH (the app's probe and inventory run there) and refused
with what is missing, an unknown host and an empty stop each said clearly with a non-zero status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.commands import build_parser, forwardable_argv
from tests.support import desktop_env
from tests.support.app_process import AppProcess, app_env, write_settings
from tests.support.sshd import SshServer


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with SshServer(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def test_the_servers_grammar_forwards_what_was_asked() -> None:
    parser = build_parser()
    args = parser.parse_args(["servers", "start", "GLM-4.6V-Flash", "--engine", "vllm", "--host", "gpu-box"])
    assert forwardable_argv(args) == ["servers", "start", "--engine", "vllm", "--host", "gpu-box", "--",
                                      "GLM-4.6V-Flash"]
    two = parser.parse_args(["servers", "start", "GLM-4.6V", "--host", "node-a", "--host", "node-b"])
    assert forwardable_argv(two) == ["servers", "start", "--host", "node-a", "--host", "node-b", "--", "GLM-4.6V"]
    assert forwardable_argv(parser.parse_args(["servers"])) == ["servers"]
    assert forwardable_argv(parser.parse_args(["servers", "stop"])) == ["servers", "stop"]
    with pytest.raises(SystemExit):
        parser.parse_args(["servers", "start", "x", "--engine", "ollama"])


def test_servers_on_a_host_from_the_command_line(x_display: desktop_env.XServer, tmp_path: Path,
                                                 session_bus: desktop_env.SessionBus, sshd: SshServer) -> None:
    host = {"address": f"{sshd.user}@127.0.0.1:{sshd.port}", "name": "gpu-box", "identity_file": str(sshd.key),
            "python": "python3", "id": "gpubox01"}
    write_settings(tmp_path, "http://127.0.0.1:9/v1", **{"servers.ssh_hosts": [host]})
    known = tmp_path / "data" / "glmv-desktop" / "ssh" / "known_hosts"
    known.parent.mkdir(parents=True)
    known.write_text(sshd.known_hosts_line())
    (tmp_path / "home").mkdir()
    app = AppProcess(app_env(x_display, tmp_path, DBUS_SESSION_BUS_ADDRESS=session_bus.address,
                             HOME=str(tmp_path / "home")))
    try:
        app.wait_for("started")
        listed = app.cli("servers", "list")
        assert listed.returncode == 0, listed.stderr
        assert f"gpu-box ({host['address']}, id gpubox01)" in listed.stdout
        assert "No server is running." in listed.stdout
        # a start on the host is checked there for real: this host has no GPU engine nor the model's files
        started = app.cli("servers", "start", "GLM-4.6V-Flash", "--host", "gpu-box", timeout=120)
        assert started.returncode == 1
        assert "gpu-box" in started.stdout and any(
            words in started.stdout for words in ("does not fit", "is not installed", "are not on")), started.stdout
        unknown = app.cli("servers", "start", "GLM-4.6V-Flash", "--host", "nope")
        assert unknown.returncode == 1 and 'There is no SSH host "nope"' in unknown.stdout
        no_model = app.cli("servers", "start", "GLM-9000")
        assert no_model.returncode == 1 and "glm-4.6v-flash" in no_model.stdout
        stopped = app.cli("servers", "stop")
        assert stopped.returncode == 0 and "No server is running." in stopped.stdout
    finally:
        assert app.cli("quit").returncode == 0
        app.wait_exit(30)


def test_doctor_reaches_each_host_without_asking_anything(tmp_path: Path, sshd: SshServer) -> None:
    import os
    import subprocess
    import sys

    hosts = [{"address": f"{sshd.user}@127.0.0.1:{sshd.port}", "name": "gpu-box", "identity_file": str(sshd.key),
              "python": "python3", "id": "gpubox01"},
             {"address": f"{sshd.user}@localhost:{sshd.port}", "name": "unknown-box", "identity_file": str(sshd.key),
              "python": "python3", "id": "unknown1"}]
    write_settings(tmp_path, "http://127.0.0.1:9/v1", **{"servers.ssh_hosts": hosts})
    known = tmp_path / "data" / "glmv-desktop" / "ssh" / "known_hosts"
    known.parent.mkdir(parents=True)
    known.write_text(sshd.known_hosts_line())
    env = {**os.environ, **{f"XDG_{n}_HOME": str(tmp_path / n.lower()) for n in ("CONFIG", "DATA", "STATE", "CACHE")},
           "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "desktop", "doctor"], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    section = done.stdout.split("Servers on SSH hosts", 1)[1].split("\n\n", 1)[0]
    assert "✔ ssh client:" in section
    assert "✔ gpu-box: reached; Python 3." in section and "no NVIDIA GPU" in section
    assert "✘ unknown-box:" in section and "is not a known SSH host" in section
    assert not known.read_text().count("localhost"), "doctor trusts nothing by itself"
