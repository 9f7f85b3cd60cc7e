"""The benchmark runner: start-up, memory, capture → payload, hotkey → overlay, parser throughput,
UI stall (the history writing meanwhile), history (search, list, the chat window's sidebar, bytes written
while streaming), documents (PDF thumbnails and pages, office files through LibreOffice), annotations (50 shapes
burned into a 4K capture), recording (the screen recorder's CPU, dropped frames, MB per minute, stop time, and
pictures sampled from its clips).

    .venv/bin/python -m tests.bench.run            # the full set (about 17 minutes)
    .venv/bin/python -m tests.bench.run --quick    # 1-2 runs each, short streams (a smoke check)

Each figure is the median of several runs (min and max shown); the table is printed and written
with the machine's description to tests/bench/results/<time>.json, so commits can be compared.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from desktop.chat.events import ContentDelta, ReasoningDelta
from desktop.chat.parser import ReplyParser, SseDecoder
from tests.bench.workloads import markdown_answer
from tests.support import desktop_env
from tests.support.app_process import AppProcess, app_env
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer
from tests.support.pictures import make_known_picture

RESULTS = Path(__file__).resolve().parent / "results"
APP_SOURCES = Path(__file__).resolve().parents[2] / "desktop"


@dataclass
class Figure:
    """One measured quantity over several runs."""

    name: str
    unit: str
    values: list[float]
    target: str = ""
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def limit(self) -> float | None:
        """The upper bound a target such as "≤ 90 MB" sets on the median, in this figure's unit."""
        match = re.fullmatch(r"≤ ([\d.]+) (\S+)", self.target)
        return float(match[1]) if match and match[2] == self.unit else None

    @property
    def missed(self) -> bool:
        """Whether the median is over the target's bound."""
        return self.limit is not None and statistics.median(self.values) > self.limit

    def row(self) -> list[str]:
        """Median, min, max as table cells; a missed target says so."""
        fmt = (lambda v: f"{v:,.0f}") if max(self.values) >= 100 else (lambda v: f"{v:,.1f}")
        target = f"{self.target} **missed**" if self.missed else self.target
        return [self.name, f"{fmt(statistics.median(self.values))} {self.unit}", fmt(min(self.values)),
                fmt(max(self.values)), str(len(self.values)), target, self.note]


class Desktop:
    """An Xvfb display with a tray host, a keyring bus and a known picture on screen."""

    def __init__(self, work: Path) -> None:
        self.x = desktop_env.start_xvfb(1920, 1080)
        self.tray = desktop_env.start_tray(self.x)
        self.bus = desktop_env.start_session_bus(work / "keyring")
        picture = work / "picture.png"
        make_known_picture(picture, 1920, 1080)
        self.viewer = subprocess.Popen([sys.executable, "-m", "tests.support.show_picture", str(picture)],  # noqa: S603
                                       env=self.x.env(), stdout=subprocess.PIPE, text=True)
        assert self.viewer.stdout is not None
        self.viewer.stdout.readline()

    def env(self, home: Path) -> dict[str, str]:
        """Environment for an app process on this desktop."""
        return app_env(self.x, home, DBUS_SESSION_BUS_ADDRESS=self.bus.address)

    def stop(self) -> None:
        """Tear everything down."""
        self.viewer.terminate()
        self.viewer.wait(10)
        if self.viewer.stdout is not None:
            self.viewer.stdout.close()
        self.bus.stop()
        self.tray.stop()
        self.x.stop()


def _settings_for(home: Path, base_url: str) -> None:
    config = home / "config" / "glmv-desktop"
    config.mkdir(parents=True, exist_ok=True)
    profile = {"id": "bench", "name": "Bench vLLM", "flavor": "vllm", "base_url": base_url, "model": "glm-4.6v"}
    (config / "settings.json").write_text(json.dumps({"schema_version": 1, "endpoint.profiles": [profile],
                                                      "endpoint.active": "bench", "endpoint.model": "glm-4.6v"}))


