"""`glmv-desktop config …` and `glmv-desktop endpoint …`, carried out the same way by the command line
(when the app is not running) and by the running app (which holds the settings in memory).

Every bad key or value raises `CommandError` with a message that says what to do; the command line
turns it into a non-zero exit. API keys are not handled here: the caller reads them from standard
input and stores them in the keychain (see `cli.py` and `app.py`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from desktop.config.profiles import TRAITS, EndpointProfile, Flavor, ProfileBook, ProfileError, preset
from desktop.config.schema import BY_KEY, SCHEMA
from desktop.config.settings import SettingsStore
from desktop.errors import UserFacingError
from desktop.i18n import _


class CommandError(UserFacingError):
    """A `config` or `endpoint` command that cannot be carried out (exit status 2)."""


@dataclass(frozen=True)
class Done:
    """What a command did: the text to print, and the endpoint it added or removed (for its key)."""

    message: str
    added: EndpointProfile | None = None
    removed: EndpointProfile | None = None


def config_arguments(config: argparse.ArgumentParser) -> None:
    """The grammar of `glmv-desktop config`."""
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION")
    config_commands.add_parser("list", help=_("every setting with its value and description"))
    get = config_commands.add_parser("get", help=_("one setting's value"))
    get.add_argument("key")
    put = config_commands.add_parser("set", help=_("change a setting"))
    put.add_argument("key")
    put.add_argument("value")
    config_commands.add_parser("path", help=_("where the settings file is"))


def endpoint_arguments(endpoint: argparse.ArgumentParser) -> None:
    """The grammar of `glmv-desktop endpoint`."""
    actions = endpoint.add_subparsers(dest="endpoint_command", metavar="ACTION")
    listing = actions.add_parser("list", help=_("every endpoint; * marks the one new questions go to"))
    listing.add_argument("--json", action="store_true", help=_("machine-readable output"))
    add = actions.add_parser("add", help=_("add an endpoint (its API key is read from standard input, never "
                                         "from the command line)"))
    add.add_argument("name", help=_("a name of your choice, e.g. 'Team server'"))
    add.add_argument("--type", dest="flavor", required=True, choices=[f.value for f in Flavor],
                     help="the kind of server: " + ", ".join(f"{f.value} ({TRAITS[f].label})" for f in Flavor))
    add.add_argument("--url", default="", help=_("its base URL (default: the type's usual one)"))
    add.add_argument("--model", default=None, help=_("the model to ask (default: the type's first)"))
    add.add_argument("--key-stdin", action="store_true",
                     help=_("read the API key from standard input (typed without echo at a terminal)"))
    add.add_argument("--use", action="store_true", help=_("make it the endpoint new questions go to"))
    remove = actions.add_parser("remove", help=_("remove an endpoint and its key"))
    remove.add_argument("endpoint", help=_("its id or name"))
    use = actions.add_parser("use", help=_("send new questions to this endpoint"))
    use.add_argument("endpoint", help=_("its id or name"))
    use.add_argument("--model", default="", help=_("and to this model of it"))


def command_argv(args: argparse.Namespace) -> list[str]:
    """A parsed `config`/`endpoint` command as the running instance should be handed it."""
    if args.command == "config":
        action = args.config_command or "list"
        return ["config", action, *(["--", args.key] if action in ("get", "set") else []),
                *([args.value] if action == "set" else [])]
    action = args.endpoint_command or "list"
    argv = ["endpoint", action]
    # Positionals after "--", so a name or value that starts with "-" is not read as an option there.
    if action == "list" and getattr(args, "json", False):
        argv.append("--json")
    elif action == "add":
        argv += ["--type", args.flavor, "--url", args.url]
        argv += ["--model", args.model] if args.model is not None else []
        argv += ["--key-stdin"] if args.key_stdin else []
        argv += ["--use"] if args.use else []
        argv += ["--", args.name]
    elif action in ("remove", "use"):
        if action == "use" and args.model:
            argv += ["--model", args.model]
        argv += ["--", args.endpoint]
    return argv


def run_command(args: argparse.Namespace, settings: SettingsStore, profiles: Callable[[], ProfileBook]) -> Done:
    """Carry out a parsed `config` or `endpoint` command; raise CommandError saying what is wrong.

    `profiles` gives the endpoint book when a command needs it (reading one fills in the default endpoints
    on a fresh install, which `config get` should not do)."""
    if args.command == "config":
        return Done(_config(args, settings, profiles))
    return _endpoint(args, profiles())


# -- config -----------------------------------------------------------------------------------------
def _config(args: argparse.Namespace, settings: SettingsStore, endpoints: Callable[[], ProfileBook]) -> str:
    action = args.config_command or "list"
    if action == "path":
        return str(settings.path)
    if action == "list":
        return "\n".join(f"{s.key} = {json.dumps(settings.get(s.key))}\n    {s.description}"
                         for s in SCHEMA if s.type is not list)
    setting = BY_KEY.get(args.key)
    if setting is None:
        close = [key for key in BY_KEY if key.split(".")[-1] == args.key.split(".")[-1] or key.startswith(args.key)]
        hint = (_("Did you mean {keys}? 'glmv-desktop config list' shows every setting.").format(
            keys=", ".join(close[:3])) if close else _("'glmv-desktop config list' shows every setting."))
        raise CommandError(_("There is no setting '{key}'.").format(key=args.key), hint)
    if action == "get":
        return json.dumps(settings.get(setting.key))
    if setting.key == "endpoint.profiles":
        raise CommandError(_("Endpoints are changed with 'glmv-desktop endpoint add|remove|use'."),
                           _("'glmv-desktop endpoint list' shows them."))
    text = args.value
    value: Any = text if setting.type is str else parse_value(text)
    try:
        coerced = setting.coerce(value)
    except ValueError as exc:
        raise CommandError(str(exc), _("'glmv-desktop config list' describes each setting.")) from None
    if setting.key == "endpoint.active" and coerced:
        profiles = endpoints()
        profile = find_endpoint(profiles, coerced)
        profiles.set_active(profile.id, profiles.active_model() if profile == profiles.active() else "")
    else:
        settings.set(setting.key, coerced)
    return f"{setting.key} = {json.dumps(settings.get(setting.key))}"


def parse_value(text: str) -> object:
    """A value typed on the command line: JSON if it parses (numbers, true, null), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


