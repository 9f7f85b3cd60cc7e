"""A model folder the user already has on disk, read into a `ModelSpec` the fit planner and launcher can use.

Two kinds of folder are understood: a Hugging Face-style folder (config.json beside .safetensors
shards) and a folder of GGUF files for llama.cpp (a language model .gguf and its vision projector,
mmproj….gguf). Only the small JSON configs are read; the weights are measured with `stat` alone,
since a folder may hold 200 GB.

The KV cache per token follows from the text config as in the catalog: 2 (K and V) × layers ×
KV heads × head size × bytes per element (2 for bf16/f16, 4 when the config's dtype is float32).
"""

from __future__ import annotations

import glob
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.backends.catalog import GB, KIB, Engine, ModelSpec, Precision
from desktop.errors import UserFacingError
from desktop.i18n import _

# JSON files a Hugging Face folder may ship whose "auto_map" names Python code in the folder that the
# engine must import (trust_remote_code).
REMOTE_CODE_CONFIGS = ("config.json", "processor_config.json", "preprocessor_config.json", "tokenizer_config.json")
# Weight files in order of preference: the first kind found is the one counted.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")
DEFAULT_CONTEXT = 8192  # when config.json names no max_position_embeddings
GGUF_CONTEXT = 131072  # GLM-4.6V-Flash's context; the GGUF header is not read
GGUF_KV_BYTES_PER_TOKEN = 40 * KIB  # 40 layers, 2 KV heads of 128, f16: the catalog's 9B value
TINY_MODEL_BYTES = 1 * GB  # below this a model runs anywhere (test models): no compute capability needed

_SHARD = re.compile(r"-\d{5}-of-\d{5}\.gguf$", re.IGNORECASE)  # llama.cpp's split GGUF files


class LocalFolderError(UserFacingError):
    """A folder the user chose is not a GLM-V model this app can run, and why."""


@dataclass(frozen=True)
class FolderModel:
    """A model folder on this computer: its spec, where it is, and whether its engine must run its code."""

    spec: ModelSpec
    folder: Path
    trust_remote_code: bool  # the folder ships Python code (an "auto_map") the engine must import


def spec_from_folder(folder: Path) -> ModelSpec:
    """The `ModelSpec` of the GLM-V model in `folder` (see `inspect_folder`)."""
    return inspect_folder(folder).spec


def inspect_folder(folder: Path) -> FolderModel:
    """Read the GLM-V model in `folder`, a Hugging Face-style folder or a folder of GGUF files.

    Raises:
        LocalFolderError: the folder is missing, holds no model, holds a model that is not GLM-V,
            has an unreadable config.json, or lacks the weights or the vision projector.
    """
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise LocalFolderError(_("There is no folder at {folder}.").format(folder=folder),
                               _("Choose the folder that holds the model's config.json or its .gguf files."))
    if not folder.is_dir():
        raise LocalFolderError(_("{folder} is a file, not a folder.").format(folder=folder),
                               _("Choose the folder that holds the model's files, not one of the files."))
    folder = folder.resolve()
    files = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: p.name)
    ggufs = [p for p in files if p.suffix.lower() == ".gguf"]
    config = folder / "config.json"
    if config.is_file() and (_weight_files(files) or not ggufs):
        return _inspect_hf(folder, files)
    if ggufs:
        return _inspect_gguf(folder, ggufs)
    raise LocalFolderError(
        _("{folder} holds no model: it has neither a config.json nor any .gguf file.").format(folder=folder),
        _("Choose the folder you downloaded the model into: the one with config.json and the .safetensors "
          "files, or the one with the .gguf files."))


