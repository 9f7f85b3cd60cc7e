"""Office documents (Word, PowerPoint, Excel, OpenDocument) to PDF with LibreOffice, run headless.

Each conversion is one `soffice --convert-to pdf` process in a process group of its own, in a
private temporary folder, watched every 100 ms so it can be cancelled, stopped when it takes too
long or writes too much, and never left behind. LibreOffice keeps its settings in a profile folder
the app owns; macros never run there (the profile is set to the highest macro security with macro
execution disabled before every use), and one conversion at a time uses a profile, since LibreOffice
refuses a profile another of its processes holds.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from desktop.availability import Availability
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.processenv import child_environment, group_alive, own_group_options

log = logging.getLogger(__name__)

SOFFICE_ENV = "GLMV_SOFFICE"
"""Environment variable naming the soffice program to use instead of the one found."""

OFFICE_KINDS: Mapping[str, str] = MappingProxyType({
    "pptx": _("PowerPoint presentation"),
    "ppt": _("PowerPoint presentation"),
    "docx": _("Word document"),
    "doc": _("Word document"),
    "xlsx": _("Excel spreadsheet"),
    "xls": _("Excel spreadsheet"),
    "odp": _("OpenDocument presentation"),
    "odt": _("OpenDocument text"),
    "ods": _("OpenDocument spreadsheet"),
    "rtf": _("Rich Text document"),
})
"""What `convert_to_pdf` converts: file extension (lower case, no dot) → what such a file is, for messages."""

_OOXML = frozenset({"pptx", "docx", "xlsx"})
_ODF = frozenset({"odp", "odt", "ods"})
_OLE2 = frozenset({"ppt", "doc", "xls"})
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_POLL_S = 0.1
_EXIT_WAIT_S = 5.0  # how long a killed LibreOffice gets to be gone
_LOG_TAIL_CHARS = 4000
_HINT_EXPORT = _("Open it in the program that made it, export it as PDF, and attach the PDF instead.")
_HINT_MISMATCH = _("The file may be damaged or have the wrong extension. Open it in the program that made it, "
                   "export it as PDF, and attach the PDF instead.")
_HINT_FAILED = _("The file may be damaged or use something LibreOffice cannot read. Open it in the program that "
                 "made it, export it as PDF, and attach the PDF instead.")
_HINT_SLOW = _("The document may be very large. Open it in the program that made it, export it as PDF, and attach "
               "the PDF instead.")


class OfficeError(UserFacingError):
    """An office document that could not be converted to PDF, and why."""


class ConversionCancelled(OfficeError):
    """The conversion was cancelled; LibreOffice was stopped."""


# -- finding LibreOffice -------------------------------------------------------------------------------------------
def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _candidates(environ: Mapping[str, str]) -> list[Path]:
    """Where LibreOffice installs itself on this system, beyond the PATH."""
    if sys.platform == "darwin":
        app = Path("LibreOffice.app/Contents/MacOS/soffice")
        return [Path("/Applications") / app, Path.home() / "Applications" / app]
    if sys.platform == "win32":
        roots = [environ.get(name) for name in ("ProgramFiles", "ProgramW6432", "ProgramFiles(x86)")]
        return [Path(root) / "LibreOffice" / "program" / "soffice.exe" for root in roots if root]
    # The Document Foundation's own packages install to /opt/libreofficeX.Y; the newest first.
    return sorted(Path("/opt").glob("libreoffice*/program/soffice"), reverse=True)


def find_soffice(environ: Mapping[str, str] | None = None) -> str | None:
    """The LibreOffice program to run: GLMV_SOFFICE if set (None if it names nothing runnable), else
    soffice or libreoffice on the PATH, else where LibreOffice installs itself on this platform."""
    env = os.environ if environ is None else environ
    chosen = env.get(SOFFICE_ENV, "").strip()
    if chosen:
        return chosen if _runnable(Path(chosen)) else None
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name, path=env.get("PATH"))
        if found:
            return found
    return next((str(path) for path in _candidates(env) if _runnable(path)), None)


def _os_release(text: str | None) -> tuple[str, ...]:
    """The distribution and the ones it is like (ID and ID_LIKE of /etc/os-release), lower case."""
    if text is None:
        try:
            text = Path("/etc/os-release").read_text(encoding="utf-8")
        except OSError:
            text = ""
    ids: list[str] = []
    for line in text.splitlines():
        key, _sep, value = line.partition("=")
        if key.strip() in ("ID", "ID_LIKE"):
            ids += value.strip().strip("\"'").lower().split()
    return tuple(ids)


def install_hint(platform: str | None = None, os_release: str | None = None) -> str:
    """How to install LibreOffice on this system (or on `platform`, with that /etc/os-release text)."""
    platform = sys.platform if platform is None else platform
    if platform == "darwin":
        return _("Install LibreOffice with `{command}`, or download it from libreoffice.org, then try again.").format(
            command="brew install --cask libreoffice")
    if platform == "win32":
        return _("Install LibreOffice with `{command}`, or download it from libreoffice.org, then try again.").format(
            command="winget install TheDocumentFoundation.LibreOffice")
    ids = _os_release(os_release)
    packages = "libreoffice-impress libreoffice-writer libreoffice-calc"
    commands = [(("debian", "ubuntu"), f"sudo apt install {packages}"),
                (("fedora", "rhel", "centos"), f"sudo dnf install {packages}"),
                (("opensuse", "suse"), f"sudo zypper install {packages}"),
                (("arch",), "sudo pacman -S libreoffice-fresh")]
    for family, command in commands:
        if any(name in family for name in ids):
            return _("Install LibreOffice with `{command}`, then try again.").format(command=command)
    return _("Install LibreOffice from your distribution's packages or from libreoffice.org, then try again.")


def office_availability(environ: Mapping[str, str] | None = None) -> Availability:
    """Whether office documents can be converted here; if not, why, and how to install LibreOffice."""
    env = os.environ if environ is None else environ
    chosen = env.get(SOFFICE_ENV, "").strip()
    if chosen:
        path = Path(chosen)
        if not path.exists():
            return Availability(False, _("{variable} names '{path}', which does not exist.").format(
                variable=SOFFICE_ENV, path=chosen), _(
                "Set {variable} to LibreOffice's soffice program, or unset it to use the LibreOffice installed "
                "on this system.").format(variable=SOFFICE_ENV))
        if not _runnable(path):
            return Availability(False, _("{variable} names '{path}', which is not a program.").format(
                variable=SOFFICE_ENV, path=chosen), _(
                "Set {variable} to LibreOffice's soffice program, or unset it to use the LibreOffice installed "
                "on this system.").format(variable=SOFFICE_ENV))
        return Availability(True)
    if find_soffice(env) is None:
        return Availability(False, _("LibreOffice is not installed; it is needed to read Word, PowerPoint and "
                                     "Excel files."), install_hint())
    return Availability(True)


# -- the document itself -------------------------------------------------------------------------------------------
def _extension(name: str) -> str:
    return Path(name).suffix.lower().lstrip(".")


def _zip_names(data: bytes) -> set[str] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def _odf_encrypted(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return b"encryption-data" in archive.read("META-INF/manifest.xml")
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, RuntimeError):
        return False


def check_document(data: bytes, name: str) -> str:
    """The kind of office file `name` is (a key of OFFICE_KINDS), after checking that its bytes can be one.

    LibreOffice opens almost anything as plain text, so a damaged or misnamed file would otherwise
    become pages of gibberish; this says what is wrong instead.
    """
    ext = _extension(name)
    kind = OFFICE_KINDS.get(ext)
    if kind is None:
        raise OfficeError(_("'{name}' is not a document the app can convert.").format(name=name),
                          _("Attach a PDF, or a Word, PowerPoint, Excel or OpenDocument file."))
    if not data:
        raise OfficeError(_("'{name}' is empty (0 bytes).").format(name=name),
                          _("The file may still be being written, or its copy failed; try again."))
    protected = OfficeError(_("'{name}' is protected with a password.").format(name=name),
                            _("Open it, remove the password or export it as PDF, and attach that instead."))
    head = data[:4096]
    if ext in _OOXML:
        if head.startswith(_OLE2_MAGIC):
            raise protected  # an encrypted Office Open XML file is a compound file holding the encrypted package
        names = _zip_names(data)
        if names is not None and "[Content_Types].xml" in names:
            return ext
    elif ext in _ODF:
        names = _zip_names(data)
        if names is not None and ("content.xml" in names or "mimetype" in names):
            if _odf_encrypted(data):
                raise protected
            return ext
    elif ext in _OLE2:
        # Old binary Office files; spreadsheets and Word files saved as HTML, XML or RTF under these names are common.
        if head.startswith(_OLE2_MAGIC) or b"\x00" not in head:
            return ext
    elif head.lstrip().startswith(b"{\\rtf"):
        return ext
    raise OfficeError(_("'{name}' is not a readable {kind}: its contents do not match its name.").format(
        name=name, kind=kind), _HINT_MISMATCH)


def _safe_file_name(name: str, ext: str) -> str:
    """A file name LibreOffice cannot mistake for an option or a path: letters, digits, dots, dashes."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem).strip("._-")[:60] or "document"
    return f"{stem}.{ext}"


