"""The exact command line each engine is started with, for plans the fit planner makes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from desktop.backends.catalog import BY_ID, Engine
from desktop.backends.engines import (
    HOST,
    ModelFilesMissing,
    build_command,
    default_program,
    default_served_name,
    find_gguf_files,
    request_model_name,
    supports_api_key,
)
from desktop.backends.hardware import GpuInfo, HardwareReport
from desktop.backends.planner import Fit, Plan, plan

KEY = "sk-local-0123456789abcdef"
# The model is a local folder: no engine may reach for the hub.
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


def gpu(name: str, total_gib: float, cc: tuple[int, int], index: int = 0) -> GpuInfo:
    return GpuInfo(index=index, name=name, uuid=f"GPU-{index}", memory_total_mib=int(total_gib * 1024),
                   memory_free_mib=int((total_gib - 0.5) * 1024), compute_capability=cc, driver_version="550.54",
                   cuda_version="12.4")


def machine(gpus: list[GpuInfo], *, ram_gib: float = 64) -> HardwareReport:
    return HardwareReport(os="linux", os_detail="", cpu_name="CPU", cpu_cores=16, ram_total_mib=int(ram_gib * 1024),
                          ram_available_mib=int(ram_gib * 0.8 * 1024), disk_free_mib=1_000_000, gpus=gpus,
                          nvidia_driver="550.54" if gpus else "", cuda_version="12.4" if gpus else "",
                          apple_silicon=False, problems=[])


H100 = [gpu("NVIDIA H100 80GB HBM3", 79.6, (9, 0))]
FOUR_H100 = [gpu("NVIDIA H100 80GB HBM3", 79.6, (9, 0), index=i) for i in range(4)]


def value_after(argv: list[str], flag: str) -> str:
    assert argv.count(flag) == 1, f"{flag} should appear once in {argv}"
    return argv[argv.index(flag) + 1]


def assert_flags_in_order(argv: list[str], flags: list[str]) -> None:
    """The plan's flags appear in argv exactly as the planner wrote them, in one run."""
    assert flags, "the plan should carry flags"
    start = len(argv) - len(flags)
    assert argv[start:] == flags


def gguf_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "glm-4.6v-flash-gguf"
    folder.mkdir()
    (folder / "GLM-4.6V-Flash-Q4_K_M.gguf").write_bytes(b"GGUF")
    (folder / "mmproj-GLM-4.6V-Flash-Q8_0.gguf").write_bytes(b"GGUF")
    (folder / "README.md").write_text("model card")
    return folder


def test_vllm_serves_the_flash_model_on_loopback_with_the_key_and_the_plans_flags() -> None:
    # GIVEN the planner's answer for GLM-4.6V-Flash on one H100
    result = plan(BY_ID["glm-4.6v-flash"], Engine.VLLM, machine(H100))
    assert result.fit is Fit.GREEN
    # WHEN the launcher builds the command
    argv, env = build_command(result, "/models/glm-4.6v-flash", port=41234, api_key=KEY,
                              executable="/venvs/vllm/bin/vllm")
    # THEN it is `vllm serve MODEL` bound to 127.0.0.1 with the key and the recipe flags
    assert argv[:3] == ["/venvs/vllm/bin/vllm", "serve", "/models/glm-4.6v-flash"]
    assert value_after(argv, "--host") == "127.0.0.1" == HOST
    assert value_after(argv, "--port") == "41234"
    assert KEY not in argv, "the key goes in the environment, which other users cannot read"
    assert value_after(argv, "--served-model-name") == "zai-org/GLM-4.6V-Flash"
    assert_flags_in_order(argv, result.flags)
    assert value_after(argv, "--max-model-len") == str(result.context)
    assert value_after(argv, "--reasoning-parser") == "glm45"
    assert "--mm-encoder-tp-mode" in argv and "--enable-auto-tool-choice" in argv
    assert not any(arg.startswith("--allowed-local-media-path") for arg in argv)
    assert env == {**OFFLINE, "VLLM_NO_USAGE_STATS": "1", "VLLM_API_KEY": KEY}


def test_vllm_fp8_moe_over_two_gpus_carries_tensor_parallelism() -> None:
    result = plan(BY_ID["glm-4.6v-fp8"], Engine.VLLM, machine(FOUR_H100))
    argv, _env = build_command(result, "/models/glm-4.6v-fp8", port=8000, api_key=KEY, served_name="glm-4.6v")
    assert argv[0] == "vllm"
    assert value_after(argv, "--tensor-parallel-size") == "2"
    assert value_after(argv, "--served-model-name") == "glm-4.6v"
    assert value_after(argv, "--host") == "127.0.0.1"


