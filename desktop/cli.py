"""`glmv-desktop [run|ask|capture|quick-ask|chat|settings|servers|status|quit|doctor|history|config|endpoint]`.

Commands that act on the app are handed to the running instance when there is one (that is the
hotkey fallback: bind `glmv-desktop ask --screen` to a key in any desktop's keyboard settings);
otherwise the app starts and runs them. `doctor`, `history`, `config` and `endpoint` work without
starting the app (`doctor` and `history` always here, `config` and `endpoint` by the running app when
there is one). This module imports no Qt at module level.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.commands import Where, build_parser, command_of, forwardable_argv
from desktop.config.commands import Done
from desktop.errors import UserFacingError
from desktop.i18n import _

if TYPE_CHECKING:
    from desktop.config.profiles import ProfileBook
    from desktop.secret import Secret

def fail(error: UserFacingError, code: int = 2) -> int:
    """Print a command's failure, with what to do, on stderr; returns the exit status."""
    print(f"glmv-desktop: {error.message}", file=sys.stderr)
    if error.hint:
        print(f"  {error.hint}", file=sys.stderr)
    return code


def read_key() -> Secret:
    """An API key from standard input: typed without echo at a terminal, else its first line."""
    import getpass

    from desktop.secret import Secret

    if sys.stdin is None:
        raise UserFacingError(_("There is no standard input to read the API key from."),
                              _("Pipe the key in: printf '%s' \"$KEY\" | glmv-desktop endpoint add …"))
    text = getpass.getpass(_("API key (not shown): ")) if sys.stdin.isatty() else sys.stdin.readline()
    key = Secret(text)
    if not key:
        raise UserFacingError(_("No API key arrived on standard input."),
                              _("Pipe the key in, or leave out --key-stdin to add the endpoint without one."))
    return key


def _settings_command(args: argparse.Namespace) -> int:
    """`config …` and `endpoint …`: carried out by the running app when there is one (it holds the settings
    in memory and would overwrite a change made beside it), else here on the settings file."""
    from desktop.assistant.services import AppPaths
    from desktop.config.commands import command_argv, run_command
    from desktop.config.profiles import ProfileBook
    from desktop.config.settings import SettingsStore
    from desktop.hotkeys.instance import instance_name, send_to_running

    paths = AppPaths.for_user()
    argv = command_argv(args)
    try:
        key = read_key() if args.command == "endpoint" and getattr(args, "key_stdin", False) else None
    except UserFacingError as exc:
        return fail(exc)
    # An unlock prompt of the keychain may hold an `endpoint add` up: wait for it as long as a person would.
    reply = send_to_running(instance_name(paths.config), argv, secret=key,
                            answer_timeout_ms=120_000 if key is not None else 15_000)
    if reply is not None:
        ok = bool(reply.get("ok"))
        print(reply.get("message", ""), file=sys.stdout if ok else sys.stderr)
        return 0 if ok else (3 if reply.get("no_answer") else 2)
    settings = SettingsStore(paths.settings_file)
    try:
        if key is not None:
            _check_keychain()  # before anything is added: a key that cannot be kept is an endpoint that cannot work
        profiles = functools.cache(lambda: ProfileBook(settings))
        done = run_command(args, settings, profiles)
        _keys_after(done, key, profiles)
    except UserFacingError as exc:
        return fail(exc)
    print(done.message)
    return 0


def _check_keychain() -> None:
    from desktop.config.secrets import SecretStore

    status = SecretStore().status()
    if not status.usable:
        raise UserFacingError(_("The API key cannot be kept, so nothing was added: {reason}").format(
            reason=status.reason), _("{fix} Or start the app first: it can use the key for its session only.").format(
                fix=status.how_to_fix))


def _keys_after(done: Done, key: Secret | None, profiles: Callable[[], ProfileBook]) -> None:
    """The keychain side of an endpoint added or removed while the app is not running: an endpoint whose
    key the keychain refuses is taken out again, so the command either did everything or nothing."""
    from desktop.config.secrets import KeychainUnavailable, SecretStore

    if done.removed is not None:
        SecretStore().delete(done.removed.keychain_entry)
    if done.added is not None and key is not None:
        try:
            SecretStore().set(done.added.keychain_entry, key)
        except KeychainUnavailable as exc:
            profiles().remove(done.added.id)
            raise UserFacingError(_("{reason} The endpoint was not added.").format(reason=exc.message),
                                  exc.hint) from exc


def _doctor(_args: argparse.Namespace) -> int:
    from desktop.doctor import run_doctor

    return run_doctor()


def _history(args: argparse.Namespace) -> int:
    """`history …`: on the history file here, whether or not the app runs (see desktop/store/commands.py)."""
    from desktop.assistant.services import AppPaths
    from desktop.store.commands import is_bad_input, run_history

    try:
        run_history(args, AppPaths.for_user().data, sys.stdout, sys.stderr)
    except UserFacingError as exc:
        return fail(exc, 2 if is_bad_input(exc) else 1)
    return 0


# The commands carried out in this process (Where.HERE), by name.
HERE: dict[str, Callable[[argparse.Namespace], int]] = {"doctor": _doctor, "history": _history}


def check_attachments(args: argparse.Namespace) -> UserFacingError | None:
    """`ask --image IMAGE` / `--file FILE`: each file is read and recognised here first (a picture decoded, a
    PDF opened and its pages checked, a text file decoded), so a bad one fails this command with the reason
    instead of a message inside the app. Office files are converted by the app; here it is checked that
    LibreOffice is there to do it."""
    from desktop.chat.attachments import DocumentAttachment, attachment_from, parse_pages
    from desktop.media.images import ImageError, read_picture_file
    from desktop.media.office import office_availability
    from desktop.media.pdf import PdfPasswordRequired
    from desktop.media.sources import SourceKind, read_file

    for strict, path in args.attach:
        path = path.expanduser()
        try:
            if strict:
                read_picture_file(path)
                continue
            data, found = read_file(path)
            if found.kind is SourceKind.OFFICE:
                available = office_availability()
                if not available.available:
                    return UserFacingError(_("'{name}' is an Office document; reading it needs LibreOffice: {why}")
                                           .format(name=path.name, why=available.reason), available.how_to_fix)
                continue
            attachment = attachment_from(data, path.name, "cli", found)
            if isinstance(attachment, DocumentAttachment) and args.pages:
                parse_pages(args.pages, attachment.page_count)
        except PdfPasswordRequired:
            return UserFacingError(_("'{name}' is protected by a password.").format(name=path.name),
                                   _("Attach it in the chat window (Attach…), which asks for the password."))
        except (ImageError, UserFacingError) as exc:
            return exc
        except ValueError as exc:  # --pages outside the document
            return UserFacingError(_("--pages {pages} does not fit '{name}': {why}").format(
                pages=args.pages, name=path.name, why=exc), _("Give pages that the document has, such as 1-3."))
    return None


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
    words = sys.argv[1:] if argv is None else argv
    if words[:1] == ["--askpass"]:  # run by ssh for a passphrase (desktop/backends/ssh.py): no Qt, no parser
        from desktop.askpass import main as askpass

        return askpass(words[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.smoke_test:
        from desktop.smoke import run_smoke_test

        return run_smoke_test()
    command = command_of(args)
    where = command.where
    if where is Where.HERE:
        return HERE[command.name](args)
    if where is Where.SETTINGS:
        return _settings_command(args)
    if args.command == "ask":
        problem = check_attachments(args)
        if problem is not None:
            return fail(problem)
    from desktop.app import launch

    return launch(args, forwardable_argv(args))
