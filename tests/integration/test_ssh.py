"""The SSH layer against a real sshd on 127.0.0.1: host keys (unknown, trusted, changed), keys with and without
a passphrase (asked through the app, never written), commands, and a port forward."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from desktop.backends.ssh import HostKeyChanged, HostKeyUnknown, KnownHosts, SshAuthFailed, SshConnection, SshTarget
from desktop.secret import Secret
from tests.support.sshd import PASSPHRASE, SshServer, keygen


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with SshServer(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def connection(sshd: SshServer, tmp_path: Path, *, key: Path | None = None, trusted: bool = True,
               askpass: object = None) -> SshConnection:
    known = KnownHosts(tmp_path / "app_known_hosts", user_files=[tmp_path / "user_known_hosts"])
    if trusted:
        known.path.write_text(sshd.known_hosts_line())
    config = tmp_path / "ssh_config"
    config.write_text("")
    target = SshTarget("127.0.0.1", sshd.user, sshd.port, str(key or sshd.key))
    return SshConnection(target, known, askpass=askpass, config_file=config)  # type: ignore[arg-type]


def test_an_unknown_host_shows_its_fingerprint_and_connects_once_trusted(sshd: SshServer, tmp_path: Path) -> None:
    async def scenario() -> str:
        ssh = connection(sshd, tmp_path, trusted=False)
        with pytest.raises(HostKeyUnknown) as unknown:
            await ssh.connect()
        assert not ssh.connected
        assert [key.fingerprint for key in unknown.value.keys] == [sshd.host_fingerprint]
        assert sshd.host_fingerprint in unknown.value.detail
        ssh.known_hosts.trust(unknown.value.keys)
        await ssh.connect()
        try:
            code, out, _err = await ssh.run("echo $((6 * 7)); printf '%s' \"$SSH_CONNECTION\"")
            assert code == 0
            return out
        finally:
            await ssh.close()

    out = asyncio.run(scenario())
    assert out.splitlines()[0] == "42"
    assert f"127.0.0.1 {sshd.port}" in out
    assert not (tmp_path / "user_known_hosts").exists(), "the user's known_hosts is never written"


def test_a_changed_host_key_refuses_to_connect(sshd: SshServer, tmp_path: Path) -> None:
    other = keygen(tmp_path / "impostor")
    kind, blob = Path(f"{other}.pub").read_text().split()[:2]

    async def scenario() -> None:
        ssh = connection(sshd, tmp_path, trusted=False)
        ssh.known_hosts.path.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
        with pytest.raises(HostKeyChanged) as changed:
            await ssh.connect()
        assert "different host key" in changed.value.message
        assert f"ssh-keygen -R [127.0.0.1]:{sshd.port}" in changed.value.hint
        assert not ssh.connected

    asyncio.run(scenario())


def test_a_passphrase_is_asked_through_the_app_and_a_wrong_one_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    prompts: list[str] = []

    def answering(answer: str | None):  # type: ignore[no-untyped-def]
        async def ask(prompt: str) -> Secret | None:
            prompts.append(prompt)
            return Secret(answer) if answer is not None else None
        return ask

    async def scenario() -> None:
        wrong = connection(sshd, tmp_path, key=sshd.locked_key, askpass=answering("not it"))
        with pytest.raises(SshAuthFailed) as refused:
            await wrong.connect()
        assert "passphrase" in refused.value.hint
        cancelled = connection(sshd, tmp_path, key=sshd.locked_key, askpass=answering(None))
        with pytest.raises(SshAuthFailed):
            await cancelled.connect()
        prompts.clear()
        right = connection(sshd, tmp_path, key=sshd.locked_key, askpass=answering(PASSPHRASE))
        await right.connect()
        try:
            assert (await right.run("echo ok"))[1] == "ok\n"
        finally:
            await right.close()

    asyncio.run(scenario())
    assert len(prompts) == 1 and "passphrase" in prompts[0].lower() and str(sshd.locked_key) in prompts[0]
    assert PASSPHRASE not in "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())


def test_a_forward_reaches_a_loopback_port_of_the_host(sshd: SshServer, tmp_path: Path) -> None:
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello through the tunnel")

        def log_message(self, *args: object) -> None:
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=web.serve_forever, daemon=True).start()

    async def scenario() -> str:
        ssh = connection(sshd, tmp_path)
        await ssh.connect()
        try:
            local = await ssh.forward(web.server_address[1])
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{local}/")
            return response.text
        finally:
            await ssh.close()

    try:
        assert asyncio.run(scenario()) == "hello through the tunnel"
    finally:
        web.shutdown()
        web.server_close()


def test_targets_parse_as_people_write_them() -> None:
    assert SshTarget.parse("gpu1") == SshTarget("gpu1")
    assert SshTarget.parse("me@gpu1:2222") == SshTarget("gpu1", "me", 2222)
    assert SshTarget.parse("me@[fe80::1]:22").host == "fe80::1"
    assert SshTarget("gpu1", "me", 2222).label == "me@gpu1:2222"
    assert SshTarget("gpu1", port=2222).known_hosts_name == "[gpu1]:2222"
    with pytest.raises(ValueError):
        SshTarget("-oProxyCommand=evil")


def test_the_hosts_home_is_the_tests_own(sshd: SshServer, tmp_path: Path) -> None:
    async def scenario() -> str:
        ssh = connection(sshd, tmp_path)
        await ssh.connect()
        try:
            return (await ssh.run("python3 -c 'import os; print(os.path.expanduser(\"~\"))'"))[1].strip()
        finally:
            await ssh.close()

    assert asyncio.run(scenario()) == str(sshd.home)
