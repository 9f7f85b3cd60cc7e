"""*What will be sent*: the exact request the next question makes, before it leaves the machine.

The request is built by the same code that sends it (in a worker thread, from a copy of the
conversation, so nothing is added to it); the dialog shows every picture decoded from the very bytes
of its data URL (so blurred parts can be checked), every text part, and the JSON body with the pictures'
base64 shortened.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.chat.attachments import Attachment
from desktop.chat.conversation import Conversation
from desktop.chat.request import AskOptions, build_request
from desktop.config.profiles import EndpointProfile
from desktop.i18n import _

_DATA_URL = re.compile(r"^data:([\w/+.-]+);base64,(.*)$", re.DOTALL)


@dataclass(frozen=True)
class SentPart:
    """One content part of the new question as it goes out: text, or a picture's exact bytes."""

    text: str | None = None
    mime: str = ""
    data: bytes = b""


@dataclass(frozen=True)
class RequestPreview:
    """The request the question makes: its parts, the JSON body (pictures shortened), and the context size."""

    parts: list[SentPart]
    body_text: str
    earlier_messages: int
    url: str


def preview_request(profile: EndpointProfile, conversation: Conversation, text: str, attachments: list[Attachment],
                    options: AskOptions) -> RequestPreview:
    """Build the request for asking `text` with `attachments` next, without changing `conversation` (worker thread)."""
    copy = Conversation(title=conversation.title, messages=list(conversation.messages), id=conversation.id)
    question = copy.add_question(text, attachments)
    reply = copy.start_reply(question, model=options.model, endpoint_id=profile.id, thinking=options.thinking)
    request = build_request(profile, copy, reply, options)
    messages = request.body["messages"]
    content = messages[-1]["content"]
    parts: list[SentPart] = []
    for part in content if isinstance(content, list) else [{"type": "text", "text": content}]:
        if part.get("type") == "image_url":
            match = _DATA_URL.match(part["image_url"]["url"])
            if match:
                parts.append(SentPart(mime=match.group(1), data=base64.b64decode(match.group(2))))
        elif part.get("type") == "text":
            parts.append(SentPart(text=str(part.get("text", ""))))
    return RequestPreview(parts, json.dumps(_shortened(request.body), ensure_ascii=False, indent=2),
                          len(messages) - 1, f"{profile.base_url.rstrip('/')}/chat/completions")


def _shortened(value: Any) -> Any:
    """The body with each data URL's base64 replaced by its size, so the JSON stays readable."""
    if isinstance(value, dict):
        return {key: _shortened(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shortened(item) for item in value]
    if isinstance(value, str):
        match = _DATA_URL.match(value)
        if match:
            size = len(match.group(2)) * 3 // 4
            return f"data:{match.group(1)};base64,…({size:,} bytes)"
    return value


class SendPreviewDialog(QDialog):
    """Shows a `RequestPreview`: the pictures and texts of the question, and the JSON body."""

    def __init__(self, preview: RequestPreview, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("send_preview")
        self.setWindowTitle(_("What will be sent"))
        layout = QVBoxLayout(self)
        summary = QLabel(_("To {url}: this question, after {n} earlier message(s) of the conversation. Pictures are "
                           "shown from the exact bytes that are sent.").format(url=preview.url,
                                                                              n=preview.earlier_messages))
        summary.setObjectName("send_preview_summary")
        summary.setWordWrap(True)
        layout.addWidget(summary)
        tabs = QTabWidget()
        tabs.setObjectName("send_preview_tabs")
        parts = QWidget()
        column = QVBoxLayout(parts)
        self.pictures: list[QLabel] = []
        for part in preview.parts:
            if part.text is not None:
                text = QPlainTextEdit(part.text)
                text.setObjectName("send_preview_text")
                text.setReadOnly(True)
                text.setMaximumHeight(140)
                column.addWidget(text)
                continue
            pixmap = QPixmap()
            pixmap.loadFromData(QByteArray(part.data))
            caption = QLabel(_("{mime}, {w}×{h} px, {size:,} bytes").format(
                mime=part.mime, w=pixmap.width(), h=pixmap.height(), size=len(part.data)))
            caption.setStyleSheet("QLabel { color: #5f6368; }")
            picture = QLabel()
            picture.setObjectName("send_preview_picture")
            picture.setFrameShape(QFrame.Shape.StyledPanel)
            picture.setPixmap(pixmap.scaled(min(pixmap.width(), 860), min(pixmap.height(), 600),
                                            Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))
            self.pictures.append(picture)
            column.addWidget(caption)
            column.addWidget(picture)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(parts)
        scroll.setWidgetResizable(True)
        tabs.addTab(scroll, _("Question"))
        body = QPlainTextEdit(preview.body_text)
        body.setObjectName("send_preview_json")
        body.setReadOnly(True)
        body.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        tabs.addTab(body, _("Request (JSON)"))
        layout.addWidget(tabs, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(920, 720)
