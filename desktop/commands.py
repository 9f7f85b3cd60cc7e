"""Every `glmv-desktop` command, declared once: its name, help, arguments, where it is carried out,
and how it is handed to the running instance.

The command line builds its grammar from `COMMANDS`, and the running app dispatches the commands
handed to it by name (a test checks that it has a handler for each). No Qt here, so `doctor`,
`config` and `endpoint` start fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from desktop import __version__
from desktop.capture.base import CaptureMode
from desktop.config.commands import command_argv, config_arguments, endpoint_arguments
from desktop.i18n import _


class Where(StrEnum):
    """Where a command is carried out."""

    APP = "app"  # by the running app; a launch with none running becomes it
    SETTINGS = "settings"  # by the running app when there is one, else here on the settings file
    HERE = "here"  # in this process, whether or not the app runs


@dataclass(frozen=True)
class Command:
    """One command: its grammar and how it reaches the process that carries it out."""

    name: str
    help: str
    where: Where
    arguments: Callable[[argparse.ArgumentParser], None] | None = None
    forward: Callable[[argparse.Namespace], list[str]] | None = None  # the words after the name, for the app


class _Attach(argparse.Action):
    """`--image FILE` and `--file FILE` into one ordered list of (option, path), so files keep their order."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        attached = list(getattr(namespace, self.dest) or [])
        attached.append((self.metavar == "IMAGE", Path(str(values))))
        setattr(namespace, self.dest, attached)


def _ask_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", default="", help=_("the question"))
    parser.add_argument("--screen", action="store_true", help=_("attach a screenshot (monitor under the pointer, "
                                                               "or all monitors per the settings)"))
    parser.add_argument("--image", action=_Attach, dest="attach", default=[], metavar="IMAGE",
                        help=_("attach a picture (PNG, JPEG, WebP, GIF, BMP, TIFF)"))
    parser.add_argument("--file", action=_Attach, dest="attach", default=[], metavar="FILE",
                        help=_("attach any file the app reads: a picture, a PDF, an Office or OpenDocument file, "
                             "a text or code file (repeat for several)"))
    parser.add_argument("--pages", default="", metavar="RANGE",
                        help=_("the pages of each document to send, such as 1-5,8 or all (default: up to the first "
                             "20)"))
    parser.add_argument("--pages-as", choices=["images", "text", "both"], default="images",
                        help=_("send document pages as pictures (default), as their text, or both"))
    parser.add_argument("--send", action="store_true", help=_("send at once instead of waiting for Enter"))


def _ask_forward(args: argparse.Namespace) -> list[str]:
    argv = ["--screen"] if args.screen else []
    for strict, path in args.attach:
        argv += ["--image" if strict else "--file", str(path.expanduser().resolve())]  # the app may run elsewhere
    argv += ["--pages", args.pages] if args.pages else []
    argv += ["--pages-as", args.pages_as] if args.pages_as != "images" else []
    argv += ["--send"] if args.send else []
    return argv + (["--", args.text] if args.text else [])


def _capture_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", choices=[m.value for m in CaptureMode],
                        help="; ".join(f"{m.value}: {m.help}" for m in CaptureMode))


def _seconds(text: str) -> float:
    value = float(text)
    if not 1 <= value <= 600:
        raise argparse.ArgumentTypeError(f"{text} seconds is not between 1 and 600")
    return value


def _record_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=["region", "window", "screen", "stop", "toggle"],
                        help=_("region: drag it in the overlay; window: the one under the pointer; screen: the monitor "
                             "under the pointer; stop: end the recording and attach the clip to the chat; toggle: "
                             "stop if recording, else record a region (what the record hotkey does)"))
    parser.add_argument("--seconds", type=_seconds, default=None, metavar="N",
                        help=_("stop by itself after N seconds (default: the recording.max_seconds setting)"))