def test_sglang_uses_launch_server_with_the_video_cache_and_the_plans_flags() -> None:
    result = plan(BY_ID["glm-4.5v"], Engine.SGLANG, machine(FOUR_H100))
    assert result.gpus == 4
    argv, env = build_command(result, "/models/glm-4.5v", port=30001, api_key=KEY,
                              executable=Path("/venvs/sglang/bin/python"))
    assert argv[:3] == ["/venvs/sglang/bin/python", "-m", "sglang.launch_server"]
    assert value_after(argv, "--model-path") == "/models/glm-4.5v"
    assert value_after(argv, "--host") == "127.0.0.1"
    assert value_after(argv, "--port") == "30001"
    assert value_after(argv, "--api-key") == KEY
    assert value_after(argv, "--served-model-name") == "zai-org/GLM-4.5V"
    assert_flags_in_order(argv, result.flags)
    assert value_after(argv, "--context-length") == str(result.context)
    assert value_after(argv, "--tp") == "4"
    assert value_after(argv, "--tool-call-parser") == "glm45"
    assert env == {**OFFLINE, "SGLANG_VLM_CACHE_SIZE_MB": "1024"}


def test_llama_cpp_picks_the_weights_and_the_projector_from_the_folder(tmp_path: Path) -> None:
    # GIVEN the GGUF planned on a 12 GB card, and its downloaded folder
    folder = gguf_folder(tmp_path)
    result = plan(BY_ID["glm-4.6v-flash-gguf"], Engine.LLAMA_CPP, machine([gpu("NVIDIA GeForce RTX 3060", 12, (8, 6))]))
    assert result.gpus == 1
    # WHEN the command is built
    argv, env = build_command(result, str(folder), port=8081, api_key=KEY, executable="/opt/llama/llama-server")
    # THEN the two files are named, the server is on loopback with a key, an alias and Jinja templates
    assert argv[0] == "/opt/llama/llama-server"
    assert value_after(argv, "-m") == str(folder / "GLM-4.6V-Flash-Q4_K_M.gguf")
    assert value_after(argv, "--mmproj") == str(folder / "mmproj-GLM-4.6V-Flash-Q8_0.gguf")
    assert value_after(argv, "--host") == "127.0.0.1"
    assert value_after(argv, "--port") == "8081"
    assert KEY not in argv
    assert value_after(argv, "--alias") == "GLM-4.6V-Flash"
    assert "--jinja" in argv
    assert_flags_in_order(argv, result.flags)
    assert value_after(argv, "-c") == str(result.context) and value_after(argv, "-ngl") == "99"
    assert env == {"LLAMA_API_KEY": KEY}


def test_llama_cpp_on_the_cpu_has_a_context_but_no_offload(tmp_path: Path) -> None:
    result = plan(BY_ID["glm-4.6v-flash-gguf"], Engine.LLAMA_CPP, machine([], ram_gib=32))
    argv, _env = build_command(result, str(gguf_folder(tmp_path)), port=8080, api_key=KEY)
    assert argv[0] == "llama-server" and "-ngl" not in argv
    assert value_after(argv, "-c") == str(result.context)


def test_a_projector_never_counts_as_the_weights(tmp_path: Path) -> None:
    # A projector whose name also matches the weights pattern, and the weights in a subfolder.
    folder = tmp_path / "m"
    (folder / "Q4").mkdir(parents=True)
    (folder / "mmproj-GLM-4.6V-Flash-Q4_K_M.gguf").write_bytes(b"GGUF")
    (folder / "Q4" / "GLM-4.6V-Flash-Q4_K_M.gguf").write_bytes(b"GGUF")
    weights, projector = find_gguf_files(BY_ID["glm-4.6v-flash-gguf"], folder)
    assert weights.name == "GLM-4.6V-Flash-Q4_K_M.gguf" and weights.parent.name == "Q4"
    assert projector.name == "mmproj-GLM-4.6V-Flash-Q4_K_M.gguf"


@pytest.mark.parametrize("present", ["GLM-4.6V-Flash-Q4_K_M.gguf", "mmproj-GLM-4.6V-Flash-Q8_0.gguf", None])
def test_llama_cpp_says_which_file_is_missing(tmp_path: Path, present: str | None) -> None:
    if present:
        (tmp_path / present).write_bytes(b"GGUF")
    result = plan(BY_ID["glm-4.6v-flash-gguf"], Engine.LLAMA_CPP, machine([], ram_gib=32))
    with pytest.raises(ModelFilesMissing) as caught:
        build_command(result, str(tmp_path), port=8080, api_key=KEY)
    error = caught.value
    assert "GLM-4.6V-Flash (GGUF Q4_K_M)" in error.message and str(tmp_path) in error.message
    if present is None or present.startswith("mmproj"):
        assert "*Q4_K_M.gguf" in error.message
    if present is None or not present.startswith("mmproj"):
        assert "mmproj*.gguf" in error.message
    assert "Download the model again" in error.hint


