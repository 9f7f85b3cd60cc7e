"""The Local servers window: the fit planner's view of a machine, a download with progress, cancel and
resume against a local hub (real HTTP, real files), and an engine install with real pip, offline."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication, QStyle

from desktop.assistant.services import Services
from desktop.backends.catalog import BY_ID, GB, Engine
from desktop.backends.hardware import GpuInfo, HardwareReport
from desktop.ui.servers.window import LocalServersWindow
from tests.support.fake_model_hub import FakeModelHub
from tests.support.servers_window import open_servers_window
from tests.support.wheels import write_wheel

GIB_MIB = 1024
MIB = 1024 * 1024


def machine(gpus: list[GpuInfo], *, ram_gib: int = 64, disk_gib: int = 2000,
            disk_free: int | None = None) -> Callable[[Path], HardwareReport]:
    """A probe that answers this machine (the planner is what is under test, not the probe); `disk_free`
    (bytes) overrides `disk_gib`, and the window's disk checks see the same figure."""

    def probe(_models: Path) -> HardwareReport:
        return HardwareReport(os="linux", os_detail="Ubuntu 24.04", cpu_name="AMD EPYC 9354", cpu_cores=32,
                              ram_total_mib=ram_gib * GIB_MIB, ram_available_mib=ram_gib * GIB_MIB - 4096,
                              disk_free_mib=disk_gib * GIB_MIB if disk_free is None else -(-disk_free // MIB),
                              gpus=gpus,
                              nvidia_driver="580.65" if gpus else None, cuda_version="13.0" if gpus else None,
                              apple_silicon=False, problems=[] if gpus else ["nvidia-smi was not found."])

    return probe


def l40s() -> GpuInfo:
    return GpuInfo(index=0, name="NVIDIA L40S", uuid="GPU-1", memory_total_mib=46068, memory_free_mib=45500,
                   compute_capability=(8, 9), driver_version="580.65", cuda_version="13.0")


@pytest.fixture
def services(services: Services) -> Services:
    services.settings.set("local.models_dir", str(services.paths.data / "models"))
    return services


def open_window(qtbot: Any, services: Services, probe: Callable[[Path], HardwareReport]) -> LocalServersWindow:
    return open_servers_window(qtbot, services, probe)


def h100(index: int) -> GpuInfo:
    return GpuInfo(index=index, name="NVIDIA H100 80GB HBM3", uuid=f"GPU-{index}", memory_total_mib=81559,
                   memory_free_mib=81004, compute_capability=(9, 0), driver_version="580.65", cuda_version="13.0")


def assert_every_cell_is_shown_whole(window: LocalServersWindow) -> None:
    """Each column, as far as the list's viewport shows it, is as wide as the widest text in it."""
    tree, header = window.tree, window.tree.header()
    metrics = QFontMetrics(tree.font())
    icon = tree.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize, None, tree)
    visible = tree.viewport().width()
    assert not tree.horizontalScrollBar().isVisible()
    for column in range(tree.columnCount()):
        left = header.sectionViewportPosition(column)
        shown = min(left + header.sectionSize(column), visible) - left
        title = tree.headerItem().text(column)
        assert shown >= metrics.horizontalAdvance(title), (title, shown)
        for row in range(tree.topLevelItemCount()):
            item = tree.topLevelItem(row)
            needed = metrics.horizontalAdvance(item.text(column)) + (0 if item.icon(column).isNull() else icon)
            assert shown >= needed, (title, item.text(column), shown, needed)


def rows(window: LocalServersWindow) -> dict[tuple[str, Engine], tuple[str, str]]:
    """(model id, engine) → (fit column, context column)."""
    found = {}
    for index, (choice, entry) in enumerate(window._rows):  # noqa: SLF001 - the rows behind the tree
        item = window.tree.topLevelItem(index)
        found[(choice.spec.id, entry.engine)] = (item.text(2), item.text(3))
    return found