# -- the profile ---------------------------------------------------------------------------------------------------
_SCRIPTING = "/org.openoffice.Office.Common/Security/Scripting"
# The highest macro security level ("very high": only trusted locations, and there are none) and macro
# execution switched off altogether; untrusted links to other files are not followed either.
_SECURITY = {"MacroSecurityLevel": "3", "DisableMacrosExecution": "true", "BlockUntrustedRefererLinks": "true"}
_XCU_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
             'xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n')
_XCU_END = "</oor:items>"


def _security_item(prop: str, value: str) -> str:
    return f'<item oor:path="{_SCRIPTING}"><prop oor:name="{prop}" oor:op="fuse"><value>{value}</value></prop></item>'


def secure_profile(profile_dir: Path) -> Path:
    """Make sure the profile's `user/registrymodifications.xcu` forbids macros; return that file.

    Rewritten whenever the settings are missing or changed (LibreOffice keeps them when it saves
    the file itself), so even a profile made elsewhere never runs a document's macros here.
    """
    settings = profile_dir / "user" / "registrymodifications.xcu"
    wanted = [_security_item(prop, value) for prop, value in _SECURITY.items()]
    try:
        text = settings.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    if all(item in text for item in wanted):
        return settings
    if _XCU_END not in text:
        text = _XCU_HEAD + _XCU_END + "\n"
    names = "|".join(_SECURITY)
    ours = re.compile(rf'<item oor:path="{re.escape(_SCRIPTING)}">\s*<prop oor:name="(?:{names})".*?</item>\s*',
                      re.DOTALL)
    text = ours.sub("", text)
    end = text.rindex(_XCU_END)
    text = text[:end] + "\n".join(wanted) + "\n" + text[end:]
    settings.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = settings.with_name(settings.name + ".new")
    partial.write_text(text, encoding="utf-8")
    partial.replace(settings)
    log.debug("macro security set in %s", settings)
    return settings