def _inspect_hf(folder: Path, files: list[Path]) -> FolderModel:
    config = _read_config(folder)
    model_type = str(config.get("model_type") or "")
    listed = config.get("architectures")
    architectures = [a for a in listed if isinstance(a, str)] if isinstance(listed, list) else []
    if not (model_type.lower().startswith("glm4v") or any("Glm4v" in a for a in architectures)):
        named = model_type or ", ".join(architectures)
        message = (_("The model in {folder} is not a GLM-V model: its config.json names {named}.") if named
                   else _("The model in {folder} is not a GLM-V model: its config.json names no model type."))
        raise LocalFolderError(
            message.format(folder=folder, named=named),
            _("This app runs GLM-4.1V, GLM-4.5V and GLM-4.6V models. Choose a folder with one of them."))
    weights = _weight_files(files)
    if not weights:
        raise LocalFolderError(
            _("{folder} has a config.json but no weights (.safetensors files).").format(folder=folder),
            _("The download may be incomplete: download the model again, or choose the folder that holds "
              "the .safetensors files."))
    weights_bytes = sum(p.stat().st_size for p in weights)

    text = config.get("text_config")
    text = text if isinstance(text, dict) else config
    layers = _positive_int(folder, text, "num_hidden_layers")
    heads = _positive_int(folder, text, "num_attention_heads")
    kv_heads = _positive_int(folder, text, "num_key_value_heads", default=heads)
    if text.get("head_dim") is not None:
        head_dim = _positive_int(folder, text, "head_dim")
    else:
        head_dim = _positive_int(folder, text, "hidden_size") // heads
        if head_dim == 0:
            raise _unusable(folder, "head_dim")
    dtype = next((str(c[k]) for c in (text, config) for k in ("torch_dtype", "dtype") if c.get(k) is not None), "")
    element_bytes = 4 if dtype.removeprefix("torch.") in ("float32", "float") else 2
    context_config = text if text.get("max_position_embeddings") is not None else config
    context = _positive_int(folder, context_config, "max_position_embeddings", default=DEFAULT_CONTEXT)

    quantization = config.get("quantization_config")
    fp8 = isinstance(quantization, dict) and str(quantization.get("quant_method", "")).lower() == "fp8"
    if fp8:
        precision, min_compute = Precision.FP8, (8, 9)
    else:
        precision, min_compute = Precision.BF16, ((0, 0) if weights_bytes < TINY_MODEL_BYTES else (8, 0))
    moe = "moe" in model_type.lower() or any("Moe" in a for a in architectures)
    engines = (Engine.VLLM, Engine.SGLANG) if moe else (Engine.VLLM, Engine.SGLANG, Engine.TRANSFORMERS)
    spec = ModelSpec(
        id=_folder_id(folder), name=folder.name, hf_repo=folder.name, modelscope_repo=None, precision=precision,
        weights_bytes=weights_bytes, download_bytes=weights_bytes, context_max=context,
        kv_bytes_per_token=2 * layers * kv_heads * head_dim * element_bytes, min_compute=min_compute,
        engines=engines, note=_("A model folder on this computer."))
    return FolderModel(spec, folder, _ships_code(folder))


def _inspect_gguf(folder: Path, ggufs: list[Path]) -> FolderModel:
    projectors = [p for p in ggufs if p.name.lower().startswith("mmproj")]
    language = [p for p in ggufs if p not in projectors]
    if not projectors:
        raise LocalFolderError(
            _("{folder} has a GGUF model but no vision projector (a file named mmproj….gguf).").format(
                folder=folder),
            _("Download the mmproj .gguf file from the same repository into this folder: without it GLM-V "
              "cannot see images."))
    if not language:
        raise LocalFolderError(
            _("{folder} has a vision projector but no language model .gguf file.").format(folder=folder),
            _("Download the model's .gguf file (for example the Q4_K_M one) into this folder as well."))
    model_files = _pick_language_gguf(language)
    projector = projectors[0]
    weights_bytes = sum(p.stat().st_size for p in (*model_files, projector))
    spec = ModelSpec(
        id=_folder_id(folder), name=folder.name, hf_repo=folder.name, modelscope_repo=None,
        precision=Precision.Q4_K_M, weights_bytes=weights_bytes, download_bytes=weights_bytes,
        context_max=GGUF_CONTEXT, kv_bytes_per_token=GGUF_KV_BYTES_PER_TOKEN, min_compute=(0, 0),
        engines=(Engine.LLAMA_CPP,), note=_("A model folder on this computer."),
        files=(glob.escape(model_files[0].name), glob.escape(projector.name)))
    return FolderModel(spec, folder, trust_remote_code=False)


def _pick_language_gguf(language: list[Path]) -> list[Path]:
    """The language model's file(s): a Q4_K_M one when there is a choice; all shards of a split GGUF."""
    groups: dict[str, list[Path]] = {}
    for path in language:
        groups.setdefault(_SHARD.sub("", path.name), []).append(path)
    chosen = next((g for key, g in groups.items() if "q4_k_m" in key.lower()), next(iter(groups.values())))
    return sorted(chosen, key=lambda p: p.name)  # shard 00001 first: llama.cpp opens it and finds the rest


def _weight_files(files: list[Path]) -> list[Path]:
    for suffix in WEIGHT_SUFFIXES:
        found = [p for p in files if p.suffix.lower() == suffix]
        if found:
            return found
    return []


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LocalFolderError(
            _("The config.json in {folder} could not be read as JSON.").format(folder=folder),
            _("The file is damaged or incomplete: download the model again."), detail=str(exc)) from exc
    if not isinstance(data, dict):
        raise LocalFolderError(
            _("The config.json in {folder} could not be read as JSON.").format(folder=folder),
            _("The file is damaged or incomplete: download the model again."), detail="not a JSON object")
    return data


def _positive_int(folder: Path, config: dict[str, Any], key: str, default: int | None = None) -> int:
    value = config.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _unusable(folder, key)
    return value


def _unusable(folder: Path, key: str) -> LocalFolderError:
    return LocalFolderError(
        _("The config.json in {folder} gives no usable {key}, so the model's memory needs cannot be "
          "worked out.").format(folder=folder, key=key),
        _("The file is damaged or incomplete: download the model again."))


def _ships_code(folder: Path) -> bool:
    """Whether any of the folder's JSON configs maps a class to Python code in the folder ("auto_map")."""
    for name in REMOTE_CODE_CONFIGS:
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # the engine reports a damaged tokenizer or processor config itself
        if isinstance(data, dict) and "auto_map" in data:
            return True
    return False


def _folder_id(folder: Path) -> str:
    return f"folder:{folder.resolve()}"
