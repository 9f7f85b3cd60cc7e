"""The exact command line that starts each engine's OpenAI-compatible server for a plan.

Every server binds to 127.0.0.1 only, and takes a random API key where the engine supports one
(DESIGN.md, "Local servers (facts)"). The flags were checked against each engine's documentation:

- vLLM: `vllm serve MODEL` with `--host`, `--port`, `--served-model-name` (vLLM's serve CLI
  reference) and the key in `VLLM_API_KEY` (its API server reads it when `--api-key` is not
  given); the recipe flags, `--max-model-len`, `--tensor-parallel-size`, `--dtype` and
  `--gpu-memory-utilization` come from the planner. `--allowed-local-media-path` is never passed: it
  would let any request read the user's files.
- SGLang: `python -m sglang.launch_server --model-path M` with `--host`, `--port`, `--api-key`,
  `--served-model-name` (docs/advanced_features/server_arguments.md); `--context-length`, `--tp` and
  the parsers come from the planner.
- llama.cpp: `llama-server -m MODEL.gguf --mmproj MMPROJ.gguf` with `--host`, `--port`, the key in
  `LLAMA_API_KEY` (the server README's environment name for `--api-key`),
  `--alias`, `--jinja` (tools/server/README.md); `-c` and `-ngl` come from the planner.
- transformers serve: `transformers serve MODEL --host --port` (its `--help`, transformers 5.x). It has
  no API key option, so the server is protected only by listening on 127.0.0.1.
"""

from __future__ import annotations

import os
from pathlib import Path

from desktop.backends.catalog import Engine, ModelSpec
from desktop.backends.planner import Plan
from desktop.errors import UserFacingError
from desktop.i18n import _

HOST = "127.0.0.1"

# SGLang's multimodal cache holds preprocessed images and video frames; its default is too small for
# a video of a few dozen frames (DESIGN.md).
SGLANG_ENV = {"SGLANG_VLM_CACHE_SIZE_MB": "1024"}
# vLLM reports anonymous usage statistics unless told not to; a private desktop server should not.
VLLM_ENV = {"VLLM_NO_USAGE_STATS": "1"}
# The model is always a folder on this computer (downloaded by the app or chosen by the user): the
# engines must not look anything up on the hub, which would stall an offline machine for minutes.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}

# Flags the launcher owns: a plan that carried them could move the server off 127.0.0.1 or open the
# user's files to any request.
_RESERVED_FLAGS = frozenset({"--host", "--port", "--api-key", "--served-model-name", "--alias", "-a",
                             "--model", "--model-path", "-m", "--mmproj", "-mm", "--allowed-local-media-path"})


class ModelFilesMissing(UserFacingError):
    """The model folder lacks a file the engine needs (a llama.cpp GGUF or its vision projector)."""


def supports_api_key(engine: Engine) -> bool:
    """Whether the engine's server can require an API key (transformers serve cannot)."""
    return engine is not Engine.TRANSFORMERS


# The program that starts each engine (SGLang: its venv's Python, `python -m sglang.launch_server`).
PROGRAMS = {Engine.VLLM: "vllm", Engine.SGLANG: "python", Engine.LLAMA_CPP: "llama-server",
            Engine.TRANSFORMERS: "transformers"}


def default_program(engine: Engine, venv: str | Path | None = None) -> Path:
    """The program that starts `engine`: its script in `venv` (or on PATH when `venv` is None).

    SGLang is started through its venv's Python (`python -m sglang.launch_server`), the others
    through their own console script.
    """
    name = PROGRAMS[engine]
    if venv is None:
        return Path(name)
    if os.name == "nt":
        return Path(venv) / "Scripts" / f"{name}.exe"
    return Path(venv) / "bin" / name


def default_served_name(model: ModelSpec) -> str:
    """The model name clients ask for: the Hugging Face repository, as the endpoint profiles expect.

    For the GGUF the repository's name without the `-GGUF` suffix (`GLM-4.6V-Flash`), which is what
    the llama.cpp endpoint profile asks for.
    """
    if model.is_gguf:
        # A folder added by hand has no owner part: its name is the folder's.
        return model.hf_repo.rsplit("/", 1)[-1].removesuffix("-GGUF")
    return model.hf_repo


def request_model_name(plan: Plan, model_path: str, served_name: str | None = None) -> str:
    """The `model` a chat request must name to reach the server `build_command` starts.

    transformers serve refuses any name but the one it was pinned to: the model path itself.
    """
    if plan.engine is Engine.TRANSFORMERS:
        return model_path
    return served_name or default_served_name(plan.model)