_LOCKS_GUARD = threading.Lock()
_PROFILE_LOCKS: dict[str, threading.Lock] = {}


def _profile_lock(profile_dir: Path) -> threading.Lock:
    """The one lock of this profile folder in this process."""
    key = os.path.normcase(str(profile_dir.resolve()))
    with _LOCKS_GUARD:
        return _PROFILE_LOCKS.setdefault(key, threading.Lock())


# -- the process ---------------------------------------------------------------------------------------------------
def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the process and everything it started (its whole group), and reap it."""
    if sys.platform == "win32":
        if process.poll() is None:
            with contextlib.suppress(OSError):
                subprocess.run(["taskkill", "/T", "/F", "/PID", str(process.pid)],  # noqa: S603, S607
                               capture_output=True, check=False, timeout=30)
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()
        return
    # The group outlives its leader when soffice.bin is still running: kill it either way. soffice.bin holds
    # the profile, so the next conversion must not find it still exiting (or just forked as it was signalled).
    deadline = time.monotonic() + _EXIT_WAIT_S
    while True:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()  # the leader, at once
        if not group_alive(process.pid) or time.monotonic() >= deadline:
            return
        time.sleep(0.02)


def _bytes_under(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file():
                total += path.stat().st_size
    return total


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as log_file:
            log_file.seek(0, os.SEEK_END)
            log_file.seek(max(0, log_file.tell() - _LOG_TAIL_CHARS))
            return log_file.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _temp_environment(folder: Path) -> dict[str, str]:
    """LibreOffice's own temporary files go into our folder, so they are removed with it."""
    folder.mkdir()
    names = ("TMP", "TEMP") if sys.platform == "win32" else ("TMPDIR",)
    return child_environment({name: str(folder) for name in names})


