"""Will this model run on this machine with this engine, and how? The fit planner.

It adds up what the GPUs must hold — the weights (split over tensor-parallel GPUs), a fixed
overhead per GPU for activations, CUDA graphs and the vision encoder, and the KV cache — against
what the engine may use of each GPU, and answers green / yellow / red with the reasons in words,
the number of GPUs, the largest context that fits, and the flags to launch with.

The arithmetic is deliberately simple and a little pessimistic: vLLM refuses to start when the
KV cache cannot hold one sequence of `--max-model-len`, so the planner proposes a length that fits
with room to spare rather than the model's maximum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from desktop.backends.catalog import SGLANG_FLAGS, VLLM_FLAGS, Engine, ModelSpec, Precision, format_bytes
from desktop.backends.hardware import GpuInfo, HardwareReport
from desktop.i18n import _

MIB = 1024 * 1024
GIB = 1024 * MIB
GPU_MEMORY_UTILIZATION = 0.90  # vLLM's default share of each GPU's memory
PER_GPU_OVERHEAD = 2 * GIB  # activations, CUDA graphs, the vision encoder's workspace, NCCL buffers
MIN_CONTEXT = 8192  # below this a screenshot plus a question and an answer do not fit
COMFORTABLE_CONTEXT = 32768
CPU_RAM_RESERVE = 2 * GIB  # left to the desktop and the app itself


class Fit(StrEnum):
    """The planner's verdict."""

    GREEN = "green"  # runs with a comfortable context
    YELLOW = "yellow"  # runs, with a shorter context, slowly, or with a workaround
    RED = "red"  # cannot run here as asked


@dataclass
class Plan:
    """The verdict for one model, engine and machine."""

    model: ModelSpec
    engine: Engine
    fit: Fit
    reasons: list[str] = field(default_factory=list)
    gpus: int = 0  # tensor-parallel size (0: runs on the CPU)
    max_context: int = 0  # the largest context that fits (tokens)
    context: int = 0  # the context to launch with
    flags: list[str] = field(default_factory=list)
    alternatives: list[str] = field(default_factory=list)  # what would run instead, in words

    def summary(self) -> str:
        """One line for lists: the verdict and the first reason."""
        first = self.reasons[0] if self.reasons else ""
        return f"{self.fit.value}: {first}"


def plan(model: ModelSpec, engine: Engine, hardware: HardwareReport, *, downloaded: bool = False) -> Plan:
    """Plan running `model` with `engine` on `hardware`."""
    result = Plan(model, engine, Fit.GREEN)
    if engine not in model.engines:
        result.fit = Fit.RED
        runs_with = ", ".join(e.label for e in model.engines)
        result.reasons.append(_("{model} does not run on {engine}; it runs on {engines}.").format(
            model=model.name, engine=engine.label, engines=runs_with))
        return result
    if engine in (Engine.VLLM, Engine.SGLANG):
        _plan_gpu_server(result, hardware)
    elif engine is Engine.LLAMA_CPP:
        _plan_llama_cpp(result, hardware)
    else:
        _plan_transformers(result, hardware)
    if not downloaded and hardware.disk_free_mib * MIB < model.download_bytes:
        disk = _("It needs {need} of free disk where models are kept; {free} are free. Free some "
                 "space or choose another folder in the settings.").format(
            need=format_bytes(model.download_bytes), free=format_bytes(hardware.disk_free_mib * MIB))
        # The first reason is the one to act on: the disk only when nothing else stands in the way.
        if result.fit is Fit.RED:
            result.reasons.append(disk)
        else:
            result.reasons.insert(0, disk)
        result.fit = Fit.RED
    return result


def plan_all(models: tuple[ModelSpec, ...], hardware: HardwareReport) -> list[Plan]:
    """Every model with each engine it supports, best verdict first within each model."""
    order = {Fit.GREEN: 0, Fit.YELLOW: 1, Fit.RED: 2}
    plans = []
    for model in models:
        plans += sorted((plan(model, engine, hardware) for engine in model.engines), key=lambda p: order[p.fit])
    return plans


