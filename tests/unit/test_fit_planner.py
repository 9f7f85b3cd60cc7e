"""The fit planner on machines people have: one 24 GB card, an H100, an H200, four H100s, a V100,
a laptop without a GPU, a Mac, Windows without WSL2."""

from __future__ import annotations

import pytest

from desktop.backends.catalog import BY_ID, CATALOG, Engine, ModelSpec
from desktop.backends.hardware import GpuInfo, HardwareReport
from desktop.backends.planner import Fit, plan, plan_all


def gpu(name: str, total_gib: float, cc: tuple[int, int] | None, index: int = 0,
        free_gib: float | None = None) -> GpuInfo:
    return GpuInfo(index=index, name=name, uuid=f"GPU-{index}", memory_total_mib=int(total_gib * 1024),
                   memory_free_mib=int((free_gib if free_gib is not None else total_gib - 0.5) * 1024),
                   compute_capability=cc, driver_version="550.54", cuda_version="12.4")


def machine(gpus: list[GpuInfo], *, os: str = "linux", ram_gib: float = 64, disk_gib: float = 1000,
            apple: bool = False) -> HardwareReport:
    return HardwareReport(os=os, os_detail="", cpu_name="CPU", cpu_cores=16, ram_total_mib=int(ram_gib * 1024),
                          ram_available_mib=int(ram_gib * 0.8 * 1024), disk_free_mib=int(disk_gib * 1024),
                          gpus=gpus, nvidia_driver="550.54" if gpus else "", cuda_version="12.4" if gpus else "",
                          apple_silicon=apple, problems=[])


FLASH = BY_ID["glm-4.6v-flash"]
FP8 = BY_ID["glm-4.6v-fp8"]
BF16 = BY_ID["glm-4.6v"]
GGUF = BY_ID["glm-4.6v-flash-gguf"]
H100 = [gpu("NVIDIA H100 80GB HBM3", 79.6, (9, 0))]


def test_catalog_is_complete_and_consistent() -> None:
    ids = {m.id for m in CATALOG}
    assert ids == {"glm-4.6v-flash", "glm-4.1v-9b-thinking", "glm-4.5v", "glm-4.5v-fp8", "glm-4.6v", "glm-4.6v-fp8",
                   "glm-4.6v-flash-gguf"}
    for model in CATALOG:
        assert model.hf_repo.count("/") == 1 and model.engines and model.context_max >= 65536
        assert model.modelscope_repo is None or model.modelscope_repo.startswith("ZhipuAI/")
    assert FLASH.kv_bytes_per_token == 40 * 1024 and BF16.kv_bytes_per_token == 184 * 1024


def test_flash_on_an_h100_fits_with_the_full_context() -> None:
    result = plan(FLASH, Engine.VLLM, machine(H100))
    assert result.fit is Fit.GREEN and result.gpus == 1
    assert result.context == FLASH.context_max
    assert result.flags[result.flags.index("--max-model-len") + 1] == "131072"
    assert "--reasoning-parser" in result.flags and "--tensor-parallel-size" not in result.flags


def test_flash_on_a_24_gb_card_is_tight_with_a_shorter_context() -> None:
    result = plan(FLASH, Engine.VLLM, machine([gpu("NVIDIA GeForce RTX 4090", 23.6, (8, 9))]))
    assert result.fit is Fit.YELLOW
    assert 8192 <= result.context < 32768
    assert "context of" in result.reasons[0]


def test_flash_on_a_12_gb_card_is_red_with_the_gguf_as_the_way_out() -> None:
    hardware = machine([gpu("NVIDIA GeForce RTX 3060", 12, (8, 6))])
    result = plan(FLASH, Engine.VLLM, hardware)
    assert result.fit is Fit.RED and "GB of GPU memory" in result.reasons[0]
    assert result.alternatives
    gguf = plan(GGUF, Engine.LLAMA_CPP, hardware)
    assert gguf.fit in (Fit.GREEN, Fit.YELLOW) and gguf.gpus == 1 and "-ngl" in gguf.flags


def test_fp8_moe_on_one_h200_and_on_four_h100s() -> None:
    h200 = plan(FP8, Engine.VLLM, machine([gpu("NVIDIA H200", 139.8, (9, 0))]))
    assert h200.fit in (Fit.GREEN, Fit.YELLOW) and h200.gpus == 1
    four = plan(FP8, Engine.VLLM, machine([gpu("NVIDIA H100", 79.6, (9, 0), index=i) for i in range(4)]))
    assert four.fit is Fit.GREEN and four.gpus == 2
    assert four.flags[four.flags.index("--tensor-parallel-size") + 1] == "2"
    one = plan(FP8, Engine.VLLM, machine(H100))
    assert one.fit is Fit.RED


