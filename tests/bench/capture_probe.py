"""Capture → payload timing, in its own process on a display: full-screen grab with mss, wrap as an
attachment, downscale to the default budget if needed, JPEG-encode and build the data URL.
Prints one JSON line with the per-run milliseconds.

    python -m tests.bench.capture_probe --runs 30
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from desktop.capture.base import CaptureScope
from desktop.capture.mss_handler import MssCapture
from desktop.chat.conversation import ImageAttachment
from desktop.config.schema import DEFAULT_IMAGE_TOKEN_BUDGET


def main() -> int:
    """Time `runs` captures; the first (which opens the X connection) is reported separately."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    handler = MssCapture()
    times: list[float] = []
    size = (0, 0)
    payload_bytes = 0
    for _ in range(args.runs + 1):
        started = time.perf_counter()
        shot = handler.grab(CaptureScope.POINTER_MONITOR, None)
        attachment = ImageAttachment.from_pixels(shot.image, "screen.png", "screen")
        payload = attachment.payload(DEFAULT_IMAGE_TOKEN_BUDGET, "jpeg")
        url = payload.data_url()
        times.append((time.perf_counter() - started) * 1000)
        size, payload_bytes = (payload.width, payload.height), len(url)
    print(json.dumps({"first_ms": round(times[0], 2), "ms": [round(t, 2) for t in times[1:]],
                      "sent_size": size, "data_url_bytes": payload_bytes}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
