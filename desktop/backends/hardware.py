"""What this machine offers for running GLM-V locally: system, CPU, RAM, disk for models, NVIDIA GPUs.

`probe_hardware` never raises: a missing tool or a failed query becomes a sentence in
`HardwareReport.problems` saying what is wrong and what to do. All I/O is injected (the command
runner, the reader of /proc files, the platform, the environment, the NVML module), so each
format can be tested with recorded outputs.

NVIDIA facts this relies on: NVML (`pynvml`, from the `nvidia-ml-py` package) is used when it can
be imported; otherwise `nvidia-smi --query-gpu=... --format=csv,noheader,nounits`. The
`compute_cap` field exists from driver 510; older drivers reject the whole query with
`Field "compute_cap" is not a valid field to query.` (exit status 2), so the query is repeated
without it. Unreadable values come back as `[N/A]`, `[Not Supported]` and the like. The CUDA
version the driver supports is only in plain `nvidia-smi`'s header (`CUDA Version: 12.4`). Under
WSL2 the tool lives in `/usr/lib/wsl/lib`, which is not always on PATH.

Run `python -m desktop.backends.hardware` to print the report of this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import logging
import os
import platform as pyplatform
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from desktop.backends.catalog import format_bytes
from desktop.i18n import _
from desktop.processenv import child_environment

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
NVIDIA_SMI_TIMEOUT_S = 20.0  # nvidia-smi takes seconds per GPU when the driver is not persistent
SYSCTL_TIMEOUT_S = 5.0
WSL_NVIDIA_SMI = "/usr/lib/wsl/lib/nvidia-smi"
# Drivers before 418 installed nvidia-smi here instead of System32.
WINDOWS_OLD_NVIDIA_SMI = r"C:\Program Files\NVIDIA Corporation\NVSMI\nvidia-smi.exe"
QUERY_FIELDS = ("index", "name", "uuid", "memory.total", "memory.free", "compute_cap", "driver_version")
OLD_DRIVER_QUERY_FIELDS = tuple(field for field in QUERY_FIELDS if field != "compute_cap")

@dataclass(frozen=True)
class CompletedCommand:
    """What a finished command returned."""

    returncode: int
    stdout: str
    stderr: str


class CommandRunner(Protocol):
    """Runs a command to completion; raises FileNotFoundError when it is not installed and
    subprocess.TimeoutExpired when it runs past `timeout` seconds."""

    def __call__(self, argv: Sequence[str], timeout: float) -> CompletedCommand: ...


def run_command(argv: Sequence[str], timeout: float) -> CompletedCommand:
    """The real CommandRunner: the command's text output, with no console window on Windows."""
    flags = 0
    if sys.platform == "win32":
        flags = subprocess.CREATE_NO_WINDOW
    done = subprocess.run(  # noqa: S603 - fixed diagnostic commands, never a shell
        list(argv),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        check=False,
        env=child_environment(),
        stdin=subprocess.DEVNULL,
        creationflags=flags,
    )
    return CompletedCommand(done.returncode, done.stdout or "", done.stderr or "")


def read_text_file(path: str) -> str:
    """The real reader of small system files (/proc, /etc)."""
    return Path(path).read_text(encoding="utf-8", errors="replace")


@dataclass(frozen=True)
class GpuInfo:
    """One NVIDIA GPU. Memory is 0 where the driver would not say (as with the RAM figures); the compute
    capability is None then, and on drivers older than 510."""

    index: int
    name: str
    uuid: str
    memory_total_mib: int  # 0 when unknown
    memory_free_mib: int  # 0 when unknown
    compute_capability: tuple[int, int] | None
    driver_version: str | None
    cuda_version: str | None