def kv_tokens(bytes_free: int, model: ModelSpec) -> int:
    """How many tokens of KV cache fit in `bytes_free`."""
    return max(0, bytes_free // model.kv_bytes_per_token)


def _round_context(tokens: int, model: ModelSpec) -> int:
    """A launch context: the model's maximum, or what fits rounded down to a multiple of 1024."""
    return min(model.context_max, tokens // 1024 * 1024)


def _usable(gpu: GpuInfo) -> int:
    """What an engine may take of one GPU: its share of the total, or what is free if less."""
    total = int(gpu.memory_total_mib * MIB * GPU_MEMORY_UTILIZATION)
    free = gpu.memory_free_mib * MIB
    return min(total, free) if free > 0 else total


def _plan_gpu_server(result: Plan, hw: HardwareReport) -> None:
    model, engine = result.model, result.engine
    if hw.os not in ("linux", "wsl2"):
        result.fit = Fit.RED
        if hw.os == "windows":
            result.reasons.append(_("{engine} runs on Linux only. On Windows, install it inside WSL2 (Ubuntu) and "
                                    "run the app there, or use llama.cpp with the GGUF model.").format(
                engine=engine.label))
        else:
            result.reasons.append(_("{engine} needs Linux with an NVIDIA GPU. On this machine use llama.cpp with "
                                    "the GGUF model (Metal on Apple silicon).").format(engine=engine.label))
        result.alternatives.append(_("GLM-4.6V-Flash (GGUF) on llama.cpp"))
        return
    gpus = [g for g in hw.gpus if g.memory_total_mib > 0]
    if not gpus:
        result.fit = Fit.RED
        result.reasons.append(_("No NVIDIA GPU was found, and {engine} needs one. Use llama.cpp with the GGUF model "
                                "(CPU), or point the app at a server elsewhere.").format(engine=engine.label))
        result.alternatives.append(_("GLM-4.6V-Flash (GGUF) on llama.cpp"))
        return
    capability = min((g.compute_capability for g in gpus if g.compute_capability), default=None)
    flags = list(VLLM_FLAGS if engine is Engine.VLLM else SGLANG_FLAGS)
    if capability is not None:
        if capability < (7, 0):
            result.fit = Fit.RED
            result.reasons.append(_("The GPU's compute capability is {cc}; {engine} needs 7.0 or newer.").format(
                cc=f"{capability[0]}.{capability[1]}", engine=engine.label))
            return
        if model.precision is Precision.FP8 and capability < model.min_compute:
            result.fit = Fit.RED
            result.reasons.append(_("FP8 weights need compute capability 8.9 or newer (Ada, Hopper, Blackwell); this "
                                    "GPU has {cc}. Use the BF16 model instead.").format(
                cc=f"{capability[0]}.{capability[1]}"))
            result.alternatives.append(model.name.replace(" (FP8)", ""))
            return
        if model.precision is Precision.BF16 and capability < model.min_compute:
            result.fit = Fit.YELLOW
            result.reasons.append(_("This GPU ({cc}) has no bfloat16: the model runs in float16, which can "
                                    "overflow on some inputs.").format(cc=f"{capability[0]}.{capability[1]}"))
            flags += ["--dtype", "half"]
    # Tensor parallelism over identical GPUs: 1, 2, 4 or 8; the smallest that leaves a usable context.
    per_gpu = min(_usable(g) for g in gpus)
    best_size, best_tokens = 0, 0
    for size in (1, 2, 4, 8):
        if size > len(gpus):
            break
        left = size * (per_gpu - PER_GPU_OVERHEAD) - model.weights_bytes
        tokens = kv_tokens(left, model)
        if tokens > best_tokens:
            best_size, best_tokens = size, tokens
        if tokens >= min(model.context_max, COMFORTABLE_CONTEXT):
            break
    if best_tokens < MIN_CONTEXT:
        result.fit = Fit.RED
        need = model.weights_bytes + PER_GPU_OVERHEAD + MIN_CONTEXT * model.kv_bytes_per_token
        have = len(gpus) * per_gpu
        result.reasons.append(_("{model} needs about {need} of GPU memory with a short context; the "
                                "{n} GPU(s) here offer {have} to {engine}.").format(
            model=model.name, need=format_bytes(need), n=len(gpus), have=format_bytes(have), engine=engine.label))
        if model.precision is not Precision.Q4_K_M:
            result.alternatives.append(_("a smaller model (GLM-4.6V-Flash), or its GGUF on llama.cpp"))
        return
    result.gpus = best_size
    result.max_context = min(model.context_max, best_tokens)
    result.context = _round_context(int(best_tokens * 0.9), model)
    comfortable = min(model.context_max, COMFORTABLE_CONTEXT)
    if result.context < comfortable and result.fit is Fit.GREEN:
        result.fit = Fit.YELLOW
    if result.context < model.context_max:
        result.reasons.append(_("Fits with a context of {context:,} tokens (the model allows {max:,}): the KV "
                                "cache has room for about {tokens:,}.").format(
            context=result.context, max=model.context_max, tokens=best_tokens))
    else:
        result.reasons.append(_("Fits with the model's full context of {context:,} tokens.").format(
            context=result.context))
    if best_size > 1:
        result.reasons.append(_("Uses {n} GPUs with tensor parallelism.").format(n=best_size))
    context_flag = "--max-model-len" if engine is Engine.VLLM else "--context-length"
    flags += [context_flag, str(result.context)]
    if best_size > 1:
        flags += ["--tensor-parallel-size" if engine is Engine.VLLM else "--tp", str(best_size)]
    if engine is Engine.VLLM:
        flags += ["--gpu-memory-utilization", f"{GPU_MEMORY_UTILIZATION:.2f}"]
    result.flags = flags


def _plan_llama_cpp(result: Plan, hw: HardwareReport) -> None:
    model = result.model
    gpu = max(hw.gpus, key=lambda g: g.memory_total_mib, default=None)
    short_context = MIN_CONTEXT * model.kv_bytes_per_token
    if gpu is not None and _usable(gpu) - PER_GPU_OVERHEAD >= model.weights_bytes + short_context:
        left = _usable(gpu) - PER_GPU_OVERHEAD - model.weights_bytes
        result.gpus = 1
        result.flags = ["-ngl", "99"]
        where = _("on the GPU ({name})").format(name=gpu.name)
    else:
        left = hw.ram_available_mib * MIB - CPU_RAM_RESERVE - model.weights_bytes
        where = _("in main memory (Metal on Apple silicon)") if hw.apple_silicon else _("on the CPU")
        if not hw.apple_silicon:
            result.fit = Fit.YELLOW
            result.reasons.append(_("Runs on the CPU: expect a few tokens a second."))
    tokens = kv_tokens(left, model)
    if tokens < MIN_CONTEXT:
        result.fit = Fit.RED
        result.reasons.insert(0, _("{model} needs about {need} of free memory; {have} are available.").format(
            model=model.name,
            need=format_bytes(model.weights_bytes + CPU_RAM_RESERVE + MIN_CONTEXT * model.kv_bytes_per_token),
            have=format_bytes(hw.ram_available_mib * MIB)))
        return
    result.max_context = min(model.context_max, tokens)
    result.context = _round_context(int(tokens * 0.9), model)
    if result.context < min(model.context_max, COMFORTABLE_CONTEXT) and result.fit is Fit.GREEN:
        result.fit = Fit.YELLOW
    result.reasons.insert(0, _("Runs {where} with a context of {context:,} tokens.").format(
        where=where, context=result.context))
    result.flags = [*result.flags, "-c", str(result.context)]


def _plan_transformers(result: Plan, hw: HardwareReport) -> None:
    model = result.model
    gpu = max(hw.gpus, key=lambda g: g.memory_total_mib, default=None)
    result.fit = Fit.YELLOW
    short_context = MIN_CONTEXT * model.kv_bytes_per_token
    if gpu is not None and _usable(gpu) - PER_GPU_OVERHEAD - model.weights_bytes >= short_context:
        result.gpus = 1
        result.reasons.append(_("Runs on the GPU ({name}), slower than vLLM: transformers serve does no batching "
                                "or paged attention.").format(name=gpu.name))
        left = _usable(gpu) - PER_GPU_OVERHEAD - model.weights_bytes
    else:
        left = hw.ram_available_mib * MIB - CPU_RAM_RESERVE - model.weights_bytes
        if left < MIN_CONTEXT * model.kv_bytes_per_token:
            result.fit = Fit.RED
            result.reasons.append(_("{model} needs about {need} of memory for transformers serve; "
                                    "{have} are available.").format(
                model=model.name, need=format_bytes(model.weights_bytes + CPU_RAM_RESERVE),
                have=format_bytes(hw.ram_available_mib * MIB)))
            return
        result.reasons.append(_("Runs on the CPU: minutes per answer. Use it only to try things out."))
    result.max_context = min(model.context_max, kv_tokens(left, model))
    result.context = _round_context(int(result.max_context * 0.9), model)
    if result.gpus == 0:
        # Pinned, so that a GPU too small for the model is not picked by transformers' "auto" device.
        result.flags = ["--device", "cpu"]
