"""The GLM-V models a user can run locally, as data: where to download them, how big they are,
what hardware and which engines they need, and the engine flags their recipes recommend.

Sizes are the published weight sizes (DESIGN.md, "Local servers (facts)"); the KV cache per token
follows from each architecture: 2 (K and V) × layers × KV heads × head size × 2 bytes (bf16/f16).
GLM-4.1V-9B and GLM-4.6V-Flash: 40 layers, 2 KV heads of 128 → 40 KiB per token. GLM-4.5V and
GLM-4.6V (MoE): 46 layers, 8 KV heads of 128 → 184 KiB per token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from desktop.i18n import _

GB = 1_000_000_000
KIB = 1024


def format_bytes(n: int) -> str:
    """A size as the app shows every size (downloads, disks, RAM, GPU memory): in decimal units, as disks
    and model hubs count them, so a model's size here matches its hub page and a disk's free space its
    file manager. nvidia-smi's MiB are converted, so an "80GB" GPU reads 85.5 GB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


class Engine(StrEnum):
    """A server program that serves GLM-V over an OpenAI-compatible API."""

    VLLM = "vllm"
    SGLANG = "sglang"
    LLAMA_CPP = "llama.cpp"
    TRANSFORMERS = "transformers"

    @property
    def label(self) -> str:
        """The engine's name as users know it."""
        return {Engine.VLLM: "vLLM", Engine.SGLANG: "SGLang", Engine.LLAMA_CPP: "llama.cpp",
                Engine.TRANSFORMERS: "transformers serve"}[self]


class Precision(StrEnum):
    """How the weights are stored."""

    BF16 = "bf16"
    FP8 = "fp8"
    Q4_K_M = "q4_k_m"


# Flags from the GLM-V recipes for vLLM and SGLang (DESIGN.md); context and parallelism are added
# by the planner, host, port and key by the launcher.
VLLM_FLAGS = ("--reasoning-parser", "glm45", "--tool-call-parser", "glm45", "--enable-auto-tool-choice",
              "--mm-encoder-tp-mode", "data", "--mm-processor-cache-type", "shm")
SGLANG_FLAGS = ("--reasoning-parser", "glm45", "--tool-call-parser", "glm45")


@dataclass(frozen=True)
class ModelSpec:
    """One downloadable GLM-V model."""

    id: str
    name: str
    hf_repo: str
    modelscope_repo: str | None
    precision: Precision
    weights_bytes: int  # in GPU (or, for llama.cpp on CPU, main) memory
    download_bytes: int  # on disk
    context_max: int  # tokens the model was trained for
    kv_bytes_per_token: int
    min_compute: tuple[int, int]  # NVIDIA compute capability the precision needs
    engines: tuple[Engine, ...]
    note: str = ""
    files: tuple[str, ...] = field(default=())  # for GGUF repositories: the files to fetch (patterns)

    @property
    def is_gguf(self) -> bool:
        """True for llama.cpp's single-file format."""
        return self.precision is Precision.Q4_K_M


_NINE_B_KV = 2 * 40 * 2 * 128 * 2  # 40 KiB
_MOE_KV = 2 * 46 * 8 * 128 * 2  # 184 KiB
_NINE_B_ENGINES = (Engine.VLLM, Engine.SGLANG, Engine.TRANSFORMERS)
_MOE_ENGINES = (Engine.VLLM, Engine.SGLANG)

CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec("glm-4.6v-flash", "GLM-4.6V-Flash", "zai-org/GLM-4.6V-Flash", "ZhipuAI/GLM-4.6V-Flash",
              Precision.BF16, 20 * GB, 20 * GB, 131072, _NINE_B_KV, (8, 0), _NINE_B_ENGINES,
              _("9B, fast; the one to start with on a single 24–48 GB GPU.")),
    ModelSpec("glm-4.1v-9b-thinking", "GLM-4.1V-9B-Thinking", "zai-org/GLM-4.1V-9B-Thinking",
              "ZhipuAI/GLM-4.1V-9B-Thinking", Precision.BF16, 20 * GB, 20 * GB, 65536, _NINE_B_KV, (8, 0),
              _NINE_B_ENGINES, _("9B, always reasons before answering.")),
    ModelSpec("glm-4.5v-fp8", "GLM-4.5V (FP8)", "zai-org/GLM-4.5V-FP8", "ZhipuAI/GLM-4.5V-FP8",
              Precision.FP8, 110 * GB, 110 * GB, 65536, _MOE_KV, (8, 9), _MOE_ENGINES,
              _("106B mixture of experts in FP8: 2 × 80 GB at least (Ada/Hopper or newer).")),
    ModelSpec("glm-4.5v", "GLM-4.5V", "zai-org/GLM-4.5V", "ZhipuAI/GLM-4.5V",
              Precision.BF16, 216 * GB, 216 * GB, 65536, _MOE_KV, (8, 0), _MOE_ENGINES,
              _("106B mixture of experts in BF16: 4 × 80 GB at least.")),
    ModelSpec("glm-4.6v-fp8", "GLM-4.6V (FP8)", "zai-org/GLM-4.6V-FP8", "ZhipuAI/GLM-4.6V-FP8",
              Precision.FP8, 110 * GB, 110 * GB, 131072, _MOE_KV, (8, 9), _MOE_ENGINES,
              _("106B mixture of experts in FP8: one 141 GB GPU, or 2 × 80 GB (Ada/Hopper or newer).")),
    ModelSpec("glm-4.6v", "GLM-4.6V", "zai-org/GLM-4.6V", "ZhipuAI/GLM-4.6V",
              Precision.BF16, 216 * GB, 216 * GB, 131072, _MOE_KV, (8, 0), _MOE_ENGINES,
              _("106B mixture of experts in BF16: 4 × 80 GB at least.")),
    ModelSpec("glm-4.6v-flash-gguf", "GLM-4.6V-Flash (GGUF Q4_K_M)", "ggml-org/GLM-4.6V-Flash-GGUF", None,
              Precision.Q4_K_M, 7_200_000_000, 7_200_000_000, 131072, _NINE_B_KV, (0, 0), (Engine.LLAMA_CPP,),
              _("4-bit for llama.cpp: Macs, CPU-only machines and small GPUs (6.2 GB + 1 GB vision projector)."),
              files=("*Q4_K_M.gguf", "mmproj*.gguf")),
)

BY_ID: dict[str, ModelSpec] = {m.id: m for m in CATALOG}