def cache_bytecode() -> None:
    """Write the app's bytecode cache, as an installed app has it. Without one (PYTHONDONTWRITEBYTECODE,
    or sources changed since) every start compiles the sources again, which here costs 2-3 MB of RSS."""
    compileall.compile_dir(APP_SOURCES, quiet=1)


def _rss_mb(pid: int) -> float:
    """Resident memory in decimal megabytes (10^6 bytes), the unit of the "≤ 90 MB" target."""
    return psutil.Process(pid).memory_info().rss / 1e6


def _wait_unless_seen(app: AppProcess, event: str) -> None:
    """Wait for a trace event that may already have gone by (while waiting for an earlier one)."""
    if not any(line.split()[2:3] == [event] for line in list(app.output) if line.startswith("glmv-trace")):
        app.wait_for(event)


def bench_startup_and_memory(desktop: Desktop, work: Path, runs: int) -> list[Figure]:
    """Cold start to tray icon embedded; idle RSS after start; RSS after one full ask."""
    starts, idle, after_ask = [], [], []
    with FakeOpenAIServer(VLLM_NEW.evolve(content=markdown_answer(400), reasoning="Looking at the screen.")) as fake:
        for run in range(runs):
            home = work / f"start-{run}"
            _settings_for(home, fake.base_url)
            started = time.monotonic()
            app = AppProcess(desktop.env(home))
            try:
                app.wait_for("tray-shown")
                starts.append(time.monotonic() - started)
                _wait_unless_seen(app, "capture-warm")  # hotkeys grabbed, capture connections open
                time.sleep(2.0)  # past the after-start work (left-over server check, login entry)
                idle.append(_rss_mb(app.process.pid))
                app.cli("ask", "--screen", "--send", "What is on my screen?")
                app.wait_for("reply-finished", timeout=60)
                time.sleep(2.0)
                after_ask.append(_rss_mb(app.process.pid))
                app.cli("quit")
                app.wait_exit()
            finally:
                app.kill()
    return [
        Figure("Cold start → tray icon shown", "s", starts, "≤ 0.8 s",
               "process launch until the icon is embedded in the tray host"),
        Figure("Idle RSS after start", "MB", idle, "≤ 90 MB",
               "2 s after the tray icon appeared and the capture warm-up ended (global hotkeys grabbed, capture "
               "connections open; no picture or overlay held)"),
        Figure("RSS after one full ask", "MB", after_ask, "report",
               "screen captured, ~400-word streamed answer rendered, 2 s later"),
    ]


def bench_startup_with_history(desktop: Desktop, work: Path, runs: int, conversations: int) -> list[Figure]:
    """Cold start to tray and idle RSS with a large history against none, alternating run by run."""
    from tests.support.history_fixture import build_history

    full = work / "start-with-history"
    build_history(full / "data" / "glmv-desktop", conversations=conversations)
    starts: dict[str, list[float]] = {"empty": [], "full": []}
    idle: dict[str, list[float]] = {"empty": [], "full": []}
    for run in range(runs):
        for kind in ("empty", "full"):
            home = full if kind == "full" else work / f"start-no-history-{run}"
            _settings_for(home, "http://127.0.0.1:9/v1")
            started = time.monotonic()
            app = AppProcess(desktop.env(home))
            try:
                app.wait_for("tray-shown")
                starts[kind].append(time.monotonic() - started)
                _wait_unless_seen(app, "capture-warm")
                time.sleep(2.0)  # the history is open by then (1.5 s after start)
                idle[kind].append(_rss_mb(app.process.pid))
                app.cli("quit")
                app.wait_exit()
            finally:
                app.kill()
    ratio = [f / e for f, e in zip(starts["full"], starts["empty"], strict=True)]
    extra = [f - e for f, e in zip(idle["full"], idle["empty"], strict=True)]
    return [
        Figure(f"Cold start → tray, {conversations:,} conversations ÷ none", "×", ratio, "≤ 1.1 ×",
               f"the same run, alternating; with history {statistics.median(starts['full']):.2f} s, "
               f"without {statistics.median(starts['empty']):.2f} s"),
        Figure(f"Idle RSS, {conversations:,} conversations − none", "MB", extra, "≤ 5 MB",
               f"2 s after the tray appeared, the history open; with {statistics.median(idle['full']):.1f} MB, "
               f"without {statistics.median(idle['empty']):.1f} MB"),
    ]


