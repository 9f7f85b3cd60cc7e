"""The multi-node planner on clusters people have: nodes of 8 H100s, of 4 L40S, an H100 node beside an A100 one.

Each HardwareReport stands in for the probe of one real machine (nvidia-smi's totals for these cards).
Per GPU the planner counts 90 % of the memory less 2 GiB: 74.8 GB on an H100 80GB, 75.2 GB on an
A100 80GB, 41.3 GB on an L40S. GLM-4.6V (BF16) is 216 GB of weights and 184 KiB of KV cache per token.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from desktop.backends.catalog import BY_ID, GB, Engine, ModelSpec
from desktop.backends.cluster import ClusterPlan, Node, plan_cluster
from desktop.backends.hardware import GpuInfo, HardwareReport
from desktop.backends.planner import Fit, plan

KEY = "sk-cluster-0123456789abcdef"
MODEL_PATH = "/srv/models/GLM-4.6V"
BF16 = BY_ID["glm-4.6v"]
FP8 = BY_ID["glm-4.6v-fp8"]
FLASH = BY_ID["glm-4.6v-flash"]
# Larger than one node of 8 H100s (598.6 GB for weights and KV cache): a stand-in for a model of ~360B in BF16.
HUGE = replace(BF16, id="huge", name="Huge-V", weights_bytes=720 * GB, download_bytes=720 * GB)


def node_hardware(name: str, total_mib: int, cc: tuple[int, int], count: int, *,
                  disk_gib: float = 4000) -> HardwareReport:
    gpus = [GpuInfo(index=i, name=name, uuid=f"GPU-{i}", memory_total_mib=total_mib,
                    memory_free_mib=total_mib - 560, compute_capability=cc, driver_version="550.54",
                    cuda_version="12.4") for i in range(count)]
    return HardwareReport(os="linux", os_detail="Ubuntu 22.04", cpu_name="CPU", cpu_cores=128,
                          ram_total_mib=2_000_000, ram_available_mib=1_800_000, disk_free_mib=int(disk_gib * 1024),
                          gpus=gpus, nvidia_driver="550.54", cuda_version="12.4", apple_silicon=False, problems=[])


def h100(count: int = 8, *, disk_gib: float = 4000) -> HardwareReport:
    return node_hardware("NVIDIA H100 80GB HBM3", 81559, (9, 0), count, disk_gib=disk_gib)


def a100(count: int = 4) -> HardwareReport:
    return node_hardware("NVIDIA A100-SXM4-80GB", 81920, (8, 0), count)


def l40s(count: int = 4) -> HardwareReport:
    return node_hardware("NVIDIA L40S", 46068, (8, 9), count)


def two_h100_nodes() -> list[Node]:
    return [Node("gpu1", h100(), private_address="10.0.0.1"), Node("gpu2", h100(), private_address="10.0.0.2")]


def cluster(model: ModelSpec, engine: Engine, nodes: list[Node], *, venv: str | None = "/opt/glmv/vllm",
            downloaded: bool = False) -> ClusterPlan:
    return plan_cluster(model, engine, nodes, model_path=MODEL_PATH, port=8123, api_key=KEY, venv=venv,
                        downloaded=downloaded)


def value_after(argv: list[str], flag: str) -> str:
    assert argv.count(flag) == 1, f"{flag} should appear once in {argv}"
    return argv[argv.index(flag) + 1]


def all_argv(result: ClusterPlan) -> list[list[str]]:
    return [argv for launch in result.launches for argv in launch.commands]


@pytest.mark.parametrize(("engine", "tp_flag"), [(Engine.VLLM, "--tensor-parallel-size"), (Engine.SGLANG, "--tp")])
def test_glm_46v_on_two_h100_nodes_stays_on_one_node(engine: Engine, tp_flag: str) -> None:
    # 4 H100s hold 299.3 GB: 216 GB of weights and 83 GB of KV cache, the full context several times over.
    result = cluster(BF16, engine, two_h100_nodes())
    assert result.fit is Fit.GREEN
    assert [n.address for n in result.nodes] == ["gpu1"]
    assert (result.tensor_parallel, result.pipeline_parallel, result.context) == (4, 1, 131072)
    assert len(result.launches) == 1 and len(result.launches[0].commands) == 1
    argv = result.launches[0].commands[0]
    assert value_after(argv, tp_flag) == "4" and value_after(argv, "--host") == "127.0.0.1"
    assert not any(flag in argv for flag in ("--pipeline-parallel-size", "--distributed-executor-backend", "--nnodes"))
    assert not any("ray" in part for part in argv)
    assert "no need to span nodes" in result.reasons[0] and "Not needed, and left free: gpu2." in result.reasons
    assert result.summary() == "green: one node (gpu1) with tensor parallel 4, context 131,072 tokens"


def test_a_model_larger_than_one_node_goes_to_two_nodes_over_ray() -> None:
    result = cluster(HUGE, Engine.VLLM, two_h100_nodes())
    assert result.fit is Fit.GREEN
    assert (result.tensor_parallel, result.pipeline_parallel, result.context) == (8, 2, 131072)
    assert [n.address for n in result.nodes] == ["gpu1", "gpu2"]
    head, worker = result.launches
    assert head.node.address == "gpu1" and worker.node.address == "gpu2"
    assert head.commands[0] == ["/opt/glmv/vllm/bin/ray", "start", "--head", "--node-ip-address=10.0.0.1",
                                "--port=6379", "--disable-usage-stats", "--block"]
    serve = head.commands[1]
    assert serve[:3] == ["/opt/glmv/vllm/bin/vllm", "serve", MODEL_PATH]
    assert value_after(serve, "--host") == "127.0.0.1" and value_after(serve, "--port") == "8123"
    assert value_after(serve, "--tensor-parallel-size") == "8"
    assert value_after(serve, "--pipeline-parallel-size") == "2"
    assert value_after(serve, "--distributed-executor-backend") == "ray"
    assert value_after(serve, "--max-model-len") == "131072"
    assert worker.commands == [["/opt/glmv/vllm/bin/ray", "start", "--address=10.0.0.1:6379",
                                "--node-ip-address=10.0.0.2", "--block"]]
    # The key travels in the head's environment only, never on a command line.
    assert head.env["VLLM_API_KEY"] == KEY and "VLLM_API_KEY" not in worker.env
    assert not any(KEY in part or part == "--api-key" for argv in all_argv(result) for part in argv)
    assert (head.env["VLLM_HOST_IP"], worker.env["VLLM_HOST_IP"]) == ("10.0.0.1", "10.0.0.2")
    assert worker.env["HF_HUB_OFFLINE"] == "1"
    text = " ".join(result.reasons)
    assert "598.6 GB" in result.reasons[0] and "726.2 GB" in result.reasons[0]
    assert "tensor parallel 8 inside each node, pipeline parallel 2" in text
    assert "10.0.0.1:6379, the head's own address rather than 127.0.0.1" in text
    assert f"same path, {MODEL_PATH}" in text and "SSH tunnel" in text
    assert result.summary().startswith("green: 2 nodes (gpu1, gpu2) with tensor parallel 8 and pipeline parallel 2")


def test_four_l40s_nodes_use_the_two_that_hold_glm_46v() -> None:
    nodes = [Node(f"l40s-{i}", l40s()) for i in range(4)]
    # One node of 4 × 41.3 GB holds 165.3 GB: less than the 216 GB of weights alone.
    assert plan(BF16, Engine.VLLM, l40s()).fit is Fit.RED
    result = cluster(BF16, Engine.VLLM, nodes)
    # Two nodes hold 330.6 GB: 114.6 GB of KV cache is ~608k tokens, the full context; four are not needed.
    assert result.fit is Fit.GREEN
    assert (result.tensor_parallel, result.pipeline_parallel, result.context) == (4, 2, 131072)
    assert [n.address for n in result.nodes] == ["l40s-0", "l40s-1"]
    assert "165.3 GB" in result.reasons[0] and "222.2 GB" in result.reasons[0]
    assert "Not needed, and left free: l40s-2, l40s-3." in result.reasons
    # Without a private address the SSH address is the one the nodes use.
    assert result.launches[1].commands[0][2] == "--address=l40s-0:6379"


def test_sglang_on_two_nodes_runs_the_same_launch_on_each_with_its_rank() -> None:
    result = cluster(HUGE, Engine.SGLANG, two_h100_nodes(), venv="/opt/glmv/sglang")
    assert result.fit is Fit.GREEN
    assert (result.tensor_parallel, result.pipeline_parallel) == (16, 1)
    assert [len(launch.commands) for launch in result.launches] == [1, 1]
    for rank, launch in enumerate(result.launches):
        argv = launch.commands[0]
        assert argv[:3] == ["/opt/glmv/sglang/bin/python", "-m", "sglang.launch_server"]
        assert value_after(argv, "--tp") == "16" and value_after(argv, "--nnodes") == "2"
        assert value_after(argv, "--node-rank") == str(rank)
        assert value_after(argv, "--dist-init-addr") == "10.0.0.1:20000"
        assert value_after(argv, "--host") == "127.0.0.1"
        assert value_after(argv, "--context-length") == "131072"
    # SGLang takes the key only as an argument: the head gets it, the worker serves no API.
    assert value_after(result.launches[0].commands[0], "--api-key") == KEY
    assert "--api-key" not in result.launches[1].commands[0]
    assert "tensor parallel 16" in " ".join(result.reasons) and "10.0.0.1:20000" in " ".join(result.reasons)


def test_unlike_nodes_are_not_pooled() -> None:
    nodes = [Node("gpu1", h100(), private_address="10.0.0.1"), Node("gpu2", a100(), private_address="10.0.0.2")]
    result = cluster(HUGE, Engine.VLLM, nodes)
    assert result.fit is Fit.RED and not result.launches and not result.nodes
    assert "721.5 GB" in result.reasons[0] and "gpu1" in result.reasons[0] and "598.6 GB" in result.reasons[0]
    assert "not alike" in result.reasons[1]
    assert "4× NVIDIA A100-SXM4-80GB" in result.reasons[1] and "8× NVIDIA H100 80GB HBM3" in result.reasons[1]


def test_the_alike_nodes_are_used_and_the_odd_one_is_left_out() -> None:
    nodes = [Node("a100-box", a100()), Node("gpu1", h100()), Node("gpu2", h100())]
    result = cluster(HUGE, Engine.VLLM, nodes, venv=None)
    assert result.fit is Fit.GREEN
    assert [n.address for n in result.nodes] == ["gpu1", "gpu2"]
    assert (result.tensor_parallel, result.pipeline_parallel) == (8, 2)
    assert result.launches[0].commands[0][:3] == ["ray", "start", "--head"]
    assert result.launches[0].commands[1][:2] == ["vllm", "serve"]
    assert any(r.startswith("a100-box is left out") and "A100" in r for r in result.reasons)


@pytest.mark.parametrize("engine", [Engine.LLAMA_CPP, Engine.TRANSFORMERS])
def test_engines_without_a_multi_node_mode_are_refused(engine: Engine) -> None:
    result = cluster(FLASH, engine, two_h100_nodes())
    assert result.fit is Fit.RED and not result.launches
    assert "needs vLLM or SGLang" in result.reasons[0] and engine.label in result.reasons[0]
    assert result.summary().startswith("red: Serving one model from several machines")


def test_a_small_model_uses_one_gpu_of_one_node() -> None:
    result = cluster(FLASH, Engine.VLLM, two_h100_nodes())
    assert result.fit is Fit.GREEN
    assert (result.tensor_parallel, result.pipeline_parallel, len(result.nodes)) == (1, 1, 1)
    assert "--tensor-parallel-size" not in result.launches[0].commands[0]


def test_fp8_on_ampere_nodes_says_why_each_cannot_take_part() -> None:
    result = cluster(FP8, Engine.VLLM, [Node("a", a100()), Node("b", a100())])
    assert result.fit is Fit.RED and not result.launches
    assert result.reasons[0].startswith("a cannot take part") and "8.9" in result.reasons[0]
    assert result.reasons[1].startswith("b cannot take part")


def test_every_node_needs_room_for_its_own_copy_of_the_weights() -> None:
    nodes = [Node("gpu1", h100()), Node("gpu2", h100(disk_gib=500))]
    result = cluster(HUGE, Engine.VLLM, nodes)
    assert result.fit is Fit.RED
    assert result.reasons[0].startswith("gpu2 has 536.9 GB of free disk") and "720.0 GB" in result.reasons[0]
    assert result.launches, "the commands are still there for when the weights are in place"
    assert cluster(HUGE, Engine.VLLM, nodes, downloaded=True).fit is Fit.GREEN
