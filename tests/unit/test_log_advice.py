"""A failed server's log, read into advice: real error lines, buried among ordinary startup lines.

Each error excerpt is quoted from a public report (the thread is named beside it); the lines around
it are the engines' ordinary startup output, so a rule must find the error among them.
"""

from __future__ import annotations

import pytest

from desktop.backends.catalog import Engine
from desktop.backends.log_advice import AdviceKind, classify

VLLM_START = """\
INFO 01-14 23:42:50 [__init__.py:216] Automatically detected platform cuda.
(APIServer pid=48263) INFO 01-14 23:42:54 [api_server.py:1839] vLLM API server version 0.12.0
(APIServer pid=48263) INFO 01-14 23:42:54 [utils.py:253] non-default args: {'model_tag': '/models/glm-4.6v-flash', \
'host': '127.0.0.1', 'port': 41234, 'api_key': ['[redacted]'], 'enable_auto_tool_choice': True, \
'tool_call_parser': 'glm45', 'reasoning_parser': 'glm45', 'max_model_len': 131072}
(APIServer pid=48263) INFO 01-14 23:42:58 [model.py:547] Resolved architecture: Glm4vForConditionalGeneration
(APIServer pid=48263) INFO 01-14 23:42:58 [model.py:1510] Using max model len 131072
"""
VLLM_LOADING = """\
(EngineCore_DP0 pid=223840) INFO 01-14 23:43:10 [gpu_model_runner.py:2602] Starting to load model \
/models/glm-4.6v-flash...
(EngineCore_DP0 pid=223840) INFO 01-14 23:43:11 [cuda.py:366] Using Flash Attention backend on V1 engine.
Loading safetensors checkpoint shards:  50% Completed | 2/4 [00:03<00:03,  1.61s/it]
"""
VLLM_LOADED = """\
(EngineCore_DP0 pid=223840) INFO 01-14 23:43:20 [default_loader.py:267] Loading weights took 8.21 seconds
(EngineCore_DP0 pid=223840) INFO 01-14 23:43:21 [gpu_model_runner.py:2653] Model loading took 19.2468 GiB \
and 9.83 seconds
(EngineCore_DP0 pid=223840) INFO 01-14 23:43:35 [gpu_worker.py:298] Available KV cache memory: 0.71 GiB
"""
VLLM_DEATH = """\
(EngineCore_DP0 pid=223840) Process EngineCore_DP0:
(APIServer pid=48263) RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}
"""
SGLANG_START = """\
[2025-03-29 18:16:02] server_args=ServerArgs(model_path='/models/glm-4.5v', tokenizer_path='/models/glm-4.5v', \
host='127.0.0.1', port=30001, mem_fraction_static=0.88, tp_size=4, context_length=65536, \
reasoning_parser='glm45', tool_call_parser='glm45')
[2025-03-29 18:16:10 TP0] Init torch distributed begin.
[2025-03-29 18:16:12 TP0] Load weight begin. avail mem=78.62 GB
"""
LLAMA_START = """\
ggml_cuda_init: found 1 CUDA devices:
  Device 0: NVIDIA GeForce RTX 3060, compute capability 8.6, VMM: yes
build: 6913 (becfd387) with cc (Ubuntu 13.3.0) 13.3.0 for x86_64-linux-gnu
system info: n_threads = 8, n_threads_batch = 8, total_threads = 16
main: loading model
srv    load_model: loading model '/models/glm-4.6v-flash-gguf/GLM-4.6V-Flash-Q4_K_M.gguf'
"""

