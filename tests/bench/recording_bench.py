"""The screen-recording benchmarks: the recorder's CPU, dropped frames and file size while the screen changes,
how long `stop` takes to hand over the finished file, and sampling pictures from the clip afterwards.

Each run records in a fresh process of its own (`--probe`), so the CPU figure (user + system time of every
thread of that process, ÷ wall time) is the recorder's alone; the changing window and the picture below it
are other processes:

    python -m tests.bench.recording_bench --probe --width 1920 --height 1080 --fps 10 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.bench.run import Figure
from tests.support.changing_window import show_changing_window

if TYPE_CHECKING:
    from tests.bench.run import Desktop

# What is recorded: the area from the top left corner, its frame rate.
CONFIGS = ((1920, 1080, 10), (1280, 720, 30))
# The moving window: its size, and it changes colour and place every frame.
WINDOW_SIZE = (480, 270)
SAMPLES = 8


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def probe(width: int, height: int, fps: int, seconds: float) -> dict[str, object]:
    """One recording of `seconds`, stopped by `stop()`; then pictures sampled from the file."""
    from desktop.capture.base import Rect
    from desktop.capture.recorder import Recorder, RecordingSettings
    from desktop.media.video import sample_frames

    with tempfile.TemporaryDirectory(prefix="glmv-recording-") as folder:
        out = Path(folder) / "clip.mp4"
        recorder = Recorder(Rect(0, 0, width, height), out, RecordingSettings(fps=fps, max_seconds=seconds + 60))
        cpu_before, wall_before = _cpu_seconds(), time.monotonic()
        recorder.start()
        while recorder.started_at is None:
            time.sleep(0.01)
        time.sleep(max(0.0, recorder.started_at + seconds - time.monotonic()))
        stopping = time.monotonic()
        recording = recorder.stop()
        stopped = time.monotonic()
        cpu = (_cpu_seconds() - cpu_before) / (stopped - wall_before)
        data = out.read_bytes()
        sampling = time.perf_counter()
        samples = sample_frames(data, SAMPLES)
        sample_ms = (time.perf_counter() - sampling) * 1000
        assert len(samples) == SAMPLES
    return {"cpu": cpu, "dropped": recording.dropped, "frames": recording.frames, "bytes": recording.bytes,
            "duration": recording.duration, "mb_per_min": recording.bytes / 1e6 / recording.duration * 60,
            "stop_s": stopped - stopping, "size": [recording.width, recording.height], "sample_ms": sample_ms}


def bench_recording(desktop: Desktop, runs: int, seconds: float) -> list[Figure]:
    """Each configuration `runs` times over the desktop's picture, with a window moving and changing every frame."""
    figures: list[Figure] = []
    for width, height, fps in CONFIGS:
        results = []
        for _ in range(runs):
            window = show_changing_window(desktop.x.env(), 0, 0, *WINDOW_SIZE, "--interval", str(1 / fps),
                                          "--move-within", str(width), str(height), "--quiet")
            try:
                out = subprocess.run([sys.executable, "-m", "tests.bench.recording_bench", "--probe",  # noqa: S603
                                      "--width", str(width), "--height", str(height), "--fps", str(fps),
                                      "--seconds", str(seconds)],
                                     env=desktop.x.env(), capture_output=True, text=True, check=True,
                                     timeout=seconds * 3 + 120)
            finally:
                window.close()
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        values = {key: [float(r[key]) for r in results]
                  for key in ("cpu", "dropped", "mb_per_min", "stop_s", "sample_ms", "frames")}
        sent_width, sent_height = results[0]["size"]
        due = statistics.median(values["frames"]) + statistics.median(values["dropped"])
        what = f"{width}×{height} at {fps} fps"
        content = (f"{seconds:.0f} s of the desktop's picture with a {WINDOW_SIZE[0]}×{WINDOW_SIZE[1]} window moving "
                   f"and changing colour every frame; encoded at {sent_width}×{sent_height}, libx264 veryfast crf 28")
        figures += [
            Figure(f"Recording CPU, {what}", "core", values["cpu"], "≤ 1 core",
                   f"{statistics.median(values['cpu']):.2f} of one core: user + system time of the recording "
                   f"process ÷ wall time, start to stop; {content}"),
            Figure(f"Recording dropped frames, {what}", "frames", values["dropped"], "≤ 0 frames",
                   f"late grabs and frames the encoder could not take, of {due:.0f} due"),
            Figure(f"Recording size, {what}", "MB/min", values["mb_per_min"], "report", content),
            Figure(f"Stop → recording ready, {seconds:.0f} s of {what}", "s", values["stop_s"], "≤ 1 s",
                   "stop() called until it returns the Recording: queued frames encoded, encoder flushed, "
                   "index moved to the front of the file"),
            Figure(f"Video samples, {SAMPLES} from {seconds:.0f} s of {what}", "ms", values["sample_ms"], "report",
                   "sample_frames on the recorded file's bytes: probe, keyframe index, decoding, RGB pictures"),
        ]
    return figures


def main() -> int:
    """`--probe`: one recording measured, printed as a JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    if not args.probe:
        parser.error("run the benchmarks with `python -m tests.bench.run --only recording`")
    print(json.dumps(probe(args.width, args.height, args.fps, args.seconds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
