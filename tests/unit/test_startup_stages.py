"""A server's start-up read from its log as stages: real log lines of each engine, with where they were found.

Each excerpt keeps the lines as the engine printed them, prefixes included; where one report elides
part of the start-up, the missing lines come from another report of the same engine, named beside them.
"""

from __future__ import annotations

import pytest

from desktop.backends.catalog import Engine
from desktop.backends.startup_stages import StartupStage, StartupTracker, stage_of_line

S = StartupStage

# vLLM 0.11.0 serving GLM-4.1V-9B-Thinking (zai-org/GLM-V#204), with the loading and compiling lines it
# elides from vllm-project/vllm#25340 ("Starting to load model") and #29335 (vLLM 0.11, "Model loading
# took" to "torch.compile takes"), and the last line as vLLM 0.22.1 prints uvicorn's.
VLLM_0_11 = [
    ("INFO 10-21 09:11:07 [__init__.py:216] Automatically detected platform cuda.", None),
    ("(APIServer pid=188747) INFO 10-21 09:11:10 [api_server.py:1839] vLLM API server version 0.11.0", None),
    ("(APIServer pid=188747) INFO 10-21 09:11:10 [model.py:547] Resolved architecture: Glm4vForConditionalGeneration",
     None),
    ("(APIServer pid=188747) INFO 10-21 09:11:10 [model.py:1510] Using max model len 65536", None),
    ("(EngineCore_DP0 pid=188893) INFO 10-21 09:11:18 [core.py:644] Waiting for init message from front-end.", None),
    ("(EngineCore_DP0 pid=66914) INFO 09-21 12:29:22 [gpu_model_runner.py:2530] Starting to load model "
     "unsloth/Qwen3-4B-Instruct-2507-GGUF...", S.LOADING_WEIGHTS),
    ("(EngineCore_DP0 pid=66914) INFO 09-21 12:29:22 [gpu_model_runner.py:2562] Loading model from scratch...", None),
    ("Loading safetensors checkpoint shards:  48% Completed | 22/46 [00:22<00:23,  1.03it/s]", S.LOADING_WEIGHTS),
    ("(EngineCore_DP0 pid=441) INFO 11-24 11:43:54 [gpu_model_runner.py:3341] Model loading took 2.0513 GiB memory "
     "and 27.200487 seconds", S.PROFILING),
    ("(EngineCore_DP0 pid=441) INFO 11-24 11:44:01 [backends.py:648] Using cache directory: "
     "/home/user/.cache/vllm/torch_compile_cache/fd1e589ad6/rank_0_0/backbone for vLLM's torch.compile", S.WARMING_UP),
    ("(EngineCore_DP0 pid=441) INFO 11-24 11:44:01 [backends.py:708] Dynamo bytecode transform time: 6.07 s",
     S.WARMING_UP),
    ("(EngineCore_DP0 pid=441) INFO 11-24 11:44:06 [backends.py:255] Cache the graph for dynamic shape for later use",
     None),
    ("(EngineCore_DP0 pid=441) INFO 11-24 11:44:15 [backends.py:286] Compiling a graph for dynamic shape takes "
     "13.62 s", S.WARMING_UP),
    ("(EngineCore_DP0 pid=188893) INFO 10-21 09:11:55 [backends.py:164] Directly load the compiled graph(s) for "
     "dynamic shape from the cache, took 2.717 s", S.WARMING_UP),
    ("(EngineCore_DP0 pid=188893) INFO 10-21 09:11:56 [monitor.py:34] torch.compile takes 7.14 s in total",
     S.WARMING_UP),
    ("(EngineCore_DP0 pid=188893) INFO 10-21 09:11:57 [gpu_worker.py:298] Available KV cache memory: 16.23 GiB",
     S.PROFILING),
    ("(EngineCore_DP0 pid=188893) INFO 10-21 09:11:57 [kv_cache_utils.py:1087] GPU KV cache size: 425,424 tokens",
     S.PROFILING),
    ("(EngineCore_DP0 pid=188893) INFO 10-21 09:11:57 [kv_cache_utils.py:1091] Maximum concurrency for 65,536 "
     "tokens per request: 6.49x", None),
    ("Capturing CUDA graphs (mixed prefill-decode, PIECEWISE): 100%|██████████| 67/67 [00:04<00:00, 15.18it/s]",
     S.WARMING_UP),
    ("(EngineCore_DP0 pid=188893) INFO 10-21 09:12:04 [gpu_model_runner.py:3480] Graph capturing finished in 7 secs, "
     "took 0.95 GiB", S.WARMING_UP),
    ("(EngineCore_DP0 pid=188893) INFO 10-21 09:12:04 [core.py:210] init engine (profile, create kv cache, warmup "
     "model) took 25.99 seconds", None),
    ("(APIServer pid=1) INFO 06-07 08:56:59 [api_server.py:596] Starting vLLM server on http://0.0.0.0:8020", None),
    ("(APIServer pid=1) INFO:     Started server process [1]", None),
    ("(APIServer pid=1) INFO:     Waiting for application startup.", None),
    ("(APIServer pid=1) INFO:     Application startup complete.", S.READY),
]

