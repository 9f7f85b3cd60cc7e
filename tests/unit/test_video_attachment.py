"""A clip as an attachment: sent as each endpoint takes video (an MP4 data URL for vLLM and SGLang,
`input_video` for llama.cpp, timestamped frames elsewhere), its cost, and the history keeping it."""

from __future__ import annotations

import base64
import io
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from desktop.chat.attachments import VideoAttachment, load_file
from desktop.chat.conversation import Conversation
from desktop.chat.request import AskOptions, build_request, sending_for
from desktop.config.profiles import Flavor, preset
from desktop.store import HistoryStore

COLOURS = [(220, 30, 30), (30, 180, 60), (40, 70, 220)]  # one per second


def make_clip(seconds: int = 3, fps: int = 10, size: tuple[int, int] = (320, 240)) -> bytes:
    """An H.264 MP4 whose colour changes every second (made with PyAV)."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(seconds * fps):
            frame = av.VideoFrame.from_image(Image.new("RGB", size, COLOURS[index // fps % len(COLOURS)]))
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


@pytest.fixture(scope="module")
def clip() -> bytes:
    return make_clip()


def ask_with(flavor: Flavor, clip: bytes) -> list[dict[str, object]]:
    video = VideoAttachment.from_bytes(clip, "bug.mp4", "screen")
    conversation = Conversation()
    question = conversation.add_question("What happens?", [video])
    reply = conversation.start_reply(question, model="m", endpoint_id="e", thinking=False)
    profile = preset(flavor, name="endpoint", base_url="http://127.0.0.1:9/v1")
    body = build_request(profile, conversation, reply, AskOptions(model="m", image_format="png")).body
    content = body["messages"][-1]["content"]
    assert isinstance(content, list)
    return content


def test_a_clip_is_probed(clip: bytes) -> None:
    video = VideoAttachment.from_bytes(clip, "bug.mp4", "screen")
    assert (video.width, video.height) == (320, 240)
    assert video.duration == pytest.approx(3.0, abs=0.15) and video.fps == pytest.approx(10, abs=0.5)
    assert video.describe().startswith("Video · 3.0 s · 320×240")


@pytest.mark.parametrize("flavor", [Flavor.VLLM, Flavor.SGLANG])
def test_vllm_and_sglang_get_the_mp4_as_a_video_url(flavor: Flavor, clip: bytes) -> None:
    content = ask_with(flavor, clip)
    assert [part["type"] for part in content] == ["text", "video_url", "text"]
    url = content[1]["video_url"]["url"]  # type: ignore[index]
    head, data = url.split(",", 1)
    assert head == "data:video/mp4;base64" and base64.b64decode(data) == clip


def test_llama_cpp_gets_input_video(clip: bytes) -> None:
    content = ask_with(Flavor.LLAMACPP, clip)
    assert [part["type"] for part in content] == ["text", "input_video", "text"]
    assert content[1]["input_video"] == {"data": base64.b64encode(clip).decode("ascii"), "format": "mp4"}


@pytest.mark.parametrize("flavor", [Flavor.TRANSFORMERS, Flavor.ZAI])
def test_endpoints_without_inline_video_get_timestamped_frames(flavor: Flavor, clip: bytes) -> None:
    content = ask_with(flavor, clip)
    assert content[0]["type"] == "text" and "8 frames" in str(content[0]["text"])
    frames = content[1:-1]
    assert [part["type"] for part in frames] == ["text", "image_url"] * 8
    for label, picture in zip(frames[0::2], frames[1::2], strict=True):
        seconds = float(str(label["text"]).removeprefix("At ").removesuffix(" s:"))
        data = base64.b64decode(str(picture["image_url"]["url"]).split(",", 1)[1])  # type: ignore[index]
        seen = Image.open(io.BytesIO(data)).convert("RGB").getpixel((160, 120))
        expected = COLOURS[min(int(seconds), len(COLOURS) - 1)]
        assert isinstance(seen, tuple) and max(abs(a - b) for a, b in zip(seen, expected, strict=True)) < 40, seconds
    assert content[-1] == {"type": "text", "text": "What happens?"}


def test_the_cost_follows_the_route(clip: bytes) -> None:
    video = VideoAttachment.from_bytes(clip, "bug.mp4", "screen")
    frames = video.cost(sending_for(preset(Flavor.TRANSFORMERS, name="t", base_url="http://x/v1"), 2700))
    inline = video.cost(sending_for(preset(Flavor.VLLM, name="v", base_url="http://x/v1"), 2700))
    assert frames.images == 8 and inline.images == 0 and 0 < inline.tokens < frames.tokens


def test_a_video_file_attaches_and_the_history_keeps_it(tmp_path: Path, clip: bytes) -> None:
    path = tmp_path / "screen.mp4"
    path.write_bytes(clip)
    video = load_file(path, "file")
    assert isinstance(video, VideoAttachment)
    video.dropped = 2
    conversation = Conversation()
    conversation.add_question("Look", [video])
    with HistoryStore.open(tmp_path / "data") as store:
        store.save_conversation(conversation)
        [back] = store.load_conversation(conversation.id).messages[0].attachments
    assert isinstance(back, VideoAttachment) and back.original_bytes() == clip and back.dropped == 2
    assert back.thumbnail(192).width <= 192
