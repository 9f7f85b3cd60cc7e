"""Videos read from bytes: probe, pictures at evenly spaced moments and the filmstrip, on clips made here
with PyAV (a known colour for each second), and the errors for what is not a video or is damaged."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from desktop.media.video import VideoError, VideoInfo, filmstrip, probe, sample_frames

# One colour per second of the clips.
COLORS = [(220, 40, 40), (40, 200, 60), (40, 60, 220), (230, 220, 50), (50, 220, 230), (220, 50, 220)]
FPS = 10
WIDTH, HEIGHT = 320, 180


def make_clip(path: Path | None = None, *, seconds: int = 6, codec: str = "libx264", fmt: str = "mp4",
              keyframe_every: int = 250, options: dict[str, str] | None = None) -> bytes:
    """A clip whose frames are COLORS[second], with a moving white bar so no two frames are the same."""
    target: Path | io.BytesIO = path if path is not None else io.BytesIO()
    muxer_options = {"movflags": "+faststart"} if path is not None and fmt == "mp4" else {}
    with av.open(str(target) if isinstance(target, Path) else target, "w", format=fmt,
                 container_options=muxer_options) as container:
        stream = container.add_stream(codec, rate=FPS, options=options or {})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.gop_size = keyframe_every
        for index in range(seconds * FPS):
            pixels = np.empty((HEIGHT, WIDTH, 3), np.uint8)
            pixels[:] = COLORS[index // FPS]
            pixels[:, bar_at(index) - 4:bar_at(index) + 4] = 255
            frame = av.VideoFrame.from_ndarray(pixels, "rgb24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path.read_bytes() if path is not None else target.getvalue()  # type: ignore[union-attr]


def bar_at(index: int) -> int:
    """The middle column of frame `index`'s white bar (8 px wide, 5 px further each frame)."""
    return (index * 5) % (WIDTH - 8) + 4


def away_from_bar(index: int, width: int = WIDTH) -> int:
    """A column of frame `index` (scaled to `width`) that shows the background colour."""
    return width - width // 8 if bar_at(index) < WIDTH // 2 else width // 8


