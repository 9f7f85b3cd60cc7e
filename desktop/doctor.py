"""`glmv-desktop doctor`: what works on this machine, per subsystem, and why not.

Each line is a check with ✔ / ✘ / – (not applicable), what was found, and what to do. Later
subsystems add their sections here.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
from dataclasses import dataclass
from typing import TextIO

from desktop import __version__
from desktop.display import display_availability
from desktop.i18n import _


@dataclass(frozen=True)
class Check:
    """One finding."""

    ok: bool | None  # None: not applicable / informational
    name: str
    found: str
    fix: str = ""


def display_checks() -> list[Check]:
    """The windowing system, the screens Qt sees, and whether there is a tray."""
    checks = []
    session = os.environ.get("XDG_SESSION_TYPE", "")
    if sys.platform.startswith("linux"):
        display, wayland = os.environ.get("DISPLAY"), os.environ.get("WAYLAND_DISPLAY")
        if not display and not wayland:
            return [Check(False, _("display"), _("no DISPLAY or WAYLAND_DISPLAY: not a graphical session"),
                          _("Run the app inside a desktop session (or under Xvfb for tests)."))]
        reachable = display_availability()
        if not reachable.available:  # Qt would abort the whole doctor on such a display
            return [Check(False, _("display"), reachable.reason, reachable.how_to_fix)]
        kind = "Wayland" if (session == "wayland" or (wayland and not display)) else "X11"
        checks.append(Check(True, _("display"), _("{kind} (DISPLAY={display}, WAYLAND_DISPLAY={wayland})").format(
            kind=kind, display=display or "-", wayland=wayland or "-")))
    from PySide6 import __version__ as pyside_version
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    screens = ", ".join(
        f"{s.name()} {s.geometry().width()}×{s.geometry().height()} @{s.devicePixelRatio():g}x" for s in app.screens())
    checks.append(Check(True, "Qt", _("PySide6 {version}, platform '{platform}', screens: {screens}").format(
        version=pyside_version, platform=app.platformName(), screens=screens)))
    if QSystemTrayIcon.isSystemTrayAvailable():
        checks.append(Check(True, _("tray"), _("a system tray is available")))
    else:
        checks.append(Check(False, _("tray"), _("no system tray on this desktop"),
                            _("The app still works from its chat window and the command line. GNOME needs the "
                              "AppIndicator extension; other desktops: add a tray/notification area to the panel.")))
    return checks


def capture_checks() -> list[Check]:
    """Every capture handler in order, and which one will be used."""
    from desktop.capture.chain import default_chain

    checks = []
    for name, status in default_chain().report():
        checks.append(Check(status.available, _("capture: {name}").format(name=name),
                            _("available") if status.available else status.reason, status.how_to_fix))
    return checks


def window_checks() -> list[Check]:
    """Whether window capture (window under the pointer, Space+click in the overlay) works here."""
    from desktop.capture.windows_default import default_window_lister

    lister = default_window_lister()
    status = lister.availability()
    return [Check(status.available, _("window capture: {name}").format(name=lister.name),
                  _("available") if status.available else status.reason, status.how_to_fix)]


def _registration_check(action: str, label: str, shortcut: str, status: str, reason: str, advice: str) -> Check:
    ok: bool | None = True if status == "registered" else (None if status == "disabled" else False)
    found = {
        "registered": _("{keys} works").format(keys=shortcut),
        "disabled": _("off (no combination set)"),
    }.get(status, _("{keys}: {status}: {reason}").format(keys=shortcut or "—", status=status, reason=reason))
    return Check(ok, _("hotkey: {label}").format(label=label), found, advice)


def hotkey_checks() -> list[Check]:
    """The hotkey backends, and each hotkey's state: asked of the running app, else tried here."""
    import json

    from desktop.assistant.services import AppPaths
    from desktop.hotkeys.instance import instance_name, send_to_running

    paths = AppPaths.for_user()
    reply = send_to_running(instance_name(paths.config), ["status", "--json"])
    if reply is not None and reply.get("ok"):
        data = json.loads(str(reply.get("message", "{}")))
        checks = [Check(ok, _("hotkey backend: {name}").format(name=name), found, fix)
                  for name, ok, found, fix in data.get("hotkey_backends", [])]
        checks.append(Check(None, _("hotkeys"), _("asked the running app (backend in use: {name})").format(
            name=data.get("hotkey_backend") or _("none"))))
        checks += [_registration_check(**entry) for entry in data.get("hotkeys", [])]
        return checks
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return [Check(False, _("hotkeys"), _("no graphical session: global hotkeys need one"),
                      _("Run the app inside a desktop session."))]
    if not display_availability().available:
        return [Check(False, _("hotkeys"), _("the display cannot be reached: global hotkeys need one"),
                      _("Run the app inside a desktop session."))]
    from PySide6.QtWidgets import QApplication

    from desktop.config.settings import SettingsStore
    from desktop.hotkeys.service import HotkeyService

    existing = QApplication.instance()
    _app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    service = HotkeyService(SettingsStore(paths.settings_file))
    try:
        service.start()
        service.settle(30.0)  # the desktop portal answers asynchronously (and may ask the user)
        checks = [Check(status.available, _("hotkey backend: {name}").format(name=name),
                        _("available") if status.available else status.reason, status.how_to_fix)
                  for name, status in service.report()]
        checks.append(Check(None, _("hotkeys"), _("GLM-V Desktop is not running: each combination was tried here "
                                                  "and released")))
        checks += [_registration_check(r.action.value, r.action.label, r.shortcut, r.status.value, r.reason,
                                       r.advice()) for r in service.registrations()]
    finally:
        service.close()
    return checks


