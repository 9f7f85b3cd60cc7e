"""The screen recorder on the real X display: real mss grabs, real libx264 through PyAV, and the MP4
decoded again to check what each frame shows against what a window on screen showed at that moment."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import mss
import pytest
from PIL import ImageStat

from desktop.capture.base import Rect
from desktop.capture.recorder import (
    Recorder,
    RecorderError,
    Recording,
    RecordingCancelled,
    RecordingProgress,
    RecordingSettings,
    planned_size,
)
from desktop.media.video import probe
from tests.support import desktop_env
from tests.support.changing_window import ChangingWindow, color_of, show_changing_window

pytestmark = pytest.mark.display

# The window's place: odd sides, so the recording leaves out its last column and row, and a width whose
# BGRA rows (642 × 4 bytes) are not a multiple of the frame's 16-byte row alignment.
WINDOW = Rect(201, 203, 643, 363)
# H.264 at crf 28 on a flat colour, after BGRA → yuv420p → RGB: a few levels off at most.
COLOR_TOLERANCE = 24


@pytest.fixture
def changing_window(x_display: desktop_env.XServer) -> Iterator[ChangingWindow]:
    """A window on the session's display that changes colour every 100 ms."""
    window = show_changing_window(x_display.env(), WINDOW.left, WINDOW.top, WINDOW.width, WINDOW.height,
                                  "--interval", "0.1")
    yield window
    if window.process.poll() is None:
        window.close()