def _servers_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="servers_command", metavar="{list,start,stop}")
    sub.add_parser("list", help=_("this computer and the SSH hosts, and the server that runs (where, state, URL)"))
    start = sub.add_parser("start", help=_("start a catalog model's server here or on an SSH host; once it has "
                                         "loaded it is the active endpoint"))
    start.add_argument("model", help=_("the catalog model's id or name, e.g. GLM-4.6V-Flash"))
    start.add_argument("--engine", choices=["vllm", "sglang", "transformers", "llama.cpp"],
                       help=_("the engine (default: the best fit that is installed)"))
    start.add_argument("--host", metavar="HOST", action="append", default=[],
                       help=_("an SSH host added in the Local servers window (its name, address or id); default: this "
                            "computer. Give it several times to serve a model too large for one from several hosts "
                            "(vLLM over Ray, or SGLang's multi-node launch), the first as the head"))
    sub.add_parser("stop", help=_("stop the server the app runs (here or on a host)"))


def _servers_forward(args: argparse.Namespace) -> list[str]:
    words = [args.servers_command] if args.servers_command else []
    if args.servers_command == "start":
        words += [*(["--engine", args.engine] if args.engine else []),
                  *(word for host in args.host for word in ("--host", host)), "--", args.model]
    return words


def _record_forward(args: argparse.Namespace) -> list[str]:
    return [args.target, *(["--seconds", str(args.seconds)] if args.seconds is not None else [])]


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help=_("machine-readable output"))


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a number of conversations: give 1 or more")
    return value


_ID_HELP = "the conversation's id, or any unique start of it (4 characters or more), as `history list` shows"
_LIST_JSON = """\
--json prints a JSON array, pinned conversations first, then the most recently changed:
  [{"id": "…", "title": "…", "origin": "chat" | "quick_ask",
    "created": "2025-01-31T09:15:02+01:00", "updated": "…" (ISO 8601, local offset),
    "pinned": false, "model": "…" (of the last answer), "messages": 4}, …]
An empty history, or none yet, prints []."""
_SEARCH_JSON = """\
Every word must match (parts of words and Chinese too); "quoted words" match as a phrase.
--json prints a JSON array, the newest first:
  [{"conversation_id": "…", "message_id": "…" (null when the title matched),
    "title": "…", "role": "user" | "assistant" | null (the title),
    "created": "2025-01-31T09:15:02+01:00" (ISO 8601, local offset),
    "snippet": "…" (the text around the matches),
    "matches": [[start, end], …] (character offsets of each match in snippet)}, …]"""
_EXIT_CODES = """\
Exit status: 0 done; 2 the command cannot be carried out as given (an unknown or ambiguous id,
a file that is not an export, an --out that is a file, delete-all without --yes);
1 the history itself could not be read or written (damaged, from a newer version, a full disk).
It works whether or not the app runs."""