# vLLM's V0 engine (0.4 to 0.8): pytorch/serve#3343 (vLLM 0.6.2 under TorchServe, its own prefix first),
# instructlab/instructlab#2092 (tensor-parallel workers), and other V0 logs of those releases.
VLLM_V0 = [
    ("2024-10-07T22:54:57,365 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - INFO 10-07 22:54:57 model_runner.py:1014] "
     "Starting to load model meta-llama/Llama-3.2-3B-Instruct...", S.LOADING_WEIGHTS),
    ("Loading safetensors checkpoint shards: 100% Completed | 2/2 [00:01<00:00,  1.37it/s]", S.LOADING_WEIGHTS),
    ("INFO 12-22 10:55:34 model_runner.py:1097] Loading model weights took 8.5107 GB", S.PROFILING),
    ("INFO 12-22 10:55:34 worker.py:241] Memory profiling takes 0.69 seconds", S.PROFILING),
    ("(VllmWorkerProcess pid=532) INFO 07-23 20:49:31 worker.py:241] Memory profiling takes 129.95 seconds",
     S.PROFILING),
    ("INFO 08-01 22:09:27 gpu_executor.py:76] # GPU blocks: 58059, # CPU blocks: 21845", S.PROFILING),
    ("INFO 11-03 15:51:27 [executor_base.py:113] # cuda blocks: 3671, # CPU blocks: 2730", S.PROFILING),
    ("INFO 03-01 10:09:39 executor_base.py:110] # CUDA blocks: 78115, # CPU blocks: 9362", S.PROFILING),
    ("(VllmWorkerProcess pid=1222518) INFO 08-17 23:29:30 model_runner.py:1007] Capturing the model for CUDA graphs. "
     "This may lead to unexpected consequences if the model is not static.", S.WARMING_UP),
    ("INFO 08-01 22:09:33 model_runner.py:1415] Capturing cudagraphs for decoding. This may lead to unexpected "
     "consequences if the model is not static.", S.WARMING_UP),
    ("INFO 05-17 09:38:44 model_runner.py:1061] Graph capturing finished in 0 secs.", S.WARMING_UP),
]

