"""A conversation as Markdown (pictures as files beside it) or as JSON that imports back exactly.

The JSON format is versioned (`format`, `version`) and carries everything the history holds of a
conversation, attachment bytes as base64, so export → import → export gives the same document.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.chat.attachments import restore
from desktop.chat.conversation import Attachment, Conversation, Message, ReplyState, Role, new_id
from desktop.i18n import _
from desktop.store.blobs import sniff
from desktop.store.columns import (
    attachment_kind,
    attachment_meta,
    boxes_from,
    boxes_value,
    error_from,
    error_value,
    sizes_from,
    sizes_value,
)
from desktop.store.errors import NotAnExport
from desktop.store.records import ConversationSummary, Origin

FORMAT = "glmv-desktop/conversation"
VERSION = 1


@dataclass
class Imported:
    """A conversation read from an export, with what the history keeps beside it."""

    conversation: Conversation
    origin: Origin
    updated: float
    pinned: bool
    model: str


def to_json(conversation: Conversation, summary: ConversationSummary) -> dict[str, Any]:
    """The conversation as a JSON-ready dict."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "conversation": {"id": conversation.id, "title": conversation.title, "origin": summary.origin.value,
                         "created": conversation.created, "updated": summary.updated, "pinned": summary.pinned,
                         "model": summary.model},
        "messages": [_message_json(m) for m in conversation.messages],
    }


def _message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id, "role": message.role.value, "created": message.created, "text": message.text,
        "reasoning": message.reasoning, "state": message.state.value, "error": error_value(message.error),
        "model": message.model, "endpoint_id": message.endpoint_id, "thinking": message.thinking,
        "finish_reason": message.finish_reason, "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens, "answers": message.answers, "replaces": message.replaces,
        "sent_image_sizes": sizes_value(message.sent_image_sizes), "boxes": boxes_value(message.boxes),
        "attachments": [_attachment_json(a) for a in message.attachments],
    }


def _attachment_json(attachment: Attachment) -> dict[str, Any]:
    data = attachment.original_bytes()
    return {"id": attachment.id, "kind": attachment_kind(attachment), "name": attachment.name,
            "mime": sniff(data)[0], "width": attachment.width, "height": attachment.height,
            "origin": attachment.origin, "meta": attachment_meta(attachment),
            "sha256": hashlib.sha256(data).hexdigest(), "data": base64.b64encode(data).decode("ascii")}