# vllm-project/tpu-inference#223 (vLLM V1 kv_cache_utils.check_enough_kv_cache_memory), also vllm#16118
KV_V1 = """\
(EngineCore_DP0 pid=223840) ERROR 01-14 23:43:35 [core.py:708]   File "/opt/venv/lib/python3.12/site-packages/vllm/\
v1/core/kv_cache_utils.py", line 588, in check_enough_kv_cache_memory
(EngineCore_DP0 pid=223840) ERROR 01-14 23:43:35 [core.py:708]     raise ValueError(
(EngineCore_DP0 pid=223840) ERROR 01-14 23:43:35 [core.py:708] ValueError: To serve at least one request with the \
models's max seq len (131072), (16.00 GiB KV cache is needed, which is larger than the available KV cache memory \
(0.71 GiB). Based on the available memory, the estimated maximum model length is 5632. Try increasing \
`gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.
"""
# QwenLM/Qwen3#295 (vLLM before V1)
KV_V0 = """\
    raise ValueError(
ValueError: The model's max seq len (32768) is larger than the maximum number of tokens that can be stored in KV \
cache (7344). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.
"""
# vllm-project/vllm#27508
KV_NO_BLOCKS = """\
(EngineCore_DP0 pid=223840) ERROR 10-25 13:08:43 [core.py:708]   File "/opt/conda/envs/vllm_env/lib/python3.13/\
site-packages/vllm/v1/core/kv_cache_utils.py", line 699, in check_enough_kv_cache_memory
(EngineCore_DP0 pid=223840) ERROR 10-25 13:08:43 [core.py:708]     raise ValueError("No available memory for the \
cache blocks. "
(EngineCore_DP0 pid=223840) ERROR 10-25 13:08:43 [core.py:708] ValueError: No available memory for the cache blocks. \
Try increasing `gpu_memory_utilization` when initializing the engine.
"""
# sgl-project/sglang#4330 and #4895
KV_SGLANG = """\
[2025-03-29 18:18:34 TP0] Scheduler hit an exception: Traceback (most recent call last):
  File "/sgl-workspace/sglang/python/sglang/srt/managers/scheduler.py", line 1999, in run_scheduler_process
    scheduler = Scheduler(server_args, port_args, gpu_id, tp_rank, dp_rank)
  File "/sgl-workspace/sglang/python/sglang/srt/model_executor/model_runner.py", line 925, in init_memory_pool
    raise RuntimeError(
RuntimeError: Not enough memory. Please try to increase --mem-fraction-static.
"""
# vllm-project/vllm#16343 (torch.OutOfMemoryError while building the layers at load)
OOM_TORCH = """\
ERROR 04-09 05:39:54 [core.py:390]   File "/usr/local/lib/python3.12/dist-packages/vllm/model_executor/models/\
utils.py", line 610, in make_layers
ERROR 04-09 05:39:54 [core.py:390]     maybe_offload_to_cpu(layer_fn(prefix=f"{prefix}.{idx}"))
ERROR 04-09 05:39:54 [core.py:390] torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 350.00 MiB. GPU 0 \
has a total capacity of 23.68 GiB of which 212.81 MiB is free. Including non-PyTorch memory, this process has 23.46 \
GiB memory in use.
"""
# vllm-project/vllm#188
OOM_CUDA = """\
  File "/usr/local/lib/python3.10/dist-packages/torch/nn/modules/module.py", line 1160, in convert
    return t.to(device, dtype if t.is_floating_point() or t.is_complex() else None, non_blocking)
RuntimeError: CUDA error: out of memory
CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be incorrect.
"""
# vllm-project/vllm#9377 (and zai-org/GLM-4#662 for a GLM architecture)
UNSUPPORTED_VLLM = """\
  File "/usr/local/lib/python3.10/dist-packages/vllm/model_executor/models/registry.py", line 364, in \
_raise_for_unsupported
    raise ValueError(
ValueError: Model architectures ['Glm4vMoeForConditionalGeneration'] are not supported for now. Supported \
architectures: dict_keys(['AquilaModel', 'AquilaForCausalLM', 'ArcticForCausalLM', 'BaiChuanForCausalLM'])
"""
# vllm-project/vllm#23206
UNSUPPORTED_TRANSFORMERS = """\
(APIServer pid=92) pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig
(APIServer pid=92)   Value error, The checkpoint you are trying to load has model type `glm4v_moe` but Transformers \
does not recognize this architecture. This could be because of an issue with the checkpoint, or because your version \
of Transformers is out of date.
"""
# intel/ipex-llm#13100 shape, with the model type GLM-4.1V/4.6V-Flash use (transformers < 4.53)
UNSUPPORTED_KEYERROR = """\
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/transformers/models/auto/configuration_auto.py", line 1131, in \
from_pretrained
    config_class = CONFIG_MAPPING[config_dict["model_type"]]
  File "/venv/lib/python3.11/site-packages/transformers/models/auto/configuration_auto.py", line 833, in __getitem__
    raise KeyError(key)
KeyError: 'glm4v'
"""
# lllyasviel/Fooocus#1313, IEIT-Yuan/Yuan-2.0#65
DRIVER_OLD = """\
  File "/venv/lib/python3.12/site-packages/torch/cuda/__init__.py", line 319, in _lazy_init
    torch._C._cuda_init()
RuntimeError: The NVIDIA driver on your system is too old (found version 11040). Please update your GPU driver by \
downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx Alternatively, go \
to: https://pytorch.org to install a PyTorch version that has been compiled with your version of the CUDA driver.
"""
# ovg-project/kvcached#74, nagadomi/nunif#702
DRIVER_INSUFFICIENT = """\
[2025-08-22 10:01:13] Scheduler hit an exception: Traceback (most recent call last):
RuntimeError: CUDA error: CUDA driver version is insufficient for CUDA runtime version
"""
# vllm-project/vllm#14452 (an RTX 50 card with a build lacking its architecture)
NO_KERNEL = """\
ERROR 07-28 15:07:22 [core.py:632]     _ = torch.zeros(1, device=device)
ERROR 07-28 15:07:22 [core.py:632] RuntimeError: CUDA error: no kernel image is available for execution on the device
ERROR 07-28 15:07:22 [core.py:632] CUDA kernel errors might be asynchronously reported at some other API call, so \
the stacktrace below might be incorrect.
"""
# vllm-project/vllm#4327
FP8 = """\
(RayWorkerWrapper pid=2202490) ERROR 04-24 16:06:40 worker_base.py:157]   File "/venv/lib/python3.9/site-packages/\
vllm/model_executor/model_loader.py", line 42, in _get_quantization_config
ValueError: The quantization method fp8 is not supported for the current GPU. Minimum capability: 90. Current \
capability: 86.
"""
# sgl-project/sglang#12887
FP8_SGLANG = """\
[2025-11-08 09:12:40 TP0] Scheduler hit an exception: Traceback (most recent call last):
ValueError("type fp8e4nv not supported in this architecture. The supported fp8 dtypes are ('fp8e4b15', 'fp8e5')")
"""
# vllm-project/vllm#9763
PORT_VLLM = """\
(APIServer pid=48263) INFO 01-14 23:45:02 [launcher.py:28] Starting vLLM API server on http://127.0.0.1:8000
  File "/usr/lib/python3.10/socket.py", line 232, in create_server
    sock.bind(address)
OSError: [Errno 98] Address already in use
"""
# vllm-project/vllm#7514 (uvicorn's wording)
PORT_UVICORN = """\
INFO:     Waiting for application startup.
INFO:     Application startup complete.
ERROR:    [Errno 98] error while attempting to bind on address ('127.0.0.1', 8000): address already in use
INFO:     Waiting for application shutdown.
"""
# PiDanShouRouZhouXD/Sakura_Launcher_GUI#71 (llama-server)
PORT_LLAMA = """\
main: binding port with default address family
main: couldn't bind HTTP server socket, hostname: 127.0.0.1, port: 8080
srv    operator (): operator (): cleaning up before exit...
"""
# vllm-project/vllm#4416, Stephen-SMJ/LLamaCare#1
MISSING_CONFIG = """\
  File "/venv/lib/python3.10/site-packages/transformers/utils/hub.py", line 369, in cached_file
    raise EnvironmentError(
OSError: /models/glm-4.6v-flash does not appear to have a file named config.json. Checkout \
'https://huggingface.co//models/glm-4.6v-flash/tree/None' for available files.
"""
# A safetensors shard gone from the folder (huggingface_hub / safetensors wording)
MISSING_SHARD = """\
Loading safetensors checkpoint shards:  25% Completed | 1/4 [00:01<00:05,  1.71s/it]
FileNotFoundError: [Errno 2] No such file or directory: '/models/glm-4.6v-flash/model-00002-of-00004.safetensors'
"""
# llama.cpp gguf loader
MISSING_GGUF = """\
gguf_init_from_file: failed to open GGUF file '/models/glm-4.6v-flash-gguf/GLM-4.6V-Flash-Q4_K_M.gguf' \
(No such file or directory)
llama_model_load: error loading model: llama_model_loader: failed to load model from \
/models/glm-4.6v-flash-gguf/GLM-4.6V-Flash-Q4_K_M.gguf
"""
# huggingface_hub: a repository id that does not exist (answered with 401 when anonymous)
MISSING_REPO = """\
huggingface_hub.errors.RepositoryNotFoundError: 401 Client Error. (Request ID: Root=1-6604c5e0-374ff039)

Repository Not Found for url: https://huggingface.co/api/models/zai-org/GLM-4.6V-Flashh/revision/main.
Please make sure you specified the correct `repo_id` and `repo_type`.
"""
# hiyouga/LlamaFactory#5155, xai-org/grok-1#263
DISK = """\
Fetching 13 files:  69%|███████▍   | 9/13 [00:44<00:19,  4.93s/it]
OSError: [Errno 28] No space left on device
"""
# ToTheBeginning/PuLID#97, city96/ComfyUI_ExtraModels#99
GATED = """\
    raise _format(GatedRepoError, message, response) from e
huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-66f4b037-1bf3d7d219afbc904ee05694)

Cannot access gated repo for url https://huggingface.co/zai-org/GLM-4.5V/resolve/main/config.json.
Access to model zai-org/GLM-4.5V is restricted. You must have access to it and be authenticated to access it. \
Please log in.
"""