def _history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EXIT_CODES
    actions = parser.add_subparsers(dest="history_command", metavar="ACTION")
    raw = argparse.RawDescriptionHelpFormatter
    listing = actions.add_parser("list", help=_("the conversations, pinned (*) first, then the newest (the default)"),
                                 epilog=_LIST_JSON, formatter_class=raw)
    listing.add_argument("--limit", type=_count, default=50, metavar="N", help=_("show at most N (default 50)"))
    listing.add_argument("--json", action="store_true", help=_("machine-readable output (below)"))
    search = actions.add_parser("search", help=_("find conversations by words in their questions, answers or title"),
                                epilog=_SEARCH_JSON, formatter_class=raw)
    search.add_argument("text", help=_("the words to find"))
    search.add_argument("--limit", type=_count, default=50, metavar="N", help=_("show at most N hits (default 50)"))
    search.add_argument("--json", action="store_true", help=_("machine-readable output (below)"))
    show = actions.add_parser("show", help=_("a conversation as text: questions, answers, attachments, reply states"))
    show.add_argument("id", help=_ID_HELP)
    show.add_argument("--reasoning", action="store_true", help=_("show the model's reasoning too (folded otherwise)"))
    export = actions.add_parser("export", help=_("a conversation as Markdown (pictures beside it) or as JSON"))
    export.add_argument("id", help=_ID_HELP)
    export.add_argument("--format", choices=("md", "json"), default="md",
                        help=_("md: <title>.md and its pictures in <title>-files/; json: everything, pictures "
                             "included, as `history import` reads it back (default md)"))
    export.add_argument("--out", type=Path, metavar="DIR",
                        help=_("the folder to write into (made if need be); default: the current folder for md, "
                             "standard output for json"))
    importing = actions.add_parser("import", help=_("add a conversation exported with --format json; prints its id"))
    importing.add_argument("file", type=Path, help=_("the .json file"))
    delete = actions.add_parser("delete", help=_("delete a conversation and the pictures only it used"))
    delete.add_argument("id", help=_ID_HELP)
    delete_all = actions.add_parser("delete-all", help=_("delete every conversation, pinned ones too (needs --yes)"))
    delete_all.add_argument("--yes", action="store_true", help=_("yes, delete them all: this cannot be undone"))


def _settings_forward(args: argparse.Namespace) -> list[str]:
    return command_argv(args)[1:]


COMMANDS: tuple[Command, ...] = (
    Command("run", _("start the app in the tray (the default); a second launch opens the chat"), Where.APP),
    Command("ask", _("open the chat with a question, a screenshot or images"), Where.APP, _ask_arguments, _ask_forward),
    Command("capture", _("capture the screen and ask about it in the quick-ask popup"), Where.APP, _capture_arguments,
            lambda args: [args.mode]),
    Command("record", _("record a region, a window or the screen as a clip for the chat (or stop the recording)"),
            Where.APP, _record_arguments, _record_forward),
    Command("quick-ask", _("open the quick-ask popup"), Where.APP),
    Command("chat", _("open the chat window"), Where.APP),
    Command("settings", _("open the settings"), Where.APP),
    Command("servers", _("open the Local servers window, or list, start and stop a server here or on an SSH host"),
            Where.APP, _servers_arguments, _servers_forward),
    Command("status", _("what the running app's hotkeys and capture can do"), Where.APP, _status_arguments,
            lambda args: ["--json"] if args.json else []),
    Command("quit", _("quit the running app"), Where.APP),
    Command("doctor", _("check what works on this machine, and why not"), Where.HERE),
    Command("history", _("list, search, show, export, import or delete saved conversations"), Where.HERE,
            _history_arguments),
    Command("config", _("show or change settings (the same ones as in the dialog)"), Where.SETTINGS, config_arguments,
            _settings_forward),
    Command("endpoint", _("list, add, remove or choose the servers the app asks"), Where.SETTINGS, endpoint_arguments,
            _settings_forward),
)
BY_NAME: dict[str, Command] = {command.name: command for command in COMMANDS}


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar, shared by the launcher and the running instance."""
    parser = argparse.ArgumentParser(prog="glmv-desktop", description=_("A tray assistant for GLM-V vision models."))
    parser.add_argument("--version", action="version", version=f"glmv-desktop {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help=_("log debug details to stderr"))
    parser.add_argument("--smoke-test", action="store_true",
                        help=_("check that this installation works (tray, capture, a request) in a private profile, "
                             "then exit"))
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        sub = subcommands.add_parser(command.name, help=command.help)
        if command.arguments is not None:
            command.arguments(sub)
    return parser


def command_of(args: argparse.Namespace) -> Command:
    """The command a parsed command line names (`run` when none)."""
    return BY_NAME[args.command or "run"]


def forwardable_argv(args: argparse.Namespace) -> list[str]:
    """The command as the running instance should be handed it (paths made absolute, positionals after --)."""
    command = command_of(args)
    return [command.name, *(command.forward(args) if command.forward else [])]
