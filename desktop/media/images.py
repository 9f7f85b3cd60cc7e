"""Images for the model: token estimates, downscaling to a budget, encoding, data URLs.

GLM-V's image processor rounds each side to a multiple of 28 px and spends one token per 28×28
block, capping an image at 7,500 tokens. We downscale (never upscale) to the user's budget before
sending, so the cost the user sees on a thumbnail is the cost the server charges.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.config.schema import IMAGE_TOKEN_SIDE, MAX_IMAGE_TOKEN_BUDGET
from desktop.errors import UserFacingError
from desktop.i18n import _

if TYPE_CHECKING:
    from PIL import Image

# The processor's limits (its `size`), compared against two temporal frames of one image.
_TEMPORAL_PATCH = 2
_MIN_PIXELS = 112 * 112
_MAX_PIXELS = IMAGE_TOKEN_SIDE * IMAGE_TOKEN_SIDE * MAX_IMAGE_TOKEN_BUDGET * _TEMPORAL_PATCH


class ImageError(UserFacingError):
    """An image that cannot be read or sent."""


def estimate_image_tokens(width: int, height: int) -> int:
    """Tokens GLM-V's processor spends on an image of this size (its smart_resize, exactly)."""
    f, frames = IMAGE_TOKEN_SIDE, _TEMPORAL_PATCH
    if width < f or height < f:
        scale = max(f / height, f / width)
        height, width = int(height * scale), int(width * scale)
    h_bar = round(height / f) * f
    w_bar = round(width / f) * f
    if frames * h_bar * w_bar > _MAX_PIXELS:
        beta = math.sqrt(frames * height * width / _MAX_PIXELS)
        h_bar = max(f, math.floor(height / beta / f) * f)
        w_bar = max(f, math.floor(width / beta / f) * f)
    elif frames * h_bar * w_bar < _MIN_PIXELS:
        beta = math.sqrt(_MIN_PIXELS / (frames * height * width))
        h_bar = math.ceil(height * beta / f) * f
        w_bar = math.ceil(width * beta / f) * f
    return (h_bar // f) * (w_bar // f)


def fit_to_budget(width: int, height: int, token_budget: int, max_side: int | None = None) -> tuple[int, int]:
    """The largest size with the same aspect, no bigger than the original, within the token budget."""
    scale = 1.0
    if estimate_image_tokens(width, height) > token_budget:
        scale = math.sqrt(token_budget * IMAGE_TOKEN_SIDE**2 / (width * height))
    if max_side is not None and max(width, height) * scale > max_side:
        scale = max_side / max(width, height)
    if scale >= 1.0:
        return width, height
    w, h = max(1, int(width * scale)), max(1, int(height * scale))
    # Rounding to 28 px blocks can push a size just over the budget: shave until it fits.
    while estimate_image_tokens(w, h) > token_budget and w > 1 and h > 1:
        w, h = max(1, int(w * 0.99)), max(1, int(h * 0.99))
    return w, h


@dataclass(frozen=True)
class EncodedImage:
    """An image ready to send: encoded bytes, their MIME type and the pixel size the model sees."""

    data: bytes
    mime: str
    width: int
    height: int

    @property
    def tokens(self) -> int:
        """Estimated image tokens for this payload."""
        return estimate_image_tokens(self.width, self.height)

    def data_url(self) -> str:
        """The `data:` URL form that every OpenAI-compatible server accepts."""
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


def open_image(data: bytes) -> Image.Image:
    """Decode image bytes, or raise ImageError saying the file is not a readable picture."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        opened = Image.open(io.BytesIO(data))
        opened.load()
        # Photos store their rotation in EXIF; send what the user sees, so boxes line up with it.
        image: Image.Image = ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(
            _("This file is not a picture the app can read."),
            _("Use a PNG, JPEG, WebP, GIF or BMP image."), detail=str(exc),
        ) from exc
    return image


_PICTURES_HINT = _("Attach a PNG, JPEG, WebP, GIF, BMP or TIFF picture.")


def decode_picture(data: bytes, name: str) -> Image.Image:
    """Decode a picture file's bytes; ImageError names the file and says whether it is cut short or unreadable."""
    try:
        return open_image(data)
    except ImageError as exc:
        if "truncated" in exc.detail or "broken" in exc.detail:
            message = _("'{name}' is damaged or incomplete: its picture data ends early.").format(name=name)
        else:
            message = _("'{name}' is not a picture the app can read.").format(name=name)
        raise ImageError(message, _PICTURES_HINT, detail=exc.detail) from exc


def read_picture_file(path: Path) -> tuple[bytes, Image.Image]:
    """Read and decode a picture file (slow: a worker thread); a UserFacingError says exactly what is wrong:
    missing, a folder, empty, too big, not a picture (and what it is instead), or damaged."""
    from desktop.media.sources import SourceKind, read_file

    data, found = read_file(path)
    name = path.name or str(path)
    if found.kind is not SourceKind.PICTURE:
        what = {SourceKind.PDF: _("a PDF document"), SourceKind.OFFICE: _("an Office document"),
                SourceKind.TEXT: _("a text file"), SourceKind.VIDEO: _("a video")}[found.kind]
        raise ImageError(_("'{name}' is {kind}, not a picture.").format(name=name, kind=what),
                         _("Attach it with --file (or Attach… in the chat window), which reads every kind."))
    return data, decode_picture(data, name)


def from_bgra(raw: bytes, width: int, height: int) -> Image.Image:
    """Wrap a screen grab's BGRA pixels as an RGB image without copying them twice."""
    from PIL import Image

    return Image.frombuffer("RGB", (width, height), raw, "raw", "BGRX", 0, 1)


def encode_for_model(
    image: Image.Image, token_budget: int, *, fmt: str = "jpeg", max_side: int | None = None,
    max_bytes: int | None = None,
) -> EncodedImage:
    """Downscale `image` to the budget and encode it; shrink further if a byte limit demands."""
    from PIL import Image

    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    if fmt == "jpeg" and image.mode == "RGBA":
        backdrop = Image.new("RGB", image.size, (255, 255, 255))
        backdrop.paste(image, mask=image.getchannel("A"))
        image = backdrop
    width, height = fit_to_budget(image.width, image.height, token_budget, max_side)
    while True:
        scaled = image if (width, height) == image.size else image.resize(
            (width, height), Image.Resampling.LANCZOS, reducing_gap=3.0
        )
        buffer = io.BytesIO()
        if fmt == "png":
            scaled.save(buffer, "PNG", compress_level=1)
            mime = "image/png"
        else:
            scaled.save(buffer, "JPEG", quality=92, subsampling=0)
            mime = "image/jpeg"
        data = buffer.getvalue()
        if max_bytes is None or len(data) <= max_bytes or min(width, height) < 64:
            break
        shrink = math.sqrt(max_bytes / len(data)) * 0.95
        width, height = max(1, int(width * shrink)), max(1, int(height * shrink))
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageError(_("This image is too large for the endpoint even after downscaling."),
                         _("Crop it to the part that matters and attach it again."))
    return EncodedImage(data=data, mime=mime, width=width, height=height)


def lossless_png(image: Image.Image) -> bytes:
    """The original pixels as PNG, for keeping a capture (history, export)."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()