CASES = [
    ("vllm-v1-kv", Engine.VLLM, VLLM_START + VLLM_LOADING + VLLM_LOADED + KV_V1 + VLLM_DEATH,
     AdviceKind.KV_CACHE_TOO_SMALL),
    ("vllm-v0-kv", Engine.VLLM, VLLM_START + VLLM_LOADED + KV_V0, AdviceKind.KV_CACHE_TOO_SMALL),
    ("vllm-no-blocks", Engine.VLLM, VLLM_START + VLLM_LOADED + KV_NO_BLOCKS + VLLM_DEATH,
     AdviceKind.KV_CACHE_TOO_SMALL),
    ("sglang-mem-fraction", Engine.SGLANG, SGLANG_START + KV_SGLANG, AdviceKind.KV_CACHE_TOO_SMALL),
    ("vllm-oom", Engine.VLLM, VLLM_START + VLLM_LOADING + OOM_TORCH + VLLM_DEATH, AdviceKind.OUT_OF_MEMORY),
    ("cuda-oom", Engine.VLLM, VLLM_START + VLLM_LOADING + OOM_CUDA, AdviceKind.OUT_OF_MEMORY),
    ("unsupported-vllm", Engine.VLLM, VLLM_START + UNSUPPORTED_VLLM, AdviceKind.UNSUPPORTED_MODEL),
    ("unsupported-transformers", Engine.VLLM, VLLM_START + UNSUPPORTED_TRANSFORMERS, AdviceKind.UNSUPPORTED_MODEL),
    ("unsupported-keyerror", Engine.TRANSFORMERS, UNSUPPORTED_KEYERROR, AdviceKind.UNSUPPORTED_MODEL),
    ("driver-old", Engine.VLLM, VLLM_START + DRIVER_OLD + VLLM_DEATH, AdviceKind.CUDA_MISMATCH),
    ("driver-insufficient", Engine.SGLANG, SGLANG_START + DRIVER_INSUFFICIENT, AdviceKind.CUDA_MISMATCH),
    ("no-kernel-image", Engine.VLLM, VLLM_START + VLLM_LOADING + NO_KERNEL + VLLM_DEATH, AdviceKind.CUDA_MISMATCH),
    ("fp8-vllm", Engine.VLLM, VLLM_START + FP8, AdviceKind.FP8_UNSUPPORTED),
    ("fp8-sglang", Engine.SGLANG, SGLANG_START + FP8_SGLANG, AdviceKind.FP8_UNSUPPORTED),
    ("port-vllm", Engine.VLLM, VLLM_START + VLLM_LOADED + PORT_VLLM, AdviceKind.PORT_IN_USE),
    ("port-uvicorn", Engine.SGLANG, SGLANG_START + PORT_UVICORN, AdviceKind.PORT_IN_USE),
    ("port-llama", Engine.LLAMA_CPP, LLAMA_START + PORT_LLAMA, AdviceKind.PORT_IN_USE),
    ("missing-config", Engine.TRANSFORMERS, MISSING_CONFIG, AdviceKind.MISSING_WEIGHTS),
    ("missing-shard", Engine.VLLM, VLLM_START + VLLM_LOADING + MISSING_SHARD, AdviceKind.MISSING_WEIGHTS),
    ("missing-gguf", Engine.LLAMA_CPP, LLAMA_START + MISSING_GGUF, AdviceKind.MISSING_WEIGHTS),
    ("missing-repo", Engine.VLLM, VLLM_START + MISSING_REPO, AdviceKind.MISSING_WEIGHTS),
    ("disk-full", Engine.VLLM, VLLM_START + DISK, AdviceKind.DISK_FULL),
    ("gated", Engine.VLLM, VLLM_START + GATED, AdviceKind.AUTH_REQUIRED),
]