def test_a_48_gb_gpu_gets_the_flash_model_on_vllm_and_is_told_why_the_big_ones_do_not_fit(
        qtbot: Any, services: Services) -> None:
    window = open_window(qtbot, services, machine([l40s()]))
    # THEN the hardware line names the GPU
    assert "NVIDIA L40S" in window.hardware_label.text() and "compute 8.9" in window.hardware_label.text()
    table = rows(window)
    # AND every catalog model is listed with each of its engines
    assert {model for model, _engine in table} == set(BY_ID)
    assert table[("glm-4.6v-flash", Engine.VLLM)][0] == "Fits"
    assert int(table[("glm-4.6v-flash", Engine.VLLM)][1].replace(",", "")) >= 32768
    assert table[("glm-4.6v", Engine.VLLM)][0] == "Does not fit"
    # WHEN the big BF16 model is selected THEN the reason is said in words and nothing can be started
    window.select("glm-4.6v", Engine.VLLM)
    verdict = window.details.verdict.text()
    assert "GPU memory" in verdict and "GLM-4.6V-Flash" in verdict
    assert not window.details.start_button.isEnabled() and window.details.command.toPlainText() == ""
    # WHEN the Flash model on vLLM is selected
    window.select("glm-4.6v-flash", Engine.VLLM)
    command = window.details.command.toPlainText()
    # THEN the exact command is shown: loopback, the recipe's flags, the planned context, the key masked
    assert " serve " in command and "--host 127.0.0.1" in command and "--max-model-len" in command
    assert "--reasoning-parser glm45" in command and "VLLM_API_KEY='********'" in command
    assert "preview-key" not in command
    # AND it cannot start before the engine is installed and the files are here, and says so
    assert not window.details.start_button.isEnabled()
    qtbot.waitUntil(lambda: "Install the engine" in window.details.start_hint.text(), timeout=20000)
    assert window.details.engine_text.text() == "Not installed."
    assert window.details.install_button.isEnabled()
    assert "Not downloaded yet" in window.details.files_text.text()
    # AND Copy puts the command on the clipboard
    window.details.copy_button.click()
    assert QApplication.clipboard().text() == command


def test_a_machine_without_gpu_is_pointed_at_llama_cpp(qtbot: Any, services: Services) -> None:
    window = open_window(qtbot, services, machine([], ram_gib=32))
    table = rows(window)
    assert table[("glm-4.6v-flash", Engine.VLLM)][0] == "Does not fit"
    assert table[("glm-4.6v-flash-gguf", Engine.LLAMA_CPP)][0] == "Fits, with limits"
    window.select("glm-4.6v-flash", Engine.SGLANG)
    verdict = window.details.verdict.text()
    assert "No NVIDIA GPU" in verdict and "GGUF" in verdict
    window.select("glm-4.6v-flash-gguf", Engine.LLAMA_CPP)
    assert window.details.existing_button.text() == "Choose llama-server…"
    assert not window.details.install_button.isVisible()


def test_a_download_shows_progress_can_be_cancelled_and_resumes_where_it_stopped(
        qtbot: Any, services: Services) -> None:
    spec = BY_ID["glm-4.6v-flash"]
    weights = bytes(range(256)) * 4096  # 1 MiB
    files = {"config.json": b'{"model_type": "glm4v"}', "model.safetensors": weights}
    with FakeModelHub(files, repo=spec.hf_repo) as hub:
        hub.stall["model.safetensors"] = 300_000
        services.settings.set("local.mirror", hub.url)
        window = open_window(qtbot, services, machine([l40s()]))
        window.select(spec.id, Engine.VLLM)
        # WHEN Download is clicked
        window.details.download_button.click()
        # THEN progress arrives in bytes, and the row says it is downloading
        qtbot.waitUntil(hub.stalled.is_set, timeout=20000)
        qtbot.waitUntil(lambda: "of 1.0 MB" in window.details.download_job.text.text()
                        or "of 1.1 MB" in window.details.download_job.text.text(), timeout=10000)
        assert window.details.download_job.cancel_button.isVisible()
        assert window.tree.currentItem().text(4) == "downloading"
        assert_every_cell_is_shown_whole(window)
        # WHEN Cancel is clicked THEN it stops, keeps what arrived, and offers to resume
        window.details.download_job.cancel_button.click()
        qtbot.waitUntil(lambda: "paused" in window.details.download_job.text.text(), timeout=10000)
        qtbot.waitUntil(lambda: window.details.download_button.text() == "Resume download", timeout=10000)
        assert "Partly downloaded" in window.details.files_text.text()
        # WHEN the hub answers again and Resume is clicked
        hub.stall.clear()
        hub.release.set()
        window.details.download_button.click()
        qtbot.waitUntil(lambda: "Downloaded to" in window.details.files_text.text(), timeout=20000)
        # THEN the file is whole, and the second request asked only for the rest
        assert (window.manager.state_path.parent / "models" / spec.id / "model.safetensors").read_bytes() == weights
        ranges = [r.range for r in hub.file_requests("model.safetensors") if r.range]
        assert ranges and ranges[-1].startswith("bytes=") and not ranges[-1].startswith("bytes=0-")
        assert window.tree.currentItem().text(4) == "downloaded"
        assert "Download the model files" not in window.details.start_hint.text()


