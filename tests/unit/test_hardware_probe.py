"""The hardware probe against recorded outputs of nvidia-smi, sysctl and /proc, a fake NVML, and this machine."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from desktop.backends.hardware import (
    NVIDIA_SMI_TIMEOUT_S,
    QUERY_FIELDS,
    WSL_NVIDIA_SMI,
    CompletedCommand,
    GpuInfo,
    HardwareReport,
    describe,
    probe_hardware,
)

QUERY = f"--query-gpu={','.join(QUERY_FIELDS)}"
OLD_QUERY = "--query-gpu=index,name,uuid,memory.total,memory.free,driver_version"
CSV = "--format=csv,noheader,nounits"

# -- recorded outputs --------------------------------------------------------------------------------------
H100_QUERY = "0, NVIDIA H100 80GB HBM3, GPU-3c5e0f2a-8b1d-4e6f-9a7c-2d4b6e8f0a1c, 81559, 81004, 9.0, 550.54.15\n"
H100_TABLE = """\
Wed Nov 27 09:12:44 2024       
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |
|                                         |                        |               MIG M. |
|=========================================+========================+======================|
|   0  NVIDIA H100 80GB HBM3          On  |   00000000:18:00.0 Off |                    0 |
| N/A   31C    P0             71W /  700W |       4MiB /  81559MiB |      0%      Default |
|                                         |                        |             Disabled |
+-----------------------------------------+------------------------+----------------------+