def bench_frozen_start(desktop: Desktop, work: Path, runs: int, frozen: Path) -> list[Figure]:
    """Cold start to tray, the frozen app against this venv's, alternating in the same run."""
    times: dict[str, list[float]] = {"venv": [], "frozen": []}
    for run in range(runs):
        for kind, program in (("venv", None), ("frozen", [str(frozen)])):
            home = work / f"frozen-{kind}-{run}"
            _settings_for(home, "http://127.0.0.1:9/v1")
            started = time.monotonic()
            app = AppProcess(desktop.env(home), program=program)
            try:
                app.wait_for("tray-shown")
                times[kind].append(time.monotonic() - started)
                app.cli("quit")
                app.wait_exit()
            finally:
                app.kill()
    ratio = statistics.median(times["frozen"]) / statistics.median(times["venv"])
    return [
        Figure("Cold start → tray, venv app", "s", times["venv"], "report", "`python -m desktop`, alternating with "
               "the frozen app below"),
        Figure("Cold start → tray, frozen app", "s", times["frozen"], "≤ 1.2× venv",
               f"the PyInstaller one-folder build; {ratio:.2f}× the venv app's median", extra={"ratio": ratio}),
    ]


def bench_capture(desktop: Desktop, runs: int) -> list[Figure]:
    """Full-screen 1920×1080 capture → data URL ready, default budget."""
    out = subprocess.run([sys.executable, "-m", "tests.bench.capture_probe", "--runs", str(runs)],  # noqa: S603
                         env=desktop.x.env(), capture_output=True, text=True, check=True, timeout=600)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return [Figure("Capture 1920×1080 → payload ready", "ms", data["ms"], "≤ 100 ms",
                   f"mss grab + JPEG q92 + base64, sent {data['sent_size'][0]}×{data['sent_size'][1]} "
                   f"(default budget), {data['data_url_bytes'] / 1e6:.2f} MB data URL; first call "
                   f"{data['first_ms']:.0f} ms", extra=data)]


def _xdotool(desktop: Desktop, *args: str) -> None:
    subprocess.run(["xdotool", *args], env=desktop.x.env(), check=True, timeout=30)  # noqa: S603, S607


