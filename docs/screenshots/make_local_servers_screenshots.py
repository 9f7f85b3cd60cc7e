"""Take the README's pictures of the Local servers window.

1. `local-servers-planner.png`: the fit planner on a machine with one 48 GB GPU (the probe's answer is
   made up, as this machine has no GPU; the planner, the command and everything else are the app's own).
2. `local-servers-download.png`: a download in progress, from a local test hub serving a 200 MB file
   (held half-way so the picture shows progress).
3. `local-servers-running.png`: the tiny GLM-V model started for real from the window on this machine
   (`transformers serve` on the CPU), after answering one question, with its live log. The picture leaves
   out the kernel's name, and its paths are those of a demo folder.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m docs.screenshots.make_local_servers_screenshots
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def python_env(root: Path) -> Path:
    """This Python environment seen from a demo folder (links), so the pictures show no real paths."""
    (root / "bin").mkdir(parents=True)
    shutil.copy(Path(sys.prefix) / "pyvenv.cfg", root / "pyvenv.cfg")
    (root / "lib").symlink_to(Path(sys.prefix) / "lib", target_is_directory=True)
    for name in ("python", "transformers"):
        (root / "bin" / name).symlink_to(Path(sys.executable).with_name(name))
    return root


async def settle(window: object, rounds: int = 15) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0.03)


async def wait(condition: object, timeout: float = 300.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        if loop.time() > deadline:
            raise TimeoutError("the window did not get there in time")
        await asyncio.sleep(0.05)


async def shoot() -> list[Path]:
    """Open the window three times and save each picture."""
    from PIL import Image

    from desktop.assistant.local_server import ServerManager
    from desktop.assistant.services import AppPaths, Services
    from desktop.backends.catalog import BY_ID, Engine
    from desktop.backends.hardware import GpuInfo, HardwareReport, probe_hardware
    from desktop.chat.conversation import Attachment, Conversation
    from desktop.chat.request import AskOptions
    from desktop.ui.notifier import Notifier
    from desktop.ui.servers.window import LocalServersWindow
    from tests.support.fake_model_hub import FakeModelHub
    from tests.support.tiny_glmv import build_tiny_glmv

    work = Path(tempfile.gettempdir()) / "glmv-demo"
    shutil.rmtree(work, ignore_errors=True)
    env = python_env(work / "python-env")
    os.environ.update({"HF_HOME": str(work / "hf-home"), "TRANSFORMERS_OFFLINE": "1",
                       "TOKENIZERS_PARALLELISM": "false"})
    services = Services.create(AppPaths(config=work / "config", data=work / "data", logs=work / "logs"))
    services.settings.set("local.models_dir", str(work / "models"))

    def gpu_machine(_models: Path) -> HardwareReport:
        gpu = GpuInfo(index=0, name="NVIDIA L40S", uuid="GPU-0", memory_total_mib=46068, memory_free_mib=45210,
                      compute_capability=(8, 9), driver_version="580.95", cuda_version="13.0")
        return HardwareReport(os="linux", os_detail="Ubuntu 24.04", cpu_name="AMD Ryzen 9 7950X", cpu_cores=32,
                              ram_total_mib=128 * 1024, ram_available_mib=118 * 1024, disk_free_mib=900 * 1024,
                              gpus=[gpu], nvidia_driver="580.95", cuda_version="13.0", apple_silicon=False,
                              problems=[])

    def window_for(probe: object) -> LocalServersWindow:
        manager = ServerManager(services.profiles, services.secrets, services.paths)
        window = LocalServersWindow(services, Notifier(), manager, probe=probe)  # type: ignore[arg-type]
        window.resize(1180, 820)
        window.show()
        return window

    out: list[Path] = []
    # 1. The planner
    window = window_for(gpu_machine)
    await wait(lambda: window.refresh_task is not None and window.refresh_task.done())
    window.select("glm-4.6v-flash", Engine.VLLM)
    await settle(window)
    out.append(HERE / "local-servers-planner.png")
    window.grab().save(str(out[-1]))
    window.shutdown()
    window.hide()

    # 2. A download in progress
    spec = BY_ID["glm-4.6v-flash"]
    weights = bytes(200 * 1024 * 1024)
    with FakeModelHub({"config.json": b'{"model_type": "glm4v"}', "model-00001-of-00001.safetensors": weights},
                      repo=spec.hf_repo) as hub:
        hub.stall["model-00001-of-00001.safetensors"] = 87 * 1024 * 1024
        services.settings.set("local.mirror", hub.url)
        window = window_for(gpu_machine)
        await wait(lambda: window.refresh_task is not None and window.refresh_task.done())
        window.select(spec.id, Engine.VLLM)
        window.download_selected()
        await wait(hub.stalled.is_set)
        await wait(lambda: "MB of" in window.details.download_job.text.text())
        await settle(window)
        out.append(HERE / "local-servers-download.png")
        window.grab().save(str(out[-1]))
        window.details.download_job.cancel_button.click()
        hub.release.set()
        await settle(window)
        window.shutdown()
        window.hide()

    # 3. The tiny model, started for real from the window on this machine
    services.settings.set("local.engine_python.transformers", str(env / "bin" / "python"))
    folder = build_tiny_glmv(work / "GLM-V-tiny")

    def this_machine(models: Path) -> HardwareReport:
        return dataclasses.replace(probe_hardware(models), os_detail="")

    window = window_for(this_machine)
    await wait(lambda: window.refresh_task is not None and window.refresh_task.done())
    added = window.add_model_folder(folder)
    await wait(added.done)
    await wait(lambda: window.refresh_task is not None and window.refresh_task.done()
               and any(c.spec.id == f"folder:{folder.resolve()}" for c, _p in window._rows))  # noqa: SLF001
    window.select(f"folder:{folder.resolve()}", Engine.TRANSFORMERS)
    await wait(lambda: window.details.start_button.isEnabled())
    window.details.start_button.click()
    await wait(lambda: window.manager.server is not None)
    profile = services.profiles.active()
    assert profile is not None
    conversation = Conversation()
    question = conversation.add_question(
        "What is in this picture?",
        [Attachment.from_pixels(Image.new("RGB", (112, 112), (40, 90, 200)), "blue.png", "file")])
    reply = conversation.start_reply(question, model=profile.model, endpoint_id=profile.id, thinking=False)
    await services.runner.run(conversation, reply, profile, AskOptions(model=profile.model, thinking=False),
                              lambda _m: None)
    await settle(window, 30)
    out.append(HERE / "local-servers-running.png")
    window.grab().save(str(out[-1]))
    await window.manager.stop()
    window.shutdown()
    await services.client.aclose()
    return out


def main() -> int:
    """Render the three pictures."""
    from docs.screenshots.offscreen import run_offscreen

    print("\n".join(str(p) for p in run_offscreen(shoot)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