+-----------------------------------------------------------------------------------------+
| Processes:                                                                              |
|  GPU   GI   CI        PID   Type   Process name                              GPU Memory |
|        ID   ID                                                               Usage      |
|=========================================================================================|
|  No running processes found                                                             |
+-----------------------------------------------------------------------------------------+
"""  # noqa: W291 - nvidia-smi pads its date line with spaces

RTX4090X2_QUERY = """\
0, NVIDIA GeForce RTX 4090, GPU-a1b2c3d4-e5f6-7a8b-9c0d-1e2f3a4b5c6d, 24564, 23817, 8.9, 535.183.01
1, NVIDIA GeForce RTX 4090, GPU-f6e5d4c3-b2a1-0f9e-8d7c-6b5a4f3e2d1c, 24564, 24211, 8.9, 535.183.01
"""
RTX4090X2_TABLE = """\
+---------------------------------------------------------------------------------------+
| NVIDIA-SMI 535.183.01             Driver Version: 535.183.01   CUDA Version: 12.2     |
|-----------------------------------------+----------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id        Disp.A | Volatile Uncorr. ECC |
"""

OLD_DRIVER_ERROR = 'Field "compute_cap" is not a valid field to query.\n\n'
V100_OLD_QUERY = "0, Tesla V100-SXM2-16GB, GPU-0d3e4f5a-6b7c-8d9e-0f1a-2b3c4d5e6f7a, 16160, 15868, 470.182.03\n"
V100_OLD_TABLE = """\
+-----------------------------------------------------------------------------+
| NVIDIA-SMI 470.182.03   Driver Version: 470.182.03   CUDA Version: 11.4     |
|-------------------------------+----------------------+----------------------+
"""

NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.\n\n"
)

# A MIG-enabled A100: the driver withholds some values; plus a line that is not a GPU at all.
MIG_QUERY = """\
0, NVIDIA A100-SXM4-40GB, GPU-5e6f7a8b-9c0d-1e2f-3a4b-5c6d7e8f9a0b, 40960, [N/A], 8.0, 550.90.07
1, NVIDIA A100-SXM4-40GB, [Insufficient Permissions], [N/A], [N/A], [Not Supported], 550.90.07
Unable to determine the device handle for GPU 0000:C1:00.0: Unknown Error
"""

MEMINFO = """\
MemTotal:       65764996 kB
MemFree:         3127816 kB
MemAvailable:   48123456 kB
Buffers:         1234567 kB
"""
CPUINFO = """\
processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD Ryzen 9 7950X 16-Core Processor
processor\t: 1
model name\t: AMD Ryzen 9 7950X 16-Core Processor
"""
OS_RELEASE = 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
LINUX_PROC = {
    "/proc/version": "Linux version 6.5.0-35-generic (buildd@lcy02-amd64-079) (gcc-12 12.3.0) #35~22.04.1-Ubuntu",
    "/proc/meminfo": MEMINFO,
    "/proc/cpuinfo": CPUINFO,
    "/etc/os-release": OS_RELEASE,
    "/proc/sys/kernel/osrelease": "6.5.0-35-generic\n",
}
WSL2_PROC = {
    **LINUX_PROC,
    "/proc/version": "Linux version 5.15.153.1-microsoft-standard-WSL2 (root@941d701f84f1) (gcc (GCC) 11.2.0) #1 SMP",
    "/proc/sys/kernel/osrelease": "5.15.153.1-microsoft-standard-WSL2\n",
}
WSL1_PROC = {
    **LINUX_PROC,
    "/proc/version": "Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0 (GCC) ) #1237",
}


# -- fakes ---------------------------------------------------------------------------------------------------
class FakeRunner:
    """Answers commands from a table of recorded outputs; anything else is not installed."""

    def __init__(self, answers: dict[tuple[str, ...], CompletedCommand | Exception]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> CompletedCommand:
        assert timeout > 0
        self.calls.append(tuple(argv))
        answer = self.answers.get(tuple(argv), FileNotFoundError(2, "No such file or directory", argv[0]))
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(stdout: str) -> CompletedCommand:
    return CompletedCommand(0, stdout, "")


def smi(query: CompletedCommand | Exception, table: str | None = None, exe: str = "nvidia-smi") -> FakeRunner:
    answers: dict[tuple[str, ...], CompletedCommand | Exception] = {(exe, QUERY, CSV): query}
    if table is not None:
        answers[(exe,)] = ok(table)
    return FakeRunner(answers)


def proc_reader(files: dict[str, str]) -> Any:
    def read_text(path: str) -> str:
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return files[path]

    return read_text


def probe(tmp_path: Path, run: Any, files: dict[str, str] | None = None, **kwargs: Any) -> HardwareReport:
    options: dict[str, Any] = {"platform": "linux", "environ": {}, "nvml": False, **kwargs}
    return probe_hardware(tmp_path, run=run, read_text=proc_reader(LINUX_PROC if files is None else files), **options)


# -- nvidia-smi ----------------------------------------------------------------------------------------------
def test_one_h100(tmp_path: Path) -> None:
    report = probe(tmp_path, smi(ok(H100_QUERY), H100_TABLE))

    assert report.gpus == [
        GpuInfo(0, "NVIDIA H100 80GB HBM3", "GPU-3c5e0f2a-8b1d-4e6f-9a7c-2d4b6e8f0a1c", 81559, 81004, (9, 0),
                "550.54.15", "12.4")
    ]
    assert (report.nvidia_driver, report.cuda_version) == ("550.54.15", "12.4")
    assert report.problems == []
    assert "GPU 0: NVIDIA H100 80GB HBM3, 85.5 GB total, 84.9 GB free, compute 9.0" in describe(report)
    assert "NVIDIA driver 550.54.15, CUDA 12.4" in describe(report)


def test_two_rtx_4090(tmp_path: Path) -> None:
    report = probe(tmp_path, smi(ok(RTX4090X2_QUERY), RTX4090X2_TABLE))

    assert [(g.index, g.name, g.memory_total_mib, g.memory_free_mib) for g in report.gpus] == [
        (0, "NVIDIA GeForce RTX 4090", 24564, 23817),
        (1, "NVIDIA GeForce RTX 4090", 24564, 24211),
    ]
    assert all(g.compute_capability == (8, 9) and g.cuda_version == "12.2" for g in report.gpus)
    assert report.gpus[0].uuid != report.gpus[1].uuid
    assert report.problems == []


def test_old_driver_without_compute_cap_is_asked_again_without_it(tmp_path: Path) -> None:
    # GIVEN driver 470, which rejects the whole query because of compute_cap (exit status 2)
    run = smi(CompletedCommand(2, OLD_DRIVER_ERROR, ""), V100_OLD_TABLE)
    run.answers[("nvidia-smi", OLD_QUERY, CSV)] = ok(V100_OLD_QUERY)

    report = probe(tmp_path, run)

    # THEN the GPU is there, its compute capability unknown, and the user is told to update
    assert run.calls[:2] == [("nvidia-smi", QUERY, CSV), ("nvidia-smi", OLD_QUERY, CSV)]
    assert report.gpus == [
        GpuInfo(0, "Tesla V100-SXM2-16GB", "GPU-0d3e4f5a-6b7c-8d9e-0f1a-2b3c4d5e6f7a", 16160, 15868, None,
                "470.182.03", "11.4")
    ]
    assert len(report.problems) == 1 and "510" in report.problems[0]
    assert "GPU 0: Tesla V100-SXM2-16GB, 16.9 GB total, 16.6 GB free, compute capability unknown" in describe(report)


def test_driver_not_loaded(tmp_path: Path) -> None:
    report = probe(tmp_path, smi(CompletedCommand(9, NO_DRIVER, "")))

    assert report.gpus == [] and report.nvidia_driver is None
    assert len(report.problems) == 1 and "could not talk to the NVIDIA driver" in report.problems[0]
    assert "No NVIDIA GPU found" in describe(report)


def test_nvidia_smi_not_installed(tmp_path: Path) -> None:
    report = probe(tmp_path, FakeRunner({}))

    assert report.gpus == []
    assert report.problems == [
        "nvidia-smi was not found: no NVIDIA driver is installed, or it is not on PATH. Local vLLM/SGLang need "
        "an NVIDIA GPU; llama.cpp or transformers serve run without one."
    ]


def test_no_devices(tmp_path: Path) -> None:
    report = probe(tmp_path, smi(CompletedCommand(6, "No devices were found\n", "")))

    assert report.gpus == [] and "found no NVIDIA GPU" in report.problems[0]


def test_other_failures_and_timeouts_are_problems(tmp_path: Path) -> None:
    mismatch = "Failed to initialize NVML: Driver/library version mismatch\n"
    failed = probe(tmp_path, smi(CompletedCommand(255, "", mismatch)))
    stuck = probe(tmp_path, smi(subprocess.TimeoutExpired("nvidia-smi", NVIDIA_SMI_TIMEOUT_S)))
    denied = probe(tmp_path, smi(PermissionError(13, "Permission denied")))

    assert "Driver/library version mismatch" in failed.problems[0] and "255" in failed.problems[0]
    assert "did not answer" in stuck.problems[0]
    assert "Permission denied" in denied.problems[0]
    assert failed.gpus == stuck.gpus == denied.gpus == []


def test_unreadable_values_and_odd_rows(tmp_path: Path) -> None:
    report = probe(tmp_path, smi(ok(MIG_QUERY), H100_TABLE.replace("550.54.15", "550.90.07")))

    first, second = report.gpus
    assert (first.memory_total_mib, first.memory_free_mib, first.compute_capability) == (40960, 0, (8, 0))
    assert (second.uuid, second.memory_total_mib, second.compute_capability) == ("", 0, None)
    assert len(report.problems) == 1 and "Unable to determine the device handle" in report.problems[0]
    assert "GPU 1: NVIDIA A100-SXM4-40GB, ? total, ? free, compute capability unknown" in describe(report)


def test_missing_cuda_version_is_a_problem_but_keeps_the_gpus(tmp_path: Path) -> None:
    report = probe(tmp_path, smi(ok(H100_QUERY), table="garbled\n"))

    assert len(report.gpus) == 1 and report.cuda_version is None
    assert report.nvidia_driver == "550.54.15"
    assert "CUDA version" in report.problems[0]


# -- WSL2 ----------------------------------------------------------------------------------------------------
def test_wsl2_from_proc_version_and_its_own_nvidia_smi(tmp_path: Path) -> None:
    # GIVEN WSL2, where nvidia-smi is not on PATH but in /usr/lib/wsl/lib
    run = smi(ok(RTX4090X2_QUERY.splitlines()[0] + "\n"), RTX4090X2_TABLE, exe=WSL_NVIDIA_SMI)

    report = probe(tmp_path, run, WSL2_PROC)

    assert report.os == "wsl2"
    assert "microsoft-standard-WSL2" in report.os_detail
    assert run.calls[0] == ("nvidia-smi", QUERY, CSV) and run.calls[1] == (WSL_NVIDIA_SMI, QUERY, CSV)
    assert len(report.gpus) == 1 and report.problems == []
    assert describe(report)[0].startswith("System: Windows Subsystem for Linux 2")


def test_wsl_from_the_environment(tmp_path: Path) -> None:
    report = probe(tmp_path, smi(ok(H100_QUERY), H100_TABLE), environ={"WSL_DISTRO_NAME": "Ubuntu-22.04"})

    assert report.os == "wsl2"


def test_wsl1_is_told_to_convert(tmp_path: Path) -> None:
    report = probe(tmp_path, FakeRunner({}), WSL1_PROC)

    assert report.os == "wsl2"
    assert any("WSL 1" in problem for problem in report.problems)


def test_plain_linux_is_not_wsl(tmp_path: Path) -> None:
    report = probe(tmp_path, smi(ok(H100_QUERY), H100_TABLE))

    assert report.os == "linux"
    assert report.os_detail == "Ubuntu 22.04.4 LTS, kernel 6.5.0-35-generic"


# -- /proc, disk, other systems --------------------------------------------------------------------------------
def test_proc_files(tmp_path: Path) -> None:
    report = probe(tmp_path, FakeRunner({}))

    assert report.cpu_name == "AMD Ryzen 9 7950X 16-Core Processor"
    assert (report.ram_total_mib, report.ram_available_mib) == (65764996 // 1024, 48123456 // 1024)
    assert "RAM: 67.3 GB total, 49.3 GB available" in describe(report)


def test_unreadable_proc_falls_back_and_never_raises(tmp_path: Path) -> None:
    def broken(path: str) -> str:
        raise PermissionError(13, "Permission denied", path)

    def broken_runner(argv: Sequence[str], timeout: float) -> CompletedCommand:
        raise RuntimeError("runner exploded")

    report = probe_hardware(tmp_path, run=broken_runner, read_text=broken, platform="linux", environ={}, nvml=False)

    assert report.os == "linux"
    assert report.cpu_name  # platform.processor() or the architecture
    assert report.ram_total_mib > 0  # os.sysconf on this Linux machine
    assert any("runner exploded" in problem for problem in report.problems)


def test_disk_of_a_folder_that_does_not_exist_yet(tmp_path: Path) -> None:
    report = probe_hardware(tmp_path / "not" / "yet" / "models", run=FakeRunner({}),
                            read_text=proc_reader(LINUX_PROC), platform="linux", environ={}, nvml=False)

    assert report.disk_free_mib > 0
    assert not any("disk" in problem for problem in report.problems)


def test_macos_apple_silicon(tmp_path: Path) -> None:
    vm_stat = (
        "Mach Virtual Memory Statistics: (page size of 16384 bytes)\n"
        "Pages free:                               62500.\n"
        "Pages active:                            400000.\n"
        "Pages inactive:                          187500.\n"
        "Pages speculative:                        12500.\n"
    )
    run = FakeRunner({
        ("sysctl", "-n", "hw.memsize"): ok("34359738368\n"),
        ("sysctl", "-n", "machdep.cpu.brand_string"): ok("Apple M2 Pro\n"),
        ("vm_stat",): ok(vm_stat),
    })

    report = probe(tmp_path, run, {}, platform="darwin", machine="arm64")

    assert (report.os, report.apple_silicon, report.cpu_name) == ("macos", True, "Apple M2 Pro")
    assert (report.ram_total_mib, report.ram_available_mib) == (32768, 262500 * 16384 // 2**20)
    assert report.gpus == [] and report.problems == []  # no NVIDIA on a Mac, and nothing to fix
    assert not any(call[:1] == ("nvidia-smi",) for call in run.calls)


def test_macos_intel_python_under_rosetta_is_still_apple_silicon(tmp_path: Path) -> None:
    run = FakeRunner({("sysctl", "-n", "hw.optional.arm64"): ok("1\n")})

    report = probe(tmp_path, run, {}, platform="darwin", machine="x86_64")

    assert report.apple_silicon


def test_windows(tmp_path: Path) -> None:
    report = probe(tmp_path, smi(ok(RTX4090X2_QUERY), RTX4090X2_TABLE), {}, platform="win32")

    assert report.os == "windows" and len(report.gpus) == 2


# -- NVML ----------------------------------------------------------------------------------------------------
class NVMLError(Exception):
    pass


class FakeNvml:
    """The part of pynvml the probe uses, for two GPUs; old bindings answered bytes."""

    def __init__(self, *, fail_init: bool = False) -> None:
        self.fail_init = fail_init
        self.shut_down = False

    def nvmlInit(self) -> None:  # noqa: N802 - pynvml's names
        if self.fail_init:
            raise NVMLError("NVML Shared Library Not Found")

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.shut_down = True

    def nvmlSystemGetDriverVersion(self) -> str:  # noqa: N802
        return "560.35.03"

    def nvmlSystemGetCudaDriverVersion(self) -> int:  # noqa: N802
        return 12060

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        return index

    def nvmlDeviceGetName(self, handle: int) -> str | bytes:  # noqa: N802
        return b"NVIDIA L40S" if handle == 0 else "NVIDIA RTX 6000 Ada Generation"

    def nvmlDeviceGetUUID(self, handle: int) -> str:  # noqa: N802
        return f"GPU-0000000{handle}-1111-2222-3333-444444444444"

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:  # noqa: N802
        if handle == 1:
            raise NVMLError("Not Supported")

        class Memory:
            total = 48 * 1024**3
            free = 47 * 1024**3
            used = 1024**3

        return Memory()

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> tuple[int, int]:  # noqa: N802
        return (8, 9)


def test_nvml_is_preferred(tmp_path: Path) -> None:
    nvml = FakeNvml()
    run = FakeRunner({})

    report = probe(tmp_path, run, nvml=nvml)

    assert report.gpus == [
        GpuInfo(0, "NVIDIA L40S", "GPU-00000000-1111-2222-3333-444444444444", 49152, 48128, (8, 9),
                "560.35.03", "12.6"),
        GpuInfo(1, "NVIDIA RTX 6000 Ada Generation", "GPU-00000001-1111-2222-3333-444444444444", 0, 0,
                (8, 9), "560.35.03", "12.6"),
    ]
    assert (report.nvidia_driver, report.cuda_version) == ("560.35.03", "12.6")
    assert report.problems == [] and nvml.shut_down
    assert not any(call[0].endswith("nvidia-smi") for call in run.calls)


def test_nvml_that_cannot_start_falls_back_to_nvidia_smi(tmp_path: Path) -> None:
    report = probe(tmp_path, smi(ok(H100_QUERY), H100_TABLE), nvml=FakeNvml(fail_init=True))

    assert [gpu.name for gpu in report.gpus] == ["NVIDIA H100 80GB HBM3"] and report.problems == []


# -- this machine --------------------------------------------------------------------------------------------
def test_the_real_probe_on_this_machine(tmp_path: Path) -> None:
    report = probe_hardware(tmp_path / "models")

    assert report.cpu_cores >= 1
    assert report.ram_total_mib >= report.ram_available_mib > 0
    assert report.disk_free_mib > 0
    lines = describe(report)
    assert lines[0].startswith("System: ")
    if shutil.which("nvidia-smi") is None:
        assert report.gpus == []
        assert any("nvidia-smi" in problem for problem in report.problems)
        assert "No NVIDIA GPU found" in lines
    else:
        assert report.gpus, report.problems


def test_main_prints_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from desktop.backends.hardware import main

    assert main([str(tmp_path), "--json"]) == 0
    assert '"cpu_cores"' in capsys.readouterr().out