# SGLang serving a model with CUDA graphs off, then its warm-up request (SGLang's documentation notebook
# output, 2026-05, "server logs displayed in the original black color").
SGLANG_NO_GRAPHS = [
    ("[2026-05-23 07:40:49] Init torch distributed begin.", None),
    ("[2026-05-23 07:40:50] Init torch distributed ends. elapsed=0.53 s, mem usage=0.09 GB", None),
    ("[2026-05-23 07:40:53] Load weight begin. avail mem=50.69 GB", S.LOADING_WEIGHTS),
    ("Multi-thread loading shards:  50% Completed | 2/4 [00:01<00:01,  1.24it/s]", S.LOADING_WEIGHTS),
    ("[2026-05-23 07:40:56] Load weight end. elapsed=3.48 s, type=LlamaForCausalLM, avail mem=34.93 GB, mem "
     "usage=15.76 GB.", S.PROFILING),
    ("[2026-05-23 07:41:00] Using KV cache dtype: torch.bfloat16", None),
    ("[2026-05-23 07:41:00] KV Cache is allocated. #tokens: 20480, K size: 1.25 GB, V size: 1.25 GB", S.PROFILING),
    ("[2026-05-23 07:41:00] Memory pool end. avail mem=28.98 GB", S.PROFILING),
    ("[2026-05-23 07:41:05] max_total_num_tokens=20480, chunked_prefill_size=8192, max_prefill_tokens=16384, "
     "max_running_requests=128, context_len=131072, available_gpu_mem=48.49 GB", None),
    ("[2026-05-23 07:41:06] INFO:     Started server process [2403371]", None),
    ("[2026-05-23 07:41:06] INFO:     Waiting for application startup.", None),
    ("[2026-05-23 07:41:06] INFO:     Application startup complete.", S.WARMING_UP),
    ("[2026-05-23 07:41:06] INFO:     Uvicorn running on http://127.0.0.1:37265 (Press CTRL+C to quit)", S.WARMING_UP),
    ("[2026-05-23 07:41:09] INFO:     127.0.0.1:33064 - \"POST /generate HTTP/1.1\" 200 OK", None),
    ("[2026-05-23 07:41:09] The server is fired up and ready to roll!", S.READY),
]

# SGLang whose warm-up request failed after uvicorn started (sgl-project/sglang#2468, Dec 2024): never ready.
SGLANG_WARMUP_FAILED = [
    ("[2024-12-13 01:44:59 TP0] Load weight end. type=MistralForCausalLM, dtype=torch.bfloat16, avail mem=9.69 GB",
     S.PROFILING),
    ("[2024-12-13 01:44:59 TP0] Memory pool end. avail mem=2.44 GB", S.PROFILING),
    ("[2024-12-13 01:44:59 TP0] Capture cuda graph begin. This can take up to several minutes.", S.WARMING_UP),
    ("[2024-12-13 01:45:01 TP0] Capture cuda graph end. Time elapsed: 2.19 s", None),
    ("[2024-12-13 01:45:02 TP0] max_total_num_tokens=56524, max_prefill_tokens=16384, max_running_requests=2049, "
     "context_len=32768", None),
    ("[2024-12-13 01:45:02] INFO:     Started server process [3831493]", None),
    ("[2024-12-13 01:45:02] INFO:     Waiting for application startup.", None),
    ("[2024-12-13 01:45:02] INFO:     Application startup complete.", S.WARMING_UP),
    ("[2024-12-13 01:45:02] INFO:     Uvicorn running on http://0.0.0.0:30000 (Press CTRL+C to quit)", S.WARMING_UP),
    ("[2024-12-13 01:47:34] Initialization failed. warmup error: Traceback (most recent call last):", None),
]

# SGLang 0.5 with piecewise CUDA graphs (sgl-project/sglang#11830, 2025-11).
SGLANG_PIECEWISE = [
    ("[2025-11-30 12:50:10] KV Cache is allocated. #tokens: 2243474, K size: 59.91 GB, V size: 59.91 GB", S.PROFILING),
    ("[2025-11-30 12:50:10] Capture cuda graph begin. This can take up to several minutes. avail mem=39.48 GB",
     S.WARMING_UP),
    ("[2025-11-30 12:50:15] Capture cuda graph end. Time elapsed: 5.37 s. mem usage=1.44 GB. avail mem=38.05 GB.",
     None),
    ("[2026-04-27 02:36:09] Capture piecewise CUDA graph begin. avail mem=23.54 GB", S.WARMING_UP),
]