def convert_to_pdf(data: bytes, name: str, *, profile_dir: Path, timeout: float = 120.0,
                   max_output_bytes: int = 300 * 2**20, cancel: threading.Event | None = None,
                   on_progress: Callable[[str], None] | None = None, soffice: str | None = None) -> bytes:
    """Convert an office document to PDF with LibreOffice (blocking: run it in a worker thread).

    Raises ConversionCancelled when `cancel` is set, OfficeError when LibreOffice is missing, the file
    is not what its name says, the conversion fails, takes longer than `timeout` seconds or writes
    more than `max_output_bytes`. LibreOffice is never left running and its files never left behind.
    """
    ext = check_document(data, name)
    program = soffice or find_soffice()
    if program is None:
        status = office_availability()
        raise OfficeError(_("LibreOffice is needed to read '{name}', and it was not found.").format(name=name),
                          status.how_to_fix, detail=status.reason)
    report = on_progress or (lambda _message: None)
    lock = _profile_lock(profile_dir)
    if not lock.acquire(blocking=False):
        report(_("Waiting for another document to finish converting…"))
        while not lock.acquire(timeout=_POLL_S):
            _check_cancel(cancel, name)
    try:
        _check_cancel(cancel, name)
        report(_("Starting LibreOffice…"))
        secure_profile(profile_dir)
        with tempfile.TemporaryDirectory(prefix="glmv-office-", ignore_cleanup_errors=True) as temporary:
            return _convert(program, data, name, ext, Path(temporary), profile_dir, timeout, max_output_bytes,
                            cancel, report)
    finally:
        lock.release()


def _check_cancel(cancel: threading.Event | None, name: str) -> None:
    if cancel is not None and cancel.is_set():
        raise ConversionCancelled(_("Converting '{name}' was cancelled.").format(name=name))


def _convert(program: str, data: bytes, name: str, ext: str, folder: Path, profile_dir: Path, timeout: float,
             max_output_bytes: int, cancel: threading.Event | None, report: Callable[[str], None]) -> bytes:
    """One soffice run in `folder`, watched until it ends, is cancelled or goes over its limits."""
    source = folder / "in" / _safe_file_name(name, ext)
    source.parent.mkdir()
    source.write_bytes(data)
    out = folder / "out"
    out.mkdir()
    scratch = folder / "tmp"
    env = _temp_environment(scratch)
    log_path = folder / "soffice.log"
    argv = [program, "--headless", "--norestore", "--nolockcheck", "--nodefault", "--nologo",
            f"-env:UserInstallation={profile_dir.resolve().as_uri()}", "--convert-to", "pdf", "--outdir", str(out),
            str(source)]
    started = time.monotonic()
    with log_path.open("wb") as log_file:
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file,  # noqa: S603
                                       stderr=subprocess.STDOUT, cwd=folder, env=env, **own_group_options())
        except OSError as exc:
            raise OfficeError(_("Could not start LibreOffice ({program}): {error}").format(
                program=program, error=exc.strerror or exc), _("Check that LibreOffice is installed and works."),
                detail=str(exc)) from exc
        report(_("Converting '{name}'…").format(name=name))
        problem: OfficeError | None = None
        try:
            while process.poll() is None:
                if cancel is not None and cancel.is_set():
                    problem = ConversionCancelled(_("Converting '{name}' was cancelled.").format(name=name))
                elif time.monotonic() - started > timeout:
                    problem = OfficeError(
                        _("Converting '{name}' took longer than {seconds:g} seconds, so it was stopped.").format(
                            name=name, seconds=timeout),
                        _HINT_SLOW)
                elif _bytes_under(out) + _bytes_under(scratch) > max_output_bytes:
                    problem = _too_large(name, max_output_bytes)
                if problem is not None:
                    break
                if cancel is not None:
                    cancel.wait(_POLL_S)
                else:
                    time.sleep(_POLL_S)
        finally:
            _stop_group(process)
    elapsed = time.monotonic() - started
    if problem is not None:
        log.info("stopped converting %r after %.1f s: %s", name, elapsed, problem.message)
        raise problem
    tail = _tail(log_path)
    produced = sorted(out.glob("*.pdf"))
    if process.returncode != 0 or not produced:
        log.info("LibreOffice did not convert %r (exit code %s):\n%s", name, process.returncode, tail)
        raise OfficeError(_("LibreOffice could not convert '{name}'.").format(name=name),
                          _HINT_FAILED, detail=f"exit code {process.returncode}\n{tail}")
    pdf = produced[0]
    if pdf.stat().st_size > max_output_bytes:
        raise _too_large(name, max_output_bytes)
    result = pdf.read_bytes()
    if not result.startswith(b"%PDF"):
        raise OfficeError(_("LibreOffice could not convert '{name}'.").format(name=name), _HINT_EXPORT,
                          detail=tail)
    log.info("converted %r (%d bytes) to a %d-byte PDF in %.1f s", name, len(data), len(result), elapsed)
    return result


def _too_large(name: str, limit: int) -> OfficeError:
    size = (_("{value:.0f} MB").format(value=limit / 2**20) if limit >= 2**20
            else _("{value:.0f} KB").format(value=limit / 2**10))
    return OfficeError(_("Converting '{name}' produced more than {size}, so it was stopped.").format(
        name=name, size=size), _("Attach a shorter document, or export only the pages you need as PDF."))