def local_server_checks() -> list[Check]:
    """This machine's GPUs, and for each catalog model the best way to run it here (the fit planner)."""
    from desktop.assistant.local_models import catalog_choices, engine_status, folder_state, models_dir
    from desktop.assistant.services import AppPaths
    from desktop.backends.catalog import CATALOG, Engine
    from desktop.backends.downloads import format_bytes
    from desktop.backends.hardware import describe, probe_hardware
    from desktop.backends.planner import Fit, Plan, plan_all
    from desktop.backends.supervisor import find_recorded_server
    from desktop.config.settings import SettingsStore

    paths = AppPaths.for_user()
    settings = SettingsStore(paths.settings_file)
    report = probe_hardware(models_dir(settings))
    checks = [Check(None, _("hardware"), line) for line in describe(report) if not line.startswith("Problem:")]
    checks += [Check(False, _("hardware"), problem) for problem in report.problems]
    best: dict[str, Plan] = {}
    for entry in plan_all(CATALOG, report):
        best.setdefault(entry.model.id, entry)  # plan_all puts each model's best verdict first
    for entry in best.values():
        verdict = {Fit.GREEN: True, Fit.YELLOW: None, Fit.RED: False}[entry.fit]
        reason = entry.reasons[0] if entry.reasons else ""
        checks.append(Check(verdict, _("{model} on {engine}").format(model=entry.model.name, engine=entry.engine.label),
                            f"{entry.fit.value}: {reason}"))

    async def engines() -> list[Check]:
        found = await asyncio.gather(*(engine_status(engine, settings, paths.data) for engine in Engine))
        def fix(engine: Engine) -> str:
            if engine is Engine.LLAMA_CPP:
                return _("Get a llama.cpp release for this system and choose its llama-server in the Local servers "
                         "window.")
            return _("Install it from the Local servers window (glmv-desktop servers).")

        return [Check(status.ready or None, _("engine {engine}").format(engine=status.location.engine.label),
                      status.text, "" if status.ready else fix(status.location.engine)) for status in found]

    checks += asyncio.run(engines())
    for choice in catalog_choices(settings):
        state = folder_state(choice)
        if state.complete:
            checks.append(Check(True, choice.spec.name, _("downloaded to {path}").format(path=choice.folder)))
        elif state.partial_bytes:
            checks.append(Check(None, choice.spec.name, _("partly downloaded ({size})").format(
                size=format_bytes(state.partial_bytes)), _("Resume it from the Local servers window.")))
    record = find_recorded_server(paths.local_server_record)
    if record is None:
        checks.append(Check(None, _("local server"), _("none started by the app is running")))
    else:
        checks.append(Check(True, _("local server"), _("{engine} serving {model} on http://127.0.0.1:{port}/v1 "
                                                       "(process {pid})").format(
            engine=record.engine, model=record.model, port=record.port, pid=record.pid)))
    return checks