# llama.cpp's server: ggml-org/llama.cpp#18546 (its start, up to the model loader), #15946 (tensors, context and
# KV cache), then the warm-up and ready lines as tools/server/server.cpp prints them (a b4840 build's log).
LLAMA_CPP = [
    ("main: binding port with default address family", None),
    ("main: HTTP server is listening, hostname: 127.0.0.1, port: 8080, http threads: 11", None),
    ("main: loading model", S.LOADING_WEIGHTS),
    ("srv    load_model: loading model 'C:\\Users\\lavan\\win-x64\\External\\Models\\phi-3.5-mini-instruct.gguf'",
     S.LOADING_WEIGHTS),
    ("llama_model_loader: loaded meta data with 36 key-value pairs and 197 tensors from "
     "C:\\Users\\lavan\\win-x64\\External\\Models\\phi-3.5-mini-instruct.gguf (version GGUF V3 (latest))",
     S.LOADING_WEIGHTS),
    ("load_tensors: loading model tensors, this can take a while... (mmap = true)", S.LOADING_WEIGHTS),
    ("load_tensors:   CPU_Mapped model buffer size = 14526.27 MiB", S.LOADING_WEIGHTS),
    ("llama_context: constructing llama_context", S.PROFILING),
    ("llama_context: n_ctx         = 128000", S.PROFILING),
    ("llama_kv_cache: size = 7000.00 MiB (128000 cells,  28 layers,  1/1 seqs), K (f16): 3500.00 MiB, V (f16): "
     "3500.00 MiB", S.PROFILING),
    ("common_init_from_params: setting dry_penalty_last_n to ctx_size = 4096", None),
    ("common_init_from_params: warming up the model with an empty run - please wait ... (--no-warmup to disable)",
     S.WARMING_UP),
    ("srv          init: initializing slots, n_slots = 1", None),
    ("slot         init: id  0 | task -1 | new slot n_ctx_slot = 4096", None),
    ("main: model loaded", S.READY),
    ("main: server is listening on http://127.0.0.1:8080 - starting the main loop", S.READY),
    ("srv  update_slots: all slots are idle", None),
]

# Other llama.cpp builds: older names for the same steps (ikawrakow/ik_llama.cpp#333, the b4840 log), the newer
# prefixed format (ggml-org/llama.cpp#26296), and the memory fit that runs before loading (it is not a stage).
LLAMA_CPP_OTHER_BUILDS = [
    ("llm_load_tensors: offloaded 62/62 layers to GPU", S.LOADING_WEIGHTS),
    ("llama_new_context_with_model: n_ctx      = 8192", S.PROFILING),
    ("llama_kv_cache_init:      CUDA0 KV buffer size =  1952.00 MiB", S.PROFILING),
    ("llama_init_from_model: KV self size  =  768.00 MiB, K (f16):  384.00 MiB, V (f16):  384.00 MiB", S.PROFILING),
    ("llama_kv_cache_unified: size = 1536.00 MiB (  4096 cells,  32 layers,  1 seqs), K (f16):  768.00 MiB, V (f16): "
     " 768.00 MiB", S.PROFILING),
    ("0.00.270.696 I srv    load_model: loading model '/home/phm/ggufs/Qwen3.6-27B-Q4_K_M.gguf'", S.LOADING_WEIGHTS),
    ("llama_model_load_from_file_impl: using device Vulkan0 (NVIDIA GeForce GTX 1660 SUPER (NVK TU116)) "
     "(0000:29:00.0) - 5755 MiB free", S.LOADING_WEIGHTS),
    ("llama_params_fit_impl: projected to use 4920 MiB of device memory vs. 5755 MiB of free device memory", None),
]

# transformers serve 5.24.0 serving the tiny GLM-V test model on the CPU (the log of `transformers serve MODEL
# --host 127.0.0.1 --port 38517 --trust-remote-code --device cpu`, captured for this test; the path shortened).
TRANSFORMERS_SERVE = [
    ("[transformers] Loading /models/tiny-glmv", S.LOADING_WEIGHTS),
    ("Loading weights: 100%|██████████| 56/56 [00:00<00:00, 17460.68it/s]", S.LOADING_WEIGHTS),
    ("INFO:     Started server process [20403]", None),
    ("INFO:     Waiting for application startup.", None),
    ("INFO:     Application startup complete.", S.READY),
    ("INFO:     Uvicorn running on http://127.0.0.1:38517 (Press CTRL+C to quit)", S.READY),
]

