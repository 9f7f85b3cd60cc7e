"""What the Local servers window offers: the models (catalog and folders added by hand), where their
files are, and where each engine's program is.

The settings decide the folder for downloads (`local.models_dir`), the hub (`local.download_source`,
`local.mirror`), folders added by hand (`local.model_folders`) and installs the user already had
(`local.engine_python.*`, `local.llama_server`); without them the app's own folders are used.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from desktop.backends.catalog import CATALOG, Engine, ModelSpec
from desktop.backends.downloads import ModelSource, hub_endpoint, is_downloaded
from desktop.backends.engines import default_program
from desktop.backends.hardware import HardwareReport, default_models_dir
from desktop.backends.installer import InstalledEngine, check_installed, engine_venv, venv_python
from desktop.backends.local_folder import LocalFolderError, inspect_folder
from desktop.backends.planner import Fit, Plan, plan
from desktop.config.settings import SettingsStore
from desktop.errors import UserFacingError
from desktop.i18n import _

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelChoice:
    """A model the user can run: a catalog model (downloaded into `folder`) or a folder added by hand."""

    spec: ModelSpec
    folder: Path
    added: bool = False  # chosen on disk by the user; nothing to download
    trust_remote_code: bool = False  # the folder ships Python code the engine must run

    @property
    def downloadable(self) -> bool:
        """Whether the app can fetch its files from a hub."""
        return not self.added


@dataclass(frozen=True)
class FolderState:
    """What is on disk for a model: complete, partly downloaded (bytes so far), or nothing."""

    complete: bool
    partial_bytes: int = 0


def models_dir(settings: SettingsStore) -> Path:
    """The folder downloads go to."""
    chosen = str(settings.get("local.models_dir")).strip()
    return Path(chosen).expanduser() if chosen else default_models_dir()


def download_source(settings: SettingsStore) -> tuple[ModelSource, str]:
    """The hub to download from and its base URL (the mirror, when one is set for Hugging Face)."""
    source = ModelSource(settings.get("local.download_source"))
    mirror = str(settings.get("local.mirror")).strip() or None
    return source, hub_endpoint(source, mirror)


def catalog_choices(settings: SettingsStore) -> list[ModelChoice]:
    """Every catalog model, each with the folder it is (or will be) downloaded into."""
    root = models_dir(settings)
    return [ModelChoice(spec, root / spec.id) for spec in CATALOG]


def added_choices(settings: SettingsStore) -> tuple[list[ModelChoice], list[str]]:
    """The folders added by hand that still hold a GLM-V model, and a sentence for each that does not."""
    choices, problems = [], []
    for entry in settings.get("local.model_folders"):
        try:
            found = inspect_folder(Path(str(entry)))
        except LocalFolderError as exc:
            problems.append(f"{entry}: {exc.message}")
            continue
        choices.append(ModelChoice(found.spec, found.folder, added=True, trust_remote_code=found.trust_remote_code))
    return choices, problems


def all_choices(settings: SettingsStore) -> tuple[list[ModelChoice], list[str]]:
    """Folders added by hand first (the user chose them), then the catalog."""
    added, problems = added_choices(settings)
    return [*added, *catalog_choices(settings)], problems


def folder_choice(folder: Path) -> ModelChoice:
    """The model in `folder` (reads its configs: call it off the UI thread); raise LocalFolderError saying why not."""
    found = inspect_folder(folder)
    return ModelChoice(found.spec, found.folder, added=True, trust_remote_code=found.trust_remote_code)


def remember_folder(settings: SettingsStore, choice: ModelChoice) -> None:
    """Offer a checked folder from now on (on the UI thread: settings are saved from there)."""
    kept = [str(entry) for entry in settings.get("local.model_folders")]
    if str(choice.folder) not in kept:
        settings.set("local.model_folders", [*kept, str(choice.folder)])


def forget_folder(settings: SettingsStore, folder: Path) -> None:
    """Stop offering a folder added by hand (its files are left alone)."""
    kept = [str(entry) for entry in settings.get("local.model_folders")]
    settings.set("local.model_folders", [entry for entry in kept if entry != str(folder)])


def folder_state(choice: ModelChoice) -> FolderState:
    """Whether the model's files are there (reads only a marker and file sizes; run off the UI thread)."""
    if choice.added:
        return FolderState(complete=choice.folder.is_dir())
    if is_downloaded(choice.spec, choice.folder):
        return FolderState(complete=True)
    partial = 0
    if choice.folder.is_dir():
        for path in choice.folder.rglob("*"):
            try:
                if path.is_file():
                    partial += path.stat().st_size
            except OSError:
                continue
    return FolderState(complete=False, partial_bytes=partial)