def test_bf16_moe_needs_four_80_gb_gpus() -> None:
    four = plan(BF16, Engine.SGLANG, machine([gpu("NVIDIA H100", 79.6, (9, 0), index=i) for i in range(4)]))
    assert four.fit in (Fit.GREEN, Fit.YELLOW) and four.gpus == 4
    assert four.flags[four.flags.index("--tp") + 1] == "4" and "--context-length" in four.flags
    two = plan(BF16, Engine.VLLM, machine([gpu("NVIDIA H100", 79.6, (9, 0), index=i) for i in range(2)]))
    assert two.fit is Fit.RED


def test_fp8_on_an_ampere_gpu_is_refused_with_the_reason() -> None:
    result = plan(FP8, Engine.VLLM, machine([gpu("NVIDIA A100-SXM4-80GB", 79.2, (8, 0), index=i) for i in range(4)]))
    assert result.fit is Fit.RED and "8.9" in result.reasons[0] and result.alternatives == ["GLM-4.6V"]


def test_bf16_on_a_v100_runs_in_half_precision_with_a_warning() -> None:
    result = plan(FLASH, Engine.VLLM, machine([gpu("Tesla V100-SXM2-32GB", 31.7, (7, 0))]))
    assert result.fit is Fit.YELLOW and "float16" in result.reasons[0]
    assert result.flags[result.flags.index("--dtype") + 1] == "half"


def test_a_busy_gpu_counts_only_its_free_memory() -> None:
    busy = plan(FLASH, Engine.VLLM, machine([gpu("NVIDIA H100", 79.6, (9, 0), free_gib=22)]))
    idle = plan(FLASH, Engine.VLLM, machine(H100))
    assert busy.context < idle.context


@pytest.mark.parametrize(("os", "words"), [("windows", "WSL2"), ("macos", "llama.cpp")])
def test_gpu_servers_off_linux_say_what_runs_instead(os: str, words: str) -> None:
    result = plan(FLASH, Engine.VLLM, machine(H100 if os == "windows" else [], os=os, apple=os == "macos"))
    assert result.fit is Fit.RED and words in result.reasons[0]
    assert result.alternatives


def test_no_gpu_sends_users_to_llama_cpp_on_the_cpu() -> None:
    laptop = machine([], ram_gib=16)
    assert plan(FLASH, Engine.VLLM, laptop).fit is Fit.RED
    cpu = plan(GGUF, Engine.LLAMA_CPP, laptop)
    assert cpu.fit is Fit.YELLOW and cpu.gpus == 0 and "CPU" in " ".join(cpu.reasons)
    mac = plan(GGUF, Engine.LLAMA_CPP, machine([], os="macos", ram_gib=32, apple=True))
    assert mac.fit is Fit.GREEN and "Apple silicon" in mac.reasons[0]


def test_an_engine_the_model_does_not_support_and_a_full_disk() -> None:
    wrong = plan(GGUF, Engine.VLLM, machine(H100))
    assert wrong.fit is Fit.RED and "llama.cpp" in wrong.reasons[0]
    full = plan(FLASH, Engine.VLLM, machine(H100, disk_gib=5))
    assert full.fit is Fit.RED and "disk" in full.reasons[0]
    assert plan(FLASH, Engine.VLLM, machine(H100, disk_gib=5), downloaded=True).fit is Fit.GREEN


def test_plan_all_covers_every_model_and_engine() -> None:
    plans = plan_all(CATALOG, machine(H100))
    assert {(p.model.id, p.engine) for p in plans} == {(m.id, e) for m in CATALOG for e in m.engines}
    by_model: dict[str, list[Fit]] = {}
    for p in plans:
        by_model.setdefault(p.model.id, []).append(p.fit)
    order = [Fit.GREEN, Fit.YELLOW, Fit.RED]
    for fits in by_model.values():
        assert [order.index(f) for f in fits] == sorted(order.index(f) for f in fits)


def test_every_model_gets_a_verdict_on_a_bare_machine() -> None:
    for model in CATALOG:
        model_plan: ModelSpec = model
        for engine in model_plan.engines:
            result = plan(model_plan, engine, machine([], ram_gib=8, disk_gib=50))
            assert result.reasons, (model.id, engine)
