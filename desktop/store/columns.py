"""The model's structured values as plain JSON values: for the JSON columns and the export format alike."""

from __future__ import annotations

import json
from typing import Any

from desktop.chat.conversation import Attachment, ErrorInfo, GroundingBox


def error_value(error: ErrorInfo | None) -> dict[str, Any] | None:
    """An ErrorInfo as a JSON object."""
    if error is None:
        return None
    return {"message": error.message, "hint": error.hint, "detail": error.detail, "retryable": error.retryable}


def error_from(value: Any) -> ErrorInfo | None:
    """The ErrorInfo a JSON object describes."""
    if value is None:
        return None
    return ErrorInfo(str(value["message"]), str(value.get("hint", "")), str(value.get("detail", "")),
                     bool(value.get("retryable", True)))


def boxes_value(boxes: list[GroundingBox]) -> list[list[Any]]:
    """Grounding boxes as [x1, y1, x2, y2, image width, image height] rows."""
    return [[b.x1, b.y1, b.x2, b.y2, b.image_width, b.image_height] for b in boxes]


def boxes_from(value: Any) -> list[GroundingBox]:
    """The grounding boxes rows describe."""
    return [GroundingBox(float(x1), float(y1), float(x2), float(y2),
                         None if w is None else int(w), None if h is None else int(h))
            for x1, y1, x2, y2, w, h in value]


def sizes_value(sizes: list[tuple[int, int]]) -> list[list[int]]:
    """Pixel sizes as [width, height] pairs."""
    return [[int(w), int(h)] for w, h in sizes]


def sizes_from(value: Any) -> list[tuple[int, int]]:
    """The pixel sizes pairs describe."""
    return [(int(w), int(h)) for w, h in value]


def dumps(value: Any) -> str:
    """Compact JSON for a column (floats keep every digit, so values come back exactly)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def attachment_kind(attachment: Attachment) -> str:
    """The attachment's kind: "image", "document", "text" (video and annotations come as kinds of their own)."""
    return attachment.kind


def attachment_meta(attachment: Attachment) -> dict[str, Any]:
    """Kind-specific data (a document's chosen pages, a text file's encoding); none for a plain picture."""
    return attachment.meta()