def build_command(plan: Plan, model_path: str, *, port: int, api_key: str | None,
                  executable: str | Path | None = None,
                  served_name: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The argv and the extra environment that start `plan`'s engine serving `model_path` on `port`.

    Args:
        plan: the planner's answer; its `flags` (context, parallelism, parsers) are appended.
        model_path: the downloaded model folder (for llama.cpp, the folder holding the GGUF files).
        port: the TCP port on 127.0.0.1.
        api_key: the key clients must send; ignored by transformers serve, which has none
            (see `supports_api_key`).
        executable: the engine's program (see `default_program`); for SGLang, the Python of its venv.
        served_name: the model name clients ask for (default: `default_served_name`); transformers
            serve always answers to `model_path` instead.

    Raises:
        ModelFilesMissing: llama.cpp's model or vision projector file is not in `model_path`.
        ValueError: the plan carries a flag the launcher owns (host, port, key, model, local media).
    """
    reserved = _RESERVED_FLAGS.intersection(flag.split("=", 1)[0] for flag in plan.flags)
    if reserved:
        raise ValueError(f"plan flags may not set {', '.join(sorted(reserved))}")
    program = str(executable) if executable is not None else str(default_program(plan.engine))
    name = served_name or default_served_name(plan.model)
    key = ["--api-key", api_key] if api_key else []
    engine = plan.engine
    # vLLM and llama.cpp read the key from their environment (VLLM_API_KEY, LLAMA_API_KEY), which
    # other users of the machine cannot read, unlike a process's command line; SGLang only takes it
    # as an argument.
    if engine is Engine.VLLM:
        argv = [program, "serve", model_path, "--host", HOST, "--port", str(port),
                "--served-model-name", name, *plan.flags]
        return argv, {**OFFLINE_ENV, **VLLM_ENV, **({"VLLM_API_KEY": api_key} if api_key else {})}
    if engine is Engine.SGLANG:
        # `python -m sglang.launch_server` works in every SGLang release; the newer `sglang serve`
        # (0.5.x) does not exist in older ones, and the newest still accept launch_server (with a
        # warning that `sglang serve` is recommended). Both take the same server arguments.
        argv = [program, "-m", "sglang.launch_server", "--model-path", model_path, "--host", HOST,
                "--port", str(port), *key, "--served-model-name", name, *plan.flags]
        return argv, {**OFFLINE_ENV, **SGLANG_ENV}
    if engine is Engine.LLAMA_CPP:
        gguf, mmproj = find_gguf_files(plan.model, Path(model_path))
        # --jinja: the GLM chat template in the GGUF needs the Jinja engine (the default only in
        # recent builds; older ones fall back to a built-in template without images or thinking).
        argv = [program, "-m", str(gguf), "--mmproj", str(mmproj), "--host", HOST, "--port", str(port),
                "--alias", name, "--jinja", *plan.flags]
        return argv, {"LLAMA_API_KEY": api_key} if api_key else {}
    # transformers serve: the model is pinned by the positional FORCE_MODEL. No --continuous-batching:
    # it applies to text-only models, and a vision model falls back to sequential generation with a
    # warning anyway. No API key option exists; 127.0.0.1 is the only protection.
    argv = [program, "serve", model_path, "--host", HOST, "--port", str(port), *plan.flags]
    return argv, dict(OFFLINE_ENV)


def find_gguf_files(model: ModelSpec, folder: Path) -> tuple[Path, Path]:
    """The language model GGUF and the vision projector GGUF in `folder`, by the catalog's patterns.

    The first pattern of `model.files` names the weights, the one starting with `mmproj` the
    projector; a projector never counts as the weights even when its name matches both.
    """
    if folder.is_file():
        folder = folder.parent
    projector_patterns = [p for p in model.files if p.lower().startswith("mmproj")]
    weight_patterns = [p for p in model.files if p not in projector_patterns] or ["*.gguf"]
    projector_patterns = projector_patterns or ["mmproj*.gguf"]

    def first(patterns: list[str], *, projector: bool) -> Path | None:
        for pattern in patterns:
            for path in sorted(folder.rglob(pattern)):
                if path.is_file() and path.name.lower().startswith("mmproj") == projector:
                    return path
        return None

    weights = first(weight_patterns, projector=False)
    projector = first(projector_patterns, projector=True)
    missing = [pattern for found, patterns in ((weights, weight_patterns), (projector, projector_patterns))
               if found is None for pattern in patterns]
    if weights is None or projector is None:
        raise ModelFilesMissing(
            _("{model} is incomplete: no file matching {patterns} in {folder}.").format(
                model=model.name, patterns=", ".join(missing), folder=folder),
            _("Download the model again; llama.cpp needs both the model file and its vision projector "
              "(mmproj)."))
    return weights, projector