def ssh_host_checks() -> list[Check]:
    """The OpenSSH client, and for each SSH host: reached without asking anything, its Python and GPUs."""
    import shutil

    from desktop.assistant.remote_hosts import RemoteHosts, RemoteServerNote
    from desktop.assistant.services import AppPaths
    from desktop.config.hosts import HostBook
    from desktop.config.settings import SettingsStore
    from desktop.errors import UserFacingError

    paths = AppPaths.for_user()
    book = HostBook(SettingsStore(paths.settings_file))
    entries = book.all()
    checks = [Check(False, _("saved host"), problem, _("Remove it and add it again.")) for problem in book.skipped]
    if shutil.which("ssh") is None:
        return [*checks, Check(False if entries else None, _("ssh client"), _("not found"),
                               _("Install the OpenSSH client to run servers on other machines."))]
    checks.append(Check(True, _("ssh client"), str(shutil.which("ssh"))))
    if not entries:
        return [*checks, Check(None, _("hosts"), _("none added (Local servers → Run on → Add an SSH host…)"))]
    note = RemoteServerNote.load(paths.remote_server_note)

    async def each() -> list[Check]:
        hosts = RemoteHosts(paths.known_hosts)  # nothing is asked here: unknown keys and passphrases are findings
        found: list[Check] = []
        try:
            for entry in entries:
                try:
                    host = await asyncio.wait_for(hosts.open(entry), 30)
                    version = await host.check_python()
                    report = await asyncio.wait_for(host.probe(), 60)
                    server = await host.find_server()
                except UserFacingError as exc:
                    found.append(Check(False, entry.label, exc.message, exc.hint))
                    continue
                except TimeoutError:
                    found.append(Check(False, entry.label, _("did not answer in time"),
                                       _("Check the network and that the host is on.")))
                    continue
                gpus = ", ".join(gpu.name for gpu in report.gpus) or _("no NVIDIA GPU")
                found.append(Check(True, entry.label, _("reached; Python {version}; {gpus}").format(
                    version=version, gpus=gpus)))
                if server is not None:
                    ours = note is not None and note.host_id == entry.id
                    said = _("runs {engine} serving {model} (process {pid})").format(
                        engine=server.engine, model=server.model, pid=server.pid)
                    found.append(Check(True, entry.label, said + (_(", started by this app") if ours else "")))
        finally:
            await hosts.close_all()
        return found

    return checks + asyncio.run(each())


def keychain_checks() -> list[Check]:
    """The keyring backend and whether keys can be stored."""
    from desktop.config.secrets import SecretStore

    status = SecretStore().status()
    if status.usable:
        return [Check(True, _("keychain"), _("keys are stored in {backend}").format(backend=status.backend))]
    return [Check(False, _("keychain"), _("{reason} (backend: {backend})").format(reason=status.reason,
                                                                             backend=status.backend),
                  _("{fix} Until then a key can be used for one session only.").format(fix=status.how_to_fix))]