@dataclass(frozen=True)
class HardwareReport:
    """What this machine offers for running a model locally, and what could not be found out."""

    os: str  # "linux" | "wsl2" | "windows" | "macos" | sys.platform's word for anything else
    os_detail: str
    cpu_name: str
    cpu_cores: int  # logical processors
    ram_total_mib: int  # 0 when unknown
    ram_available_mib: int  # 0 when unknown
    disk_free_mib: int  # free where the models go; 0 when unknown
    gpus: list[GpuInfo]
    nvidia_driver: str | None
    cuda_version: str | None  # the highest CUDA version the driver supports
    apple_silicon: bool
    problems: list[str]  # each missing tool or failed query, in words, with what to do

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HardwareReport:
        """A report from `dataclasses.asdict` output (the JSON of `--json`, as a remote host's probe prints
        it); raise ValueError when it is not one."""
        try:
            gpus = [GpuInfo(**{**gpu, "compute_capability": tuple(gpu["compute_capability"])
                               if gpu.get("compute_capability") else None}) for gpu in data["gpus"]]
            fields = {name: data[name] for name in cls.__dataclass_fields__ if name != "gpus"}
            return cls(**fields, gpus=gpus)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a hardware report: {exc}") from exc


# -- running commands ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Failed:
    """A command that could not be run at all."""

    kind: Literal["missing", "timeout", "error"]
    detail: str


def _attempt(run: CommandRunner, argv: Sequence[str], timeout: float) -> CompletedCommand | _Failed:
    """Run a command, turning every way of not running into a _Failed."""
    try:
        return run(argv, timeout)
    except FileNotFoundError as exc:
        return _Failed("missing", str(exc))
    except subprocess.TimeoutExpired as exc:
        return _Failed("timeout", str(exc))
    except Exception as exc:  # a probe must never raise: PermissionError, a broken runner, ...
        logger.debug("running %s failed", argv, exc_info=True)
        return _Failed("error", str(exc) or type(exc).__name__)


def _first_line(result: CompletedCommand) -> str:
    """The first non-empty line a command printed, for a problem message."""
    for line in (result.stdout + "\n" + result.stderr).splitlines():
        if line.strip():
            return line.strip()
    return _("(no output)")


# -- NVIDIA ----------------------------------------------------------------------------------------------
@dataclass
class _NvidiaFindings:
    gpus: list[GpuInfo] = dataclasses.field(default_factory=list)
    driver: str | None = None
    cuda: str | None = None


def _import_nvml() -> Any:
    """The pynvml module (package nvidia-ml-py) if it is installed, else None."""
    try:
        with warnings.catch_warnings():
            # The old `pynvml` distribution warns on import that it is deprecated.
            warnings.simplefilter("ignore")
            import pynvml  # type: ignore[import-not-found, unused-ignore]
    except Exception:
        return None
    return pynvml


def _text(value: Any) -> str:
    """NVML answers str in nvidia-ml-py ≥ 11.515 and bytes before."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _nvml_cuda_version(number: int) -> str:
    """NVML's CUDA driver version number (12040) as nvidia-smi writes it (12.4)."""
    return f"{number // 1000}.{number % 1000 // 10}"


def _probe_nvml(nvml: Any) -> _NvidiaFindings:
    """Every GPU as NVML sees it; raises whatever NVML raises when it cannot start."""
    nvml.nvmlInit()
    try:
        found = _NvidiaFindings()
        with contextlib.suppress(Exception):
            found.driver = _text(nvml.nvmlSystemGetDriverVersion())
        with contextlib.suppress(Exception):
            found.cuda = _nvml_cuda_version(int(nvml.nvmlSystemGetCudaDriverVersion()))
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = uuid = ""
            total = free = 0
            capability: tuple[int, int] | None = None
            with contextlib.suppress(Exception):
                name = _text(nvml.nvmlDeviceGetName(handle))
            with contextlib.suppress(Exception):
                uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            with contextlib.suppress(Exception):
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                total, free = int(memory.total) // MIB, int(memory.free) // MIB
            with contextlib.suppress(Exception):
                major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
                capability = (int(major), int(minor))
            found.gpus.append(GpuInfo(index, name, uuid, total, free, capability, found.driver, found.cuda))
        return found
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()


def _value(field: str) -> str | None:
    """One nvidia-smi CSV value, None for the bracketed non-answers ([N/A], [Not Supported], ...)."""
    field = field.strip()
    if not field or field in {"N/A", "Not Supported"} or (field.startswith("[") and field.endswith("]")):
        return None
    return field


def _int_value(field: str) -> int | None:
    value = _value(field)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _capability(field: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)\.(\d+)", _value(field) or "")
    return (int(match[1]), int(match[2])) if match else None