# -- engines ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EngineLocation:
    """Where an engine's server program is: `python` for the pip-installed engines, `program` to run."""

    engine: Engine
    program: Path | None  # None: not found
    python: Path | None = None
    existing: bool = False  # an install the user pointed at, not the app's own


def engine_location(engine: Engine, settings: SettingsStore, data_dir: Path) -> EngineLocation:
    """The engine the user pointed at in the settings, else the app's own venv (which may not exist yet)."""
    if engine is Engine.LLAMA_CPP:
        chosen = str(settings.get("local.llama_server")).strip()
        if chosen:
            return EngineLocation(engine, Path(chosen).expanduser(), existing=True)
        found = shutil.which("llama-server")
        return EngineLocation(engine, Path(found) if found else None, existing=found is not None)
    chosen = str(settings.get(f"local.engine_python.{engine.value}")).strip()
    if chosen:
        python = Path(chosen).expanduser()
        return EngineLocation(engine, program_for(engine, python), python, existing=True)
    venv = engine_venv(data_dir, engine)
    python = venv_python(venv)
    return EngineLocation(engine, default_program(engine, venv), python)


def program_for(engine: Engine, python: Path) -> Path:
    """The server program beside an environment's Python (SGLang runs through the Python itself)."""
    if engine is Engine.SGLANG:
        return python
    return default_program(engine, python.parent.parent)


def use_engine_python(settings: SettingsStore, engine: Engine, python: Path | None) -> None:
    """Point the app at an existing install of `engine` (None: back to the app's own)."""
    if engine is Engine.LLAMA_CPP:
        settings.set("local.llama_server", str(python) if python else "")
    else:
        settings.set(f"local.engine_python.{engine.value}", str(python) if python else "")


def check_llama_server(program: Path) -> None:
    """Raise a UserFacingError when `program` is not a runnable llama-server."""
    if not program.is_file():
        raise UserFacingError(
            _("{program} does not exist.").format(program=program),
            _("Download a llama.cpp release for this system and choose its llama-server program."))
    if not shutil.which(str(program)):
        raise UserFacingError(_("{program} cannot be run.").format(program=program),
                              _("Choose the llama-server program itself (it must be executable)."))


def plan_for(choice: ModelChoice, engine: Engine, hardware: HardwareReport, *, complete: bool) -> Plan:
    """The fit plan for running `choice` with `engine` here (a folder that ships code adds its flag)."""
    result = plan(choice.spec, engine, hardware, downloaded=complete or choice.added)
    if choice.trust_remote_code and engine is not Engine.LLAMA_CPP and result.fit is not Fit.RED:
        result.flags.append("--trust-remote-code")
        result.reasons.append(_("This folder ships its own Python code, which the server runs: add only folders "
                                "you trust."))
    return result


@dataclass(frozen=True)
class EngineStatus:
    """Whether an engine can start a server here, in words."""

    location: EngineLocation
    ready: bool
    text: str
    installed: InstalledEngine | None = None


async def engine_status(engine: Engine, settings: SettingsStore, data_dir: Path) -> EngineStatus:
    """Find `engine` (the user's install or the app's own) and check its version; runs its Python briefly."""
    location = engine_location(engine, settings, data_dir)
    if engine is Engine.LLAMA_CPP:
        if location.program is None:
            return EngineStatus(location, False, _("llama-server was not found on the PATH."))
        try:
            check_llama_server(location.program)
        except UserFacingError as exc:
            return EngineStatus(location, False, exc.message)
        return EngineStatus(location, True, _("llama-server at {path}").format(path=location.program))
    python = location.python
    installed = await check_installed(engine, python) if python is not None and python.exists() else None
    where = _("your environment ({python})").format(python=python) if location.existing \
        else _("the app's own environment")
    if installed is None:
        if location.existing:
            return EngineStatus(location, False, _("{engine} was not found in {where}.").format(
                engine=engine.label, where=where))
        return EngineStatus(location, False, _("Not installed."))
    if not installed.ok:
        return EngineStatus(location, False, installed.problem, installed)
    return EngineStatus(location, True, _("{engine} {version} in {where}").format(
        engine=engine.label, version=installed.version, where=where), installed)
