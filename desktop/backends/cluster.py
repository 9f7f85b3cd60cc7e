"""Serving one model from several machines: which nodes, which parallelism, and the commands on each.

The engines do the scaling out; this module only picks their own layout, as their documentation
describes it, and leaves every memory sum to the single-machine planner (`plan`):

- One node first, with the planner's tensor parallelism inside it (1, 2, 4 or 8 GPUs, the fewest that
  hold a comfortable context). Only when no node does so alone is the model split across nodes.
- vLLM across nodes (docs/serving/parallelism_scaling.md): tensor parallel = the GPUs of each node,
  pipeline parallel = the number of nodes, on a Ray cluster: `ray start --head --port=6379` on the
  head, `ray start --address=HEAD:6379 --block` on each worker, then `vllm serve ...
  --tensor-parallel-size T --pipeline-parallel-size P --distributed-executor-backend ray` on the head
  alone. `VLLM_HOST_IP` gives each node its own address on the private network.
- SGLang across nodes (references/multi_node_deployment/multi_node.md): the same `launch_server` on
  every node with `--tp` = all GPUs of all nodes and `--nnodes N --node-rank i --dist-init-addr HEAD:PORT`.

A pipeline stage holds 1/P of the layers, so 1/P of the weights and 1/P of the KV cache per token: a
layout over P nodes is planned as one node serving a model of that size, which is the planner's
arithmetic unchanged. At the fewest nodes that suffice this uses every GPU of each node (fewer GPUs
per node would have fitted on fewer nodes), as vLLM recommends. The nodes of a layout must be alike:
the same GPU model and count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

from desktop.backends.catalog import Engine, ModelSpec, format_bytes
from desktop.backends.engines import OFFLINE_ENV, PROGRAMS, VLLM_ENV, build_command
from desktop.backends.hardware import HardwareReport
from desktop.backends.planner import COMFORTABLE_CONTEXT, MIB, MIN_CONTEXT, Fit, Plan, plan
from desktop.i18n import _

RAY_PORT = 6379  # Ray's default head port, the one vLLM's cluster script uses
SGLANG_DIST_INIT_PORT = 20000  # the port of SGLang's multi-node example
MULTI_NODE_ENGINES = (Engine.VLLM, Engine.SGLANG)
_TP_SIZES = (1, 2, 4, 8)  # the planner's tensor-parallel sizes
_ORDER = {Fit.GREEN: 0, Fit.YELLOW: 1, Fit.RED: 2}


@dataclass(frozen=True)
class Node:
    """One machine: how the app reaches it over SSH, and what its hardware probe found there."""

    address: str  # a host name from ~/.ssh/config or an IP address
    hardware: HardwareReport
    private_address: str = ""  # the IP the other nodes reach it at (default: `address`)

    @property
    def cluster_address(self) -> str:
        """Where the other nodes reach this one."""
        return self.private_address or self.address


@dataclass
class NodeLaunch:
    """What to run on one node: `commands` in order, each with `env` added to its environment."""

    node: Node
    commands: list[list[str]]
    env: dict[str, str] = field(default_factory=dict, repr=False)  # the head's may hold the API key


@dataclass
class ClusterPlan:
    """The verdict for one model and engine on a set of nodes, and how to start it.

    `launches` follows `nodes` (head first). vLLM over several nodes: run the head's first command
    (`ray start --head`), then each worker's (both stay in the foreground), then the head's last
    (`vllm serve`). SGLang: one command per node, started together. The server listens on 127.0.0.1
    on the head only.
    """

    model: ModelSpec
    engine: Engine
    fit: Fit
    reasons: list[str] = field(default_factory=list)
    tensor_parallel: int = 0
    pipeline_parallel: int = 0
    nodes: list[Node] = field(default_factory=list)  # the nodes used, head first
    context: int = 0  # the context to launch with (tokens)
    launches: list[NodeLaunch] = field(default_factory=list)

    @property
    def head(self) -> Node | None:
        """The node that serves the API (and runs Ray's head for vLLM)."""
        return self.nodes[0] if self.nodes else None

    def summary(self) -> str:
        """One line for lists: the verdict and the layout, or the first reason when it cannot run."""
        if self.fit is Fit.RED or not self.nodes:
            return f"{self.fit.value}: {self.reasons[0] if self.reasons else ''}"
        if len(self.nodes) == 1:
            layout = _("one node ({node}) with tensor parallel {tp}, context {context:,} tokens").format(
                node=self.nodes[0].address, tp=self.tensor_parallel, context=self.context)
        else:
            layout = _("{n} nodes ({nodes}) with tensor parallel {tp} and pipeline parallel {pp}, "
                       "context {context:,} tokens").format(
                n=len(self.nodes), nodes=", ".join(n.address for n in self.nodes), tp=self.tensor_parallel,
                pp=self.pipeline_parallel, context=self.context)
        return f"{self.fit.value}: {layout}"


def plan_cluster(model: ModelSpec, engine: Engine, nodes: Sequence[Node], *, model_path: str, port: int,
                 api_key: str | None, venv: str | None = None, served_name: str | None = None,
                 downloaded: bool = False) -> ClusterPlan:
    """Plan serving `model` with `engine` from `nodes` (in order of preference, the head first).

    Args:
        model_path: the model folder, the same path on every node.
        port: the server's port on the head's 127.0.0.1.
        api_key: the key clients must send (through the environment where the engine allows).
        venv: the engine's virtual environment on the nodes (a POSIX path); None: programs on PATH.
        served_name: the model name clients ask for (default: `engines.default_served_name`).
        downloaded: the weights are already on every node, so free disk space does not matter.
    """
    result = ClusterPlan(model, engine, Fit.RED)
    if engine not in MULTI_NODE_ENGINES:
        result.reasons.append(_("Serving one model from several machines needs vLLM or SGLang; {engine} "
                                "serves from one machine only.").format(engine=engine.label))
        return result
    if not nodes:
        result.reasons.append(_("No nodes were given: name at least one machine with NVIDIA GPUs."))
        return result
    if engine not in model.engines:
        result.reasons += plan(model, engine, nodes[0].hardware).reasons
        return result
    usable = [node for node in nodes if _gpu_room(model, engine, node.hardware) > 0]
    for node in nodes:
        if node not in usable:
            reason = plan(model, engine, node.hardware, downloaded=True).reasons[0]
            result.reasons.append(_("{node} cannot take part: {reason}").format(node=node.address, reason=reason))
    singles = [([node], plan(model, engine, node.hardware, downloaded=True)) for node in usable]
    single = min((s for s in singles if s[1].fit is not Fit.RED), key=lambda s: (_ORDER[s[1].fit], s[1].gpus),
                 default=None)
    groups: dict[tuple[str, ...], list[Node]] = {}
    for node in usable:
        groups.setdefault(_kind(node.hardware), []).append(node)
    spans = [span for group in groups.values() if (span := _span(model, engine, group)) is not None]
    span = min(spans, key=lambda s: (_ORDER[s[1].fit], len(s[0]) * s[1].gpus), default=None)
    # One node when it is comfortable; else a span when that is; else whichever runs at all, one node first.
    if single is not None and (single[1].fit is Fit.GREEN or span is None or span[1].fit is not Fit.GREEN):
        chosen = single
    elif span is not None:
        chosen = span
    else:
        result.reasons += _no_fit(model, engine, usable, groups)
        return result
    used, layout = chosen
    result.fit, result.nodes, result.context = layout.fit, used, layout.context
    if len(used) == 1:
        result.tensor_parallel, result.pipeline_parallel = layout.gpus, 1
        result.reasons.append(_("{model} fits on one node, {node} ({gpus}): no need to span nodes.").format(
            model=model.name, node=used[0].address, gpus=_describe(used[0].hardware)))
        result.reasons += layout.reasons
    else:
        _explain_span(result, layout, used, model_path)
    result.reasons.append(_("The server listens on 127.0.0.1 on {head} only: reach it through an SSH tunnel.").format(
        head=used[0].address))
    result.reasons += _left_out(usable, used)
    if not downloaded:
        for node in used:
            free = node.hardware.disk_free_mib * MIB
            if free < model.download_bytes:
                result.fit = Fit.RED
                result.reasons.insert(0, _("{node} has {free} of free disk where models are kept, and {model} needs "
                                           "{need}: every node keeps its own copy at the same path.").format(
                    node=node.address, free=format_bytes(free), model=model.name,
                    need=format_bytes(model.download_bytes)))
    result.launches = _launches(result, layout, model_path, port, api_key, venv, served_name)
    return result


def _gpu_room(model: ModelSpec, engine: Engine, hardware: HardwareReport) -> int:
    """Bytes that one GPU of `hardware` offers weights and KV cache, as the planner counts them (0: unusable).

    The planner's largest context for a weightless copy of `model` with one byte of KV cache per token
    is exactly that room, on the node's weakest GPU; a node the planner refuses (system, compute
    capability, precision) has none.
    """
    probe = replace(model, weights_bytes=0, kv_bytes_per_token=1, context_max=1 << 62)
    answer = plan(probe, engine, hardware, downloaded=True)
    return answer.max_context if answer.fit is not Fit.RED else 0


def _gpus(hardware: HardwareReport) -> int:
    """How many GPUs of a node the planner can use for tensor parallelism."""
    count = sum(1 for g in hardware.gpus if g.memory_total_mib > 0)
    return max((size for size in _TP_SIZES if size <= count), default=0)


def _kind(hardware: HardwareReport) -> tuple[str, ...]:
    """What must match between the nodes of one layout: the GPUs' models, one entry per GPU."""
    return tuple(sorted(g.name for g in hardware.gpus if g.memory_total_mib > 0))


def _describe(hardware: HardwareReport) -> str:
    """A node's GPUs in words: "8× NVIDIA H100 80GB HBM3"."""
    return ", ".join(f"{count}× {name}" for name, count in Counter(_kind(hardware)).items())


def _span(model: ModelSpec, engine: Engine, group: list[Node]) -> tuple[list[Node], Plan] | None:
    """The fewest nodes of `group` (alike, head first) that hold a comfortable context, else the number that
    holds the longest: the nodes and the plan of the layout (its `gpus` per node, its context for the whole model)."""
    best: tuple[list[Node], Plan] | None = None
    for count in range(2, len(group) + 1):
        stage = replace(model, weights_bytes=-(-model.weights_bytes // count),
                        kv_bytes_per_token=-(-model.kv_bytes_per_token // count))
        plans = [plan(stage, engine, node.hardware, downloaded=True) for node in group[:count]]
        if any(p.fit is Fit.RED for p in plans):
            continue
        # Busy GPUs can make nodes differ: every node gets the largest tensor-parallel size any of them
        # needs, and the whole layout the smallest context.
        worst = min(plans, key=lambda p: p.context)
        # The planner's "Uses N GPUs" counts one node; the layout's own reasons say more.
        uses = _("Uses {n} GPUs with tensor parallelism.").format(n=worst.gpus)
        layout = replace(worst, model=model, gpus=max(p.gpus for p in plans), flags=list(worst.flags),
                         reasons=[reason for reason in worst.reasons if reason != uses])
        if best is None or layout.context > best[1].context:
            best = (group[:count], layout)
        if layout.fit is Fit.GREEN:
            break
    return best


def _explain_span(result: ClusterPlan, layout: Plan, used: list[Node], model_path: str) -> None:
    """The reasons for a layout over several nodes, and its parallel sizes."""
    model, engine, head, count = result.model, result.engine, used[0], len(used)
    tokens = min(model.context_max, COMFORTABLE_CONTEXT)
    per_node = _gpus(head.hardware) * _gpu_room(model, engine, head.hardware)
    result.reasons.append(_("One node is not enough: {gpus} hold {room} for weights and KV cache, but {model} needs "
                            "{need}: {weights} of weights and {kv} of KV cache for {tokens:,} tokens.").format(
        gpus=_describe(head.hardware), room=format_bytes(per_node), model=model.name,
        need=format_bytes(model.weights_bytes + tokens * model.kv_bytes_per_token),
        weights=format_bytes(model.weights_bytes), kv=format_bytes(tokens * model.kv_bytes_per_token),
        tokens=tokens))
    if engine is Engine.VLLM:
        result.tensor_parallel, result.pipeline_parallel = layout.gpus, count
        result.reasons.append(_("Split across {n} nodes as vLLM recommends for a model larger than one node: tensor "
                                "parallel {tp} inside each node, pipeline parallel {n} across them, on a Ray "
                                "cluster.").format(n=count, tp=layout.gpus))
        network = _("The nodes must reach each other on their private network: Ray listens on {address}, the "
                    "head's own address rather than 127.0.0.1, and the traffic between nodes is not encrypted, so "
                    "keep that network closed to others.").format(address=f"{head.cluster_address}:{RAY_PORT}")
    else:
        result.tensor_parallel, result.pipeline_parallel = layout.gpus * count, 1
        result.reasons.append(_("Split across {n} nodes with SGLang's multi-node launch: tensor parallel {tp} over "
                                "the GPUs of all nodes ({per} in each), the same command on every node. Every layer "
                                "then crosses the network, which needs a fast one (InfiniBand or RoCE).").format(
            n=count, tp=layout.gpus * count, per=layout.gpus))
        network = _("The nodes must reach each other on their private network: they meet at {address}, the "
                    "head's own address rather than 127.0.0.1, and the traffic between nodes is not encrypted, so "
                    "keep that network closed to others.").format(
            address=f"{head.cluster_address}:{SGLANG_DIST_INIT_PORT}")
    result.reasons += [*layout.reasons, network]
    result.reasons.append(_("Every node needs the model's weights at the same path, {path}, and the same engine "
                            "installation.").format(path=model_path))


def _left_out(usable: list[Node], used: list[Node]) -> list[str]:
    """Why the usable nodes outside the layout are not in it."""
    kind = _kind(used[0].hardware)
    addresses = {node.address for node in used}
    spare = [n for n in usable if n.address not in addresses and (len(used) == 1 or _kind(n.hardware) == kind)]
    unlike = [n for n in usable if n.address not in addresses and n not in spare]
    reasons = []
    if spare:
        reasons.append(_("Not needed, and left free: {nodes}.").format(nodes=", ".join(n.address for n in spare)))
    for node in unlike:
        reasons.append(_("{node} is left out: splitting a model across nodes needs the same GPUs in each, and it has "
                         "{its} where the others have {theirs}.").format(
            node=node.address, its=_describe(node.hardware), theirs=_describe(used[0].hardware)))
    return reasons


def _no_fit(model: ModelSpec, engine: Engine, usable: list[Node],
            groups: dict[tuple[str, ...], list[Node]]) -> list[str]:
    """The reasons when no node nor group of alike nodes can run the model, with the numbers."""
    if not usable:
        return []
    need = model.weights_bytes + MIN_CONTEXT * model.kv_bytes_per_token
    group = max(groups.values(), key=lambda g: len(g) * _gpus(g[0].hardware) * _gpu_room(model, engine, g[0].hardware))
    have = sum(_gpus(n.hardware) * _gpu_room(model, engine, n.hardware) for n in group)
    numbers = {"model": model.name, "need": format_bytes(need), "weights": format_bytes(model.weights_bytes),
               "tokens": MIN_CONTEXT, "n": len(group), "node": group[0].address, "gpus": _describe(group[0].hardware),
               "have": format_bytes(have)}
    if len(group) == 1:
        reasons = [_("{model} needs at least {need} of GPU memory ({weights} of weights and a {tokens:,}-token "
                     "context), but the largest node, {node} ({gpus}), holds {have} for them.").format(**numbers)]
    else:
        reasons = [_("{model} needs at least {need} of GPU memory ({weights} of weights and a {tokens:,}-token "
                     "context), but all {n} nodes of {gpus} together hold {have} for them.").format(**numbers)]
    if len(groups) > 1:
        reasons.append(_("The nodes are not alike ({kinds}): splitting a model across nodes needs the same GPUs in "
                         "each, so they cannot be pooled.").format(
            kinds="; ".join(f"{g[0].address}: {_describe(g[0].hardware)}" for g in groups.values())))
    return reasons


def _launches(result: ClusterPlan, layout: Plan, model_path: str, port: int, api_key: str | None,
              venv: str | None, served_name: str | None) -> list[NodeLaunch]:
    """The commands on each node of `result`, built by `build_command` with the parallel flags added."""
    engine, used = result.engine, result.nodes
    head, count = used[0], len(used)

    def program(name: str) -> str:
        return str(PurePosixPath(venv, "bin", name)) if venv else name

    executable = program(PROGRAMS[engine])

    def serve(flags: list[str], key: str | None) -> tuple[list[str], dict[str, str]]:
        return build_command(replace(layout, flags=flags), model_path, port=port, api_key=key,
                             executable=executable, served_name=served_name)

    if count == 1:
        argv, env = serve(layout.flags, api_key)
        return [NodeLaunch(head, [argv], env)]
    # The planner wrote the tensor-parallel size for one node; the layout's replaces it.
    flags = _without(layout.flags, "--tensor-parallel-size", "--tp")
    if engine is Engine.VLLM:
        argv, env = serve([*flags, "--tensor-parallel-size", str(result.tensor_parallel), "--pipeline-parallel-size",
                           str(result.pipeline_parallel), "--distributed-executor-backend", "ray"], api_key)
        ray = program("ray")
        # --block: Ray's head stays in the foreground, so it is stopped with the rest (as vLLM's run_cluster.sh).
        launches = [NodeLaunch(head, [[ray, "start", "--head", f"--node-ip-address={head.cluster_address}",
                                       f"--port={RAY_PORT}", "--disable-usage-stats", "--block"], argv],
                               {**env, "VLLM_HOST_IP": head.cluster_address})]
        for worker in used[1:]:
            start = [ray, "start", f"--address={head.cluster_address}:{RAY_PORT}",
                     f"--node-ip-address={worker.cluster_address}", "--block"]
            launches.append(NodeLaunch(worker, [start], {**OFFLINE_ENV, **VLLM_ENV,
                                                         "VLLM_HOST_IP": worker.cluster_address}))
        return launches
    launches = []
    for rank, node in enumerate(used):
        argv, env = serve([*flags, "--tp", str(result.tensor_parallel), "--nnodes", str(count), "--node-rank",
                           str(rank), "--dist-init-addr", f"{head.cluster_address}:{SGLANG_DIST_INIT_PORT}"],
                          api_key if rank == 0 else None)
        launches.append(NodeLaunch(node, [argv], env))
    return launches


def _without(flags: list[str], *names: str) -> list[str]:
    """`flags` less each of `names` and the value after it."""
    kept: list[str] = []
    skip = False
    for flag in flags:
        if skip:
            skip = False
        elif flag in names:
            skip = True
        else:
            kept.append(flag)
    return kept
