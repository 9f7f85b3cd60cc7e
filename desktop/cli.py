"""`glmv-desktop [run|ask|chat|settings|quit|doctor|config]`.

Commands that act on the app are handed to the running instance when there is one (that is the
hotkey fallback: bind `glmv-desktop ask --screen` to a key in any desktop's keyboard settings);
otherwise the app starts and runs them. `doctor` and `config` work without starting the app.
This module imports no Qt, so those two stay fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from desktop import __version__

APP_COMMANDS = ("run", "ask", "capture", "quick-ask", "chat", "settings", "status", "quit")
CAPTURE_MODES = ("region", "window", "screen", "all")


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar, shared by the launcher and the running instance."""
    parser = argparse.ArgumentParser(prog="glmv-desktop", description="A tray assistant for GLM-V vision models.")
    parser.add_argument("--version", action="version", version=f"glmv-desktop {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    parser.add_argument("--smoke-test", action="store_true",
                        help="check that this installation works (tray, capture, a request) in a private profile, "
                             "then exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="start the app in the tray (the default); a second launch opens the chat")
    ask = commands.add_parser("ask", help="open the chat with a question, a screenshot or images")
    ask.add_argument("text", nargs="?", default="", help="the question")
    ask.add_argument("--screen", action="store_true", help="attach a screenshot (monitor under the pointer, "
                                                            "or all monitors per the settings)")
    ask.add_argument("--image", action="append", default=[], type=Path, metavar="FILE", help="attach an image")
    ask.add_argument("--send", action="store_true", help="send at once instead of waiting for Enter")
    capture = commands.add_parser("capture", help="capture the screen and ask about it in the quick-ask popup")
    capture.add_argument("mode", choices=CAPTURE_MODES,
                         help="region: select on a frozen screen; window: the window under the pointer; "
                              "screen: the monitor under the pointer; all: every monitor")
    commands.add_parser("quick-ask", help="open the quick-ask popup")
    commands.add_parser("chat", help="open the chat window")
    commands.add_parser("settings", help="open the settings")
    commands.add_parser("servers", help="open the Local servers window (run GLM-V on this computer's GPU)")
    status = commands.add_parser("status", help="what the running app's hotkeys and capture can do")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    commands.add_parser("quit", help="quit the running app")
    commands.add_parser("doctor", help="check what works on this machine, and why not")
    config = commands.add_parser("config", help="show or change settings (the same ones as in the dialog)")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION")
    config_commands.add_parser("list", help="every setting with its value and description")
    get = config_commands.add_parser("get", help="one setting's value")
    get.add_argument("key")
    put = config_commands.add_parser("set", help="change a setting")
    put.add_argument("key")
    put.add_argument("value")
    config_commands.add_parser("path", help="where the settings file is")
    return parser


def forwardable_argv(args: argparse.Namespace) -> list[str]:
    """The command as the running instance should see it (paths made absolute)."""
    argv = [args.command or "run"]
    if args.command == "capture":
        argv.append(args.mode)
    if args.command == "status" and args.json:
        argv.append("--json")
    if args.command == "ask":
        if args.screen:
            argv.append("--screen")
        for image in args.image:
            argv += ["--image", str(image.expanduser().resolve())]
        if args.send:
            argv.append("--send")
        if args.text:
            argv += ["--", args.text]
    return argv


def parse_value(text: str) -> object:
    """A value typed on the command line: JSON if it parses (numbers, true, null), else the text."""
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def _config(args: argparse.Namespace) -> int:
    import json

    from desktop.assistant.services import AppPaths
    from desktop.config.schema import SCHEMA
    from desktop.config.settings import SettingsStore, UnknownSettingError

    paths = AppPaths.for_user()
    settings = SettingsStore(paths.settings_file)
    action = args.config_command or "list"
    try:
        if action == "path":
            print(paths.settings_file)
        elif action == "list":
            for setting in SCHEMA:
                if setting.type is list:
                    continue
                print(f"{setting.key} = {json.dumps(settings.get(setting.key))}\n    {setting.description}")
        elif action == "get":
            print(json.dumps(settings.get(args.key)))
        else:
            # A running app keeps its settings in memory: change them there, or it would overwrite us.
            from desktop.hotkeys.instance import instance_name, send_to_running

            reply = send_to_running(instance_name(paths.config), ["config", "set", args.key, args.value])
            if reply is not None:
                print(reply.get("message", ""), file=sys.stdout if reply.get("ok") else sys.stderr)
                return 0 if reply.get("ok") else 2
            settings.set(args.key, parse_value(args.value))
            print(f"{args.key} = {json.dumps(settings.get(args.key))}")
    except UnknownSettingError:
        print(f"glmv-desktop: there is no setting '{args.key}'; 'glmv-desktop config list' shows them.",
              file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"glmv-desktop: {exc}", file=sys.stderr)
        return 2
    return 0


def _attach_parent_console() -> None:
    """The frozen Windows app is a GUI program with no console of its own: print into the console it was
    typed in, when there is one (AttachConsole(ATTACH_PARENT_PROCESS))."""
    if sys.platform != "win32" or not getattr(sys, "frozen", False) or sys.stdout is not None:
        return
    import ctypes

    if ctypes.windll.kernel32.AttachConsole(-1):  # type: ignore[attr-defined,unused-ignore]
        console = Path("CONOUT$")  # the console device, for the rest of the process's life
        sys.stdout = console.open("w", encoding="utf-8", buffering=1)  # noqa: SIM115
        sys.stderr = console.open("w", encoding="utf-8", buffering=1)  # noqa: SIM115


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `glmv-desktop` command."""
    _attach_parent_console()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.smoke_test:
        from desktop.smoke import run_smoke_test

        return run_smoke_test()
    if args.command == "doctor":
        from desktop.doctor import run_doctor

        return run_doctor()
    if args.command == "config":
        return _config(args)
    from desktop.app import launch

    return launch(args, forwardable_argv(args))
