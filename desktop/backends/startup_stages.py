"""A local server's start-up as a few stages for a progress display, read from the lines of its log.

Each engine logs its own milestones; the rules below are those lines, each with the engine's source
file it comes from (and the release whose logs it was checked against). A line that ends one stage
marks the start of the next: vLLM's "Model loading took …" means the weights are in and the memory
profiling run begins. Matching is on substrings, case-sensitive, as the engines print them.

The stages only move forward. vLLM compiles the model (torch.compile) inside its memory-profiling run
and only then logs the KV cache size, so a start-up can pass from PROFILING to WARMING_UP and back
to PROFILING lines: the tracker stays at WARMING_UP, which is what the slow part is doing. SGLang
starts its HTTP server before its warm-up request, so for SGLang uvicorn's lines mean WARMING_UP and
only "The server is fired up and ready to roll!" means READY. llama.cpp's server listens for HTTP
before it loads the model ("main: HTTP server is listening, …"); that line is not READY either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from desktop.backends.catalog import Engine
from desktop.i18n import _


class StartupStage(StrEnum):
    """How far a local server has come in starting up, in order."""

    STARTING = "starting"  # the program is starting: imports, configuration, worker processes
    LOADING_WEIGHTS = "loading_weights"  # reading the weights into GPU (or main) memory
    PROFILING = "profiling"  # measuring memory and sizing the KV cache (vLLM's profile run, SGLang's pool)
    WARMING_UP = "warming_up"  # torch.compile, CUDA graph capture, a first request
    READY = "ready"  # answering requests

    @property
    def label(self) -> str:
        """The stage in words, for the progress display."""
        return {StartupStage.STARTING: _("Starting the program"),
                StartupStage.LOADING_WEIGHTS: _("Loading the weights"),
                StartupStage.PROFILING: _("Measuring memory and sizing the KV cache"),
                StartupStage.WARMING_UP: _("Compiling and warming up"),
                StartupStage.READY: _("Ready")}[self]


_ORDER = {stage: index for index, stage in enumerate(StartupStage)}

_Rules = tuple[tuple[StartupStage, re.Pattern[str]], ...]


def _text(*fragments: str) -> re.Pattern[str]:
    """A pattern matching any of the literal `fragments`."""
    return re.compile("|".join(re.escape(f) for f in fragments))


# uvicorn/lifespan/on.py ("Application startup complete.") and uvicorn/config.py ("Uvicorn running on …"),
# uvicorn 0.3x: the OpenAI servers of vLLM, SGLang and transformers serve all run on uvicorn.
_UVICORN_UP = _text("Application startup complete.", "Uvicorn running on ")

_VLLM: _Rules = (
    # vllm-project/vllm vllm/v1/worker/gpu_model_runner.py (V1; vllm/worker/model_runner.py in V0):
    # "Starting to load model ./GLM-4.1V-9B-Thinking..." (0.6 to 0.22).
    (StartupStage.LOADING_WEIGHTS, _text("Starting to load model")),
    # vllm/model_executor/model_loader/default_loader.py: "Loading weights took 8.21 seconds", and the
    # shards' progress bar from vllm/model_executor/model_loader/weight_utils.py.
    (StartupStage.LOADING_WEIGHTS, _text("Loading weights took", "Loading safetensors checkpoint shards")),
    # vllm/v1/worker/gpu_model_runner.py: "Model loading took 19.2468 GiB and 9.83 seconds" (0.11) /
    # "… GiB memory and …" (0.22); V0 vllm/worker/model_runner.py: "Loading model weights took 14.2978 GB".
    # Both end the loading; the memory profile run starts right after.
    (StartupStage.PROFILING, _text("Model loading took", "Loading model weights took")),
    # vllm/v1/worker/gpu_model_runner.py: "Encoder cache will be initialized with a budget of …" (the
    # multimodal part of the profile run, 0.10+); vllm/v1/worker/gpu_worker.py (0.8 to 0.10) and V0
    # vllm/worker/worker.py: "Memory profiling takes 11.85 seconds"; vllm/v1/worker/gpu_worker.py:
    # "Available KV cache memory: 16.23 GiB"; vllm/v1/core/kv_cache_utils.py: "GPU KV cache size: 425,424
    # tokens"; V0 vllm/executor/executor_base.py: "# GPU blocks: 58059, # CPU blocks: 21845" (later
    # "# cuda blocks: …" / "# CUDA blocks: …").
    (StartupStage.PROFILING, _text("Encoder cache will be initialized", "Memory profiling takes",
                                   "Available KV cache memory", "GPU KV cache size:")),
    (StartupStage.PROFILING, re.compile(r"# (?:GPU|cuda|CUDA) blocks: \d")),
    # vllm/compilation/backends.py: "Using cache directory: … for vLLM's torch.compile", "Dynamo bytecode
    # transform time: 6.07 s", "Compiling a graph for dynamic shape takes 13.62 s" (0.11) / "… for compile
    # range (1, 2048) takes …" (0.22), "Directly load the compiled graph(s) for dynamic shape from the
    # cache, took 2.717 s"; vllm/compilation/monitor.py: "torch.compile takes 7.14 s in total" (0.11) /
    # "torch.compile took 25.93 s in total" (0.22).
    (StartupStage.WARMING_UP, _text("for vLLM's torch.compile", "Dynamo bytecode transform time",
                                    "Compiling a graph for", "Directly load the compiled graph",
                                    "torch.compile takes", "torch.compile took")),
    # vllm/v1/worker/gpu_model_runner.py: the progress bars "Capturing CUDA graph shapes" (0.8 to 0.10) and
    # "Capturing CUDA graphs (mixed prefill-decode, PIECEWISE)" (0.11+), "Graph capturing finished in 7
    # secs, took 0.95 GiB"; V0 vllm/worker/model_runner.py: "Capturing cudagraphs for decoding. …" and
    # "Capturing the model for CUDA graphs. …" (0.5).
    (StartupStage.WARMING_UP, _text("Capturing CUDA graph", "Capturing cudagraphs",
                                    "Capturing the model for CUDA graphs", "Graph capturing finished")),
    # vllm/entrypoints/launcher.py serves the API with uvicorn; its "Application startup complete." is
    # the last start-up line (the socket was bound before).
    (StartupStage.READY, _UVICORN_UP),
)

_SGLANG: _Rules = (
    # sgl-project/sglang python/sglang/srt/model_executor/model_runner.py: "Load weight begin. avail
    # mem=78.62 GB" (0.4 to 0.5), then the shards' progress bars.
    (StartupStage.LOADING_WEIGHTS, _text("Load weight begin", "Loading safetensors checkpoint shards",
                                         "Multi-thread loading shards")),
    # python/sglang/srt/model_executor/model_runner.py: "Load weight end. type=Qwen3ForCausalLM, …" and
    # "Memory pool end. avail mem=…"; python/sglang/srt/mem_cache/memory_pool.py: "KV Cache is allocated.
    # #tokens: 15387, K size: 0.82 GB, V size: 0.82 GB".
    (StartupStage.PROFILING, _text("Load weight end", "KV Cache is allocated", "Memory pool end")),
    # python/sglang/srt/model_executor/model_runner.py: "Capture cuda graph begin. This can take up to
    # several minutes. …" and (0.5, piecewise graphs) "Capture piecewise CUDA graph begin. avail mem=…".
    (StartupStage.WARMING_UP, _text("Capture cuda graph begin", "Capture piecewise CUDA graph begin")),
    # python/sglang/srt/entrypoints/http_server.py starts uvicorn, then sends a warm-up request.
    (StartupStage.WARMING_UP, _UVICORN_UP),
    # python/sglang/srt/entrypoints/http_server.py, after the warm-up request succeeded.
    (StartupStage.READY, _text("The server is fired up and ready to roll!")),
)

_LLAMA_CPP: _Rules = (
    # ggml-org/llama.cpp tools/server/server.cpp (examples/server/ before mid-2025): "main: loading model",
    # "srv    load_model: loading model '….gguf'"; src/llama.cpp: "llama_model_load_from_file_impl: using
    # device CUDA0 …"; src/llama-model-loader.cpp: "llama_model_loader: loaded meta data with …";
    # src/llama-model.cpp: "load_tensors: loading model tensors, this can take a while... (mmap = true)"
    # ("llm_load_tensors: …" in older builds).
    (StartupStage.LOADING_WEIGHTS, _text("loading model", "llama_model_load", "load_tensors")),
    # src/llama-context.cpp: "llama_context: constructing llama_context" ("llama_init_from_model: …" in
    # b4840, "llama_new_context_with_model: …" before); src/llama-kv-cache.cpp: "llama_kv_cache: size =
    # 7000.00 MiB …" ("llama_kv_cache_unified: …", "llama_kv_cache_init: …" in older builds).
    (StartupStage.PROFILING, _text("llama_context:", "llama_init_from_model:", "llama_new_context_with_model:",
                                   "llama_kv_cache")),
    # common/common.cpp: "common_init_from_params: warming up the model with an empty run - please wait
    # ... (--no-warmup to disable)" ("common_init_: …" in recent builds). The vision projector (mmproj)
    # loads after this.
    (StartupStage.WARMING_UP, _text("warming up the model")),
    # tools/server/server.cpp main(): "main: model loaded" once the server state is READY, then "main:
    # server is listening on http://127.0.0.1:8080 - starting the main loop". Not "main: HTTP server is
    # listening, hostname: …", which it prints before loading the model.
    (StartupStage.READY, _text("main: model loaded", "server is listening on ")),
)

_TRANSFORMERS: _Rules = (
    # huggingface/transformers src/transformers/cli/serving/model_manager.py (5.x) preloads the pinned
    # model before the server starts: "[transformers] Loading /models/GLM-4.6V-Flash", then the progress
    # bar "Loading weights: 100%|…" of src/transformers/core_model_loading.py ("Loading checkpoint
    # shards" in 4.x).
    (StartupStage.LOADING_WEIGHTS, _text("Loading ")),
    # src/transformers/cli/serve.py runs uvicorn once the model is loaded; there is no profiling or warm-up.
    (StartupStage.READY, _UVICORN_UP),
)

_RULES: dict[Engine, _Rules] = {Engine.VLLM: _VLLM, Engine.SGLANG: _SGLANG, Engine.LLAMA_CPP: _LLAMA_CPP,
                                Engine.TRANSFORMERS: _TRANSFORMERS}


def stage_of_line(line: str, engine: Engine) -> StartupStage | None:
    """The stage `engine`'s log `line` shows the server has reached, or None for an ordinary line.

    When a line matches several stages (it should not), the furthest one counts.
    """
    found: StartupStage | None = None
    for stage, pattern in _RULES[engine]:
        if pattern.search(line) and (found is None or _ORDER[stage] > _ORDER[found]):
            found = stage
    return found


class StartupTracker:
    """Follows one server's start-up through its log: the stage only moves forward, from STARTING."""

    def __init__(self, engine: Engine) -> None:
        """Track a server of `engine` that has just been started."""
        self.engine = engine
        self._stage = StartupStage.STARTING

    @property
    def stage(self) -> StartupStage:
        """The furthest stage the log has shown so far."""
        return self._stage

    def feed(self, lines: Iterable[str]) -> StartupStage | None:
        """Read more of the log; the new stage if it moved forward, else None.

        `lines` may be lines or chunks of text (a `str` is read as text): each is split at line
        breaks, carriage returns included, as progress bars write them.
        """
        before = self._stage
        chunks = [lines] if isinstance(lines, str) else lines
        for chunk in chunks:
            for line in chunk.splitlines():
                stage = stage_of_line(line, self.engine)
                if stage is not None:
                    self.advance_to(stage)
        return self._stage if self._stage is not before else None

    def advance_to(self, stage: StartupStage) -> bool:
        """Move to `stage` if it is further than the current one (say, READY once the server answers).

        Returns whether the stage moved.
        """
        if _ORDER[stage] <= _ORDER[self._stage]:
            return False
        self._stage = stage
        return True
