"""`glmv-desktop history …`: list, search, show, export, import and delete conversations.

Carried out in the command's own process on the history file, whether or not the app runs: WAL
lets the app write meanwhile, and SQLite's locks put the writes of both one after the other. The
store is opened with `repair=False`, so a damaged file is reported here, never moved from under a
running app. A conversation is named by its id or any unique start of it (at least
`MIN_ID_PREFIX` characters). Input that cannot be used raises `CommandError` (exit status 2); a
history that cannot be read or written, another `HistoryError` (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from desktop.chat.conversation import Conversation, Message, ReplyState, Role
from desktop.config.commands import CommandError
from desktop.i18n import _
from desktop.store.columns import attachment_kind
from desktop.store.errors import ConversationNotFound, NotAnExport
from desktop.store.export import file_stem
from desktop.store.history import FILE_NAME, HistoryStore
from desktop.store.records import ConversationSummary, SearchHit

MIN_ID_PREFIX = 4
_BOLD, _PLAIN = "\x1b[1m", "\x1b[0m"


def is_bad_input(error: Exception) -> bool:
    """Whether a failure of a history command is the input's fault (exit 2) rather than the history's (exit 1)."""
    return isinstance(error, CommandError | ConversationNotFound | NotAnExport)


def run_history(args: argparse.Namespace, data_dir: Path, out: TextIO, err: TextIO) -> None:
    """Carry out a parsed `history` command on the history in `data_dir`; output on `out`, notes on `err`.

    Raises:
        CommandError, ConversationNotFound, NotAnExport: the input cannot be used (exit status 2).
        HistoryError: the history could not be read or written (exit status 1).
    """
    action = args.history_command or "list"
    if action == "import":
        _import(args, data_dir, out, err)
        return
    if not (data_dir / FILE_NAME).exists():  # nothing asked yet: no file is made just to say so
        _no_history(action, args, out, err)
        return
    with HistoryStore.open(data_dir, repair=False) as store:
        if action == "list":
            _list(store, args, out, err)
        elif action == "search":
            _search(store, args, out)
        elif action == "show":
            _show(store, resolve_id(store, args.id), out, reasoning=args.reasoning)
        elif action == "export":
            _export(store, resolve_id(store, args.id), args, out)
        elif action == "delete":
            conversation_id = resolve_id(store, args.id)
            title = store.summary(conversation_id).title
            if not store.delete_conversation(conversation_id):
                raise ConversationNotFound(conversation_id)  # deleted by the app a moment ago
            print(_("Deleted “{title}” ({id}).").format(title=title or _("(untitled)"), id=conversation_id), file=out)
        elif action == "delete-all":
            _refuse_without_yes(args)
            print(_deleted_message(store.delete_all()), file=out)


def _no_history(action: str, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    if action in ("list", "search"):
        if args.json:
            print("[]", file=out)
            print(_("No history yet."), file=err)
        else:
            print(_("No history yet: conversations are saved here once you ask something in the app."), file=out)
        return
    if action == "delete-all":
        _refuse_without_yes(args)
        print(_("No history yet, so there is nothing to delete."), file=out)
        return
    raise CommandError(_("There is no history yet, so there is no conversation '{id}'.").format(id=args.id),
                       _("Conversations are saved once you ask something in the app; "
                         "`glmv-desktop history import FILE` adds an exported one."))


def _refuse_without_yes(args: argparse.Namespace) -> None:
    if not args.yes:
        raise CommandError(
            _("Nothing was deleted: this deletes every conversation in the history, pinned ones too, "
              "and cannot be undone."),
            _("To do it, run `glmv-desktop history delete-all --yes`. To keep a conversation, export it first "
              "with `glmv-desktop history export ID`."))


def _deleted_message(count: int) -> str:
    if count == 1:
        return _("Deleted 1 conversation from the history.")
    return _("Deleted {count} conversations from the history.").format(count=count)


def resolve_id(store: HistoryStore, typed: str) -> str:
    """The id of the one conversation `typed` names: its whole id, or a unique start of it."""
    typed = typed.strip()
    if len(typed) < MIN_ID_PREFIX:
        raise CommandError(_("'{id}' is too short to name a conversation.").format(id=typed),
                           _("Give at least {n} characters of its id; `glmv-desktop history list` shows the ids.")
                           .format(n=MIN_ID_PREFIX))
    found = store.ids_starting_with(typed, limit=6)
    if not found:
        raise ConversationNotFound(typed)
    if found[0] == typed or len(found) == 1:
        return found[0]
    choices = "; ".join(f"{s.id} ({s.title or _('(untitled)')})" for s in (store.summary(i) for i in found[:5]))
    raise CommandError(_("'{id}' is the start of more than one conversation's id.").format(id=typed),
                       _("Give more of the id. It could be: {choices}").format(choices=choices))


# -- list and search ----------------------------------------------------------------------------------
def iso_time(seconds: float) -> str:
    """A time as ISO 8601 with the local offset, to the second (the `--json` outputs' times)."""
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def summary_json(summary: ConversationSummary) -> dict[str, Any]:
    """One conversation as `history list --json` prints it."""
    return {"id": summary.id, "title": summary.title, "origin": summary.origin.value,
            "created": iso_time(summary.created), "updated": iso_time(summary.updated), "pinned": summary.pinned,
            "model": summary.model, "messages": summary.message_count}


def _list(store: HistoryStore, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    summaries = store.list_conversations(limit=args.limit)
    if args.json:
        print(json.dumps([summary_json(s) for s in summaries], ensure_ascii=False, indent=2), file=out)
        return
    if not summaries:
        print(_("The history is empty."), file=out)
        return
    for s in summaries:
        line = _("{id}  {when}  {title}  ({count} messages{model})").format(
            id=s.id, when=_when(s.updated), title=s.title or _("(untitled)"), count=s.message_count,
            model=f", {s.model}" if s.model else "")
        print(("* " if s.pinned else "  ") + line, file=out)
    more = store.count_conversations() - len(summaries)
    if more > 0:
        print(_("… and {more} more: --limit N shows more.").format(more=more), file=err)


def hit_json(hit: SearchHit) -> dict[str, Any]:
    """One search hit as `history search --json` prints it: the snippet as plain text, the matches as
    [start, end) character offsets into it."""
    text, matches = "", []
    for piece, matched in hit.parts():
        if matched:
            matches.append([len(text), len(text) + len(piece)])
        text += piece
    return {"conversation_id": hit.conversation_id, "message_id": hit.message_id, "title": hit.title,
            "role": hit.role.value if hit.role else None, "created": iso_time(hit.created), "snippet": text,
            "matches": matches}


def _search(store: HistoryStore, args: argparse.Namespace, out: TextIO) -> None:
    if not args.text.strip():
        raise CommandError(_("There is nothing to search for."),
                           _("Give a word or a \"quoted phrase\": glmv-desktop history search WORD"))
    hits = store.search(args.text, limit=args.limit)
    if args.json:
        print(json.dumps([hit_json(h) for h in hits], ensure_ascii=False, indent=2), file=out)
        return
    if not hits:
        print(_("Nothing in the history matches “{text}”.").format(text=args.text), file=out)
        return
    bold = out.isatty()
    for hit in hits:
        shown = "".join(f"{_BOLD}{piece}{_PLAIN}" if matched and bold else piece for piece, matched in hit.parts())
        print(_("{id}  {when}  {title}").format(id=hit.conversation_id, when=_when(hit.created),
                                                  title=hit.title or _("(untitled)")), file=out)
        if hit.role is Role.USER:
            print(_("    You: {snippet}").format(snippet=shown), file=out)
        elif hit.role is Role.ASSISTANT:
            print(_("    Answer: {snippet}").format(snippet=shown), file=out)
        else:
            print(_("    Title: {snippet}").format(snippet=shown), file=out)


# -- show ---------------------------------------------------------------------------------------------
def _size(count: int) -> str:
    if count < 1000:
        return _("{n} bytes").format(n=count)
    if count < 1_000_000:
        return _("{n:.1f} kB").format(n=count / 1000)
    return _("{n:.1f} MB").format(n=count / 1_000_000)


def _state(message: Message) -> str:
    reason = message.error.message if message.error else ""
    if message.state is ReplyState.COMPLETE:
        return _("complete")
    if message.state is ReplyState.STOPPED:
        return _("stopped before the end")
    if message.state is ReplyState.INTERRUPTED:
        return _("interrupted: {reason}").format(reason=reason) if reason else _("interrupted")
    if message.state is ReplyState.FAILED:
        return _("failed: {reason}").format(reason=reason) if reason else _("failed")
    return _("still being answered")


def show_text(conversation: Conversation, summary: ConversationSummary, *, reasoning: bool = False) -> str:
    """A conversation as `history show` prints it: questions, answers (reasoning folded unless asked for),
    attachments by name and size, and the state of each reply."""
    lines = [conversation.title or _("(untitled)"),
             _("{id} · started {when} · {count} messages{model}").format(
                 id=conversation.id, when=_when(conversation.created), count=len(conversation.messages),
                 model=f" · {summary.model}" if summary.model else "")]
    replaced = {m.replaces for m in conversation.messages if m.replaces}
    latest = {m.answers: m.id for m in conversation.messages if m.role is Role.ASSISTANT and m.answers}
    for message in conversation.messages:
        lines.append("")
        when = _when(message.created)
        if message.role is Role.USER:
            head = (_("── You (edited later) · {when}") if message.id in replaced else _("── You · {when}")).format(
                when=when)
        else:
            who = message.model or _("Assistant")
            if message.answers and latest.get(message.answers) != message.id:
                head = _("── {who} (earlier attempt) · {when} · {state}")
            else:
                head = _("── {who} · {when} · {state}")
            head = head.format(who=who, when=when, state=_state(message))
        lines.append(head)
        if message.reasoning:
            if reasoning:
                lines += [_("[Reasoning]"), message.reasoning, _("[End of reasoning]")]
            else:
                lines.append(_("[Reasoning: {count} characters, folded; --reasoning shows it]").format(
                    count=len(message.reasoning)))
        if message.text:
            lines.append(message.text)
        for attachment in message.attachments:
            data = attachment.original_bytes()
            size = _size(len(data)) if data else _("its file is missing")
            if attachment_kind(attachment) == "image":
                lines.append(_("[Picture: {name}, {width}×{height}, {size}]").format(
                    name=attachment.name or _("(no name)"), width=attachment.width, height=attachment.height,
                    size=size))
            else:
                lines.append(_("[{what}: {name}, {size}]").format(
                    what=attachment.describe(), name=attachment.name or _("(no name)"), size=size))
        if message.role is Role.ASSISTANT and message.error and message.error.hint:
            lines.append(_("({hint})").format(hint=message.error.hint))
    return "\n".join(lines)


def _show(store: HistoryStore, conversation_id: str, out: TextIO, *, reasoning: bool) -> None:
    summary = store.summary(conversation_id)
    print(show_text(store.load_conversation(conversation_id), summary, reasoning=reasoning), file=out)


# -- export and import --------------------------------------------------------------------------------
def _out_dir(path: Path) -> Path:
    folder = path.expanduser()
    if folder.exists() and not folder.is_dir():
        raise CommandError(_("{path} is a file, not a folder.").format(path=folder),
                           _("Give --out a folder (it is made if it does not exist)."))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(_("The folder {path} could not be made: {reason}").format(
            path=folder, reason=exc.strerror or exc), _("Give --out a folder you may write to.")) from exc
    return folder


def _export(store: HistoryStore, conversation_id: str, args: argparse.Namespace, out: TextIO) -> None:
    if args.format == "json":
        text = json.dumps(store.export_json(conversation_id), ensure_ascii=False, indent=1) + "\n"
        if args.out is None:
            out.write(text)
            return
        folder = _out_dir(args.out)
        summary = store.summary(conversation_id)
        path = folder / f"{file_stem(summary.title, conversation_id)}.json"
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(_("{path} could not be written: {reason}").format(
                path=path, reason=exc.strerror or exc), _("Give --out a folder you may write to.")) from exc
        print(path, file=out)
        return
    folder = _out_dir(args.out if args.out is not None else Path.cwd())
    try:
        path = store.export_markdown(conversation_id, folder)
    except OSError as exc:
        raise CommandError(_("The export could not be written to {path}: {reason}").format(
            path=folder, reason=exc.strerror or exc), _("Give --out a folder you may write to.")) from exc
    print(path, file=out)


def _import(args: argparse.Namespace, data_dir: Path, out: TextIO, err: TextIO) -> None:
    path = args.file.expanduser()
    hint = _("Import a .json file made with `glmv-desktop history export ID --format json`.")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CommandError(_("There is no file {path}.").format(path=path), hint) from exc
    except UnicodeDecodeError as exc:
        raise CommandError(_("{path} is not a conversation exported by GLM-V Desktop: it is not text.").format(
            path=path), hint) from exc
    except OSError as exc:
        raise CommandError(_("{path} could not be read: {reason}").format(path=path, reason=exc.strerror or exc),
                           hint) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(_("{path} is not a conversation exported by GLM-V Desktop: it is not JSON ({error}).")
                           .format(path=path, error=exc), hint) from exc
    with HistoryStore.open(data_dir, repair=False) as store:
        try:
            conversation_id = store.import_json(data)
        except NotAnExport as exc:
            raise CommandError(_("{path} is not a conversation exported by GLM-V Desktop, or it is damaged: "
                                 "{detail}").format(path=path, detail=exc.detail), exc.hint) from exc
    original = data["conversation"]["id"]
    if conversation_id != original:
        print(_("The history already has conversation {id}; this one was added as a copy with a new id.").format(
            id=original), file=err)
    print(conversation_id, file=out)
