"""The benchmark runner itself works (quick mode; the figures are not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import desktop_env


def test_quick_run_produces_every_figure(tmp_path: Path) -> None:
    desktop_env.require("Xvfb", "trayer", "xdotool", "dbus-daemon", "gnome-keyring-daemon", "Xorg", "flameshot",
                        "soffice")
    result = subprocess.run([sys.executable, "-m", "tests.bench.run", "--quick", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    [written] = tmp_path.glob("*.json")
    figures = {f["name"]: f for f in json.loads(written.read_text())["figures"]}
    assert {name.split(",")[0] for name in figures} >= {
        "Cold start → tray icon shown", "Idle RSS after start", "RSS after one full ask",
        "Capture 1920×1080 → payload ready", "Parser throughput", "Worst UI stall",
        "Hotkey → region overlay shown", "Region 1920×1080 confirmed → payload ready",
        "Flameshot `flameshot full -p` (reference)", "Hotkey → overlays shown", "History sidebar shown",
        "Chat window opened with its history sidebar", "100-page PDF → first thumbnail",
        "100-page PDF → all thumbnails", "RSS growth over 100 thumbnails", "A4 page at the default image budget",
        "10-slide pptx → PDF", "Annotations: 50 shapes on 3840×2160", "Annotation editor opened on 3840×2160",
        "Annotation editor: canvas repaint during a pen stroke", "Recording CPU", "Recording dropped frames",
        "Recording size", "Stop → recording ready", "Video samples"}
    # every figure was measured; a difference between two runs (its name says "−") may be zero or below, a count
    # of frames (dropped ones) zero
    assert all(f["values"] and all(v > 0 or ("−" in name and abs(v) < 1e9) or (f["unit"] == "frames" and v == 0)
                                   for v in f["values"])
               for name, f in figures.items())
    assert "| Cold start → tray icon shown |" in result.stdout