@pytest.mark.parametrize(("engine", "log", "kind"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_failure_is_recognised_among_ordinary_lines(engine: Engine, log: str, kind: AdviceKind) -> None:
    advice = classify(log, engine)
    assert advice is not None and advice.kind is kind
    assert advice.message.endswith(".") and advice.hint.endswith(".")
    assert advice.message != advice.hint


@pytest.mark.parametrize(("engine", "log", "kind"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_engine_is_optional(engine: Engine, log: str, kind: AdviceKind) -> None:
    advice = classify(log)
    assert advice is not None and advice.kind is kind


def test_a_clean_log_gives_no_advice() -> None:
    clean = VLLM_START + VLLM_LOADING + VLLM_LOADED + """\
(APIServer pid=48263) INFO 01-14 23:44:02 [api_server.py:1912] Starting vLLM API server 0 on http://127.0.0.1:41234
(APIServer pid=48263) INFO:     Started server process [48263]
(APIServer pid=48263) INFO:     Waiting for application startup.
(APIServer pid=48263) INFO:     Application startup complete.
"""
    assert classify(clean, Engine.VLLM) is None
    assert classify("", None) is None
    # SGLang's notice that `sglang serve` is preferred is not a problem.
    assert classify(SGLANG_START + "UserWarning: 'python -m sglang.launch_server' is still supported, but "
                    "'sglang serve' is the recommended entrypoint.\n[2025-03-29 18:17:40] The server is fired up "
                    "and ready to roll!\n", Engine.SGLANG) is None


def test_the_last_problem_wins() -> None:
    # GIVEN a port clash from an earlier attempt, then an out-of-memory error, then a short KV cache
    log = PORT_UVICORN + VLLM_START + OOM_TORCH + VLLM_START + VLLM_LOADED + KV_V1 + VLLM_DEATH
    advice = classify(log, Engine.VLLM)
    assert advice is not None and advice.kind is AdviceKind.KV_CACHE_TOO_SMALL
    # WHEN the order is the other way round, THEN the other problem is reported
    advice = classify(KV_V1 + VLLM_START + OOM_TORCH, Engine.VLLM)
    assert advice is not None and advice.kind is AdviceKind.OUT_OF_MEMORY
    # A missing repository answered with a 401 is a missing model, not a login problem.
    advice = classify(MISSING_REPO)
    assert advice is not None and advice.kind is AdviceKind.MISSING_WEIGHTS


def test_the_kv_hint_names_the_context_vllm_estimates() -> None:
    advice = classify(VLLM_START + KV_V1, Engine.VLLM)
    assert advice is not None and "5,632" in advice.hint


def test_upgrade_hints_name_the_versions_glm_4_6v_needs() -> None:
    vllm = classify(VLLM_START + UNSUPPORTED_VLLM, Engine.VLLM)
    assert vllm is not None and "vLLM 0.12" in vllm.hint and "transformers 5.2" in vllm.hint
    assert "Glm4vMoeForConditionalGeneration" in vllm.message
    transformers = classify(UNSUPPORTED_KEYERROR, Engine.TRANSFORMERS)
    assert transformers is not None and "transformers" in transformers.hint and "glm4v" in transformers.message


def test_driver_advice_tells_an_old_driver_from_a_build_without_the_gpu() -> None:
    old = classify(DRIVER_OLD, Engine.VLLM)
    no_kernel = classify(NO_KERNEL, Engine.VLLM)
    assert old is not None and no_kernel is not None
    assert "driver" in old.hint.lower() and old.message != no_kernel.message
