"""Serving one model from several SSH hosts: check every node, plan the engine's own multi-node layout
(`backends.cluster`), and what `ServerManager.launch_cluster` needs to start it.

Every node must have the engine and the model's files at the same path (the same user and home on each,
as the engines require); each missing piece is a UserFacingError that names the nodes and what to run.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop.assistant.remote_hosts import RemoteHosts
from desktop.assistant.remote_models import download_command, install_command, inventory
from desktop.assistant.server_start import find_model
from desktop.backends.catalog import Engine
from desktop.backends.cluster import ClusterPlan, Node, plan_cluster
from desktop.backends.engines import supports_api_key
from desktop.backends.planner import Fit, Plan
from desktop.backends.remote import SshHost
from desktop.backends.ssh import SshTarget
from desktop.backends.supervisor import new_api_key
from desktop.config.hosts import SshHostEntry
from desktop.errors import UserFacingError
from desktop.i18n import _


@dataclass(frozen=True)
class ClusterStart:
    """A checked multi-node start: the plan, the hosts in its node order (head first), its key and port."""

    plan: ClusterPlan
    hosts: list[tuple[SshHostEntry, SshHost]]
    model_path: str
    api_key: str | None
    port: int  # the server's, on the head's 127.0.0.1

    def as_plan(self) -> Plan:
        """The layout as a single-machine Plan, for what shows and names a running server."""
        cluster = self.plan
        return Plan(cluster.model, cluster.engine, cluster.fit, list(cluster.reasons), gpus=cluster.tensor_parallel,
                    max_context=cluster.context, context=cluster.context)


async def prepare_cluster(query: str, engine: Engine | None, entries: list[SshHostEntry], *,
                          remote_hosts: RemoteHosts) -> ClusterStart:
    """Open every host, probe it, check the engine and the files there, and plan the layout."""
    spec = find_model(query)
    engine = engine or Engine.VLLM
    if engine not in (Engine.VLLM, Engine.SGLANG):
        raise UserFacingError(_("Serving one model from several machines needs vLLM or SGLang."),
                              _("Choose --engine vllm or --engine sglang."))
    opened = [(entry, await remote_hosts.open(entry)) for entry in entries]
    found = [await inventory(host) for _entry, host in opened]
    folder = found[0].folder(spec)
    if any(inv.folder(spec) != folder for inv in found):
        raise UserFacingError(_("The model's folder is not at the same path on every node."),
                              _("Log in as the same user with the same home folder on each node."))
    no_engine = [entry.label for (entry, _host), inv in zip(opened, found, strict=True) if not inv.engines.get(engine)]
    if no_engine:
        raise UserFacingError(_("{engine} is not installed on {nodes}.").format(engine=engine.label,
                                                                               nodes=", ".join(no_engine)),
                              _("Install it on each: {command}").format(command=install_command(found[0], engine)))
    no_files = [entry.label for (entry, _host), inv in zip(opened, found, strict=True)
                if not inv.models.get(spec.id, False)]
    if no_files:
        raise UserFacingError(_("The files of {model} are not on {nodes}.").format(model=spec.name,
                                                                                  nodes=", ".join(no_files)),
                              _("Download them on each: {command}").format(command=download_command(found[0], spec)))
    head_program = found[0].engines[engine] or ""
    venv = found[0].engine_venv(engine) if head_program.startswith(found[0].engine_venv(engine) + "/") else None
    nodes = [Node(entry.label, await host.probe(), private_address=SshTarget.parse(entry.address).host)
             for entry, host in opened]
    port = await opened[0][1].free_port()
    key = new_api_key() if supports_api_key(engine) else None
    cluster = plan_cluster(spec, engine, nodes, model_path=folder, port=port, api_key=key, venv=venv,
                           downloaded=True)
    if cluster.fit is Fit.RED:
        raise UserFacingError(_("{model} with {engine} cannot be served from {nodes}.").format(
            model=spec.name, engine=engine.label, nodes=", ".join(e.label for e in entries)), " ".join(cluster.reasons))
    by_label = {entry.label: (entry, host) for entry, host in opened}
    return ClusterStart(cluster, [by_label[node.address] for node in cluster.nodes], folder, key, port)