def bench_hotkey_overlay(desktop: Desktop, work: Path, runs: int) -> list[Figure]:
    """Hotkey (xdotool) → frozen overlay painted; region confirmed → payload ready; Flameshot for reference."""
    home = work / "hotkeys"
    _settings_for(home, "http://127.0.0.1:9/v1")
    settings_file = home / "config" / "glmv-desktop" / "settings.json"
    settings = json.loads(settings_file.read_text())
    settings["images.format"] = "png"  # the lossless path: the slower of the two encoders
    settings_file.write_text(json.dumps(settings))
    to_overlay, in_app, payload = [], [], []
    app = AppProcess(desktop.env(home))
    try:
        app.wait_for("hotkeys-ready")
        app.wait_for("capture-warm")  # a user's first press comes later than this, ~0.5 s after start
        _xdotool(desktop, "mousemove", "960", "540")
        for _ in range(runs):
            started = time.monotonic()
            _xdotool(desktop, "key", "ctrl+alt+shift+s")
            pressed = float(app.wait_for("hotkey")[1])
            shown = float(app.wait_for("overlay-shown")[0])
            to_overlay.append((shown - started) * 1000)
            in_app.append((shown - pressed) * 1000)
            _xdotool(desktop, "key", "Escape")
            app.wait_for("capture-cancelled")
            time.sleep(0.2)
        for _ in range(max(3, runs // 2)):
            _xdotool(desktop, "key", "ctrl+alt+shift+s")
            app.wait_for("overlay-shown")
            _xdotool(desktop, "key", "f")  # the whole 1920×1080 monitor
            _xdotool(desktop, "key", "Return")
            confirmed = float(app.wait_for("region-confirmed")[0])
            ready = float(app.wait_for("capture-ready")[1])
            payload.append((ready - confirmed) * 1000)
            time.sleep(0.3)
        app.cli("quit")
        app.wait_exit()
    finally:
        app.kill()
    flameshot = []
    shots = work / "flameshot"
    shots.mkdir()
    env = {**desktop.x.env(), "DBUS_SESSION_BUS_ADDRESS": desktop.bus.address}
    for _ in range(max(3, runs // 3)):
        started = time.monotonic()
        subprocess.run(["flameshot", "full", "-p", str(shots)], env=env, capture_output=True,  # noqa: S603, S607
                       check=True, timeout=60)
        flameshot.append((time.monotonic() - started) * 1000)
    reference = statistics.median(flameshot)
    return [
        Figure("Hotkey → region overlay shown", "ms", to_overlay, "≤ 150 ms",
               f"xdotool key (its own start included) until the frozen overlay's first paint; "
               f"{statistics.median(to_overlay) / reference:.2f}× Flameshot's cold full capture",
               extra={"in_app_ms": in_app}),
        Figure("  of which: inside the app", "ms", in_app, "",
               "hotkey event received → all monitors grabbed, windows listed, overlay painted"),
        Figure("Region 1920×1080 confirmed → payload ready", "ms", payload, "≤ 100 ms",
               "Enter in the overlay → crop, thumbnail, PNG + base64 data URL (images.format=png, the slower "
               "lossless encoder; the default is JPEG q92)"),
        Figure("Flameshot `flameshot full -p` (reference)", "ms", flameshot, "report",
               "cold: process start → PNG written → exit, same display"),
    ]


def bench_hotkey_two_monitors(work: Path, runs: int) -> list[Figure]:
    """Hotkey → both overlays painted on two 1920×1080 monitors (Xorg's dummy driver)."""
    from tests.support.multi_monitor import start_dual_monitor_xorg

    x = start_dual_monitor_xorg()
    bus = desktop_env.start_session_bus(work / "dual-keyring")
    home = work / "dual"
    _settings_for(home, "http://127.0.0.1:9/v1")
    shown_after, first = [], 0.0
    app = AppProcess(app_env(x, home, XDG_SESSION_TYPE="x11", DBUS_SESSION_BUS_ADDRESS=bus.address))
    try:
        app.wait_for("hotkeys-ready")
        app.wait_for("capture-warm")
        subprocess.run(["xdotool", "mousemove", "2400", "500"], env=x.env(), check=True, timeout=30)  # noqa: S603, S607
        for _ in range(runs):
            started = time.monotonic()
            subprocess.run(["xdotool", "key", "ctrl+alt+shift+s"], env=x.env(), check=True, timeout=30)  # noqa: S603, S607
            painted = max(float(app.wait_for("overlay-shown")[0]) for _monitor in range(2))
            shown_after.append((painted - started) * 1000)
            subprocess.run(["xdotool", "key", "Escape"], env=x.env(), check=True, timeout=30)  # noqa: S603, S607
            app.wait_for("capture-cancelled")
            time.sleep(0.2)
        first = shown_after[0]
        app.cli("quit")
        app.wait_exit()
    finally:
        app.kill()
        bus.stop()
        x.stop()
    return [Figure("Hotkey → overlays shown, two monitors", "ms", shown_after, "≤ 150 ms",
                   f"as above on Xorg's dummy driver, 2 × 1920×1080 side by side, until both overlays have painted; "
                   f"first press {first:.0f} ms (its first grab sets up the shared memory)")]


def record_stream(tokens: int, path: Path) -> bytes:
    """Record the raw SSE bytes of a `tokens`-word answer from the protocol-faithful server."""
    with FakeOpenAIServer(VLLM_NEW.evolve(reasoning=markdown_answer(tokens // 4, seed=3),
                                          content=markdown_answer(tokens - tokens // 4))) as fake, \
            httpx.stream("POST", fake.url("/chat/completions"), timeout=60,
                         json={"model": "glm-4.6v", "stream": True, "messages": [{"role": "user", "content": "hi"}],
                               "stream_options": {"include_usage": True}}) as response:
        raw = response.read()
    path.write_bytes(raw)
    return raw


def bench_parser(work: Path, runs: int, tokens: int) -> list[Figure]:
    """SSE decoding + chunk parsing of a recorded stream, as the client does it."""
    raw = record_stream(tokens, work / "recorded-stream.sse")
    lines = raw.decode().split("\n")
    rates, mbs = [], []
    chunks = 0
    for _ in range(runs):
        started = time.perf_counter()
        sse, parser = SseDecoder(), ReplyParser(("reasoning", "reasoning_content"))
        text = 0
        chunks = 0
        for line in lines:
            data = sse.feed_line(line)
            if data is None:
                continue
            chunks += 1
            for event in parser.feed_chunk(json.loads(data)):
                if isinstance(event, ContentDelta | ReasoningDelta):
                    text += len(event.text)
        elapsed = time.perf_counter() - started
        rates.append(chunks / elapsed)
        mbs.append(len(raw) / elapsed / 1e6)
    return [Figure("Parser throughput", "chunks/s", rates, "report",
                   f"recorded {chunks:,}-chunk stream ({len(raw) / 1e6:.1f} MB, ~{tokens:,} tokens); "
                   f"{statistics.median(mbs):.0f} MB/s")]


def bench_stall(desktop: Desktop, runs: int, tokens: int, rate: float) -> list[Figure]:
    """Worst event-loop stall while a long answer streams into the chat window."""
    worst, p99 = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-m", "tests.bench.stall_probe", "--tokens", str(tokens),  # noqa: S603
                              "--rate", str(rate)], env={**desktop.x.env(), "DBUS_SESSION_BUS_ADDRESS":
                                                         desktop.bus.address},
                             capture_output=True, text=True, check=True, timeout=tokens / rate * 3 + 120)
        data = json.loads(out.stdout.strip().splitlines()[-1])
        if data["state"] != "complete" or data["stored_chars"] != data["answer_chars"]:
            raise RuntimeError(f"stall run did not complete, or its answer is not in the history: {data}")
        worst.append(data["worst_stall_ms"])
        p99.append(data["p99_stall_ms"])
    return [Figure("Worst UI stall, 20k-token answer at 200 tok/s" if tokens == 20000 else
                   f"Worst UI stall, {tokens}-token answer at {rate:.0f} tok/s", "ms", worst, "≤ 50 ms",
                   f"5 ms probe timer; the history writer saving the reply every 250 ms meanwhile, the sidebar "
                   f"open; p99 {statistics.median(p99):.1f} ms")]


def bench_history(work: Path, runs: int, conversations: int, stream_runs: int, tokens: int) -> list[Figure]:
    """Search and list over a generated history, and the bytes a streamed answer writes (history_bench.py)."""
    from tests.bench import history_bench

    return history_bench.bench_history(work, runs, conversations, stream_runs, tokens)


def bench_documents(work: Path, runs: int, office_runs: int) -> list[Figure]:
    """PDF thumbnails and pages, and a slide deck through LibreOffice (documents_bench.py)."""
    from tests.bench import documents_bench

    return documents_bench.bench_documents(work, runs, office_runs)


def bench_annotations(runs: int) -> list[Figure]:
    """50 mixed shapes burned into a 3840×2160 capture, and where the time goes (annotations_bench.py)."""
    from tests.bench import annotations_bench

    return annotations_bench.bench_annotations(runs)


def bench_recording(desktop: Desktop, runs: int, seconds: float) -> list[Figure]:
    """1920×1080 at 10 fps and 1280×720 at 30 fps of a changing screen (recording_bench.py)."""
    from tests.bench import recording_bench

    return recording_bench.bench_recording(desktop, runs, seconds)


def machine() -> str:
    """A one-line description of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, "
            f"Python {platform.python_version()}, Xvfb 1920×1080×24")


def table(figures: list[Figure]) -> str:
    """A markdown table of the figures."""
    head = ["benchmark", "median", "min", "max", "runs", "target", "what"]
    rows = [head, ["---"] * len(head)] + [f.row() for f in figures]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in rows)


def main() -> int:
    """Run everything and report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1-2 runs and short streams: check the runner works")
    parser.add_argument("--only", choices=["startup", "startup-history", "capture", "hotkey", "parser", "stall",
                                           "frozen", "history", "documents", "annotations", "recording"],
                        action="append")
    parser.add_argument("--frozen", type=Path, help="the frozen app's executable (dist/glmv-desktop/glmv-desktop): "
                        "compares its cold start with this venv's")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON results")
    args = parser.parse_args()
    quick = args.quick
    work = Path(tempfile.mkdtemp(prefix="glmv-bench-"))
    cache_bytecode()
    # history, documents and annotations need no display
    desktop = Desktop(work) if not args.only or set(args.only) - {"history", "documents", "annotations"} else None
    plans: dict[str, Callable[[], list[Figure]]] = {
        "startup": lambda: bench_startup_and_memory(desktop, work, 1 if quick else 7),
        "startup-history": lambda: bench_startup_with_history(desktop, work, 1 if quick else 5,
                                                              300 if quick else 10_000),
        "capture": lambda: bench_capture(desktop, 3 if quick else 30),
        "hotkey": lambda: bench_hotkey_overlay(desktop, work, 2 if quick else 20)
        + bench_hotkey_two_monitors(work, 2 if quick else 20),
        "parser": lambda: bench_parser(work, 2 if quick else 7, 2000 if quick else 20000),
        "stall": lambda: bench_stall(desktop, 1 if quick else 5, 300 if quick else 20000, 200.0),
        "history": lambda: bench_history(work, 2 if quick else 7, 1000 if quick else 10_000, 1 if quick else 3,
                                         2000 if quick else 20000),
        "documents": lambda: bench_documents(work, 2 if quick else 7, 1 if quick else 5),
        "annotations": lambda: bench_annotations(3 if quick else 30),
        "recording": lambda: bench_recording(desktop, 1 if quick else 2, 3.0 if quick else 60.0),
    }
    if args.frozen is not None:
        frozen = args.frozen.resolve()
        plans["frozen"] = lambda: bench_frozen_start(desktop, work, 2 if quick else 7, frozen)
    figures: list[Figure] = []
    try:
        for name, plan in plans.items():
            if args.only and name not in args.only:
                continue
            print(f"running {name} …", file=sys.stderr, flush=True)
            figures += plan()
    finally:
        if desktop is not None:
            desktop.stop()
    report = table(figures)
    print(f"Machine: {machine()}\n\n{report}")
    missed = [f"{f.name.strip()} ({statistics.median(f.values):,.1f} {f.unit}, target {f.target})"
              for f in figures if f.missed]
    if missed:
        print("\nmissed targets: " + "; ".join(missed))
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / time.strftime("%Y%m%d-%H%M%S.json")
    out.write_text(json.dumps({"machine": machine(), "quick": quick, "figures": [
        {"name": f.name, "unit": f.unit, "values": f.values, "median": statistics.median(f.values),
         "target": f.target, "missed": f.missed, "note": f.note, "extra": f.extra} for f in figures]},
        indent=2, ensure_ascii=False))
    print(f"\nwritten to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