def test_an_engine_installed_from_the_window_shows_progress_and_becomes_ready(
        qtbot: Any, services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN pip finds "vllm" and "transformers" only in a local folder (real venv, real pip, offline)
    wheels = tmp_path / "wheels"
    write_wheel(wheels, "vllm", "0.12.0")
    write_wheel(wheels, "transformers", "5.2.0")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    window = open_window(qtbot, services, machine([l40s()]))
    window.select("glm-4.6v-flash", Engine.VLLM)
    qtbot.waitUntil(window.details.install_button.isEnabled, timeout=20000)
    # WHEN Install is clicked THEN progress and Cancel show while it runs
    window.details.install_button.click()
    assert window.details.install_job.bar.isVisible() and window.details.install_job.cancel_button.isVisible()
    assert not window.details.install_button.isEnabled()
    # AND at the end the engine is ready, in the app's own environment, with its version checked
    qtbot.waitUntil(lambda: "vLLM 0.12.0 in the app's own environment" in window.details.engine_text.text(),
                    timeout=300_000)
    assert "Installed vLLM 0.12.0" in window.details.install_job.text.text()
    assert not window.details.install_button.isVisible() and not window.details.install_job.bar.isVisible()
    assert (services.paths.data / "engines" / "vllm" / "bin" / "python").exists()  # its own venv
    # AND what stands in the way of Start now is the model files
    assert "Download the model files" in window.details.start_hint.text()


def test_every_cell_of_the_model_list_is_shown_whole(qtbot: Any, services: Services) -> None:
    window = open_window(qtbot, services, machine([l40s()]))
    assert_every_cell_is_shown_whole(window)
    # AND still when the window is made as small as it goes
    window.resize(window.minimumSizeHint())
    qtbot.wait(20)
    assert_every_cell_is_shown_whole(window)


SIZE = re.compile(r"\d\s*([KMGTP]i?B|kB)\b")


def test_every_size_in_the_window_is_in_decimal_units(qtbot: Any, services: Services) -> None:
    # GIVEN four 80 GB GPUs (which nvidia-smi counts in MiB), 64 GiB of RAM, and a partly downloaded model
    partial = services.paths.data / "models" / "glm-4.5v-fp8" / "model-00001-of-00020.safetensors.part"
    partial.parent.mkdir(parents=True)
    with partial.open("wb") as file:
        file.truncate(3 * GB)  # sparse: its size without the disk space
    window = open_window(qtbot, services, machine([h100(i) for i in range(4)], disk_free=83 * GB))
    texts = [window.hardware_label.text()]
    for index, (choice, entry) in enumerate(window._rows):  # noqa: SLF001 - every row behind the tree
        item = window.tree.topLevelItem(index)
        texts += [item.text(column) for column in range(item.columnCount())]
        texts += [item.toolTip(column) for column in range(item.columnCount())]
        window.select(choice.spec.id, entry.engine)
        details = window.details
        texts += [details.verdict.text(), details.files_text.text(), details.download_button.toolTip(),
                  details.start_hint.text()]
    shown = "\n".join(texts)
    units = set(SIZE.findall(shown))
    # THEN memory, disk and download sizes all count in GB (10^9 bytes), as disks and model hubs do
    assert units and units <= {"kB", "MB", "GB", "TB"}, units
    assert "Disk free for models: 83.0 GB" in window.hardware_label.text()
    assert "85.5 GB each" in window.hardware_label.text()  # 81,559 MiB
    assert "Partly downloaded (3.0 GB of about 110.0 GB)" in shown


def test_download_is_offered_only_when_the_models_disk_has_room_for_what_is_left(
        qtbot: Any, services: Services) -> None:
    # GIVEN 83 GB free where models are kept, and part of the 216 GB GLM-4.5V already there
    partial = services.paths.data / "models" / "glm-4.5v" / "model-00001-of-00046.safetensors.part"
    partial.parent.mkdir(parents=True)
    window = open_window(qtbot, services, machine([h100(i) for i in range(4)], disk_free=83 * GB))
    # WHEN the 216 GB GLM-4.6V is selected
    window.select("glm-4.6v", Engine.VLLM)
    button = window.details.download_button
    # THEN Download is refused, saying how much is needed, how much is free and what to do
    assert button.isVisible() and not button.isEnabled()
    reason = button.toolTip()
    assert "216.0 GB more are needed" in reason and "83.0 GB are free" in reason, reason
    assert "Free some space" in reason and "Folder for downloaded models" in reason and "local.models_dir" in reason
    assert "216.0 GB more are needed" in window.details.files_text.text()
    # AND a model that fits on that disk can be downloaded
    window.select("glm-4.6v-flash", Engine.VLLM)
    assert window.details.download_button.isEnabled() and window.details.download_button.toolTip() == ""
    # AND what counts is what is still missing: with 140 GB of GLM-4.5V on disk, 76 GB fit in 83 GB
    with partial.open("wb") as file:
        file.truncate(140 * GB)  # sparse: its size without the disk space
    window.refresh()
    qtbot.waitUntil(window.refresh_task.done, timeout=60000)
    window.select("glm-4.5v", Engine.VLLM)
    assert window.details.download_button.text() == "Resume download"
    assert window.details.download_button.isEnabled() and window.details.download_button.toolTip() == ""
