"""A model folder already on disk, read into a ModelSpec: sizes by stat only, the KV cache from config.json."""

from __future__ import annotations

import builtins
import copy
import json
import pathlib
from pathlib import Path
from typing import Any

import pytest

from desktop.backends.catalog import BY_ID, GB, KIB, Engine, Precision
from desktop.backends.local_folder import FolderModel, LocalFolderError, inspect_folder, spec_from_folder

# Modelled on GLM-4.1V-9B-Thinking's config.json: 40 layers, 2 KV heads of 128, bf16.
GLM_41V: dict[str, Any] = {
    "architectures": ["Glm4vForConditionalGeneration"],
    "model_type": "glm4v",
    "torch_dtype": "bfloat16",
    "text_config": {
        "model_type": "glm4v_text",
        "num_hidden_layers": 40,
        "num_attention_heads": 32,
        "num_key_value_heads": 2,
        "hidden_size": 4096,
        "head_dim": 128,
        "max_position_embeddings": 65536,
        "torch_dtype": "bfloat16",
        "vocab_size": 151552,
    },
    "vision_config": {"model_type": "glm4v", "depth": 24, "hidden_size": 1536},
}
# Modelled on GLM-4.5V's: a mixture of experts with 46 layers and 8 KV heads of 128.
GLM_45V: dict[str, Any] = {
    "architectures": ["Glm4vMoeForConditionalGeneration"],
    "model_type": "glm4v_moe",
    "text_config": {
        "model_type": "glm4v_moe_text",
        "num_hidden_layers": 46,
        "num_attention_heads": 96,
        "num_key_value_heads": 8,
        "hidden_size": 4096,
        "head_dim": 128,
        "max_position_embeddings": 65536,
        "n_routed_experts": 128,
        "torch_dtype": "bfloat16",
    },
}


def make_folder(root: Path, name: str, config: dict[str, Any] | None, files: dict[str, int]) -> Path:
    """A folder `name` with `config` as its config.json and sparse files of the given names and sizes."""
    folder = root / name
    folder.mkdir(parents=True)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    for filename, size in files.items():
        with (folder / filename).open("wb") as f:
            f.truncate(size)
    return folder


def shards(n: int, size: int) -> dict[str, int]:
    """`n` safetensors shards of `size` bytes each, named as Hugging Face names them."""
    return {f"model-{i:05d}-of-{n:05d}.safetensors": size for i in range(1, n + 1)}