EXCERPTS = {
    "vllm-0.11": (Engine.VLLM, VLLM_0_11),
    "vllm-v0": (Engine.VLLM, VLLM_V0),
    "sglang-no-graphs": (Engine.SGLANG, SGLANG_NO_GRAPHS),
    "sglang-warmup-failed": (Engine.SGLANG, SGLANG_WARMUP_FAILED),
    "sglang-piecewise": (Engine.SGLANG, SGLANG_PIECEWISE),
    "llama.cpp": (Engine.LLAMA_CPP, LLAMA_CPP),
    "llama.cpp-other-builds": (Engine.LLAMA_CPP, LLAMA_CPP_OTHER_BUILDS),
    "transformers": (Engine.TRANSFORMERS, TRANSFORMERS_SERVE),
}
LINES = [pytest.param(engine, line, stage, id=f"{name}-{i}")
         for name, (engine, excerpt) in EXCERPTS.items() for i, (line, stage) in enumerate(excerpt)]


@pytest.mark.parametrize(("engine", "line", "stage"), LINES)
def test_each_real_line_shows_its_stage_or_none(engine: Engine, line: str, stage: StartupStage | None) -> None:
    assert stage_of_line(line, engine) is stage


def stages_reached(engine: Engine, excerpt: list[tuple[str, StartupStage | None]]) -> list[StartupStage]:
    """The stages a tracker reports while reading `excerpt` line by line, STARTING first."""
    tracker = StartupTracker(engine)
    reached = [tracker.stage]
    for line, _stage in excerpt:
        new = tracker.feed([line])
        if new is not None:
            assert new is tracker.stage
            reached.append(new)
    return reached


def test_vllm_goes_through_every_stage_in_order() -> None:
    assert stages_reached(Engine.VLLM, VLLM_0_11) == [S.STARTING, S.LOADING_WEIGHTS, S.PROFILING, S.WARMING_UP,
                                                      S.READY]


def test_vllm_sizing_the_kv_cache_after_compiling_does_not_move_the_tracker_back() -> None:
    tracker = StartupTracker(Engine.VLLM)
    tracker.feed(line for line, _ in VLLM_0_11[:15])  # up to "torch.compile takes 7.14 s in total"
    assert tracker.stage is S.WARMING_UP
    kv_lines = [line for line, stage in VLLM_0_11[15:] if stage is S.PROFILING]
    assert kv_lines and tracker.feed(kv_lines) is None
    assert tracker.stage is S.WARMING_UP


def test_vllm_v0_engine_lines_are_read_too() -> None:
    assert stages_reached(Engine.VLLM, VLLM_V0) == [S.STARTING, S.LOADING_WEIGHTS, S.PROFILING, S.WARMING_UP]


def test_sglang_is_ready_only_after_its_warmup_request() -> None:
    assert stages_reached(Engine.SGLANG, SGLANG_NO_GRAPHS) == [S.STARTING, S.LOADING_WEIGHTS, S.PROFILING,
                                                              S.WARMING_UP, S.READY]


def test_sglang_whose_warmup_failed_never_reads_as_ready() -> None:
    assert stages_reached(Engine.SGLANG, SGLANG_WARMUP_FAILED) == [S.STARTING, S.PROFILING, S.WARMING_UP]


def test_llama_cpp_listening_before_loading_is_not_ready() -> None:
    assert stages_reached(Engine.LLAMA_CPP, LLAMA_CPP) == [S.STARTING, S.LOADING_WEIGHTS, S.PROFILING, S.WARMING_UP,
                                                           S.READY]
    assert stage_of_line("main: HTTP server is listening, hostname: 127.0.0.1, port: 8080, http threads: 11",
                         Engine.LLAMA_CPP) is None


