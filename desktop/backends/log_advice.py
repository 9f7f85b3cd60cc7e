"""What went wrong with a local server that failed, read from its log, in words, with what to do.

The patterns are the engines' own error lines (vLLM, SGLang, llama.cpp, transformers, PyTorch,
huggingface_hub), as users have reported them; the tests quote real logs with their threads. When a
log holds several problems the last one wins: earlier ones are often warnings the engine survived,
the last is the one it died of.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from desktop.backends.catalog import Engine
from desktop.i18n import _


class AdviceKind(StrEnum):
    """The kinds of failure the app can explain."""

    OUT_OF_MEMORY = "out_of_memory"
    KV_CACHE_TOO_SMALL = "kv_cache_too_small"
    UNSUPPORTED_MODEL = "unsupported_model"
    CUDA_MISMATCH = "cuda_mismatch"
    FP8_UNSUPPORTED = "fp8_unsupported"
    PORT_IN_USE = "port_in_use"
    MISSING_WEIGHTS = "missing_weights"
    DISK_FULL = "disk_full"
    AUTH_REQUIRED = "auth_required"


@dataclass(frozen=True)
class Advice:
    """One explained failure: what happened (`message`) and what to do about it (`hint`)."""

    kind: AdviceKind
    message: str
    hint: str


_Explain = Callable[[re.Match[str], Engine | None], tuple[str, str]]


@dataclass(frozen=True)
class _Rule:
    kind: AdviceKind
    patterns: tuple[re.Pattern[str], ...]
    explain: _Explain


def _engine_name(engine: Engine | None) -> str:
    return engine.label if engine is not None else _("the server")


def _out_of_memory(match: re.Match[str], engine: Engine | None) -> tuple[str, str]:
    return (_("The GPU ran out of memory while {engine} was loading the model.").format(engine=_engine_name(engine)),
            _("Choose a shorter context or a smaller model (GLM-4.6V-Flash, or its GGUF on llama.cpp), and close "
              "other programs that use the GPU."))


def _kv_cache(match: re.Match[str], engine: Engine | None) -> tuple[str, str]:
    message = _("The model loaded, but too little GPU memory is left for the context it was asked to hold (the "
                "KV cache).")
    estimate = re.search(r"estimated maximum model length is (\d+)", match.string[match.start():])
    if estimate:
        return message, _("Choose a context of at most {tokens:,} tokens, or a smaller model.").format(
            tokens=int(estimate.group(1)))
    return message, _("Choose a shorter context, or a smaller model.")


def _unsupported(match: re.Match[str], engine: Engine | None) -> tuple[str, str]:
    name = match.groupdict().get("arch") or ""
    what = name.strip("[]'\" ") or _("this model")
    message = _("{engine} does not know the architecture of {model}: it is too old for this model.").format(
        engine=_engine_name(engine), model=what)
    if engine is Engine.TRANSFORMERS:
        hint = _("Upgrade transformers (5.2 or newer for GLM-4.6V) in the server's environment.")
    elif engine is Engine.SGLANG:
        hint = _("Upgrade SGLang to a release that lists GLM-4.5V/4.6V among its supported models.")
    elif engine is Engine.LLAMA_CPP:
        hint = _("Upgrade llama.cpp to a recent build; GLM-4.6V-Flash needs one with GLM-V vision support.")
    else:
        hint = _("Upgrade the engine: GLM-4.6V needs vLLM 0.12 or newer with transformers 5.2 or newer.")
    return message, hint


def _driver(match: re.Match[str], engine: Engine | None) -> tuple[str, str]:
    if "kernel image" in match.group(0):
        return (_("{engine} was not built for this GPU: no CUDA code for its architecture.").format(
                    engine=_engine_name(engine)),
                _("Reinstall the engine with a build for this GPU (new GPUs such as the RTX 50 series need CUDA "
                  "12.8 builds), or update the NVIDIA driver and the engine together."))
    return (_("The NVIDIA driver is older than the CUDA version {engine} was built for.").format(
                engine=_engine_name(engine)),
            _("Update the NVIDIA driver (a recent one from nvidia.com or your distribution), then start the server "
              "again."))


def _fp8(match: re.Match[str], engine: Engine | None) -> tuple[str, str]:
    return (_("This GPU cannot run FP8 weights."),
            _("Choose the BF16 version of the model, or a GPU with compute capability 8.9 or newer (Ada, Hopper, "
              "Blackwell)."))


def _port(match: re.Match[str], engine: Engine | None) -> tuple[str, str]:
    return (_("The port {engine} was to listen on is taken by another program.").format(engine=_engine_name(engine)),
            _("Choose another port in the server settings, or stop the other server (perhaps an earlier one that "
              "is still running)."))


def _missing(match: re.Match[str], engine: Engine | None) -> tuple[str, str]:
    return (_("Some of the model's files are missing, so {engine} could not load it.").format(
                engine=_engine_name(engine)),
            _("Download the model again; if you moved the models folder, point the settings at its new place."))


def _disk(match: re.Match[str], engine: Engine | None) -> tuple[str, str]:
    return (_("The disk is full."),
            _("Free some space, or choose a models folder on a disk with more room, then try again."))


def _auth(match: re.Match[str], engine: Engine | None) -> tuple[str, str]:
    return (_("The model hub refused the download: it needs you to log in or to accept the model's licence."),
            _("Log in to Hugging Face with an access token and accept the model's terms on its page, or download "
              "it from ModelScope instead."))


def _p(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


# Order matters only when two rules match at the same place: the first listed wins.
_RULES: tuple[_Rule, ...] = (
    _Rule(AdviceKind.KV_CACHE_TOO_SMALL, _p(
        r"max seq len \(\d+\) is larger than the maximum number of tokens that can be stored in KV cache",
        r"KV cache is needed, which is larger than the available KV cache memory",
        r"No available memory for the cache blocks",
        r"Not enough memory\. Please try to increase --mem-fraction-static",
    ), _kv_cache),
    _Rule(AdviceKind.OUT_OF_MEMORY, _p(
        r"OutOfMemoryError: CUDA out of memory",
        r"CUDA error: out of memory",
        r"cudaMalloc failed: out of memory",
    ), _out_of_memory),
    _Rule(AdviceKind.FP8_UNSUPPORTED, _p(
        r"quantization method fp8 is not supported for the current GPU",
        r"fp8e4nv not supported in this architecture",
        r"_scaled_mm is only supported on CUDA devices with compute capability",
    ), _fp8),
    _Rule(AdviceKind.UNSUPPORTED_MODEL, _p(
        r"Model architectures (?P<arch>\[[^\]]*\]) are not supported for now",
        r"(?P<arch>\S+) is not supported for now",
        r"model type `(?P<arch>[\w.-]+)` but Transformers does not recognize this architecture",
        r"does not recognize this architecture",
        r"KeyError: (?P<arch>'glm4v[\w]*')",
    ), _unsupported),
    _Rule(AdviceKind.CUDA_MISMATCH, _p(
        r"The NVIDIA driver on your system is too old",
        r"CUDA driver version is insufficient for CUDA runtime version",
        r"no kernel image is available for execution on the device",
    ), _driver),
    _Rule(AdviceKind.PORT_IN_USE, _p(
        r"\[Errno (?:98|48|10048)\][^\n]*address already in use",
        r"error while attempting to bind on address",
        r"couldn't bind HTTP server socket",
    ), _port),
    _Rule(AdviceKind.DISK_FULL, _p(r"No space left on device"), _disk),
    _Rule(AdviceKind.AUTH_REQUIRED, _p(
        r"GatedRepoError",
        r"Cannot access gated repo",
        r"\b401 Client Error",
    ), _auth),
    _Rule(AdviceKind.MISSING_WEIGHTS, _p(
        r"No such file or directory[^\n]*(?:config\.json|\.safetensors|\.gguf|tokenizer|preprocessor_config)",
        r"(?:config\.json|\.safetensors|\.gguf)[^\n]*No such file or directory",
        r"does not appear to have a file named",
        r"Repository Not Found",
        r"LocalEntryNotFoundError",
    ), _missing),
)


def classify(log_text: str, engine: Engine | None = None) -> Advice | None:
    """The advice for the last known problem in a failed server's log, or None when none is recognised."""
    best: tuple[int, int, _Rule, re.Match[str]] | None = None
    for priority, rule in enumerate(_RULES):
        for pattern in rule.patterns:
            for match in pattern.finditer(log_text):
                key = (match.start(), -priority)
                if best is None or key > best[:2]:
                    best = (match.start(), -priority, rule, match)
    if best is None:
        return None
    rule, match = best[2], best[3]
    message, hint = rule.explain(match, engine)
    return Advice(rule.kind, message, hint)