def forbid_weight_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, fail the test if anything opens a weights file (.safetensors, .bin, .pt, .gguf)."""
    real_open = builtins.open
    real_path_open = pathlib.Path.open

    def check(name: object) -> None:
        if str(name).endswith((".safetensors", ".bin", ".pt", ".gguf")):
            raise AssertionError(f"read a weights file: {name}")

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        check(file)
        return real_open(file, *args, **kwargs)

    def guarded_path_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        check(self)
        return real_path_open(self, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(pathlib.Path, "open", guarded_path_open)


# -- Hugging Face folders --------------------------------------------------------------------------------------------
def test_a_glm_41v_folder_gives_its_sizes_kv_cache_context_and_engines(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_folder(tmp_path, "GLM-4.1V-9B-Thinking", GLM_41V, shards(4, 5 * GB))
    forbid_weight_reads(monkeypatch)
    model = inspect_folder(folder)
    spec = model.spec
    assert isinstance(model, FolderModel)
    assert model.folder == folder.resolve()
    assert model.trust_remote_code is False
    assert spec.kv_bytes_per_token == 40 * KIB == BY_ID["glm-4.1v-9b-thinking"].kv_bytes_per_token
    assert spec.weights_bytes == spec.download_bytes == 20 * GB
    assert spec.context_max == 65536
    assert spec.precision is Precision.BF16
    assert spec.min_compute == (8, 0)
    assert spec.engines == (Engine.VLLM, Engine.SGLANG, Engine.TRANSFORMERS)
    assert spec.id == f"folder:{folder.resolve()}"
    assert spec.name == spec.hf_repo == "GLM-4.1V-9B-Thinking"
    assert spec.modelscope_repo is None
    assert spec.note == "A model folder on this computer."
    assert spec.files == ()
    assert not spec.is_gguf
    assert spec_from_folder(folder) == spec


def test_a_folder_of_200_gb_is_measured_without_reading_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_folder(tmp_path, "GLM-4.5V", GLM_45V, shards(40, 5 * GB))
    forbid_weight_reads(monkeypatch)
    assert spec_from_folder(folder).weights_bytes == 200 * GB


def test_a_moe_folder_runs_on_vllm_and_sglang_only(tmp_path: Path) -> None:
    spec = spec_from_folder(make_folder(tmp_path, "GLM-4.5V", GLM_45V, shards(2, 3 * GB)))
    assert spec.engines == (Engine.VLLM, Engine.SGLANG)
    assert spec.kv_bytes_per_token == 184 * KIB == BY_ID["glm-4.5v"].kv_bytes_per_token
    assert spec.weights_bytes == 6 * GB


def test_an_fp8_folder_needs_ada_or_newer(tmp_path: Path) -> None:
    config = copy.deepcopy(GLM_45V)
    config["quantization_config"] = {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]}
    spec = spec_from_folder(make_folder(tmp_path, "GLM-4.5V-FP8", config, shards(2, 3 * GB)))
    assert spec.precision is Precision.FP8
    assert spec.min_compute == (8, 9)


def test_a_float32_config_doubles_the_kv_cache(tmp_path: Path) -> None:
    config = copy.deepcopy(GLM_41V)
    config["torch_dtype"] = "float32"
    config["text_config"]["torch_dtype"] = "float32"
    folder = make_folder(tmp_path, "a", config, {"model.safetensors": 2 * GB})
    assert spec_from_folder(folder).kv_bytes_per_token == 80 * KIB
    newer = copy.deepcopy(GLM_41V)  # transformers 5 writes "dtype", and may write it only at the top
    del newer["torch_dtype"], newer["text_config"]["torch_dtype"]
    newer["dtype"] = "float32"
    folder = make_folder(tmp_path, "b", newer, {"model.safetensors": 2 * GB})
    assert spec_from_folder(folder).kv_bytes_per_token == 80 * KIB


def test_missing_config_values_fall_back_as_transformers_does(tmp_path: Path) -> None:
    flat = {"architectures": ["Glm4vForConditionalGeneration"], "model_type": "glm4v", "num_hidden_layers": 40,
            "num_attention_heads": 32, "hidden_size": 4096}  # no text_config, KV heads, head_dim or context
    spec = spec_from_folder(make_folder(tmp_path, "flat", flat, {"model.safetensors": 2 * GB}))
    assert spec.kv_bytes_per_token == 2 * 40 * 32 * (4096 // 32) * 2
    assert spec.context_max == 8192


def test_pytorch_bin_weights_count_when_there_are_no_safetensors(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "old", GLM_41V, {"pytorch_model-00001-of-00002.bin": 3 * GB,
                                                    "pytorch_model-00002-of-00002.bin": 2 * GB,
                                                    "training_args.txt": 10})
    assert spec_from_folder(folder).weights_bytes == 5 * GB
    both = make_folder(tmp_path, "both", GLM_41V, {"model.safetensors": 4 * GB, "pytorch_model.bin": 4 * GB})
    assert spec_from_folder(both).weights_bytes == 4 * GB


def test_a_model_under_1_gb_runs_on_any_gpu(tmp_path: Path) -> None:
    spec = spec_from_folder(make_folder(tmp_path, "tiny", GLM_41V, {"model.safetensors": GB - 1}))
    assert spec.min_compute == (0, 0)
    assert spec.precision is Precision.BF16


@pytest.mark.parametrize("config_name", ["config.json", "processor_config.json", "preprocessor_config.json",
                                         "tokenizer_config.json"])
def test_an_auto_map_in_any_config_means_the_folder_ships_code(tmp_path: Path, config_name: str) -> None:
    folder = make_folder(tmp_path, "custom", GLM_41V, {"model.safetensors": 2 * GB})
    path = folder / config_name
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data["auto_map"] = {"AutoProcessor": "processing_custom.CustomProcessor"}
    path.write_text(json.dumps(data), encoding="utf-8")
    assert inspect_folder(folder).trust_remote_code is True


def test_damaged_side_configs_do_not_stop_the_reading(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "m", GLM_41V, {"model.safetensors": 2 * GB})
    (folder / "tokenizer_config.json").write_text("{not json", encoding="utf-8")
    assert inspect_folder(folder).trust_remote_code is False


# -- GGUF folders ----------------------------------------------------------------------------------------------------
def test_a_gguf_folder_runs_on_llama_cpp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_folder(tmp_path, "GLM-4.6V-Flash-GGUF", None, {"GLM-4.6V-Flash-Q4_K_M.gguf": 6_200_000_000,
                                                                 "mmproj-GLM-4.6V-Flash-Q8_0.gguf": 1_000_000_000})
    forbid_weight_reads(monkeypatch)
    model = inspect_folder(folder)
    spec = model.spec
    assert spec.is_gguf and spec.precision is Precision.Q4_K_M
    assert spec.engines == (Engine.LLAMA_CPP,)
    assert spec.files == ("GLM-4.6V-Flash-Q4_K_M.gguf", "mmproj-GLM-4.6V-Flash-Q8_0.gguf")
    assert spec.weights_bytes == spec.download_bytes == 7_200_000_000
    assert spec.context_max == 131072
    assert spec.kv_bytes_per_token == 40 * KIB
    assert spec.min_compute == (0, 0)
    assert spec.name == spec.hf_repo == "GLM-4.6V-Flash-GGUF"
    assert model.trust_remote_code is False


def test_a_gguf_folder_with_several_quantizations_picks_q4_k_m(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "g", None, {"GLM-4.6V-Flash-Q8_0.gguf": 10 * GB,
                                               "GLM-4.6V-Flash-Q4_K_M.gguf": 6 * GB, "mmproj-F16.gguf": GB})
    spec = spec_from_folder(folder)
    assert spec.files == ("GLM-4.6V-Flash-Q4_K_M.gguf", "mmproj-F16.gguf")
    assert spec.weights_bytes == 7 * GB


def test_a_split_gguf_counts_all_its_parts_and_names_the_first(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "g", None, {"GLM-Q4_K_M-00002-of-00002.gguf": 3 * GB,
                                               "GLM-Q4_K_M-00001-of-00002.gguf": 4 * GB, "mmproj.gguf": GB})
    spec = spec_from_folder(folder)
    assert spec.files == ("GLM-Q4_K_M-00001-of-00002.gguf", "mmproj.gguf")
    assert spec.weights_bytes == 8 * GB


def test_gguf_names_with_glob_characters_are_matched_literally(tmp_path: Path) -> None:
    folder = tmp_path / "g"
    folder.mkdir()
    for name in ("GLM [Q4_K_M].gguf", "mmproj [f16].gguf"):
        (folder / name).write_bytes(b"")
    spec = spec_from_folder(folder)
    assert [sorted(p.name for p in folder.glob(pattern)) for pattern in spec.files] == [
        ["GLM [Q4_K_M].gguf"], ["mmproj [f16].gguf"]]


# -- what is refused, and why ----------------------------------------------------------------------------------------
def refusal(folder: Path) -> LocalFolderError:
    with pytest.raises(LocalFolderError) as caught:
        inspect_folder(folder)
    assert caught.value.hint, "every refusal says what to do"
    return caught.value


def test_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    error = refusal(tmp_path / "nowhere")
    assert error.message == f"There is no folder at {tmp_path / 'nowhere'}."
    assert error.hint == "Choose the folder that holds the model's config.json or its .gguf files."


def test_a_file_instead_of_a_folder(tmp_path: Path) -> None:
    file = tmp_path / "model.gguf"
    file.write_bytes(b"")
    error = refusal(file)
    assert error.message == f"{file} is a file, not a folder."
    assert error.hint == "Choose the folder that holds the model's files, not one of the files."


def test_a_folder_without_a_model(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "photos", None, {"holiday.jpg": 100})
    error = refusal(folder)
    assert error.message == f"{folder} holds no model: it has neither a config.json nor any .gguf file."
    assert "config.json" in error.hint and ".gguf" in error.hint


def test_a_config_that_is_not_json(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "m", None, {"model.safetensors": GB})
    (folder / "config.json").write_text('{"model_type": "glm4v", ', encoding="utf-8")
    error = refusal(folder)
    assert error.message == f"The config.json in {folder} could not be read as JSON."
    assert error.hint == "The file is damaged or incomplete: download the model again."
    assert error.detail  # the parser's own words, for the details view
    (folder / "config.json").write_text("[1, 2]", encoding="utf-8")
    assert refusal(folder).message == f"The config.json in {folder} could not be read as JSON."


@pytest.mark.parametrize(("config", "named"), [
    ({"model_type": "qwen2_5_vl", "architectures": ["Qwen2_5_VLForConditionalGeneration"]}, "qwen2_5_vl"),
    ({"model_type": "glm4", "architectures": ["Glm4ForCausalLM"]}, "glm4"),  # GLM-4 without vision
    ({"architectures": ["LlavaForConditionalGeneration"]}, "LlavaForConditionalGeneration"),
])
def test_a_model_that_is_not_glm_v(tmp_path: Path, config: dict[str, Any], named: str) -> None:
    folder = make_folder(tmp_path, "other", config, {"model.safetensors": GB})
    error = refusal(folder)
    assert error.message == f"The model in {folder} is not a GLM-V model: its config.json names {named}."
    assert error.hint == "This app runs GLM-4.1V, GLM-4.5V and GLM-4.6V models. Choose a folder with one of them."


def test_a_config_that_names_no_model_at_all(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "other", {"hidden_size": 8}, {"model.safetensors": GB})
    assert refusal(folder).message == (f"The model in {folder} is not a GLM-V model: its config.json names no "
                                       "model type.")


@pytest.mark.parametrize(("config", "accepted"), [
    ({"model_type": "glm4v"}, True),
    ({"model_type": "glm4v_moe"}, True),
    ({"model_type": "", "architectures": ["Glm4vMoeForConditionalGeneration"]}, True),
    ({"model_type": "custom", "architectures": ["Glm4vForConditionalGeneration"]}, True),
    ({"model_type": "glm4", "architectures": "Glm4vForConditionalGeneration"}, False),  # not a list
])
def test_glm_v_is_recognised_by_model_type_or_architecture(tmp_path: Path, config: dict[str, Any],
                                                           accepted: bool) -> None:
    config = {**config, "num_hidden_layers": 2, "num_attention_heads": 2, "hidden_size": 8}
    folder = make_folder(tmp_path, "m", config, {"model.safetensors": GB})
    if accepted:
        assert inspect_folder(folder).spec.kv_bytes_per_token == 2 * 2 * 2 * 4 * 2
    else:
        assert "is not a GLM-V model" in refusal(folder).message


def test_a_config_without_weights(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "m", GLM_41V, {"model.safetensors.index.json": 100})
    error = refusal(folder)
    assert error.message == f"{folder} has a config.json but no weights (.safetensors files)."
    assert "download the model again" in error.hint


@pytest.mark.parametrize(("key", "value"), [("num_hidden_layers", None), ("num_attention_heads", 0),
                                            ("head_dim", "128"), ("max_position_embeddings", -1)])
def test_a_config_without_usable_sizes(tmp_path: Path, key: str, value: object) -> None:
    config = copy.deepcopy(GLM_41V)
    if value is None:
        del config["text_config"][key]
    else:
        config["text_config"][key] = value
    folder = make_folder(tmp_path, "m", config, {"model.safetensors": GB})
    error = refusal(folder)
    assert error.message == (f"The config.json in {folder} gives no usable {key}, so the model's memory needs "
                             "cannot be worked out.")


def test_a_gguf_folder_without_the_vision_projector(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "g", None, {"GLM-4.6V-Flash-Q4_K_M.gguf": 6 * GB})
    error = refusal(folder)
    assert error.message == f"{folder} has a GGUF model but no vision projector (a file named mmproj….gguf)."
    assert error.hint == ("Download the mmproj .gguf file from the same repository into this folder: without it "
                          "GLM-V cannot see images.")


def test_a_gguf_folder_with_only_the_vision_projector(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "g", None, {"mmproj-GLM-4.6V-Flash-Q8_0.gguf": GB})
    error = refusal(folder)
    assert error.message == f"{folder} has a vision projector but no language model .gguf file."
    assert error.hint == "Download the model's .gguf file (for example the Q4_K_M one) into this folder as well."


def test_gguf_files_beside_a_config_without_weights_make_a_gguf_folder(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, "g", GLM_41V, {"GLM-Q4_K_M.gguf": 6 * GB, "mmproj.gguf": GB})
    assert spec_from_folder(folder).engines == (Engine.LLAMA_CPP,)


# -- the real tiny model ---------------------------------------------------------------------------------------------
@pytest.mark.tiny_model
def test_the_tiny_test_model_reads_as_a_small_folder_that_ships_code(tiny_model_dir: Path) -> None:
    model = inspect_folder(tiny_model_dir)
    spec = model.spec
    assert Engine.TRANSFORMERS in spec.engines
    assert model.trust_remote_code is True  # processor_config.json maps AutoProcessor to the folder's module
    assert 0 < spec.weights_bytes < GB
    assert spec.min_compute == (0, 0)
    # 2 layers, 2 KV heads of 64 // 4 = 16, saved as float32 by transformers 5 ("dtype" at the top).
    assert spec.kv_bytes_per_token == 2 * 2 * 2 * 16 * 4
    assert spec.context_max == 4096
    assert spec.name == spec.hf_repo == tiny_model_dir.name