def _parse_query_rows(
    stdout: str, fields: Sequence[str], problems: list[str]
) -> tuple[list[GpuInfo], str | None]:
    """GPUs from `nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits`, and the driver."""
    gpus: list[GpuInfo] = []
    driver: str | None = None
    for line in stdout.splitlines():
        if not line.strip():
            continue
        row = next(csv.reader([line], skipinitialspace=True), [])
        index = _int_value(row[0]) if row else None
        if len(row) != len(fields) or index is None:
            problems.append(
                _("nvidia-smi printed a line that is not a GPU: “{line}”. If a GPU is missing below, "
                  "check it with nvidia-smi.").format(line=line.strip())
            )
            continue
        values = dict(zip(fields, row, strict=True))
        gpu_driver = _value(values["driver_version"])
        driver = driver or gpu_driver
        gpus.append(
            GpuInfo(
                index=index,
                name=_value(values["name"]) or _("Unknown NVIDIA GPU"),
                uuid=_value(values["uuid"]) or "",
                memory_total_mib=_int_value(values["memory.total"]) or 0,
                memory_free_mib=_int_value(values["memory.free"]) or 0,
                compute_capability=_capability(values["compute_cap"]) if "compute_cap" in values else None,
                driver_version=gpu_driver,
                cuda_version=None,
            )
        )
    return gpus, driver