def test_transformers_serve_loads_then_is_ready() -> None:
    assert stages_reached(Engine.TRANSFORMERS, TRANSFORMERS_SERVE) == [S.STARTING, S.LOADING_WEIGHTS, S.READY]


def test_the_same_line_means_what_its_engine_means() -> None:
    line = "[2026-05-23 07:41:06] INFO:     Application startup complete."
    assert stage_of_line(line, Engine.SGLANG) is S.WARMING_UP
    assert stage_of_line(line, Engine.VLLM) is S.READY
    assert stage_of_line("Load weight begin. avail mem=50.69 GB", Engine.VLLM) is None
    assert stage_of_line("main: model loaded", Engine.SGLANG) is None


@pytest.mark.parametrize("line", [
    "",
    "Traceback (most recent call last):",
    "(APIServer pid=48263) INFO 01-14 23:42:58 [model.py:1510] Using max model len 131072",
    "[2025-05-02 16:15:00] Prefill batch. #new-seq: 1, #new-token: 6, #cached-token: 0, token usage: 0.00",
    "srv  update_slots: all slots are idle",
    "(APIServer pid=1) INFO:     127.0.0.1:33042 - \"GET /v1/models HTTP/1.1\" 200 OK",
])
@pytest.mark.parametrize("engine", list(Engine))
def test_unrelated_lines_show_no_stage(engine: Engine, line: str) -> None:
    assert stage_of_line(line, engine) is None


def test_the_tracker_starts_at_starting_and_never_goes_back() -> None:
    tracker = StartupTracker(Engine.VLLM)
    assert tracker.stage is S.STARTING
    assert tracker.feed(["(APIServer pid=1) INFO:     Application startup complete."]) is S.READY
    for line, _stage in VLLM_0_11:
        assert tracker.feed([line]) is None
        assert tracker.stage is S.READY


def test_advance_to_moves_forward_only() -> None:
    tracker = StartupTracker(Engine.LLAMA_CPP)
    assert tracker.advance_to(S.STARTING) is False
    assert tracker.feed(["main: loading model"]) is S.LOADING_WEIGHTS
    assert tracker.advance_to(S.READY) is True  # the server answered its health check before logging it
    assert tracker.stage is S.READY
    assert tracker.advance_to(S.WARMING_UP) is False
    assert tracker.feed(["common_init_from_params: warming up the model with an empty run"]) is None
    assert tracker.stage is S.READY


def test_feed_reports_only_the_stage_a_batch_ends_at_and_none_when_nothing_moved() -> None:
    tracker = StartupTracker(Engine.SGLANG)
    assert tracker.feed([]) is None
    assert tracker.feed(line for line, _ in SGLANG_NO_GRAPHS[:8]) is S.PROFILING
    assert tracker.feed(["[2026-05-23 07:41:00] Using KV cache dtype: torch.bfloat16"]) is None
    assert tracker.stage is S.PROFILING


def test_feed_reads_chunks_of_text_split_at_newlines_and_carriage_returns() -> None:
    tracker = StartupTracker(Engine.VLLM)
    chunk = ("\rLoading safetensors checkpoint shards:   0% Completed | 0/4 [00:00<?, ?it/s]"
             "\rLoading safetensors checkpoint shards: 100% Completed | 4/4 [00:03<00:00,  1.61s/it]\n"
             "(EngineCore_DP0 pid=441) INFO 11-24 11:43:54 [gpu_model_runner.py:3341] Model loading took 2.0513 GiB "
             "memory and 27.200487 seconds\n")
    assert tracker.feed(chunk) is S.PROFILING  # a str is text, not an iterable of one-character lines
    assert tracker.feed(["Capturing CUDA graphs (decode, FULL):  46%|████▌     | 16/35\rCapturing CUDA graphs "
                         "(decode, FULL): 100%|██████████| 35/35"]) is S.WARMING_UP


def test_every_stage_has_words() -> None:
    assert [stage.label for stage in StartupStage] == [
        "Starting the program", "Loading the weights", "Measuring memory and sizing the KV cache",
        "Compiling and warming up", "Ready"]