def from_json(data: Any) -> Imported:
    """The conversation an export describes (raises NotAnExport, saying what is wrong)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NotAnExport(f"'format' is not {FORMAT!r}")
    if data.get("version") != VERSION:
        raise NotAnExport(f"export format version {data.get('version')!r}; this version reads {VERSION}")
    try:
        head = data["conversation"]
        conversation = Conversation(title=str(head["title"]), id=str(head["id"]), created=float(head["created"]),
                                    messages=[_message_from(m) for m in data["messages"]])
        return Imported(conversation, Origin(head.get("origin", Origin.CHAT.value)),
                        float(head.get("updated", head["created"])), bool(head.get("pinned", False)),
                        str(head.get("model", "")))
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
        raise NotAnExport(f"{type(exc).__name__}: {exc}") from exc


def _message_from(item: dict[str, Any]) -> Message:
    error = item.get("error")
    return Message(
        Role(item["role"]), text=str(item.get("text", "")), reasoning=str(item.get("reasoning", "")),
        attachments=[_attachment_from(a) for a in item.get("attachments", [])],
        boxes=boxes_from(item.get("boxes", [])), state=ReplyState(item.get("state", ReplyState.COMPLETE.value)),
        error=error_from(error) if error else None, model=str(item.get("model", "")),
        endpoint_id=str(item.get("endpoint_id", "")),
        thinking=None if item.get("thinking") is None else bool(item["thinking"]),
        finish_reason=item.get("finish_reason"), prompt_tokens=_int_or_none(item.get("prompt_tokens")),
        completion_tokens=_int_or_none(item.get("completion_tokens")), id=str(item["id"]),
        created=float(item["created"]), sent_image_sizes=sizes_from(item.get("sent_image_sizes", [])),
        answers=item.get("answers"), replaces=item.get("replaces"))


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _attachment_from(item: dict[str, Any]) -> Attachment:
    data = base64.b64decode(item["data"], validate=True)
    if "sha256" in item and hashlib.sha256(data).hexdigest() != item["sha256"]:
        raise ValueError(f"attachment '{item.get('name')}' does not match its sha256 (damaged)")
    meta = item.get("meta") or {}
    return restore(str(item.get("kind", "image")), data, name=str(item.get("name", "")),
                   origin=str(item.get("origin", "")), width=int(item.get("width") or 0),
                   height=int(item.get("height") or 0), attachment_id=str(item["id"]),
                   meta=meta if isinstance(meta, dict) else {})


def renumber(conversation: Conversation) -> None:
    """Give the conversation and its messages new ids (a copy beside the original), links kept."""
    conversation.id = new_id()
    renamed = {m.id: new_id() for m in conversation.messages}
    for message in conversation.messages:
        message.id = renamed[message.id]
        message.answers = renamed.get(message.answers, message.answers) if message.answers else None
        message.replaces = renamed.get(message.replaces, message.replaces) if message.replaces else None


# -- Markdown ------------------------------------------------------------------------------------------
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+|\s+')


def _file_stem(text: str, fallback: str) -> str:
    stem = _UNSAFE.sub("-", text.strip()).strip("-.")[:60].rstrip("-.")
    return stem or fallback


def file_stem(title: str, conversation_id: str) -> str:
    """The name an export of a conversation gets (its title made safe for any file system), without suffix."""
    return _file_stem(title, f"conversation-{conversation_id}")


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def write_markdown(conversation: Conversation, summary: ConversationSummary, out_dir: Path) -> Path:
    """Write the conversation as `<title>.md` and its pictures into `<title>-files/`; returns the .md."""
    stem = file_stem(conversation.title, conversation.id)
    out_dir.mkdir(parents=True, exist_ok=True)
    files_dir = out_dir / f"{stem}-files"
    written: dict[str, str] = {}  # sha256 → relative link, so a picture used twice is one file
    lines = [f"# {conversation.title or _('Conversation')}", "",
             f"*{_when(conversation.created)}*" + (f" · {summary.model}" if summary.model else ""), ""]
    replaced = {m.replaces for m in conversation.messages if m.replaces}
    latest: dict[str, str] = {}
    for message in conversation.messages:
        if message.role is Role.ASSISTANT and message.answers:
            latest[message.answers] = message.id
    for message in conversation.messages:
        lines += ["---", ""]
        if message.role is Role.USER:
            label = _("You")
            if message.id in replaced:
                label = _("You (edited later)")
        else:
            label = message.model or _("Assistant")
            if message.answers and latest.get(message.answers) != message.id:
                label = _("{model} (earlier attempt)").format(model=label)
        lines += [f"**{label}** · {_when(message.created)}", ""]
        if message.reasoning:
            lines += ["<details><summary>" + _("Reasoning") + "</summary>", "", message.reasoning, "", "</details>", ""]
        if message.text:
            lines += [message.text, ""]
        for attachment in message.attachments:
            data = attachment.original_bytes()
            sha = hashlib.sha256(data).hexdigest()
            if sha not in written:
                ext = sniff(data)[1]
                if ext == "bin":  # text and code files keep their own suffix
                    ext = Path(attachment.name).suffix.lstrip(".") or "txt"
                name = f"{len(written) + 1:02d}-{_file_stem(Path(attachment.name).stem, 'attachment')}.{ext}"
                files_dir.mkdir(exist_ok=True)
                (files_dir / name).write_bytes(data)
                written[sha] = f"{files_dir.name}/{name}"
            alt = attachment.name.replace("[", "(").replace("]", ")")
            bang = "!" if attachment.kind == "image" else ""  # a document or text file is linked, not shown
            lines += [f"{bang}[{alt}](<{written[sha]}>)", ""]
        note = _state_note(message)
        if note:
            lines += [f"> *{note}*", ""]
    path = out_dir / f"{stem}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _state_note(message: Message) -> str:
    if message.role is not Role.ASSISTANT or message.state is ReplyState.COMPLETE:
        return ""
    reason = message.error.message if message.error else ""
    notes = {
        ReplyState.STOPPED: _("Stopped before the end."),
        ReplyState.INTERRUPTED: _("Interrupted: {reason}").format(reason=reason) if reason else _("Interrupted."),
        ReplyState.FAILED: _("Failed: {reason}").format(reason=reason) if reason else _("Failed."),
        ReplyState.WAITING: _("Still being answered when exported."),
        ReplyState.STREAMING: _("Still being answered when exported."),
    }
    return notes[message.state]