def test_transformers_serve_pins_the_model_and_has_no_key() -> None:
    result = plan(BY_ID["glm-4.6v-flash"], Engine.TRANSFORMERS, machine(H100))
    assert not supports_api_key(Engine.TRANSFORMERS)
    # A key handed in anyway is not passed: transformers serve has no option for one.
    argv, env = build_command(result, "/models/glm-4.6v-flash", port=8123, api_key=KEY,
                              executable="/venvs/tf/bin/transformers")
    assert argv == ["/venvs/tf/bin/transformers", "serve", "/models/glm-4.6v-flash", "--host", "127.0.0.1",
                    "--port", "8123"]
    assert KEY not in argv and env == OFFLINE
    assert request_model_name(result, "/models/glm-4.6v-flash") == "/models/glm-4.6v-flash"


def test_every_engine_binds_to_loopback_only(tmp_path: Path) -> None:
    folder = gguf_folder(tmp_path)
    hardware = machine(FOUR_H100)
    for model_id, engine in [("glm-4.6v-flash", Engine.VLLM), ("glm-4.6v-flash", Engine.SGLANG),
                             ("glm-4.6v-flash-gguf", Engine.LLAMA_CPP), ("glm-4.6v-flash", Engine.TRANSFORMERS)]:
        result = plan(BY_ID[model_id], engine, hardware)
        argv, env = build_command(result, str(folder), port=9000, api_key=KEY if supports_api_key(engine) else None)
        assert value_after(argv, "--host") == "127.0.0.1"
        assert "0.0.0.0" not in argv
        # the key reaches every engine that takes one: in the environment where it can, else as an argument
        given = value_after(argv, "--api-key") if "--api-key" in argv else None
        assert (given == KEY or KEY in env.values()) is supports_api_key(engine)
        assert (engine is Engine.SGLANG) is ("--api-key" in argv)


def test_a_plan_may_not_override_what_the_launcher_owns() -> None:
    result = plan(BY_ID["glm-4.6v-flash"], Engine.VLLM, machine(H100))
    for extra in (["--host", "0.0.0.0"], ["--allowed-local-media-path", "/"], ["--allowed-local-media-path=/"],
                  ["--api-key", "other"]):
        tampered = Plan(result.model, result.engine, result.fit, gpus=1, context=result.context,
                        flags=[*result.flags, *extra])
        with pytest.raises(ValueError, match="may not set"):
            build_command(tampered, "/m", port=8000, api_key=KEY)


def test_without_a_key_no_key_flag_is_passed() -> None:
    result = plan(BY_ID["glm-4.6v-flash"], Engine.VLLM, machine(H100))
    argv, env = build_command(result, "/m", port=8000, api_key=None)
    assert "--api-key" not in argv and "VLLM_API_KEY" not in env


def test_names_and_programs() -> None:
    assert default_served_name(BY_ID["glm-4.6v-flash-gguf"]) == "GLM-4.6V-Flash"
    assert default_served_name(BY_ID["glm-4.5v-fp8"]) == "zai-org/GLM-4.5V-FP8"
    result = plan(BY_ID["glm-4.6v-flash"], Engine.VLLM, machine(H100))
    assert request_model_name(result, "/m") == "zai-org/GLM-4.6V-Flash"
    assert request_model_name(result, "/m", "mine") == "mine"
    venv = Path("/venvs/x")
    assert default_program(Engine.VLLM, venv).name.startswith("vllm")
    assert default_program(Engine.SGLANG, venv).name.startswith("python")
    assert default_program(Engine.TRANSFORMERS).name == "transformers"


def _transformers_serve_help() -> str:
    """`transformers serve --help` of the venv this test runs in."""
    script = Path(sys.executable).with_name("transformers")
    completed = subprocess.run([str(script), "serve", "--help"], capture_output=True, text=True, timeout=120,
                               env={"PATH": str(script.parent), "COLUMNS": "200", "NO_COLOR": "1",
                                    "TERM": "dumb", "HOME": str(Path.home())}, check=False)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_every_flag_used_for_transformers_serve_is_in_its_help() -> None:
    # GIVEN the real `transformers serve --help` and the command built for it
    result = plan(BY_ID["glm-4.6v-flash"], Engine.TRANSFORMERS, machine([], ram_gib=64))
    argv, _env = build_command(result, "/models/glm-4.6v-flash", port=8000, api_key=None)
    help_text = _transformers_serve_help()
    # THEN the model is the documented positional FORCE_MODEL and each flag is documented
    assert "FORCE_MODEL" in help_text
    flags = [arg for arg in argv[2:] if arg.startswith("-")]
    assert flags == ["--host", "--port", "--device"]  # pinned to the CPU: this machine has no GPU
    for flag in flags:
        assert flag in help_text, f"{flag} is not in `transformers serve --help`"
    assert "--api-key" not in help_text  # why supports_api_key says no
