"""`glmv-desktop servers list|start|stop`, carried out in the running app on its one ServerManager."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from desktop.assistant.cluster_start import prepare_cluster
from desktop.assistant.local_server import ServerManager
from desktop.assistant.remote_hosts import RemoteHosts
from desktop.assistant.server_start import prepare_start
from desktop.assistant.services import Services
from desktop.backends.catalog import Engine
from desktop.backends.supervisor import ServerState
from desktop.config.hosts import HostBook
from desktop.config.settings import SettingsStore
from desktop.errors import UserFacingError
from desktop.i18n import _

STARTED_WAIT_S = 60.0  # the process is running (or failed) well within this once the checks passed


async def _until_started(manager: ServerManager, task: asyncio.Task[Any]) -> None:
    """Wait until the server's process runs (or the start failed: raise why)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTED_WAIT_S
    while not task.done() and loop.time() < deadline:
        supervisor = manager.supervisor
        if supervisor is not None and supervisor.state in (ServerState.LOADING, ServerState.READY):
            break
        await asyncio.sleep(0.1)
    if task.done() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


def _where(manager: ServerManager) -> str:
    return manager.host.label if manager.host is not None else _("this computer")


def list_servers(manager: ServerManager, settings: SettingsStore) -> str:
    """Where servers can run, and the one that runs."""
    book = HostBook(settings)
    lines = [_("Where servers can run:"), "  " + _("this computer")]
    lines += [f"  {entry.label} ({entry.address}, id {entry.id})" for entry in book.all()]
    lines += [f"  ! {problem}" for problem in book.skipped]
    supervisor = manager.supervisor
    if manager.adopted is not None:
        record = manager.adopted.record
        lines.append(_("Running: {model} with {engine} on this computer, started earlier, at "
                       "http://127.0.0.1:{port}/v1").format(model=record.model, engine=record.engine, port=record.port))
    elif supervisor is not None and manager.running:
        model = manager.plan.model.name if manager.plan is not None else supervisor.command.model
        lines.append(_("Running: {model} with {engine} on {where}, {state}, at {url}").format(
            model=model, engine=supervisor.command.engine, where=_where(manager), state=supervisor.state.value,
            url=supervisor.base_url))
        if manager.cluster_jobs:
            lines.append(_("  with the engine's processes on: {nodes}").format(
                nodes=", ".join(f"{host.label} ({record.engine})" for host, record in manager.cluster_jobs)))
    else:
        lines.append(_("No server is running."))
    return "\n".join(lines)


async def _stop(manager: ServerManager) -> str:
    if not manager.running:
        return _("No server is running.")
    where = _where(manager)
    await manager.stop()
    return _("The server on {where} was stopped.").format(where=where)


def stop_server(manager: ServerManager) -> Awaitable[str]:
    """Stop the server the app runs; answered once it has stopped."""
    return _stop(manager)


def start_server(args: argparse.Namespace, manager: ServerManager, services: Services, remote_hosts: RemoteHosts,
                 run: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]]) -> Awaitable[str]:
    """Check, then start the server; answered once its process runs (loading takes longer: `servers list` and
    the Local servers window follow it). `run` keeps the launch going after the answer."""
    return _start(args, manager, services, remote_hosts, run)


async def _start(args: argparse.Namespace, manager: ServerManager, services: Services, remote_hosts: RemoteHosts,
                 run: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]]) -> str:
    book = HostBook(services.settings)
    entries = []
    for name in args.host:
        entry = book.get(name)
        if entry is None:
            raise UserFacingError(_("There is no SSH host \"{host}\".").format(host=name),
                                  _("Add it in the Local servers window (Run on → Add an SSH host…); "
                                    "'glmv-desktop servers list' shows the hosts."))
        entries.append(entry)
    engine = Engine(args.engine) if args.engine else None
    if len(entries) > 1:
        cluster = await prepare_cluster(args.model, engine, entries, remote_hosts=remote_hosts)
        task = run(manager.launch_cluster(cluster))
        await _until_started(manager, task)
        return _("Starting {model} with {engine} on {nodes} ({layout}); once it has loaded it becomes the active "
                 "endpoint ('glmv-desktop servers list' shows its state).").format(
            model=cluster.plan.model.name, engine=cluster.plan.engine.label,
            nodes=", ".join(entry.label for entry, _host in cluster.hosts), layout=cluster.plan.summary())
    host = entries[0] if entries else None
    prepared = await prepare_start(args.model, engine, host, settings=services.settings,
                                   data_dir=services.paths.data, remote_hosts=remote_hosts)
    task = run(manager.launch(prepared.plan, prepared.folder, prepared.program, host=prepared.host))
    await _until_started(manager, task)
    where = host.label if host is not None else _("this computer")
    supervisor = manager.supervisor
    return _("Starting {model} with {engine} on {where}; once it has loaded it becomes the active endpoint "
             "('glmv-desktop servers list' shows its state). Its log: {log}").format(
        model=prepared.plan.model.name, engine=prepared.plan.engine.label, where=where,
        log=supervisor.log_path if supervisor is not None else "")