def decoded_frames(path: Path) -> list[tuple[float, tuple[int, int, int], tuple[int, int]]]:
    """Each frame of the file: its time in seconds, the mean colour of its middle, its size."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            image = frame.to_image()
            w, h = image.size
            mean = ImageStat.Stat(image.crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4))).mean
            frames.append((float(frame.pts * frame.time_base), (round(mean[0]), round(mean[1]), round(mean[2])),
                           (w, h)))
    return frames


def close_to(color: tuple[int, int, int], step: int) -> bool:
    expected = color_of(step)
    return max(abs(a - b) for a, b in zip(color, expected, strict=True)) <= COLOR_TOLERANCE


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class FlakyGrabber:
    """Real mss, with one grab made slow or every grab after some failing (a display that went away)."""

    def __init__(self, *, slow_grab: int | None = None, slow_seconds: float = 0.0,
                 fail_after: int | None = None) -> None:
        self.inner = mss.MSS()
        self.slow_grab, self.slow_seconds, self.fail_after = slow_grab, slow_seconds, fail_after
        self.grabs = 0
        self.closed = False

    def grab(self, region: dict[str, int]) -> Any:
        self.grabs += 1
        if self.fail_after is not None and self.grabs > self.fail_after:
            raise mss.exception.ScreenShotError("XShmGetImage() failed: the display connection is gone")
        if self.grabs == self.slow_grab:
            time.sleep(self.slow_seconds)
        return self.inner.grab(region)

    def close(self) -> None:
        self.closed = True
        self.inner.close()


def test_each_frame_shows_what_was_on_screen_when_it_was_taken(changing_window: ChangingWindow,
                                                               tmp_path: Path) -> None:
    # GIVEN a window changing colour every 100 ms, recorded at 10 fps
    out = tmp_path / "clip.mp4"
    progress: list[RecordingProgress] = []
    recorder = Recorder(WINDOW, out, RecordingSettings(fps=10), on_progress=progress.append)
    # WHEN it is recorded for 3 s and stopped
    recorder.start()
    assert recorder.running
    wait_until(lambda: recorder.started_at is not None)
    assert recorder.started_at is not None
    time.sleep(max(0.0, recorder.started_at + 3.0 - time.monotonic()))
    recording = recorder.stop()
    changes = changing_window.close()
    # THEN the file has ~30 frames of the planned size, each showing the colour on screen at its moment
    assert not recorder.running
    assert recorder.stop() == recording  # stop is idempotent
    frames = decoded_frames(out)
    assert abs(len(frames) - 30) <= 1
    assert recording == Recording(out, 642, 362, 10, len(frames), recording.dropped, recording.duration,
                                  out.stat().st_size)
    assert recording.frames + recording.dropped in (30, 31)
    assert {size for _t, _c, size in frames} == {(642, 362)}
    assert recording.duration == pytest.approx((round(frames[-1][0] * 10) + 1) / 10)
    mismatched = []
    for seconds, color, _size in frames:
        index = round(seconds * 10)
        assert seconds == pytest.approx(index / 10, abs=1e-6)  # pts in whole frames of 1/fps
        shown = ChangingWindow.step_at(changes, recorder.started_at + index / 10)
        if not any(close_to(color, step) for step in (shown - 1, shown, shown + 1)):
            mismatched.append((index, color, shown, color_of(shown)))
    assert not mismatched, mismatched
    assert 8 <= len(progress) <= 20  # about 4 a second, the last one at the end
    assert progress[-1].frames == recording.frames and progress[-1].dropped == recording.dropped


def test_max_seconds_ends_the_recording_by_itself(x_display: desktop_env.XServer, tmp_path: Path) -> None:
    out = tmp_path / "short.mp4"
    recorder = Recorder(Rect(0, 0, 320, 240), out, RecordingSettings(fps=10, max_seconds=1.5))
    recorder.start()
    recording = recorder.wait(timeout=30)
    assert recording is not None and not recorder.running
    assert recording.frames + recording.dropped == 15
    assert recording.duration == pytest.approx(1.5, abs=0.35)
    info = probe(out.read_bytes())
    assert (info.width, info.height, info.frames, info.bytes) == (320, 240, recording.frames, recording.bytes)
    assert recorder.stop() == recording


def test_wait_returns_none_while_still_recording(x_display: desktop_env.XServer, tmp_path: Path) -> None:
    recorder = Recorder(Rect(0, 0, 64, 64), tmp_path / "a.mp4", RecordingSettings(fps=5))
    recorder.start()
    assert recorder.wait(timeout=0.2) is None
    assert recorder.running
    assert recorder.stop().frames >= 1


def test_cancel_deletes_the_file(x_display: desktop_env.XServer, tmp_path: Path) -> None:
    out = tmp_path / "cancelled.mp4"
    recorder = Recorder(Rect(0, 0, 320, 240), out, RecordingSettings(fps=10))
    recorder.start()
    wait_until(out.exists)
    recorder.cancel()
    assert not out.exists() and not recorder.running
    with pytest.raises(RecordingCancelled, match="cancelled"):
        recorder.stop()
    assert recorder.wait() is None  # a cancel is the user's choice, not an error for whoever waits


def test_a_wait_in_another_thread_ends_with_none_on_cancel(x_display: desktop_env.XServer, tmp_path: Path) -> None:
    recorder = Recorder(Rect(0, 0, 64, 64), tmp_path / "c.mp4", RecordingSettings(fps=10))
    recorder.start()
    waited: list[Recording | None] = []
    waiter = threading.Thread(target=lambda: waited.append(recorder.wait()), name="waiter")
    waiter.start()
    recorder.cancel()
    waiter.join(30)
    assert waited == [None] and not (tmp_path / "c.mp4").exists()


def test_cancel_after_the_end_deletes_the_finished_file(x_display: desktop_env.XServer, tmp_path: Path) -> None:
    out = tmp_path / "finished.mp4"
    recorder = Recorder(Rect(0, 0, 64, 64), out, RecordingSettings(fps=10, max_seconds=0.3))
    recorder.start()
    assert recorder.wait(timeout=30) is not None and out.exists()
    recorder.cancel()
    assert not out.exists()
    with pytest.raises(RecordingCancelled):
        recorder.stop()


def test_the_whole_screen_is_scaled_down_to_the_pixel_budget(x_display: desktop_env.XServer,
                                                             changing_window: ChangingWindow,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "screen.mp4"
    settings = RecordingSettings(fps=10, max_seconds=1.0)
    screen = Rect(0, 0, x_display.width, x_display.height)
    recorder = Recorder(screen, out, settings)
    recorder.start()
    recording = recorder.wait(timeout=60)
    assert recording is not None
    width, height = recording.width, recording.height
    assert (width, height) == (1810, 1018)
    assert width % 2 == 0 and height % 2 == 0 and width * height <= settings.max_pixels
    assert width / height == pytest.approx(16 / 9, rel=0.005)
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (1810, 1018)
        picture = frame.to_image()
    # the changing window is where it is on screen, scaled
    scale = width / x_display.width
    middle = picture.getpixel((round((WINDOW.left + WINDOW.width / 2) * scale),
                               round((WINDOW.top + WINDOW.height / 2) * scale)))
    assert max(middle) > 200 and min(middle) < 60  # one of the window's saturated colours, not the black desktop


@pytest.mark.parametrize(("size", "budget", "planned"), [
    ((1920, 1080), 1280 * 720 * 2, (1810, 1018)),
    ((3840, 2160), 1280 * 720 * 2, (1810, 1018)),
    ((1280, 720), 1280 * 720 * 2, (1280, 720)),
    ((643, 363), 1280 * 720 * 2, (642, 362)),
    ((1000, 3), 1280 * 720, (1000, 2)),
    ((2000, 1000), 1000 * 500, (1000, 500)),
])
def test_planned_size_keeps_the_budget_the_aspect_and_even_sides(size: tuple[int, int], budget: int,
                                                                  planned: tuple[int, int]) -> None:
    assert planned_size(*size, budget) == planned


def test_a_grabber_failing_mid_recording_surfaces_from_stop(x_display: desktop_env.XServer, tmp_path: Path) -> None:
    out = tmp_path / "broken.mp4"
    grabber = FlakyGrabber(fail_after=5)
    recorder = Recorder(Rect(0, 0, 320, 240), out, RecordingSettings(fps=10), grabber_factory=lambda: grabber)
    recorder.start()
    wait_until(lambda: not recorder.running)  # the failure ends the recording by itself
    with pytest.raises(RecorderError, match="could not be recorded.*display connection is gone") as raised:
        recorder.stop()
    assert raised.value.hint and isinstance(raised.value.__cause__, mss.exception.ScreenShotError)
    with pytest.raises(RecorderError):
        recorder.wait()
    assert grabber.closed and not out.exists()


def test_a_display_that_cannot_be_opened_surfaces_from_wait(x_display: desktop_env.XServer, tmp_path: Path) -> None:
    def no_display() -> Any:
        return mss.MSS(display=":999")

    recorder = Recorder(Rect(0, 0, 64, 64), tmp_path / "none.mp4", grabber_factory=no_display)
    recorder.start()
    with pytest.raises(RecorderError, match="could not be recorded"):
        recorder.wait(timeout=30)
    assert not (tmp_path / "none.mp4").exists()


def test_an_unwritable_destination_surfaces_from_stop(x_display: desktop_env.XServer, tmp_path: Path) -> None:
    out = tmp_path / "no such folder" / "clip.mp4"
    recorder = Recorder(Rect(0, 0, 64, 64), out)
    recorder.start()
    wait_until(lambda: not recorder.running)
    with pytest.raises(RecorderError, match="could not be saved") as raised:
        recorder.stop()
    assert "no such folder" in raised.value.message and raised.value.hint


def test_a_full_disk_surfaces_from_wait_and_leaves_the_destination_alone(x_display: desktop_env.XServer,
                                                                        tmp_path: Path) -> None:
    # GIVEN a destination whose every write fails with ENOSPC, as on a full disk (a link to /dev/full, so that
    # nothing but the link could ever be removed)
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    out = tmp_path / "full.mp4"
    out.symlink_to("/dev/full")
    recorder = Recorder(Rect(0, 0, 640, 360), out, RecordingSettings(fps=10, max_seconds=2.0))
    recorder.start()
    # THEN the recording fails saying so, and what is not a file it wrote is not removed as an unfinished one
    with pytest.raises(RecorderError, match="no space left") as raised:
        recorder.wait(timeout=30)
    assert raised.value.hint and not recorder.running
    assert out.is_symlink()


def test_late_grabs_are_dropped_and_counted_and_leave_a_gap_in_time(x_display: desktop_env.XServer,
                                                                   tmp_path: Path) -> None:
    # GIVEN a grab (the 5th, due at 0.4 s) that takes 0.55 s: the frames due meanwhile cannot be taken on time
    out = tmp_path / "late.mp4"
    grabber = FlakyGrabber(slow_grab=5, slow_seconds=0.55)
    recorder = Recorder(Rect(0, 0, 320, 240), out, RecordingSettings(fps=10, max_seconds=2.0),
                        grabber_factory=lambda: grabber)
    recorder.start()
    recording = recorder.wait(timeout=30)
    assert recording is not None
    # THEN they are counted as dropped, and the file's timestamps keep real time (a gap, not frames played early)
    assert recording.dropped >= 3
    assert recording.frames + recording.dropped == 20
    indices = [round(seconds * 10) for seconds, _c, _s in decoded_frames(out)]
    assert len(indices) == recording.frames
    assert len(set(range(20)) - set(indices)) == recording.dropped
    assert max(b - a for a, b in zip(indices, indices[1:], strict=False)) >= 4


class HeldEncoder(Recorder):
    """The real recorder whose encoder is held on its first frame until `release` is set (an encoder that
    cannot keep up)."""

    release = threading.Event()

    def _encode_frame(self, index: int, raw: bytearray) -> None:
        assert self.release.wait(60)
        super()._encode_frame(index, raw)


def test_frames_the_encoder_cannot_take_are_dropped_and_counted(x_display: desktop_env.XServer,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "slow.mp4"
    HeldEncoder.release = threading.Event()
    recorder = HeldEncoder(Rect(0, 0, 320, 240), out, RecordingSettings(fps=10, max_seconds=3.0))
    recorder.start()
    wait_until(lambda: recorder.started_at is not None)
    assert recorder.started_at is not None
    time.sleep(max(0.0, recorder.started_at + 3.3 - time.monotonic()))  # grabbing has ended by then
    HeldEncoder.release.set()
    recording = recorder.wait(timeout=60)
    assert recording is not None
    # one frame held by the encoder, 2 × fps in its queue, the other 9 dropped
    assert recording.frames <= 21 and recording.dropped >= 9
    assert recording.frames + recording.dropped == 30
    assert probe(out.read_bytes()).frames == recording.frames


def test_progress_is_reported_about_four_times_a_second_even_at_one_frame_a_second(
        x_display: desktop_env.XServer, tmp_path: Path) -> None:
    progress: list[tuple[str, RecordingProgress]] = []
    recorder = Recorder(Rect(0, 0, 64, 64), tmp_path / "slow.mp4", RecordingSettings(fps=1, max_seconds=3.0),
                        on_progress=lambda p: progress.append((threading.current_thread().name, p)))
    recorder.start()
    recording = recorder.wait(timeout=30)
    assert recording is not None and recording.frames + recording.dropped == 3
    assert 8 <= len(progress) <= 12  # the last frame is taken at 2 s
    assert {name for name, _p in progress} == {"recorder-grab"}
    elapsed = [p.elapsed for _n, p in progress]
    assert elapsed == sorted(elapsed) and math.isclose(elapsed[-1], 3.0)


def test_settings_are_checked() -> None:
    for bad in ({"fps": 0}, {"fps": 31}, {"max_seconds": 0}, {"crf": 52}, {"max_pixels": 10}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            RecordingSettings(**bad)  # type: ignore[arg-type]
    with pytest.raises(RecorderError, match="too small"):
        Recorder(Rect(0, 0, 1, 100), Path("unused.mp4"))


def test_the_time_base_of_the_file_is_whole_frames(x_display: desktop_env.XServer, tmp_path: Path) -> None:
    out = tmp_path / "rate.mp4"
    recorder = Recorder(Rect(0, 0, 64, 64), out, RecordingSettings(fps=30, max_seconds=0.5))
    recorder.start()
    recording = recorder.wait(timeout=30)
    assert recording is not None
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        pts = [frame.pts * frame.time_base for frame in container.decode(stream)]
    assert all((t * 30).denominator == 1 for t in pts) and pts[0] == Fraction(0)