def color_at(image: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    pixel = image.getpixel((x, y))
    assert isinstance(pixel, tuple)
    return pixel[0], pixel[1], pixel[2]


def near(color: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return max(abs(a - b) for a, b in zip(color, expected, strict=True)) <= 12


@pytest.fixture(scope="module")
def clip() -> bytes:
    return make_clip()


def test_probe_tells_size_rate_frames_and_length(clip: bytes) -> None:
    assert probe(clip) == VideoInfo(WIDTH, HEIGHT, 10.0, 60, 6.0, len(clip))


@pytest.mark.parametrize(("codec", "fmt"), [("libx264", "matroska"), ("libvpx-vp9", "webm"), ("mpeg4", "mp4")])
def test_probe_reads_other_containers_and_codecs(codec: str, fmt: str) -> None:
    data = make_clip(seconds=2, codec=codec, fmt=fmt)
    info = probe(data)
    assert (info.width, info.height, info.frames, info.fps) == (WIDTH, HEIGHT, 20, 10.0)
    assert info.duration == pytest.approx(2.0)


def test_samples_are_the_middles_of_equal_parts(clip: bytes) -> None:
    samples = sample_frames(clip, 6)
    assert [t for t, _image in samples] == pytest.approx([0.5, 1.5, 2.5, 3.5, 4.5, 5.5])
    for second, (moment, image) in enumerate(samples):
        assert image.mode == "RGB" and image.size == (WIDTH, HEIGHT)
        assert near(color_at(image, away_from_bar(int(moment * FPS)), HEIGHT // 2), COLORS[second])


@pytest.mark.parametrize(("keyframe_every", "fmt", "b_frames"), [
    (1, "mp4", 0), (7, "mp4", 0), (250, "mp4", 0), (7, "mp4", 3), (7, "matroska", 3), (7, "avi", 0)])
def test_each_sample_is_the_frame_on_screen_at_its_moment(keyframe_every: int, fmt: str, b_frames: int) -> None:
    # GIVEN keyframes every frame, every 0.7 s (the sampler seeks between samples) or only at the start; frames
    # reordered (B-frames) or not, in containers that index keyframes by presentation or by decoding time
    data = make_clip(seconds=6, keyframe_every=keyframe_every, fmt=fmt,
                     options={"x264-params": f"bframes={b_frames}:b-adapt=0"})
    # WHEN 13 moments are sampled (not on whole frames)
    samples = sample_frames(data, 13)
    # THEN each picture is the frame shown then: the bar at that frame's place, the second's colour
    for moment, image in samples:
        index = int(moment * FPS)
        assert near(color_at(image, bar_at(index), HEIGHT // 2), (255, 255, 255)), (moment, index)
        assert near(color_at(image, away_from_bar(index), HEIGHT // 2), COLORS[index // FPS]), (moment, index)


def test_one_sample_is_the_middle_of_the_clip(clip: bytes) -> None:
    [(moment, image)] = sample_frames(clip, 1)
    assert moment == pytest.approx(3.0)
    assert near(color_at(image, bar_at(30), 10), (255, 255, 255))
    assert near(color_at(image, away_from_bar(30), 10), COLORS[3])


def test_more_samples_than_frames_repeat_frames() -> None:
    samples = sample_frames(make_clip(seconds=1), 25)
    assert len(samples) == 25
    for moment, image in samples:
        assert near(color_at(image, bar_at(int(moment * FPS)), 10), (255, 255, 255)), moment


def test_samples_scaled_to_a_height_keep_the_aspect(clip: bytes) -> None:
    [(_t, image)] = sample_frames(clip, 1, height=90)
    assert image.size == (160, 90)


def test_filmstrip_puts_the_samples_side_by_side(clip: bytes) -> None:
    strip = filmstrip(clip, 6, 72)
    assert strip.mode == "RGB" and strip.size == (6 * 128, 72)
    for second in range(6):
        x = second * 128 + away_from_bar(int((second + 0.5) * FPS), 128)
        assert near(color_at(strip, x, 36), COLORS[second]), second


def test_a_faststart_recording_file_reads_the_same(tmp_path: Path) -> None:
    data = make_clip(tmp_path / "clip.mp4", seconds=3)
    assert data[4:8] == b"ftyp" and data.find(b"moov") < data.find(b"mdat")  # the index comes first
    assert probe(data).frames == 30
    assert len(sample_frames(data, 3)) == 3


@pytest.mark.parametrize("junk", [b"", b"hello, world\n" * 100, bytes(4096), b"\x89PNG\r\n\x1a\n" + bytes(100)])
def test_what_is_not_a_video_is_refused(junk: bytes) -> None:
    for read in (probe, lambda data: sample_frames(data, 3), lambda data: filmstrip(data, 3, 40)):
        with pytest.raises(VideoError, match="not a video") as raised:
            read(junk)
        assert raised.value.hint


def test_sound_alone_is_refused() -> None:
    out = io.BytesIO()  # an MP4 (like a voice memo) with only an AAC track
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(VideoError, match="only sound"):
        probe(out.getvalue())


@pytest.mark.parametrize("keep", [100, 0.5, -100])
def test_a_truncated_file_is_damaged(tmp_path: Path, keep: float) -> None:
    # GIVEN a recording-like file (index first) cut short: in its header, in the middle, just before its end
    data = make_clip(tmp_path / "clip.mp4", seconds=3)
    cut = data[:int(len(data) * keep)] if 0 < keep < 1 else data[:int(keep)]
    # THEN it is a damaged video, not something else
    for read in (probe, lambda data: sample_frames(data, 3)):
        with pytest.raises(VideoError, match="damaged or incomplete") as raised:
            read(cut)
        assert raised.value.hint


def test_a_file_whose_index_was_never_written_is_damaged() -> None:
    data = make_clip(seconds=2)  # written to memory: the index (moov) comes last
    with pytest.raises(VideoError, match="damaged or incomplete"):
        probe(data[:-200])


def test_bad_arguments_are_programming_errors(clip: bytes) -> None:
    with pytest.raises(ValueError, match="count"):
        sample_frames(clip, 0)
    with pytest.raises(ValueError, match="height"):
        filmstrip(clip, 2, 0)
