"""Image budgets: our token estimate equals GLM-V's own processor; never upscale; byte limits."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from desktop.config.schema import DEFAULT_IMAGE_TOKEN_BUDGET, MAX_IMAGE_TOKEN_BUDGET
from desktop.media.images import ImageError, encode_for_model, estimate_image_tokens, fit_to_budget, open_image

SIZES = [(1920, 1080), (3840, 2160), (2560, 1440), (800, 600), (56, 56), (30, 900), (5000, 300), (13, 77),
         (1366, 768), (6000, 6000)]


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_token_estimate_matches_glm4v_image_processor(width: int, height: int) -> None:
    from transformers.models.glm4v.image_processing_pil_glm4v import smart_resize

    h, w = smart_resize(num_frames=2, height=height, width=width, factor=28, min_pixels=112 * 112,
                        max_pixels=28 * 28 * 15000)
    assert estimate_image_tokens(width, height) == (h // 28) * (w // 28)


def test_full_hd_screen_fits_the_default_budget_unscaled() -> None:
    assert estimate_image_tokens(1920, 1080) <= DEFAULT_IMAGE_TOKEN_BUDGET
    assert fit_to_budget(1920, 1080, DEFAULT_IMAGE_TOKEN_BUDGET) == (1920, 1080)


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("budget", [256, 1024, DEFAULT_IMAGE_TOKEN_BUDGET, MAX_IMAGE_TOKEN_BUDGET])
def test_fit_never_upscales_and_respects_budget(width: int, height: int, budget: int) -> None:
    w, h = fit_to_budget(width, height, budget)
    assert w <= width and h <= height
    if (w, h) != (width, height):
        assert estimate_image_tokens(w, h) <= budget
        assert abs(w / h - width / height) / (width / height) < 0.05


def test_max_side_limit() -> None:
    assert max(fit_to_budget(12000, 3000, MAX_IMAGE_TOKEN_BUDGET, max_side=6000)) <= 6000


def test_encode_downscales_to_budget_and_keeps_small_images() -> None:
    big = Image.new("RGB", (3840, 2160), (10, 200, 30))
    payload = encode_for_model(big, 1000)
    assert payload.tokens <= 1000 and payload.mime == "image/jpeg"
    decoded = Image.open(io.BytesIO(payload.data))
    assert decoded.size == (payload.width, payload.height)
    small = Image.new("RGBA", (64, 40), (255, 0, 0, 128))
    png = encode_for_model(small, 1000, fmt="png")
    assert (png.width, png.height) == (64, 40) and png.data_url().startswith("data:image/png;base64,")


def test_byte_limit_shrinks_until_it_fits() -> None:
    noisy = Image.effect_noise((2000, 2000), 120).convert("RGB")
    payload = encode_for_model(noisy, MAX_IMAGE_TOKEN_BUDGET, max_bytes=300_000)
    assert len(payload.data) <= 300_000


def test_unreadable_file_says_what_to_do() -> None:
    with pytest.raises(ImageError) as info:
        open_image(b"%PDF-1.7 not an image")
    assert "PNG" in info.value.hint


def test_exif_rotation_is_applied() -> None:
    photo = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", exif=exif)
    assert open_image(buffer.getvalue()).size == (20, 40)
