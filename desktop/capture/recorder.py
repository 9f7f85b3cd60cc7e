"""Screen recording: a rectangle of the desktop grabbed with mss on a fixed schedule, encoded to an H.264 MP4.

Two threads of the recorder's own do the work. The grab thread takes frame i at start + i/fps (the
schedule never drifts); a frame whose moment passed by more than one interval is dropped and counted,
and so is one that finds the encoder's queue full. The encode thread copies each frame into one
pre-allocated BGRA frame, lets FFmpeg's scaler make the target size in yuv420p and hands it to
libx264. Timestamps are frame numbers in a constant 1/fps time base of our own (the MP4 muxer changes
the stream's time base once the header is written), so a dropped frame leaves a gap in time, not a
frame that plays early.
"""

from __future__ import annotations

import errno
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from desktop.capture.base import Rect
from desktop.errors import UserFacingError
from desktop.i18n import _

logger = logging.getLogger(__name__)

# Encoders in order of preference: libx264 is in PyAV's wheels; the others only if a build lacks it.
ENCODERS = ("libx264", "h264", "mpeg4")
# How often on_progress is called, in seconds.
PROGRESS_INTERVAL = 0.25
# The encoder's queue holds 2 × fps frames, but never more than this many bytes of them (a 4K area: 7 frames).
MAX_QUEUED_BYTES = 256 * 2**20
# How long the encode thread waits for a frame before it looks whether grabbing has ended.
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class RecordingSettings:
    """How to record: frame rate, the longest clip, the pixel budget of a frame and libx264's quality."""

    fps: int = 10  # 1..30
    max_seconds: float = 60.0
    max_pixels: int = 1280 * 720 * 2  # larger areas are scaled down, aspect kept, even sides
    crf: int = 28  # libx264's constant rate factor: 0 lossless … 51 worst

    def __post_init__(self) -> None:
        if not 1 <= self.fps <= 30:
            raise ValueError(f"fps must be 1..30, not {self.fps}")
        if not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be positive, not {self.max_seconds}")
        if self.max_pixels < 16 * 16:
            raise ValueError(f"max_pixels must be at least 256, not {self.max_pixels}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be 0..51, not {self.crf}")


@dataclass(frozen=True)
class RecordingProgress:
    """Where a running recording stands: seconds since its first frame, frames kept and dropped so far."""

    elapsed: float
    frames: int
    dropped: int


@dataclass(frozen=True)
class Recording:
    """A finished recording: the MP4 file and what is in it."""

    path: Path
    width: int
    height: int
    fps: int
    frames: int
    dropped: int
    duration: float  # seconds from the first frame to the end of the last
    bytes: int


class RecorderError(UserFacingError):
    """A recording that could not be made or finished."""


class RecordingCancelled(RecorderError):
    """The recording was cancelled: there is no file."""


class Grabber(Protocol):
    """What the recorder needs of a screen grabber (mss.MSS has it)."""

    def grab(self, monitor: dict[str, int], /) -> Any:
        """BGRA pixels of the region, in an object with a `raw` buffer of width × height × 4 bytes."""
        ...

    def close(self) -> None:
        """Release the grabber's connections."""
        ...