def document_checks() -> list[Check]:
    """PDF rendering (pypdfium2) and Office documents (LibreOffice, found or how to get it)."""
    from desktop.media.office import find_soffice, office_availability

    checks = []
    try:
        import pypdfium2

        checks.append(Check(True, _("PDF documents"), _("read with pypdfium2 {version}").format(
            version=getattr(pypdfium2, "__version__", "") or _("(version unknown)"))))
    except ImportError as exc:
        checks.append(Check(False, _("PDF documents"), _("pypdfium2 is missing: {error}").format(error=exc),
                            _("Reinstall GLM-V Desktop.")))
    try:
        import av

        checks.append(Check(True, _("Screen recordings and video clips"), _("PyAV {version} (H.264: {encoder})").format(
            version=av.__version__, encoder="libx264" if "libx264" in av.codecs_available else _("no libx264"))))
    except ImportError:
        checks.append(Check(False, _("Screen recordings and video clips"), _("PyAV is not installed"),
                            _("Install it (pip install av) into the Python that runs GLM-V Desktop, or use one of "
                              "the installers, which include it.")))
    office = office_availability()
    if office.available:
        checks.append(Check(True, _("Office documents"), _("converted by LibreOffice ({path})").format(
            path=find_soffice())))
    else:
        checks.append(Check(False, _("Office documents"), office.reason, office.how_to_fix))
    return checks


async def _endpoint_checks() -> list[Check]:
    from desktop.assistant.services import AppPaths
    from desktop.chat.client import ChatClient, Endpoint, Timeouts
    from desktop.chat.probe import check_endpoint
    from desktop.config.profiles import ProfileBook
    from desktop.config.secrets import SecretStore
    from desktop.config.settings import SettingsStore

    settings = SettingsStore(AppPaths.for_user().settings_file)
    profiles = ProfileBook(settings)
    secrets = SecretStore()
    client = ChatClient(timeouts=Timeouts(connect=5.0, read=30.0))
    checks = [Check(False, _("endpoints"), _("a malformed endpoint was skipped: {error}").format(error=s),
                    _("Fix or remove it in Settings.")) for s in profiles.skipped]
    try:
        for profile in profiles.all():
            label = _("{name} ({url}, model {model})").format(name=profile.name, url=profile.base_url,
                                                               model=profile.model or "?")
            key = await asyncio.to_thread(secrets.get, profile.keychain_entry)
            if profile.traits.needs_key and not key:
                checks.append(Check(None, label, _("not checked: no API key is stored"),
                                    _("Add the key in Settings → Endpoints.")))
                continue
            report = await check_endpoint(client, Endpoint(profile, key), profile.model, timeout=60)
            if report.models_error is not None and report.vision_error is not None:
                checks.append(Check(False, label, _("not reachable: {error}").format(
                    error=report.vision_error.message), report.vision_error.hint))
            elif report.vision_ok:
                checks.append(Check(True, label, _("reachable, {n} model(s), vision works").format(
                    n=len(report.models))))
            else:
                error = report.vision_error
                checks.append(Check(False, label, _("reachable, {n} model(s); vision failed: {error}").format(
                    n=len(report.models), error=error.message if error else "?"), error.hint if error else ""))
    finally:
        await client.aclose()
    return checks


def run_doctor(out: TextIO = sys.stdout) -> int:
    """Print every section; exit status 0 (problems are reported, not fatal)."""
    print(_("GLM-V Desktop {version} — doctor").format(version=__version__), file=out)
    print(f"{platform.system()} {platform.release()}, Python {platform.python_version()}", file=out)
    sections = [
        (_("Display and tray"), display_checks),
        (_("Screen capture"), lambda: capture_checks() + window_checks()),
        (_("Global hotkeys"), hotkey_checks),
        (_("Local servers (this machine)"), local_server_checks),
        (_("Servers on SSH hosts"), ssh_host_checks),
        (_("Keychain"), keychain_checks),
        (_("Documents and video"), document_checks),
        (_("Endpoints"), lambda: asyncio.run(_endpoint_checks())),
    ]
    for title, run in sections:
        print(f"\n{title}", file=out)
        try:
            checks = run()
        except Exception as exc:  # noqa: BLE001 - a broken subsystem is a finding, not a crash
            checks = [Check(False, title.lower(), _("the check itself failed: {error}").format(error=exc))]
        for check in checks:
            mark = {True: "✔", False: "✘", None: "–"}[check.ok]
            print(f"  {mark} {check.name}: {check.found}", file=out)
            if check.fix and check.ok is not True:
                print(f"      → {check.fix}", file=out)
    return 0