def _probe_nvidia_smi(run: CommandRunner, os_name: str, problems: list[str]) -> _NvidiaFindings:
    """GPUs, driver and CUDA version from nvidia-smi, trying where each system keeps it."""
    found = _NvidiaFindings()
    candidates = ["nvidia-smi"]
    if os_name == "wsl2":
        candidates.append(WSL_NVIDIA_SMI)
    elif os_name == "windows":
        candidates.append(WINDOWS_OLD_NVIDIA_SMI)

    def query(exe: str, fields: Sequence[str]) -> CompletedCommand | _Failed:
        argv = [exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"]
        return _attempt(run, argv, NVIDIA_SMI_TIMEOUT_S)

    exe = ""
    fields: Sequence[str] = QUERY_FIELDS
    result: CompletedCommand | _Failed = _Failed("missing", "")
    for exe in candidates:
        result = query(exe, fields)
        if not (isinstance(result, _Failed) and result.kind == "missing"):
            break
    if isinstance(result, CompletedCommand) and "is not a valid field" in result.stdout + result.stderr:
        fields = OLD_DRIVER_QUERY_FIELDS
        result = query(exe, fields)
        old_driver = True
    else:
        old_driver = False
    if isinstance(result, _Failed):
        if result.kind == "missing":
            problems.append(
                _("nvidia-smi was not found: no NVIDIA driver is installed, or it is not on PATH. Local "
                  "vLLM/SGLang need an NVIDIA GPU; llama.cpp or transformers serve run without one.")
            )
        elif result.kind == "timeout":
            problems.append(
                _("nvidia-smi did not answer within {seconds:.0f} s: the NVIDIA driver may be stuck. "
                  "Restart the computer, then run nvidia-smi in a terminal.").format(seconds=NVIDIA_SMI_TIMEOUT_S)
            )
        else:
            problems.append(
                _("nvidia-smi could not be run: {error}. Check that it is installed and executable.").format(
                    error=result.detail
                )
            )
        return found
    output = result.stdout + result.stderr
    if "couldn't communicate with the NVIDIA driver" in output or "could not communicate" in output.lower():
        problems.append(
            _("nvidia-smi is installed but could not talk to the NVIDIA driver, so no GPU can be used. The "
              "driver is not loaded: restart after installing or updating it (with Secure Boot on, enroll its "
              "key), then check with nvidia-smi.")
        )
        return found
    if "No devices were found" in output:
        problems.append(
            _("The NVIDIA driver is installed but found no NVIDIA GPU. Local vLLM/SGLang need one; llama.cpp or "
              "transformers serve run without one.")
        )
        return found
    if result.returncode != 0:
        problems.append(
            _("nvidia-smi failed (exit status {code}): {message}. Run nvidia-smi in a terminal to see why.").format(
                code=result.returncode, message=_first_line(result)
            )
        )
        return found

    gpus, found.driver = _parse_query_rows(result.stdout, fields, problems)
    if not gpus:
        problems.append(
            _("nvidia-smi listed no GPU. Run nvidia-smi in a terminal to see why.")
        )
        return found
    if old_driver:
        problems.append(
            _("This NVIDIA driver is too old to report compute capability (that needs driver 510 or newer), "
              "so whether vLLM or SGLang can use the GPU is unknown. Update the NVIDIA driver.")
        )
    header = _attempt(run, [exe], NVIDIA_SMI_TIMEOUT_S)
    if isinstance(header, CompletedCommand):
        cuda = re.search(r"CUDA Version:\s*([0-9]+(?:\.[0-9]+)*)", header.stdout)
        found.cuda = cuda[1] if cuda else None
        if found.driver is None:
            driver = re.search(r"Driver Version:\s*([0-9][0-9.]*)", header.stdout)
            found.driver = driver[1] if driver else None
    if found.cuda is None:
        problems.append(
            _("Could not read the CUDA version the NVIDIA driver supports from nvidia-smi. Engines may still "
              "work; if they fail to start, update the NVIDIA driver.")
        )
    found.gpus = [
        dataclasses.replace(gpu, driver_version=gpu.driver_version or found.driver, cuda_version=found.cuda)
        for gpu in gpus
    ]
    return found


def _probe_nvidia(run: CommandRunner, os_name: str, nvml: Any, problems: list[str]) -> _NvidiaFindings:
    """NVIDIA GPUs through NVML when it is importable and starts, else through nvidia-smi."""
    if os_name == "macos":
        return _NvidiaFindings()  # no NVIDIA drivers exist for current macOS
    module = _import_nvml() if nvml is None else nvml
    if module is not None and module is not False:
        try:
            return _probe_nvml(module)
        except Exception as exc:
            logger.debug("NVML could not start (%s); asking nvidia-smi", exc)
    return _probe_nvidia_smi(run, os_name, problems)


# -- system, CPU, memory, disk ---------------------------------------------------------------------------
def _os_name(platform: str, read_text: Callable[[str], str], environ: Mapping[str, str]) -> str:
    if platform.startswith("linux"):
        if environ.get("WSL_DISTRO_NAME") or "microsoft" in _read(read_text, "/proc/version").lower():
            return "wsl2"
        return "linux"
    if platform in {"win32", "cygwin", "msys"}:
        return "windows"
    if platform == "darwin":
        return "macos"
    return platform


def _read(read_text: Callable[[str], str], path: str) -> str:
    """A system file's text, or "" if it cannot be read."""
    try:
        return read_text(path)
    except Exception:
        logger.debug("could not read %s", path, exc_info=True)
        return ""


def _linux_detail(read_text: Callable[[str], str]) -> str:
    release = ""
    for line in _read(read_text, "/etc/os-release").splitlines():
        key, _sep, value = line.partition("=")
        if key.strip() == "PRETTY_NAME":
            release = value.strip().strip('"')
    kernel = _read(read_text, "/proc/sys/kernel/osrelease").strip()
    if release and kernel:
        return _("{release}, kernel {kernel}").format(release=release, kernel=kernel)
    return release or kernel or "Linux"


def _is_wsl1(read_text: Callable[[str], str]) -> bool:
    """WSL 1 kernels call themselves e.g. 4.4.0-19041-Microsoft; WSL 2 ones …-microsoft-standard-WSL2."""
    version = _read(read_text, "/proc/version")
    return "Microsoft" in version and "microsoft-standard" not in version.lower() and "wsl2" not in version.lower()


def _meminfo(text: str) -> tuple[int, int]:
    """MemTotal and MemAvailable (MemFree on kernels before 3.14) from /proc/meminfo, in MiB."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        match = re.match(r"(\w+):\s+(\d+)\s*kB", line)
        if match:
            values[match[1]] = int(match[2]) // 1024
    return values.get("MemTotal", 0), values.get("MemAvailable", values.get("MemFree", 0))


def _sysconf_memory() -> tuple[int, int]:
    """Total and available RAM in MiB from os.sysconf, 0 for what this system does not tell."""
    try:
        page = int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return 0, 0
    total = available = 0
    with contextlib.suppress(AttributeError, ValueError, OSError):
        total = max(int(os.sysconf("SC_PHYS_PAGES")), 0) * page // MIB
    with contextlib.suppress(AttributeError, ValueError, OSError):
        available = max(int(os.sysconf("SC_AVPHYS_PAGES")), 0) * page // MIB
    return total, available


def _windows_memory() -> tuple[int, int]:
    """Total and available RAM in MiB from GlobalMemoryStatusEx."""
    if sys.platform == "win32":
        import ctypes

        class MemoryStatus(ctypes.Structure):
            _fields_ = [
                ("dwLength", ctypes.c_ulong),
                ("dwMemoryLoad", ctypes.c_ulong),
                ("ullTotalPhys", ctypes.c_ulonglong),
                ("ullAvailPhys", ctypes.c_ulonglong),
                ("ullTotalPageFile", ctypes.c_ulonglong),
                ("ullAvailPageFile", ctypes.c_ulonglong),
                ("ullTotalVirtual", ctypes.c_ulonglong),
                ("ullAvailVirtual", ctypes.c_ulonglong),
                ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
            ]

        status = MemoryStatus()
        status.dwLength = ctypes.sizeof(MemoryStatus)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
            return int(status.ullTotalPhys) // MIB, int(status.ullAvailPhys) // MIB
    return 0, 0


def _windows_cpu_name() -> str:
    """The processor's marketing name from the registry ("" elsewhere)."""
    if sys.platform == "win32":
        import winreg

        with contextlib.suppress(OSError), winreg.OpenKey(
            winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"
        ) as key:
            return str(winreg.QueryValueEx(key, "ProcessorNameString")[0]).strip()
    return ""


def _vm_stat_available(text: str) -> int:
    """Free + inactive + speculative pages from macOS `vm_stat`, in MiB (0 if unreadable)."""
    page = re.search(r"page size of (\d+) bytes", text)
    if not page:
        return 0
    pages = 0
    for name in ("Pages free", "Pages inactive", "Pages speculative"):
        match = re.search(rf"{name}:\s+(\d+)", text)
        pages += int(match[1]) if match else 0
    return pages * int(page[1]) // MIB


def _sysctl(run: CommandRunner, name: str) -> str:
    """One macOS sysctl value, "" if it cannot be read."""
    result = _attempt(run, ["sysctl", "-n", name], SYSCTL_TIMEOUT_S)
    if isinstance(result, CompletedCommand) and result.returncode == 0:
        return result.stdout.strip()
    return ""


def _nearest_existing(path: Path) -> Path:
    """The folder itself, or the closest parent that exists (models may not be downloaded yet)."""
    path = path.expanduser().absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _disk_free_mib(models_dir: Path, problems: list[str]) -> int:
    try:
        return shutil.disk_usage(_nearest_existing(models_dir)).free // MIB
    except Exception as exc:
        problems.append(
            _("Could not measure the free disk space for models at {path}: {error}. Choose a models folder "
              "on a disk that is mounted and readable.").format(path=models_dir, error=exc)
        )
        return 0


# -- the probe -------------------------------------------------------------------------------------------
def probe_hardware(
    models_dir: Path,
    *,
    run: CommandRunner | None = None,
    read_text: Callable[[str], str] | None = None,
    platform: str | None = None,
    environ: Mapping[str, str] | None = None,
    nvml: Any = None,
    machine: str | None = None,
) -> HardwareReport:
    """Describe this machine for running a model locally; never raises.

    Args:
        models_dir: where model weights go (need not exist yet); its disk's free space is reported.
        run: runs nvidia-smi and sysctl (default: `run_command`).
        read_text: reads /proc and /etc files (default: `read_text_file`).
        platform: `sys.platform`'s word for the system (default: this one).
        environ: the environment (default: `os.environ`).
        nvml: the pynvml module to use; None imports it if installed, False never uses NVML.
        machine: `platform.machine()` (default: this one's), for telling Apple Silicon.
    """
    run = run or run_command
    read_text = read_text or read_text_file
    platform = platform or sys.platform
    environ = os.environ if environ is None else environ
    problems: list[str] = []

    def guarded(problem: str, probe: Callable[[], Any], default: Any) -> Any:
        """`probe()`, or `default` with `problem` (a message with an {error} field) noted."""
        try:
            return probe()
        except Exception as exc:
            logger.debug("hardware probe step failed", exc_info=True)
            problems.append(problem.format(error=str(exc) or type(exc).__name__))
            return default

    version_problem = _("Could not find out the system's version: {error}")
    memory_problem = _("Could not find out how much memory (RAM) this computer has: {error}")
    cpu_problem = _("Could not find out the processor's name: {error}")

    os_name: str = guarded(
        _("Could not tell which system this is: {error}"), lambda: _os_name(platform, read_text, environ), platform
    )
    if machine is None:
        machine = guarded(_("Could not tell the processor architecture: {error}"), pyplatform.machine, "")
    machine_name: str = machine or ""
    os_detail = ""
    cpu_name = ""
    ram_total = ram_available = 0
    apple_silicon = False

    if os_name in {"linux", "wsl2"}:
        os_detail = guarded(version_problem, lambda: _linux_detail(read_text), "")
        if os_name == "wsl2" and guarded(version_problem, lambda: _is_wsl1(read_text), False):
            problems.append(
                _("This is WSL 1, which cannot use the GPU. Convert the distribution to WSL 2 (in Windows: "
                  "wsl --set-version <distribution> 2).")
            )
        cpuinfo = _read(read_text, "/proc/cpuinfo")
        model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        cpu_name = model[1].strip() if model else ""
        ram_total, ram_available = guarded(memory_problem, lambda: _meminfo(_read(read_text, "/proc/meminfo")), (0, 0))
    elif os_name == "macos":
        os_detail = guarded(version_problem, lambda: "macOS " + pyplatform.mac_ver()[0], "macOS")
        apple_silicon = machine_name == "arm64" or _sysctl(run, "hw.optional.arm64") == "1"  # 1 under Rosetta too
        cpu_name = _sysctl(run, "machdep.cpu.brand_string")
        memsize = _sysctl(run, "hw.memsize")
        ram_total = int(memsize) // MIB if memsize.isdigit() else 0
        vm_stat = _attempt(run, ["vm_stat"], SYSCTL_TIMEOUT_S)
        if isinstance(vm_stat, CompletedCommand) and vm_stat.returncode == 0:
            ram_available = guarded(memory_problem, lambda: _vm_stat_available(vm_stat.stdout), 0)
    elif os_name == "windows":
        os_detail = guarded(version_problem, pyplatform.platform, "Windows")
        cpu_name = guarded(cpu_problem, _windows_cpu_name, "")
        ram_total, ram_available = guarded(memory_problem, _windows_memory, (0, 0))
    else:
        os_detail = guarded(version_problem, pyplatform.platform, platform)

    if not cpu_name:
        cpu_name = guarded(cpu_problem, pyplatform.processor, "") or machine_name or _("Unknown processor")
    if not ram_total:
        sys_total, sys_available = guarded(memory_problem, _sysconf_memory, (0, 0))
        ram_total, ram_available = sys_total, ram_available or sys_available
    if not ram_total:
        problems.append(_("Could not find out how much memory (RAM) this computer has."))

    nvidia: _NvidiaFindings = guarded(
        _("Could not look for NVIDIA GPUs: {error}"),
        lambda: _probe_nvidia(run, os_name, nvml, problems),
        _NvidiaFindings(),
    )
    return HardwareReport(
        os=os_name,
        os_detail=os_detail,
        cpu_name=cpu_name,
        cpu_cores=os.cpu_count() or 0,
        ram_total_mib=ram_total,
        ram_available_mib=ram_available,
        disk_free_mib=_disk_free_mib(models_dir, problems),
        gpus=nvidia.gpus,
        nvidia_driver=nvidia.driver,
        cuda_version=nvidia.cuda,
        apple_silicon=apple_silicon,
        problems=problems,
    )


# -- in words --------------------------------------------------------------------------------------------
_OS_LABELS = {"linux": "Linux", "wsl2": "Windows Subsystem for Linux 2", "windows": "Windows", "macos": "macOS"}


def _size(mib: int) -> str:
    """A MiB count as the app writes sizes, "?" for unknown (0)."""
    return format_bytes(mib * MIB) if mib > 0 else "?"


def _alike(gpus: list[GpuInfo]) -> list[list[GpuInfo]]:
    """Runs of GPUs of the same model, memory and compute capability, in order (a server's 8 GPUs: one run)."""
    groups: list[list[GpuInfo]] = []
    for gpu in gpus:
        last = groups[-1][-1] if groups else None
        if last is not None and (last.name, last.memory_total_mib, last.compute_capability) == (
                gpu.name, gpu.memory_total_mib, gpu.compute_capability):
            groups[-1].append(gpu)
        else:
            groups.append([gpu])
    return groups


def describe(report: HardwareReport) -> list[str]:
    """Short lines for doctor and the local-models panel, problems last ("Problem: ...")."""
    lines = [
        _("System: {system} ({detail})").format(system=_OS_LABELS.get(report.os, report.os), detail=report.os_detail)
        if report.os_detail
        else _("System: {system}").format(system=_OS_LABELS.get(report.os, report.os)),
        _("CPU: {name}, {cores} cores").format(name=report.cpu_name, cores=report.cpu_cores),
    ]
    if report.ram_total_mib:
        lines.append(
            _("RAM: {total} total, {available} available").format(
                total=_size(report.ram_total_mib), available=_size(report.ram_available_mib)
            )
        )
    lines.append(_("Disk free for models: {free}").format(free=_size(report.disk_free_mib)))
    if report.apple_silicon:
        lines.append(_("Apple Silicon: memory is shared with the GPU (llama.cpp uses Metal)"))
    if report.nvidia_driver:
        lines.append(
            _("NVIDIA driver {driver}, CUDA {cuda}").format(
                driver=report.nvidia_driver, cuda=report.cuda_version or "?"
            )
        )
    for group in _alike(report.gpus):
        if len(group) > 1:
            gpu = group[0]
            capability = (_("compute {major}.{minor}").format(major=gpu.compute_capability[0],
                                                              minor=gpu.compute_capability[1])
                          if gpu.compute_capability else _("compute capability unknown"))
            lines.append(_("GPUs {first}–{last}: {count} × {name}, {total} each, at least {free} free each, "
                           "{capability}").format(first=gpu.index, last=group[-1].index, count=len(group),
                                                  name=gpu.name, total=_size(gpu.memory_total_mib),
                                                  free=_size(min(g.memory_free_mib for g in group)),
                                                  capability=capability))
            continue
        gpu = group[0]
        if gpu.compute_capability:
            lines.append(
                _("GPU {index}: {name}, {total} total, {free} free, compute {major}.{minor}").format(
                    index=gpu.index,
                    name=gpu.name,
                    total=_size(gpu.memory_total_mib),
                    free=_size(gpu.memory_free_mib),
                    major=gpu.compute_capability[0],
                    minor=gpu.compute_capability[1],
                )
            )
        else:
            lines.append(
                _("GPU {index}: {name}, {total} total, {free} free, compute capability unknown").format(
                    index=gpu.index, name=gpu.name, total=_size(gpu.memory_total_mib), free=_size(gpu.memory_free_mib)
                )
            )
    if not report.gpus and not report.apple_silicon:
        lines.append(_("No NVIDIA GPU found"))
    lines += [_("Problem: {problem}").format(problem=problem) for problem in report.problems]
    return lines


def default_models_dir() -> Path:
    """Where the app keeps downloaded models by default."""
    import platformdirs

    return Path(platformdirs.user_data_dir("glmv-desktop", appauthor=False)) / "models"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the report of this machine (for checking the probe on real hardware)."""
    parser = argparse.ArgumentParser(prog="python -m desktop.backends.hardware", description=main.__doc__)
    parser.add_argument("models_dir", nargs="?", type=Path, help="where models go (default: the app's folder)")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    args = parser.parse_args(argv)
    report = probe_hardware(args.models_dir or default_models_dir())
    if args.json:
        print(json.dumps(dataclasses.asdict(report), indent=2, ensure_ascii=False))
    else:
        print("\n".join(describe(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
