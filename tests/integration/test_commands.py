"""`glmv-desktop config|endpoint|ask` as users type them, with and without the app running: every change is
seen at once by `get` and by the running app, every bad key, value or file fails with a reason and a
non-zero exit, and an API key read from standard input reaches no file or log."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.config.secrets import SecretStore
from tests.support import desktop_env
from tests.support.app_process import AppProcess, app_env, write_settings
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer

KEY = "stdinKey4Rq8Zt2Wm7Lp"  # shaped like no known key, so only the app's handling can keep it out of logs


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(VLLM_NEW.evolve(content="Seen.", reasoning="Looking.")) as fake:
        yield fake


@pytest.fixture
def env(x_display: desktop_env.XServer, tmp_path: Path, session_bus: desktop_env.SessionBus,
        server: FakeOpenAIServer) -> dict[str, str]:
    write_settings(tmp_path, server.base_url)
    return app_env(x_display, tmp_path, DBUS_SESSION_BUS_ADDRESS=session_bus.address)


@pytest.fixture
def app(env: dict[str, str]) -> Iterator[AppProcess]:
    process = AppProcess(env, "-v", "run")
    process.wait_for("started")
    yield process
    process.kill()


def offline_cli(env: dict[str, str]) -> AppProcess:
    """`glmv-desktop` commands with no app running."""
    cli = AppProcess.__new__(AppProcess)
    cli.env = env
    return cli


def test_config_with_the_app_running_is_seen_at_once(app: AppProcess, server: FakeOpenAIServer) -> None:
    # GIVEN the running app, WHEN thinking is switched off from the command line
    changed = app.cli("config", "set", "chat.thinking", "false")
    assert changed.returncode == 0, changed.stderr
    # THEN `get` says so right away, and so do the chat window's switch and its requests
    assert app.cli("config", "get", "chat.thinking").stdout.strip() == "false"
    asked = app.cli("ask", "What is this?", "--send")
    assert asked.returncode == 0, asked.stderr
    app.wait_for("reply-finished")
    assert server.chat_requests[-1].body["chat_template_kwargs"] == {"enable_thinking": False}
    assert app.cli("config", "set", "chat.thinking", "true").returncode == 0
    app.cli("ask", "Again?", "--send")
    app.wait_for("reply-finished")
    assert server.chat_requests[-1].body["chat_template_kwargs"] == {"enable_thinking": True}


@pytest.mark.parametrize("running", [True, False], ids=["app running", "app not running"])
def test_bad_keys_and_values_say_what_to_do(env: dict[str, str], running: bool) -> None:
    app = AppProcess(env) if running else offline_cli(env)
    try:
        if running:
            app.wait_for("started")
        unknown = app.cli("config", "set", "nonexistent.key", "1")
        assert unknown.returncode == 2
        assert "There is no setting 'nonexistent.key'" in unknown.stderr and "config list" in unknown.stderr
        assert app.cli("config", "get", "chat.thinkin").returncode == 2
        missing = app.cli("config", "set", "endpoint.active", "foo")
        assert missing.returncode == 2
        assert "There is no endpoint 'foo'" in missing.stderr and "team (Team vLLM)" in missing.stderr
        assert app.cli("config", "get", "endpoint.active").stdout.strip() == '"team"'
        out_of_range = app.cli("config", "set", "images.token_budget", "5")
        assert out_of_range.returncode == 2 and "between" in out_of_range.stderr
        by_name = app.cli("config", "set", "endpoint.active", "team vllm")
        assert by_name.returncode == 0 and "endpoint.active = \"team\"" in by_name.stdout
        text = app.cli("config", "set", "endpoint.model", "4")  # a model name, not the number 4
        assert text.returncode == 0 and app.cli("config", "get", "endpoint.model").stdout.strip() == '"4"'
        listed = app.cli("config", "set", "endpoint.profiles", "[]")
        assert listed.returncode == 2 and "glmv-desktop endpoint" in listed.stderr
    finally:
        if running:
            assert app.cli("quit").returncode == 0
            app.wait_exit()


def test_endpoints_from_the_command_line_with_the_app_running(app: AppProcess, server: FakeOpenAIServer,
                                                              tmp_path: Path) -> None:
    server.set_scenario(VLLM_NEW.evolve(content="Seen.", require_api_key=KEY))
    # GIVEN an endpoint added with its key on standard input, and made active
    added = app.cli("endpoint", "add", "Keyed server", "--type", "vllm", "--url", server.base_url,
                    "--model", "glm-4.6v", "--key-stdin", "--use", stdin=KEY + "\n")
    assert added.returncode == 0, added.stderr
    assert "system keychain" in added.stdout
    listed = app.cli("endpoint", "list", "--json")
    entries = {e["name"]: e for e in json.loads(listed.stdout)}
    assert entries["Keyed server"]["active"] and not entries["Team vLLM"]["active"]
    # WHEN a question is asked
    assert app.cli("ask", "Who are you?", "--send").returncode == 0
    # THEN the key from the keychain was sent
    assert app.wait_for("reply-finished") == ["complete"]
    assert server.chat_requests[-1].headers["authorization"] == f"Bearer {KEY}"
    # and `use` and `remove` work by name or id, with clear refusals
    assert "* " in app.cli("endpoint").stdout, "no action lists them"
    twice = app.cli("endpoint", "add", "keyed SERVER", "--type", "vllm")
    assert twice.returncode == 2 and "already an endpoint called" in twice.stderr
    dashed = app.cli("endpoint", "add", "--type", "sglang", "--", "-dashed name")
    assert dashed.returncode == 0, dashed.stderr
    assert app.cli("endpoint", "remove", "--", "-dashed name").returncode == 0
    assert app.cli("endpoint", "use", "Team vLLM").returncode == 0
    assert "* team" in app.cli("endpoint", "list").stdout
    assert app.cli("endpoint", "remove", "Keyed server").returncode == 0
    assert "Keyed server" not in app.cli("endpoint", "list").stdout
    gone = app.cli("endpoint", "remove", "Keyed server")
    assert gone.returncode == 2 and "There is no endpoint" in gone.stderr
    assert app.cli("quit").returncode == 0
    assert app.wait_exit() == 0
    # AND with debug logging on (-v), the key is in no file the app wrote, nor its output
    assert "DEBUG" in "\n".join(app.errors), "the debug log was on"
    output = "\n".join(app.output + app.errors)
    assert KEY not in output
    leaks = [str(p) for p in tmp_path.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaks == []


def test_endpoints_from_the_command_line_without_the_app(env: dict[str, str], tmp_path: Path) -> None:
    cli = offline_cli(env)
    assert "* team" in cli.cli("endpoint", "list").stdout
    assert "* team" in cli.cli("endpoint").stdout, "no action lists them"
    added = cli.cli("endpoint", "add", "Cloud", "--type", "zai", "--key-stdin", stdin=KEY)
    assert added.returncode == 0, added.stderr
    cloud = next(e for e in json.loads(cli.cli("endpoint", "list", "--json").stdout) if e["name"] == "Cloud")
    assert cloud["base_url"] == "https://api.z.ai/api/paas/v4" and cloud["model"] == "glm-4.6v"
    key = SecretStore().get(f"endpoint:{cloud['id']}")
    assert key is not None and key.reveal() == KEY
    assert cli.cli("endpoint", "use", cloud["id"], "--model", "glm-4.5v").returncode == 0
    assert json.loads(cli.cli("config", "get", "endpoint.model").stdout) == "glm-4.5v"
    nowhere = cli.cli("endpoint", "add", "Custom", "--type", "custom")
    assert nowhere.returncode == 2 and "--url" in nowhere.stderr
    no_key = cli.cli("endpoint", "add", "Empty key", "--type", "vllm", "--key-stdin", stdin="")
    assert no_key.returncode == 2 and "No API key" in no_key.stderr
    assert "Empty key" not in cli.cli("endpoint", "list").stdout, "nothing added when the key is missing"
    assert cli.cli("endpoint", "remove", "Cloud").returncode == 0
    assert SecretStore().get(f"endpoint:{cloud['id']}") is None
    leaks = [str(p) for p in tmp_path.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaks == []


def bad_attachments(folder: Path) -> dict[str, tuple[Path, str]]:
    """Files `ask --image` must refuse, with the words the refusal must contain."""
    folder.mkdir()
    good = png_bytes()
    files = {
        "pdf": ("report.pdf", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "is a PDF document"),
        "text": ("notes.txt", b"Some notes, not a picture.\n", "is a text file"),
        "video": ("clip.mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64), "is a video"),
        "empty": ("empty.png", b"", "is empty"),
        "truncated": ("cut.png", good[: len(good) - 30], "damaged or incomplete"),
    }
    cases = {}
    for case, (name, data, words) in files.items():
        (folder / name).write_bytes(data)
        cases[case] = (folder / name, words)
    cases["missing"] = (folder / "nowhere.png", "does not exist")
    (folder / "a folder").mkdir()
    cases["folder"] = (folder / "a folder", "is a folder")
    return cases


def test_ask_refuses_an_attachment_it_cannot_read(app: AppProcess, server: FakeOpenAIServer, tmp_path: Path) -> None:
    for case, (path, words) in bad_attachments(tmp_path / "files").items():
        asked = app.cli("ask", "--image", str(path), "What is this?", "--send")
        assert asked.returncode == 2, (case, asked.stdout, asked.stderr)
        assert words in asked.stderr, (case, asked.stderr)
        assert "Asking" not in asked.stdout
    assert server.chat_requests == []
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes())
    asked = app.cli("ask", "--image", str(good), "What colour?", "--send")
    assert asked.returncode == 0 and "Asked" in asked.stdout
    assert app.wait_for("reply-finished") == ["complete"]
    assert len(server.chat_requests) == 1


def bad_documents(folder: Path) -> dict[str, tuple[list[str], str]]:
    """`ask --file` arguments that must be refused, with the words the refusal must contain."""
    from tests.support.documents import PageSpec, encrypt_pdf, make_pdf, random_bytes, truncated

    folder.mkdir()
    report = make_pdf([PageSpec(lines=("one",)), PageSpec(lines=("two",))])
    files = {
        "encrypted": ("locked.pdf", encrypt_pdf(report, "pw"), "protected by a password"),
        "truncated": ("cut.pdf", truncated(report, 0.4), "damaged"),
        "unknown": ("blob.dat", random_bytes(), "You can attach pictures"),
        "zip": ("bundle.docx", b"PK\x03\x04" + random_bytes(200), "ZIP archive"),
        "video": ("clip.mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64),
                  "video is damaged or incomplete"),
    }
    cases: dict[str, tuple[list[str], str]] = {}
    for case, (name, data, words) in files.items():
        (folder / name).write_bytes(data)
        cases[case] = (["--file", str(folder / name)], words)
    good = folder / "report.pdf"
    good.write_bytes(report)
    cases["pages"] = (["--file", str(good), "--pages", "2-5"], "outside 1-2")
    cases["missing"] = (["--file", str(folder / "gone.pdf")], "does not exist")
    return cases


def test_ask_file_refuses_what_it_cannot_send_and_sends_the_rest(app: AppProcess, server: FakeOpenAIServer,
                                                                 tmp_path: Path) -> None:
    # GIVEN files that cannot be sent, each asked about from the command line
    for case, (arguments, words) in bad_documents(tmp_path / "docs").items():
        asked = app.cli("ask", *arguments, "What is this?", "--send")
        # THEN each is refused before the app sees it, with the reason and a non-zero status
        assert asked.returncode != 0, (case, asked.stdout, asked.stderr)
        assert words in asked.stderr, (case, asked.stderr)
    assert server.chat_requests == []
    # WHEN a PDF and a text file go together
    notes = tmp_path / "notes.py"
    notes.write_text("print('数据')\n", encoding="gb18030")
    asked = app.cli("ask", "--file", str(tmp_path / "docs" / "report.pdf"), "--pages", "2", "--file", str(notes),
                    "Explain", "--send")
    assert asked.returncode == 0, asked.stderr
    assert app.wait_for("reply-finished") == ["complete"]
    # THEN the request carries page 2 as a picture and the code as fenced text, in that order
    content = server.chat_requests[0].body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url", "text", "text"]
    assert "pages 2 of 2" in content[0]["text"]
    assert "```python\nprint('数据')\n```" in content[2]["text"] and content[3]["text"] == "Explain"