# -- endpoint ---------------------------------------------------------------------------------------
def find_endpoint(profiles: ProfileBook, ref: str) -> EndpointProfile:
    """The endpoint with this id, or else this name (any case); CommandError listing them if none."""
    by_id = profiles.get(ref)
    if by_id is not None:
        return by_id
    named = [p for p in profiles.all() if p.name.casefold() == ref.strip().casefold()]
    if len(named) == 1:
        return named[0]
    known = ", ".join(f"{p.id} ({p.name})" for p in profiles.all()) or _("none")
    if named:
        raise CommandError(_("More than one endpoint is called '{name}'.").format(name=ref),
                           _("Use its id instead: {known}.").format(known=known))
    raise CommandError(_("There is no endpoint '{ref}'.").format(ref=ref),
                       _("Use an id or a name of: {known}.").format(known=known))


def _endpoint(args: argparse.Namespace, profiles: ProfileBook) -> Done:
    action = args.endpoint_command or "list"
    if action == "list":
        return Done(_list(profiles, as_json=getattr(args, "json", False)))
    if action == "add":
        flavor = Flavor(args.flavor)
        traits = TRAITS[flavor]
        if not (args.url or traits.base_url):
            raise CommandError(_("A {kind} endpoint needs its address.").format(kind=traits.label),
                               _("Add --url, e.g. --url http://127.0.0.1:8000/v1"))
        if any(p.name.casefold() == args.name.strip().casefold() for p in profiles.all()):
            raise CommandError(_("There is already an endpoint called '{name}'.").format(name=args.name.strip()),
                               _("Choose another name, or remove that one first ('glmv-desktop endpoint remove')."))
        try:
            profile = profiles.upsert(preset(flavor, name=args.name, base_url=args.url or None, model=args.model))
        except ProfileError as exc:
            raise CommandError(str(exc)) from None
        if args.use:
            profiles.set_active(profile.id)
        text = (_("Added endpoint {id}: {name} ({url}, model {model}); new questions go to it.") if args.use else
                _("Added endpoint {id}: {name} ({url}, model {model})."))
        return Done(text.format(id=profile.id, name=profile.name, url=profile.base_url, model=profile.model or "?"),
                    added=profile)
    profile = find_endpoint(profiles, args.endpoint)
    if action == "remove":
        profiles.remove(profile.id)
        return Done(_("Removed endpoint {id} ({name}) and its key.").format(id=profile.id, name=profile.name),
                    removed=profile)
    profiles.set_active(profile.id, args.model.strip())
    return Done(_("New questions go to {name} ({url}), model {model}.").format(
        name=profile.name, url=profile.base_url, model=profiles.active_model() or "?"))


def _list(profiles: ProfileBook, *, as_json: bool) -> str:
    active = profiles.active()
    if as_json:
        return json.dumps([{**p.to_dict(), "active": p == active} for p in profiles.all()])
    if not profiles.all():
        return _("No endpoints. Add one with 'glmv-desktop endpoint add NAME --type TYPE'.")
    lines = []
    for p in profiles.all():
        model = profiles.active_model() if p == active else p.model
        lines.append(f"{'*' if p == active else ' '} {p.id}  {p.name}  [{p.flavor.value}]  {p.base_url}  "
                     f"{_('model')}: {model or '?'}")
    return "\n".join(lines)
