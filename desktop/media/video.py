"""Videos for the model: what a clip is (size, rate, length) and pictures of it at evenly spaced moments.

Everything is read from the bytes in memory with PyAV. Sampling decodes each frame at most once: the
packets are first read without decoding (cheap) to learn where the keyframes are; then the decoder
goes forward from the start and jumps ahead (a seek) only where a later keyframe lets it skip frames
no sample needs. CPU work: call it off the UI thread.
"""

from __future__ import annotations

import bisect
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.media.sources import SourceKind, UnsupportedFile, recognise

if TYPE_CHECKING:
    from PIL import Image


class VideoError(UserFacingError):
    """A video that cannot be read: not a video at all, or a damaged one."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video is: its frame size, frame rate, number of frames, length in seconds and size in bytes."""

    width: int
    height: int
    fps: float
    frames: int
    duration: float
    bytes: int


@dataclass(frozen=True)
class _Index:
    """The video stream's packets, read without decoding: timestamps in the stream's time base."""

    start: int  # the first frame's presentation time
    end: int  # the end of the last frame
    keyframes: list[int]  # sorted
    decode_time: dict[int, int]  # keyframe time → its decoding time
    packets: int


def _not_a_video() -> VideoError:
    return VideoError(_("This file is not a video the app can read."),
                      _("Attach a video file such as MP4, WebM or MKV."))


def _damaged(detail: str) -> VideoError:
    return VideoError(_("This video is damaged or incomplete."),
                      _("If it is still being recorded, copied or downloaded, wait until that has finished and "
                        "try again."), detail=detail)


def _looks_like_a_video(data: bytes) -> bool:
    try:
        return recognise(data, "video").kind is SourceKind.VIDEO
    except UnsupportedFile:
        return False


def _open(data: bytes) -> Any:
    """The container, if the bytes are a video by the same signatures the attachment chain goes by
    (FFmpeg alone would also open a picture as a one-frame video)."""
    import av

    if not _looks_like_a_video(data):
        raise _not_a_video()
    try:
        return av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise _damaged(str(exc)) from exc


def _video_stream(container: Any) -> Any:
    if not container.streams:  # a container whose header is cut off
        raise _damaged("no streams")
    if not container.streams.video:
        raise VideoError(_("This file has no pictures, only sound or data."),
                         _("Attach a video file such as MP4, WebM or MKV."))
    return container.streams.video[0]


def _index(container: Any, stream: Any) -> _Index:
    """Read every packet of the stream without decoding; a file whose packets stop short is damaged."""
    import av

    times: list[int] = []
    ends: list[int] = []
    keyframes: list[int] = []
    decode_time: dict[int, int] = {}
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue  # the demuxer's final empty packet; a packet without a time cannot be placed
            if packet.is_corrupt:
                raise _damaged(f"corrupt packet at {packet.pts}")
            times.append(packet.pts)
            ends.append(packet.pts + (packet.duration or 0))
            if packet.is_keyframe:
                keyframes.append(packet.pts)
                decode_time[packet.pts] = packet.dts if packet.dts is not None else packet.pts
    except av.error.FFmpegError as exc:
        raise _damaged(str(exc)) from exc
    expected = stream.frames
    if not times or not keyframes or (expected and len(times) < expected):
        raise _damaged(f"{len(times)} of {expected or '?'} frames present")
    keyframes.sort()
    return _Index(min(times), max(ends), keyframes, decode_time, len(times))


def _seconds(pts: int, time_base: Fraction) -> float:
    return float(pts * time_base)


def probe(data: bytes) -> VideoInfo:
    """What the video in `data` is; VideoError if it is not a video or is damaged."""
    with _open(data) as container:
        stream = _video_stream(container)
        index = _index(container, stream)
        time_base = stream.time_base
        duration = _seconds(index.end - index.start, time_base)
        if duration <= 0 and stream.duration:
            duration = _seconds(stream.duration, time_base)
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else (index.packets / duration if duration > 0 else 0.0)
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            raise _damaged("no frame size")
        return VideoInfo(width, height, fps, index.packets, duration, len(data))


def sample_frames(data: bytes, count: int, *, height: int | None = None) -> list[tuple[float, Image.Image]]:
    """`count` RGB pictures of the video at evenly spaced moments, each with its time in seconds.

    The moments are the middles of `count` equal parts of the clip (one sample is the middle of the
    clip); each picture is the frame on screen at that moment. With `height`, pictures are scaled to
    it by the decoder's scaler, aspect kept.

    Raises:
        VideoError: not a video, or a damaged one.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    import av

    with _open(data) as container:
        stream = _video_stream(container)
        index = _index(container, stream)
        time_base = stream.time_base
        span = index.end - index.start
        targets = [index.start + math.floor(span * (2 * k + 1) / (2 * count)) for k in range(count)]
        stream.codec_context.thread_type = "AUTO"
        size: dict[str, int] = {}
        if height is not None:
            source_width, source_height = stream.codec_context.width, stream.codec_context.height
            size = {"width": max(1, round(source_width * height / source_height)), "height": height}
        samples: list[tuple[float, Image.Image]] = []
        try:
            for target, frame in zip(targets, _frames_at(container, stream, index, targets), strict=True):
                image = frame.to_image(interpolation="AREA", **size)
                samples.append((_seconds(target - index.start, time_base), image))
        except av.error.FFmpegError as exc:
            raise _damaged(str(exc)) from exc
        return samples


def _frames_at(container: Any, stream: Any, index: _Index, targets: list[int]) -> Iterator[Any]:
    """For each target time (ascending), the last frame that starts at or before it; each frame decoded once."""
    frames: Iterator[Any] = iter(())
    shown: Any = None  # the latest decoded frame at or before the target
    ahead: Any = None  # the first decoded frame after it, not yet shown
    started = False
    for target in targets:
        key = index.keyframes[max(0, bisect.bisect_right(index.keyframes, target) - 1)]
        reached = ahead if ahead is not None else shown
        if not started or (reached is not None and reached.pts is not None and key > reached.pts):
            frames, ahead = _decode_from(container, stream, index, key, target)
            shown, started = None, True
        while ahead is not None and (ahead.pts is None or ahead.pts <= target):
            shown, ahead = ahead, next(frames, None)
        picked = shown if shown is not None else ahead
        if picked is None:
            raise _damaged("no frame could be decoded")
        yield picked


def _decode_from(container: Any, stream: Any, index: _Index, key: int, target: int) -> tuple[Iterator[Any], Any]:
    """Frames decoded from keyframe `key` on, and the first of them.

    Containers index keyframes by presentation time (MP4, Matroska) or by decoding time, which is earlier
    when frames are reordered; a seek by presentation time that lands past `target` is done again by
    decoding time.
    """
    frames: Iterator[Any] = iter(())
    first: Any = None
    for time in dict.fromkeys((key, index.decode_time[key])):
        container.seek(time, stream=stream, backward=True)  # flushes the decoder too
        frames = container.decode(stream)
        first = next(frames, None)
        if first is None or first.pts is None or first.pts <= target:
            break
    return frames, first


def filmstrip(data: bytes, count: int, height: int) -> Image.Image:
    """`count` evenly spaced pictures of the video, `height` pixels high, side by side from left to right."""
    from PIL import Image

    if height < 1:
        raise ValueError(f"height must be at least 1, not {height}")
    pictures = [image for _time, image in sample_frames(data, count, height=height)]
    strip = Image.new("RGB", (sum(p.width for p in pictures), height))
    left = 0
    for picture in pictures:
        strip.paste(picture, (left, 0))
        left += picture.width
    return strip
