"""Everything `glmv-desktop servers start MODEL [--engine E] [--host H]` checks before a server starts, on this
computer or an SSH host: the model, the machine's hardware and the planner's verdict, the engine's program,
and the model's files. Each missing piece is a UserFacingError that says what to do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from desktop.assistant.local_models import (
    ModelChoice,
    catalog_choices,
    engine_status,
    folder_state,
    models_dir,
    plan_for,
)
from desktop.assistant.remote_hosts import RemoteHosts
from desktop.assistant.remote_models import download_command, install_command, inventory
from desktop.backends.catalog import CATALOG, Engine, ModelSpec
from desktop.backends.hardware import probe_hardware
from desktop.backends.planner import Fit, Plan
from desktop.backends.remote import SshHost
from desktop.config.hosts import SshHostEntry
from desktop.config.settings import SettingsStore
from desktop.errors import UserFacingError
from desktop.i18n import _


@dataclass(frozen=True)
class StartPlan:
    """What to launch: the plan, the model's folder and the engine's program (both where the server runs)."""

    plan: Plan
    folder: str
    program: str
    host: tuple[SshHostEntry, SshHost] | None = None


def find_model(query: str) -> ModelSpec:
    """The catalog model whose id or name is `query` (any case); raise UserFacingError listing them."""
    wanted = query.strip().lower()
    for spec in CATALOG:
        if wanted in (spec.id.lower(), spec.name.lower(), spec.hf_repo.lower()):
            return spec
    names = ", ".join(spec.id for spec in CATALOG)
    raise UserFacingError(_("There is no model \"{model}\" in the catalog.").format(model=query),
                          _("Choose one of: {names}.").format(names=names))


def _choose(plans: list[Plan], ready: dict[Engine, bool]) -> Plan:
    order = [Fit.GREEN, Fit.YELLOW, Fit.RED]
    return sorted(plans, key=lambda p: (order.index(p.fit), not ready.get(p.engine, False)))[0]


async def prepare_start(query: str, engine: Engine | None, host: SshHostEntry | None, *, settings: SettingsStore,
                        data_dir: Path, remote_hosts: RemoteHosts) -> StartPlan:
    """Check everything a start needs; the best-fitting engine with a program when `engine` is None."""
    spec = find_model(query)
    engines = [engine] if engine is not None else list(spec.engines)
    if engine is not None and engine not in spec.engines:
        raise UserFacingError(_("{model} does not run on {engine}.").format(model=spec.name, engine=engine.label),
                              _("It runs on: {engines}.").format(engines=", ".join(e.label for e in spec.engines)))
    if host is None:
        choice = next(c for c in catalog_choices(settings) if c.spec.id == spec.id)
        hardware = await asyncio.to_thread(probe_hardware, models_dir(settings))
        files = await asyncio.to_thread(folder_state, choice)
        statuses = {e: await engine_status(e, settings, data_dir) for e in engines}
        programs = {e: str(s.location.program) if s.ready and s.location.program else None
                    for e, s in statuses.items()}
        complete, folder, ssh = files.complete, str(choice.folder), None
        where = _("this computer")
    else:
        ssh = await remote_hosts.open(host)
        hardware = await ssh.probe()
        found = await inventory(ssh)
        programs = {e: found.engines.get(e) for e in engines}
        complete, folder = found.models.get(spec.id, False), found.folder(spec)
        choice = ModelChoice(spec, Path(folder))
        where = host.label
    chosen = _choose([plan_for(choice, e, hardware, complete=complete) for e in engines],
                     {e: programs[e] is not None for e in engines})
    if chosen.fit is Fit.RED:
        raise UserFacingError(_("{model} with {engine} does not fit on {where}.").format(
            model=spec.name, engine=chosen.engine.label, where=where), " ".join(chosen.reasons))
    program = programs[chosen.engine]
    if program is None:
        hint = (_("Install it in the Local servers window.") if ssh is None else
                _("Install it there: {command}").format(command=install_command(found, chosen.engine)))
        raise UserFacingError(_("{engine} is not installed on {where}.").format(engine=chosen.engine.label,
                                                                               where=where), hint)
    if not complete:
        hint = (_("Download it in the Local servers window.") if ssh is None else
                _("Download it there: {command}").format(command=download_command(found, spec)))
        raise UserFacingError(_("The files of {model} are not on {where}.").format(model=spec.name, where=where),
                              hint)
    return StartPlan(chosen, folder, program, (host, ssh) if host is not None and ssh is not None else None)