def planned_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The size a `width` × `height` area is recorded at: within `max_pixels`, aspect kept, both sides even."""
    scale = min(1.0, math.sqrt(max_pixels / (width * height)))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def _default_grabber() -> Grabber:
    import mss

    grabber: Grabber = mss.MSS()
    return grabber


def _pick_encoder() -> str:
    """The first encoder of ENCODERS this PyAV has; saying so when it is not libx264."""
    import av

    for name in ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except av.codec.codec.UnknownCodecError:
            continue
        if name != ENCODERS[0]:
            logger.warning("libx264 is missing from this PyAV build; recording with the %s encoder instead", name)
        return name
    raise RecorderError(_("No video encoder is available, so the screen cannot be recorded."),
                        _("Reinstall the app: its video library (PyAV) is incomplete."))


def _grab_error(exc: Exception) -> RecorderError:
    error = RecorderError(_("The screen could not be recorded: {error}").format(error=exc),
                          _("Run 'glmv-desktop doctor' to see what capture needs on this desktop."))
    error.__cause__ = exc
    return error


def _write_error(exc: Exception, path: Path) -> RecorderError:
    if getattr(exc, "errno", None) == errno.ENOSPC:
        error = RecorderError(_("There is no space left on the disk for the recording."),
                              _("Free some disk space, or record a shorter or smaller clip."))
    else:
        error = RecorderError(_("The recording could not be saved to {path}: {error}").format(path=path, error=exc),
                              _("Check that the folder exists and that you may write to it."))
    error.__cause__ = exc
    return error


class Recorder:
    """Records a rectangle of the desktop (physical pixels, desktop.capture.base.Rect) to an H.264 MP4.

    `start` returns at once; the grabbing and encoding run in two threads of the recorder's own.
    `stop`, `cancel` and `wait` block until those threads have ended, so call them from a worker
    thread. Whatever goes wrong in the threads (the display gone, a full disk) ends the recording,
    removes the unfinished file and is raised by `stop`/`wait` as a RecorderError.
    """

    def __init__(self, area: Rect, out: Path, settings: RecordingSettings = RecordingSettings(), *,  # noqa: B008
                 on_progress: Callable[[RecordingProgress], None] | None = None,
                 grabber_factory: Callable[[], Grabber] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if area.width < 2 or area.height < 2:
            raise RecorderError(_("The area to record is too small ({width}×{height} pixels).").format(
                width=area.width, height=area.height), _("Select an area at least 2 pixels wide and high."))
        self.area = area
        self.out = out
        self.settings = settings
        self.width, self.height = planned_size(area.width, area.height, settings.max_pixels)
        if area.width * area.height <= settings.max_pixels:
            # Not scaled: an odd last column or row is left out rather than resampling the whole frame.
            area = Rect(area.left, area.top, self.width, self.height)
        self._grab_area = area
        self._on_progress = on_progress
        self._grabber_factory = grabber_factory or _default_grabber
        self._clock = clock
        frame_bytes = area.width * area.height * 4
        self._queue: queue.Queue[tuple[int, bytearray]] = queue.Queue(
            max(2, min(2 * settings.fps, MAX_QUEUED_BYTES // frame_bytes)))
        self._lock = threading.Lock()
        self._halt = threading.Event()  # stop grabbing (stop, cancel, an error, or the encoder gone)
        self._grab_done = threading.Event()  # the grab thread has put its last frame
        self._done = threading.Event()  # the encode thread has finished the file (or given up)
        self._threads: list[threading.Thread] = []
        self._cancelled = False
        self._error: RecorderError | None = None
        self._result: Recording | None = None
        self._started_at: float | None = None
        self._kept = 0  # frames queued for the encoder
        self._dropped = 0
        self._encoded = 0
        self._last_index = -1
        # Set by the encode thread for _encode_frame.
        self._container: Any = None
        self._stream: Any = None
        self._source: Any = None

    # -- the caller's side ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True from `start` until the file is finished (or the recording has failed or been cancelled)."""
        return bool(self._threads) and not self._done.is_set()

    @property
    def started_at(self) -> float | None:
        """The clock's reading at the first frame (frame i was due at started_at + i / fps)."""
        return self._started_at

    def start(self) -> None:
        """Start the grab thread and the encode thread; returns at once."""
        with self._lock:
            if self._threads:
                raise RuntimeError("a Recorder records once; make a new one")
            if self._cancelled:
                raise RecordingCancelled(_("The recording was cancelled."))
            self._threads = [threading.Thread(target=self._encode_loop, name="recorder-encode"),
                             threading.Thread(target=self._grab_loop, name="recorder-grab")]
            for thread in self._threads:
                thread.start()
        logger.info("recording %s to %s at %d×%d, %d fps, at most %.0f s", self._grab_area, self.out,
                    self.width, self.height, self.settings.fps, self.settings.max_seconds)

    def stop(self) -> Recording:
        """Stop grabbing, encode what is queued and finish the file; blocks until it is written. Idempotent.

        Raises:
            RecorderError: the recording failed (RecordingCancelled after `cancel`).
        """
        self._require_started()
        self._halt.set()
        self._done.wait()
        self._join()
        return self._outcome()

    def cancel(self) -> None:
        """Stop without finishing the file, and delete it (also a recording that had already ended)."""
        self._not_from_own_thread()
        with self._lock:
            self._cancelled = True
            started = bool(self._threads)
        if not started:
            return
        self._halt.set()
        self._done.wait()
        self._join()
        self._remove_file()

    def wait(self, timeout: float | None = None) -> Recording | None:
        """Wait until the recording has ended (max_seconds, or `stop` elsewhere) and return it.

        None if `timeout` passed first, or if the recording was cancelled (the user's choice, not an error).

        Raises:
            RecorderError: the recording failed.
        """
        if self._cancelled and not self._threads:
            return None
        self._require_started()
        if not self._done.wait(timeout):
            return None
        self._join()
        if self._cancelled:
            return None
        return self._outcome()

    def _not_from_own_thread(self) -> None:
        if threading.current_thread() in self._threads:
            raise RuntimeError("stop, cancel and wait cannot be called from the recorder's own threads "
                               "(on_progress runs in one)")

    def _require_started(self) -> None:
        self._not_from_own_thread()
        if not self._threads:
            if self._cancelled:
                raise RecordingCancelled(_("The recording was cancelled."))
            raise RecorderError(_("The recording was never started."))

    def _join(self) -> None:
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()

    def _outcome(self) -> Recording:
        if self._cancelled:
            raise RecordingCancelled(_("The recording was cancelled."))
        if self._error is not None:
            raise self._error.with_traceback(None)  # raised again by each call; its cause keeps the thread's trace
        assert self._result is not None
        return self._result

    def _remove_file(self) -> None:
        if self.out.is_file():  # never a device or a folder someone passed as the destination
            self.out.unlink()

    def _fail(self, error: RecorderError) -> None:
        """Keep the first error (later ones follow from it) and stop grabbing."""
        with self._lock:
            if self._error is None:
                self._error = error
        self._halt.set()

    # -- the grab thread ------------------------------------------------------------------------------
    def _grab_loop(self) -> None:
        fps = self.settings.fps
        total = max(1, math.ceil(self.settings.max_seconds * fps))
        area = self._grab_area
        region = {"left": area.left, "top": area.top, "width": area.width, "height": area.height}
        grabber: Grabber | None = None
        index = 0
        try:
            grabber = self._grabber_factory()
            start = self._clock()
            self._started_at = start
            next_report = start
            while index < total:
                now = self._clock()
                if now >= next_report:
                    self._report(now - start)
                    while next_report <= now:
                        next_report += PROGRESS_INTERVAL
                due = start + index / fps
                if now < due:
                    if self._halt.wait(min(due, next_report) - now):
                        break
                    continue
                if index and self._halt.is_set():  # the first frame is always taken
                    break
                late = int((now - due) * fps)
                if late:  # frames whose moment passed by more than one interval
                    late = min(late, total - index)
                    self._dropped += late
                    index += late
                    continue
                raw = grabber.grab(region).raw
                try:
                    self._queue.put_nowait((index, raw))
                    self._kept += 1
                except queue.Full:  # the encoder is behind
                    self._dropped += 1
                index += 1
        except Exception as exc:  # noqa: BLE001 - any failure to grab ends the recording with a RecorderError
            self._fail(_grab_error(exc))
        finally:
            if grabber is not None:
                try:
                    grabber.close()
                except Exception:  # noqa: BLE001 - closing a grabber that failed may fail too; nothing to lose
                    logger.debug("closing the screen grabber failed", exc_info=True)
            self._grab_done.set()
            self._report(min(index, total) / fps if self._started_at is not None else 0.0)

    def _report(self, elapsed: float) -> None:
        if self._on_progress is None:
            return
        try:
            self._on_progress(RecordingProgress(elapsed, self._kept, self._dropped))
        except Exception:
            logger.exception("the recording's progress callback failed")

    # -- the encode thread ----------------------------------------------------------------------------
    def _encode_loop(self) -> None:
        try:
            self._open_output()
            while not self._cancelled:
                try:
                    index, raw = self._queue.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    if self._grab_done.is_set() and self._queue.empty():
                        break
                    if self._error is not None:
                        break
                    continue
                self._encode_frame(index, raw)
                self._encoded += 1
                self._last_index = index
            if not self._cancelled and self._error is None:
                self._mux(self._stream.encode(None))
            container, self._container = self._container, None
            container.close()
        except RecorderError as exc:
            self._fail(exc)
        except Exception as exc:  # noqa: BLE001 - a failed write or encode ends the recording with a RecorderError
            self._fail(_write_error(exc, self.out))
        finally:
            self._finish()

    def _open_output(self) -> None:
        import av

        codec = _pick_encoder()
        fps = self.settings.fps
        options = {"preset": "veryfast", "crf": str(self.settings.crf)} if codec == "libx264" else {}
        self._container = av.open(str(self.out), mode="w", format="mp4", container_options={"movflags": "+faststart"})
        stream = self._container.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        context = stream.codec_context
        context.time_base = Fraction(1, fps)
        if codec != "libx264":
            context.bit_rate = self.width * self.height * fps // 5
        # Rec. 709, limited range, said in the stream so players convert the colours back as we converted them.
        context.colorspace = context.color_primaries = context.color_trc = 1  # AVCOL_*_BT709
        context.color_range = 1  # AVCOL_RANGE_MPEG
        self._stream = stream
        self._source = av.VideoFrame(self._grab_area.width, self._grab_area.height, "bgra")
        logger.debug("encoding with %s", codec)

    def _encode_frame(self, index: int, raw: bytearray) -> None:
        """Encode frame `index` (grabbed at started_at + index / fps) from its BGRA pixels."""
        plane = self._source.planes[0]
        row = self._grab_area.width * 4
        if plane.line_size == row:
            plane.update(raw)
        else:  # the frame's rows are padded to its alignment: copied row by row
            target, source, line = memoryview(plane), memoryview(raw), plane.line_size
            for y in range(self._grab_area.height):
                target[y * line:y * line + row] = source[y * row:(y + 1) * row]
        frame = self._source.reformat(width=self.width, height=self.height, format="yuv420p",
                                      dst_colorspace="ITU709", dst_color_range="MPEG")
        frame.pts = index
        frame.time_base = Fraction(1, self.settings.fps)
        self._mux(self._stream.encode(frame))

    def _mux(self, packets: list[Any]) -> None:
        for packet in packets:
            self._container.mux(packet)

    def _finish(self) -> None:
        """Close what is open; keep the file only if it is complete."""
        self._halt.set()
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the recording has already failed; the file goes below
                logger.debug("closing the unfinished recording failed", exc_info=True)
            self._container = None
        self._stream = self._source = None
        if self._cancelled or self._error is not None:
            self._remove_file()
        else:
            try:
                size = self.out.stat().st_size
            except OSError as exc:
                self._fail(_write_error(exc, self.out))
            else:
                fps = self.settings.fps
                self._result = Recording(self.out, self.width, self.height, fps, self._encoded, self._dropped,
                                         (self._last_index + 1) / fps, size)
                logger.info("recorded %s: %d frames, %d dropped, %.1f s, %d bytes", self.out, self._encoded,
                            self._dropped, self._result.duration, size)
        self._done.set()
