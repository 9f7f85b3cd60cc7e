"""The Local servers window: from "I have a GPU" to "answers from my own machine".

Top: what this computer has. Left: every model with each engine it runs on, and the fit planner's
verdict. Right: the selected plan's reasons, its engine (install or use an existing one), its files
(download, cancel, resume) and the exact command, with Start. Bottom: the running server's state,
start-up stages, advice when it fails, and its live log; Stop; keep it running when the app quits.
Every check, install, download and launch runs in the background and can be cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QColor, QIcon, QPainter, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.assistant.local_models import (
    EngineLocation,
    EngineStatus,
    FolderState,
    ModelChoice,
    all_choices,
    download_source,
    engine_status,
    folder_choice,
    folder_state,
    forget_folder,
    models_dir,
    plan_for,
    program_for,
    remember_folder,
    use_engine_python,
)
from desktop.assistant.local_server import ServerEvent, ServerManager, StageReached
from desktop.assistant.remote_hosts import RemoteHosts
from desktop.assistant.remote_models import (
    HostInventory,
    HostJobCancelled,
    download_command,
    download_on_host,
    install_command,
    install_on_host,
    inventory,
)
from desktop.assistant.services import Services
from desktop.backends.catalog import CATALOG, Engine, format_bytes
from desktop.backends.downloads import (
    DiskSpace,
    DiskUsage,
    DownloadCancelled,
    DownloadProgress,
    ModelSource,
    disk_space,
    download_model,
)
from desktop.backends.engines import ModelFilesMissing, build_command, default_program, supports_api_key
from desktop.backends.hardware import HardwareReport, describe, probe_hardware
from desktop.backends.installer import InstallCancelled, InstalledEngine, InstallProgress, install_engine, use_existing
from desktop.backends.log_advice import classify
from desktop.backends.planner import Fit, Plan
from desktop.backends.remote import LinkChanged, RemoteServerRecord, RemoteSupervisor, SshHost
from desktop.backends.supervisor import (
    LogLines,
    RunningServerRecord,
    ServerCommand,
    ServerStartFailed,
    ServerState,
    StateChanged,
    free_port,
    port_is_free,
)
from desktop.config.hosts import HostBook, SshHostEntry
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.ui.notifier import Notifier
from desktop.ui.operations import run_async
from desktop.ui.servers.details import FIT_COLOURS, JobView, PlanDetails, describe_download, fit_label
from desktop.ui.servers.hosts import HostSelector, remote_hosts_for
from desktop.ui.servers.running import MUTED, RunningServerView

log = logging.getLogger(__name__)

ADOPTED_POLL_MS = 2000
_PREVIEW_KEY = "preview-key"  # never shown: ServerCommand.display masks the key


def _dot(colour: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(colour))
    painter.setPen(QColor(colour))
    painter.drawEllipse(1, 1, 10, 10)
    painter.end()
    return QIcon(pixmap)


def _room(choice: ModelChoice, files: FolderState, disk_usage: Callable[[Path], DiskUsage]) -> DiskSpace | None:
    """Room on the models' disk for what is left to download of `choice` (asks the file system: a worker thread)."""
    if not choice.downloadable or files.complete:
        return None
    try:
        return disk_space(choice.folder, choice.spec.download_bytes - files.partial_bytes, disk_usage)
    except OSError as exc:  # the download itself reports it, with its own check
        log.info("Free space for %s is unknown: %s", choice.folder, exc)
        return None


class LocalServersWindow(QWidget):
    """The panel; `manager` owns the server (it outlives this window), `probe` reads the hardware,
    `disk_usage` the free space where models go (for Download's check and the download's own)."""

    def __init__(self, services: Services, notifier: Notifier, manager: ServerManager, *,
                 probe: Callable[[Path], HardwareReport] = probe_hardware,
                 disk_usage: Callable[[Path], DiskUsage] = shutil.disk_usage,
                 remote_hosts: RemoteHosts | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("local_servers_window")
        self.setWindowTitle(_("Local servers"))
        self.resize(1100, 760)
        self._services = services
        self._notifier = notifier
        self.manager = manager
        self._probe = probe
        self._disk_usage = disk_usage
        self._hardware: HardwareReport | None = None
        self._rows: list[tuple[ModelChoice, Plan]] = []
        self._files: dict[str, FolderState] = {}
        self._space: dict[str, DiskSpace | None] = {}  # room for what is left to download, None: unknown
        self._engines: dict[Engine, EngineStatus] = {}
        self._installs: dict[Engine, JobView] = {}
        self._downloads: dict[str, JobView] = {}
        self._install_cancels: dict[Engine, asyncio.Event] = {}
        self._previews: dict[tuple[str, Engine, int, str], str] = {}
        self._shown_log = ""  # the adopted server's log as last shown
        self._download_cancels: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self.launch_task: asyncio.Task[object] | None = None
        self.refresh_task: asyncio.Task[None] | None = None
        self._port = free_port()
        self._selected_key: tuple[str, Engine] | None = None
        self._launching: tuple[ModelChoice, Plan] | None = None
        # Where servers run: this computer (None) or an SSH host, with what was found there.
        self.remote_hosts = remote_hosts or remote_hosts_for(self, services.paths.known_hosts)
        self._host: SshHostEntry | None = None
        self._ssh: SshHost | None = None
        self._inventory: HostInventory | None = None
        self._build()
        manager.on_event = self.handle_event
        self._adopted_timer = QTimer(self)
        self._adopted_timer.setInterval(ADOPTED_POLL_MS)
        self._adopted_timer.timeout.connect(self._poll_adopted)
        self._show_manager_state()

    # -- layout -------------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.host_selector = HostSelector(HostBook(self._services.settings))
        self.host_selector.changed.connect(self.set_host)
        layout.addWidget(self.host_selector)
        top = QHBoxLayout()
        self.hardware_label = QLabel(_("Checking this computer…"))
        self.hardware_label.setObjectName("hardware_summary")
        self.hardware_label.setWordWrap(True)
        self.hardware_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.hardware_label, 1)
        top.addWidget(QLabel(_("Download from:")))
        self.source_box = QComboBox()
        self.source_box.setObjectName("download_source")
        for source in ModelSource:
            self.source_box.addItem(source.label, source.value)
        self.source_box.setCurrentIndex(max(0, self.source_box.findData(
            self._services.settings.get("local.download_source"))))
        self.source_box.currentIndexChanged.connect(self._source_changed)
        top.addWidget(self.source_box)
        self.refresh_button = QPushButton(_("Check again"))
        self.refresh_button.setObjectName("refresh_hardware")
        self.refresh_button.clicked.connect(self.refresh)
        top.addWidget(self.refresh_button)
        layout.addLayout(top)

        upper = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.tree = QTreeWidget()
        self.tree.setObjectName("model_plans")
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setHeaderLabels([_("Model"), _("Engine"), _("Fits here?"), _("Context"), _("Files")])
        header = self.tree.header()
        header.setStretchLastSection(False)
        for column in range(5):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(lambda *_args: self._show_selected())
        left_layout.addWidget(self.tree, 1)
        buttons = QHBoxLayout()
        self.add_folder_button = QPushButton(_("Add a model folder…"))
        self.add_folder_button.setObjectName("add_model_folder")
        self.add_folder_button.setToolTip(_("A GLM-V model you already have on disk (Hugging Face layout or GGUF)."))
        self.add_folder_button.clicked.connect(self._choose_folder)
        self.remove_folder_button = QPushButton(_("Remove from list"))
        self.remove_folder_button.setObjectName("remove_model_folder")
        self.remove_folder_button.setEnabled(False)
        self.remove_folder_button.clicked.connect(self._remove_folder)
        buttons.addWidget(self.add_folder_button)
        buttons.addWidget(self.remove_folder_button)
        buttons.addStretch(1)
        left_layout.addLayout(buttons)
        upper.addWidget(left)
        self.details = PlanDetails()
        upper.addWidget(self.details)
        upper.setStretchFactor(0, 1)
        upper.setStretchFactor(1, 1)
        upper.setSizes([560, 600])

        self.running = RunningServerView(bool(self._services.settings.get("local.keep_running")))
        self.running.stop_requested.connect(self.stop_server)
        self.running.keep_running_changed.connect(lambda on: self._services.settings.set("local.keep_running", on))
        self.running.left_over.use_requested.connect(self.adopt)
        self.running.left_over.stop_requested.connect(self.stop_left_over)
        outer = QSplitter(Qt.Orientation.Vertical)
        outer.addWidget(upper)
        outer.addWidget(self.running)
        outer.setStretchFactor(0, 3)
        outer.setStretchFactor(1, 2)
        layout.addWidget(outer, 1)

        self.details.install_requested.connect(self.install_engine)
        self.details.use_existing_requested.connect(self._choose_existing)
        self.details.cancel_install.connect(self._cancel_install)
        self.details.download_requested.connect(self.download_selected)
        self.details.cancel_download.connect(self._cancel_download)
        self.details.start_requested.connect(self.start_selected)

    # -- showing what this machine can do ----------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        """Check the machine each time the window opens (the GPU may be busy, a disk may be full)."""
        super().showEvent(event)
        if self.refresh_task is None or self.refresh_task.done():
            self.refresh()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Closing hides: installs, downloads and the server go on (the tray reopens it)."""
        event.ignore()
        self.hide()

    def refresh(self) -> asyncio.Task[None]:
        """Probe the hardware, list the models and their files, check the engines; then plan each row."""
        self.refresh_button.setEnabled(False)
        if self.refresh_task is not None and not self.refresh_task.done():
            self.refresh_task.cancel()  # the newer check wins
        self.refresh_task = run_async(self._load(), notifier=self._notifier, owner=self,
                                      on_done=lambda _r: self.refresh_button.setEnabled(True),
                                      on_error=self._load_failed)
        return self.refresh_task

    def _load_failed(self, error: BaseException) -> None:
        self.refresh_button.setEnabled(True)
        self._notifier.show_error(error, self)

    def set_host(self, host: SshHostEntry | None) -> asyncio.Task[None]:
        """Show what `host` (None: this computer) can run, and start servers there."""
        previous = self._host
        if previous is not None and previous != host and not (self.manager.running and self.manager.host == previous):
            self._keep(run_async(self.remote_hosts.close(previous), notifier=self._notifier, owner=self))
        self._host, self._ssh, self._inventory = host, None, None
        self._engines, self._files, self._space = {}, {}, {}
        self._previews.clear()
        for widget in (self.add_folder_button, self.remove_folder_button):  # the source applies on hosts too
            widget.setEnabled(host is None)
        self.hardware_label.setText(_("Connecting to {host}…").format(host=host.label) if host is not None
                                    else _("Checking this computer…"))
        self.tree.clear()
        self._rows = []
        self._show_manager_state()
        return self.refresh()

    async def _load(self) -> None:
        if self._host is not None:
            await self._load_host(self._host)
            return
        settings, data = self._services.settings, self._services.paths.data
        self._hardware = await asyncio.to_thread(self._probe, models_dir(settings))
        self._show_hardware(self._hardware)
        choices, problems = await asyncio.to_thread(all_choices, settings)
        self._files = await asyncio.to_thread(lambda: {c.spec.id: folder_state(c) for c in choices})
        self._space = await asyncio.to_thread(lambda: {c.spec.id: _room(c, self._files[c.spec.id], self._disk_usage)
                                                       for c in choices})
        self._fill(choices)
        statuses = await asyncio.gather(*(engine_status(engine, settings, data) for engine in Engine))
        self._engines = {status.location.engine: status for status in statuses}
        self._show_selected()
        if problems:
            self._notifier.show_error(UserFacingError(
                _("Some model folders added earlier cannot be used:"), "\n".join(problems)), self)
        if not self.manager.running:
            record = await asyncio.to_thread(self.manager.find_left_over)
            if not self.manager.running and (self.launch_task is None or self.launch_task.done()):
                self.running.left_over.offer(record)

    async def _load_host(self, host: SshHostEntry) -> None:
        """Connect (asking what must be asked), probe the host, and plan the catalog's models for it."""
        ssh = await self.remote_hosts.open(host)
        self._hardware = await ssh.probe()
        found = await inventory(ssh)
        if self._host is not host:
            return  # another computer was chosen meanwhile
        self._ssh = ssh
        self._show_hardware(self._hardware, host.label)
        choices = [ModelChoice(spec, Path(found.folder(spec))) for spec in CATALOG]
        self._space = {c.spec.id: None for c in choices}
        self._apply_inventory(host, found)
        self._fill(choices)
        self._show_selected()
        if not self.manager.running:
            left = await ssh.find_server()
            if left is not None and not self.manager.running and self._host is host and not self.launching:
                self.running.left_over.offer(left, where=host.label)

    @staticmethod
    def _host_engine(engine: Engine, found: HostInventory, host: SshHostEntry) -> EngineStatus:
        program = found.engines.get(engine)
        own = program is not None and program.startswith(found.engine_venv(engine) + "/")
        location = EngineLocation(engine, Path(program) if program else None, existing=program is not None and not own)
        if program:
            return EngineStatus(location, True, _("On {host}: {program}").format(host=host.label, program=program))
        return EngineStatus(location, False, _("Not found on {host}. Install puts it in the app's own environment "
                                               "there; or install it yourself: {command}").format(
            host=host.label, command=install_command(found, engine)))

    def _show_hardware(self, report: HardwareReport, where: str | None = None) -> None:
        lines = describe(report)
        problem_prefix = _("Problem: {problem}").split("{problem}")[0]
        facts = [line for line in lines if not line.startswith(problem_prefix)]
        problems = [line for line in lines if line not in facts]
        text = "<b>" + html.escape(where or _("This computer")) + "</b>: " + " · ".join(facts)
        if problems:
            text += f'<br><span style="color:{MUTED}">' + " · ".join(problems) + "</span>"
        self.hardware_label.setText(text)

    def _fill(self, choices: list[ModelChoice]) -> None:
        assert self._hardware is not None
        self.tree.blockSignals(True)
        self.tree.clear()
        self._rows = []
        chosen_item: QTreeWidgetItem | None = None
        for choice in choices:
            files = self._files.get(choice.spec.id)
            complete = files is not None and files.complete
            plans = sorted((plan_for(choice, engine, self._hardware, complete=complete)
                            for engine in choice.spec.engines),
                           key=lambda p: [Fit.GREEN, Fit.YELLOW, Fit.RED].index(p.fit))
            for entry in plans:
                item = QTreeWidgetItem([choice.spec.name, entry.engine.label, fit_label(entry.fit),
                                        f"{entry.context:,}" if entry.context else "—", self._files_cell(choice)])
                item.setIcon(2, _dot(FIT_COLOURS[entry.fit]))
                item.setToolTip(0, choice.spec.note)
                item.setToolTip(2, "\n".join(entry.reasons))
                item.setData(0, Qt.ItemDataRole.UserRole, len(self._rows))
                self.tree.addTopLevelItem(item)
                self._rows.append((choice, entry))
                key = (choice.spec.id, entry.engine)
                if key == self._selected_key or (self._selected_key is None and chosen_item is None
                                                 and entry.fit is not Fit.RED):
                    chosen_item = item
        self.tree.blockSignals(False)
        self._fit_table()
        first = chosen_item or self.tree.topLevelItem(0)
        if first is not None:
            self.tree.setCurrentItem(first)
        self._show_selected()

    def _fit_table(self) -> None:
        """Keep the list at least as wide as its columns, so none is cut off at its right edge."""
        tree = self.tree
        columns = sum(max(tree.sizeHintForColumn(c), tree.header().sectionSizeHint(c))
                      for c in range(tree.columnCount()))
        width = columns + 2 * tree.frameWidth() + tree.verticalScrollBar().sizeHint().width()
        screen = self.screen()
        # Past half the screen the details would be squeezed instead: there the list scrolls sideways.
        limit = screen.availableGeometry().width() // 2 if screen is not None else width
        tree.setMinimumWidth(min(width, limit))

    def _files_cell(self, choice: ModelChoice) -> str:
        files = self._files.get(choice.spec.id)
        job = self._downloads.get(choice.spec.id)
        if job is not None and job.running:
            return _("downloading")
        if choice.added:
            return _("on disk")
        if files is None:
            return "…"
        if files.complete:
            return _("downloaded")
        if files.partial_bytes:
            return _("partly")
        return format_bytes(choice.spec.download_bytes)

    def selected(self) -> tuple[ModelChoice, Plan] | None:
        """The model and plan of the selected row."""
        item = self.tree.currentItem()
        if item is None:
            return None
        return self._rows[int(item.data(0, Qt.ItemDataRole.UserRole))]

    def select(self, model_id: str, engine: Engine) -> None:
        """Select the row of `model_id` with `engine` (tests and the CLI)."""
        for index, (choice, entry) in enumerate(self._rows):
            if choice.spec.id == model_id and entry.engine is engine:
                item = self.tree.topLevelItem(index)
                if item is not None:
                    self.tree.setCurrentItem(item)
                return
        raise KeyError(f"{model_id} with {engine.label} is not listed")

    def _show_selected(self) -> None:
        current = self.selected()
        if current is None:
            return
        choice, entry = current
        self._selected_key = (choice.spec.id, entry.engine)
        self.remove_folder_button.setEnabled(choice.added)
        self.details.show_plan(
            choice, entry, self._engines.get(entry.engine), self._files.get(choice.spec.id),
            install=self._installs.get(entry.engine, JobView()),
            download=self._downloads.get(choice.spec.id, JobView()), space=self._space.get(choice.spec.id),
            command=self._command_preview(choice, entry), server_busy=self.manager.running,
            is_running=self._is_running(choice, entry), launching=self.launching,
            host=self._host.label if self._host is not None else "",
            host_download=download_command(self._inventory, choice.spec) if self._inventory is not None else "")

    @property
    def launching(self) -> bool:
        """Whether a server is being started from this window."""
        return self.launch_task is not None and not self.launch_task.done()

    def _is_running(self, choice: ModelChoice, entry: Plan) -> bool:
        manager = self.manager
        return (manager.running and manager.adopted is None and manager.plan is not None and manager.host == self._host
                and manager.plan.model.id == choice.spec.id and manager.plan.engine is entry.engine)

    def _command_preview(self, choice: ModelChoice, entry: Plan) -> str:
        if entry.fit is Fit.RED:
            return ""
        status = self._engines.get(entry.engine)
        program = status.location.program if status is not None and status.location.program is not None \
            else default_program(entry.engine)
        cache_key = (choice.spec.id, entry.engine, self._port, str(program))
        if cache_key in self._previews:  # a GGUF command looks into its folder: once, not on every update
            return self._previews[cache_key]
        key = _PREVIEW_KEY if supports_api_key(entry.engine) else None
        try:
            argv, env = build_command(entry, str(choice.folder), port=self._port, api_key=key, executable=program)
        except ModelFilesMissing:
            return _("(The command appears once the model files are here.)")
        preview = ServerCommand(tuple(argv), self._port, entry.engine.value, key, env).display()
        self._previews[cache_key] = preview
        return preview

    def _refresh_row_cells(self) -> None:
        for index, (choice, _entry) in enumerate(self._rows):
            item = self.tree.topLevelItem(index)
            if item is not None:
                item.setText(4, self._files_cell(choice))
        self._fit_table()

    # -- settings ----------------------------------------------------------------------------------------
    def _source_changed(self) -> None:
        self._services.settings.set("local.download_source", str(self.source_box.currentData()))

    def _choose_folder(self) -> None:
        dialog = QFileDialog(self, _("Choose a GLM-V model folder"))
        dialog.setObjectName("model_folder_dialog")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda path: self.add_model_folder(Path(path)))
        dialog.open()  # not exec(): the loop, downloads and the server keep running

    def add_model_folder(self, folder: Path) -> asyncio.Task[ModelChoice]:
        """Check `folder` and list it (off the UI thread); a bad folder is explained."""

        def added(choice: ModelChoice) -> None:
            remember_folder(self._services.settings, choice)
            self._selected_key = (choice.spec.id, choice.spec.engines[0])
            self.refresh()

        return run_async(asyncio.to_thread(folder_choice, folder), notifier=self._notifier,
                         owner=self, on_done=added, on_error=lambda e: self._notifier.show_error(e, self))

    def _remove_folder(self) -> None:
        current = self.selected()
        if current is not None and current[0].added:
            forget_folder(self._services.settings, current[0].folder)
            self._selected_key = None
            self.refresh()

    # -- engines -------------------------------------------------------------------------------------------
    def _choose_existing(self, engine: Engine) -> None:
        dialog = QFileDialog(self, _("Choose the Python of an environment with {engine}").format(engine=engine.label)
                             if engine is not Engine.LLAMA_CPP else _("Choose the llama-server program"))
        dialog.setObjectName("engine_program_dialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda path: self.use_existing_engine(engine, Path(path)))
        dialog.open()

    def use_existing_engine(self, engine: Engine, path: Path) -> asyncio.Task[object]:
        """Use an install the user already has (checked first; a wrong choice is explained)."""
        settings = self._services.settings

        async def check() -> object:
            if engine is Engine.LLAMA_CPP:
                from desktop.assistant.local_models import check_llama_server

                await asyncio.to_thread(check_llama_server, path)
            else:
                installed: InstalledEngine = await use_existing(engine, path)
                if not installed.ok:
                    raise UserFacingError(installed.problem, _("Upgrade it there, or let the app install its own."))
                if not program_for(engine, installed.python).exists():
                    raise UserFacingError(_("{program} is missing beside that Python.").format(
                        program=program_for(engine, installed.python)),
                        _("Choose the Python of the environment where {engine} was installed.").format(
                            engine=engine.label))
            use_engine_python(settings, engine, path)
            return None

        task = run_async(check(), notifier=self._notifier, owner=self, on_done=lambda _r: self._recheck_engine(engine),
                         on_error=lambda e: self._notifier.show_error(e, self))
        self._keep(task)
        return task

    def _recheck_engine(self, engine: Engine) -> None:
        async def recheck() -> None:
            self._engines[engine] = await engine_status(engine, self._services.settings, self._services.paths.data)
            self._show_selected()

        self._keep(run_async(recheck(), notifier=self._notifier, owner=self))

    def install_engine(self, engine: Engine) -> asyncio.Task[object]:
        """Install `engine` into the app's own environment for it, with progress and Cancel."""
        cancel = asyncio.Event()
        self._install_cancels[engine] = cancel
        job = JobView(True, -1, _("Starting the install…"))
        self._installs[engine] = job

        def progress(update: InstallProgress) -> None:
            job.fraction, job.text = update.fraction, update.message
            self._show_selected()

        host = self._host_job()

        def done(result: object) -> None:
            installed = result if isinstance(result, InstalledEngine) else None
            self._install_cancels.pop(engine, None)
            if host is not None:
                self._installs[engine] = JobView(False, 1.0, _("Installed {engine} on {host}.").format(
                    engine=engine.label, host=host[0].label))
                self._keep(run_async(self._reinventory(), notifier=self._notifier, owner=self))
                return
            use_engine_python(self._services.settings, engine, None)  # the app's own from now on
            self._installs[engine] = JobView(False, 1.0, _("Installed {engine} {version}.").format(
                engine=engine.label, version=installed.version if installed else ""))
            self._recheck_engine(engine)

        def failed(error: BaseException) -> None:
            self._install_cancels.pop(engine, None)
            if isinstance(error, InstallCancelled | HostJobCancelled):
                self._installs[engine] = JobView(False, -1, _("Install cancelled."))
            else:
                self._installs[engine] = JobView(False, -1, getattr(error, "message", str(error)))
                self._notifier.show_error(error, self)
            if host is None:
                self._recheck_engine(engine)
            else:
                self._keep(run_async(self._reinventory(), notifier=self._notifier, owner=self))

        work = install_engine(engine, self._services.paths.data, on_progress=progress, on_log=lambda _line: None,
                              cancel=cancel) if host is None else install_on_host(
            host[1], host[2], engine, on_progress=progress, on_log=lambda _line: None, cancel=cancel)
        task = run_async(work, notifier=self._notifier, owner=self, on_done=done, on_error=failed)
        self._keep(task)
        self._show_selected()
        return task

    def _cancel_install(self) -> None:
        current = self.selected()
        if current is not None and current[1].engine in self._install_cancels:
            self._install_cancels[current[1].engine].set()

    # -- downloads ---------------------------------------------------------------------------------------------
    def download_selected(self) -> asyncio.Task[object] | None:
        """Download (or resume) the selected model's files, with byte progress and Cancel."""
        current = self.selected()
        if current is None or not current[0].downloadable:
            return None
        choice = current[0]
        model_id = choice.spec.id
        source, endpoint = download_source(self._services.settings)
        cancel = asyncio.Event()
        self._download_cancels[model_id] = cancel
        job = JobView(True, -1, _("Asking {hub} for the file list…").format(hub=source.label))
        self._downloads[model_id] = job

        def progress(update: DownloadProgress) -> None:
            job.fraction = update.done / update.total if update.total else -1
            job.text = describe_download(update)
            if self._selected_key is not None and self._selected_key[0] == model_id:
                self.details.download_job.show_job(job)

        host = self._host_job()

        async def fetch() -> object:
            if host is not None:
                await download_on_host(host[1], host[2], choice.spec, source=source, endpoint=endpoint,
                                       on_progress=progress, cancel=cancel)
                return None
            import httpx

            async with httpx.AsyncClient(timeout=httpx.Timeout(30.0), trust_env=True) as client:
                return await download_model(client, choice.spec, choice.folder, source=source, endpoint=endpoint,
                                            on_progress=progress, cancel=cancel, disk_usage=self._disk_usage)

        def finished(text: str) -> None:
            self._downloads[model_id] = JobView(False, -1, text)
            self._download_cancels.pop(model_id, None)
            again = self._recheck_files(choice) if host is None else self._reinventory()
            self._keep(run_async(again, notifier=self._notifier, owner=self))

        def failed(error: BaseException) -> None:
            if isinstance(error, DownloadCancelled | HostJobCancelled):
                finished(_("Download paused. What arrived is kept: Resume continues from there."))
                return
            finished(getattr(error, "message", str(error)))
            self._notifier.show_error(error, self)

        task = run_async(fetch(), notifier=self._notifier, owner=self,
                         on_done=lambda _r: finished(_("Download complete.")), on_error=failed)
        self._keep(task)
        self._refresh_row_cells()
        self._show_selected()
        return task

    def _host_job(self) -> tuple[SshHostEntry, SshHost, HostInventory] | None:
        """The host an install or download goes to now (None: this computer)."""
        if self._host is None or self._ssh is None or self._inventory is None:
            return None
        return self._host, self._ssh, self._inventory

    async def _reinventory(self) -> None:
        """Look again at what the host has (after an install or a download there)."""
        host, ssh = self._host, self._ssh
        if host is None or ssh is None:
            return
        found = await inventory(ssh)
        if self._host is not host:
            return
        self._apply_inventory(host, found)
        self._refresh_row_cells()
        self._show_selected()

    def _apply_inventory(self, host: SshHostEntry, found: HostInventory) -> None:
        """What `host` has: its engines and which catalog models are complete there."""
        self._inventory = found
        self._files = {spec.id: FolderState(found.models.get(spec.id, False)) for spec in CATALOG}
        self._engines = {engine: self._host_engine(engine, found, host) for engine in Engine}

    async def _recheck_files(self, choice: ModelChoice) -> None:
        files = await asyncio.to_thread(folder_state, choice)
        self._files[choice.spec.id] = files
        self._space[choice.spec.id] = await asyncio.to_thread(_room, choice, files, self._disk_usage)
        self._refresh_row_cells()
        self._show_selected()

    def _cancel_download(self) -> None:
        current = self.selected()
        if current is not None and current[0].spec.id in self._download_cancels:
            self._download_cancels[current[0].spec.id].set()

    # -- the server ----------------------------------------------------------------------------------------------
    def start_selected(self) -> asyncio.Task[object] | None:
        """Start the selected plan's server; when ready it becomes the active endpoint."""
        current = self.selected()
        if current is None:
            return None
        if self.launch_task is not None and not self.launch_task.done():
            return self.launch_task  # one start at a time (a double click starts one server)
        choice, entry = current
        status = self._engines.get(entry.engine)
        if status is None or status.location.program is None:
            return None
        port = self._port if port_is_free(self._port) else free_port()
        self._port = port
        self._launching = (choice, entry)
        self.running.left_over.offer(None)
        host = (self._host, self._ssh) if self._host is not None and self._ssh is not None else None
        folder = str(choice.folder) if host is None else self._inventory.folder(choice.spec)  # type: ignore[union-attr]
        self.launch_task = run_async(
            self.manager.launch(entry, folder, status.location.program, port=port, host=host),
            notifier=self._notifier, owner=self, on_done=lambda _server: self._ready(), on_error=self._start_failed)
        self.launch_task.add_done_callback(lambda _task: self._show_selected() if shiboken6.isValid(self) else None)
        self._show_selected()
        return self.launch_task

    def _ready(self) -> None:
        self._show_manager_state()
        self._show_selected()

    def _start_failed(self, error: BaseException) -> None:
        if isinstance(error, ServerStartFailed | UserFacingError):
            self.running.failed(error.message, error.hint)
        else:
            self._notifier.show_error(error, self)
        self._show_manager_state()

    def stop_server(self) -> None:
        """Stop the server (while it starts: cancel the start, which stops it too)."""
        if self.launch_task is not None and not self.launch_task.done():
            self.launch_task.cancel()
            return
        self._keep(run_async(self.manager.stop(), notifier=self._notifier, owner=self,
                             on_done=lambda _r: self._show_manager_state()))

    def handle_event(self, event: ServerEvent) -> None:
        """The manager's events, on the UI thread."""
        if isinstance(event, LinkChanged):
            self._show_manager_state()
            if not event.up:
                self.running.append_log((f"[{event.reason}]",))
            return
        if isinstance(event, LogLines):
            self.running.append_log(event.lines)
        elif isinstance(event, StageReached):
            self.running.stage(event.stage)
        elif isinstance(event, StateChanged):
            supervisor = self.manager.supervisor
            if event.state is ServerState.STARTING and supervisor is not None:
                self.running.starting(str(supervisor.log_path))
                self.details.command.setPlainText(supervisor.command.display())
            if event.state is ServerState.CRASHED and supervisor is not None and self.manager.server is not None:
                self._crashed(supervisor.log_tail(200), event.exit_status)
            self._show_manager_state()
            self._show_selected()

    def _crashed(self, log_tail: str, status: int | None) -> None:
        """A ready server exited by itself: say so here, and through the notifier when the window is hidden."""
        engine = self._launching[1].engine if self._launching is not None else None
        advice = classify(log_tail, engine)
        if status is not None and status < 0:
            message = _("The local server was killed (signal {signal}).").format(signal=-status)
            if -status == 9 and advice is None:
                message += " " + _("Often the system ends the biggest program when memory runs out.")
        elif status is None:  # on an SSH host: its exit status stays there
            message = _("The server on {host} stopped unexpectedly.").format(
                host=self.manager.host.label if self.manager.host is not None else _("this computer"))
        else:
            message = _("The local server exited unexpectedly (status {status}).").format(status=status)
        hint = advice.message + (" " + advice.hint if advice.hint else "") if advice is not None else _(
            "Start it again from this window; if it stops again, the end of its log below may say why.")
        self.running.failed(message, hint)
        if not self.isVisible():
            self._notifier.show_error(UserFacingError(message, hint))

    def _show_manager_state(self) -> None:
        manager = self.manager
        if manager.adopted is not None:
            record = manager.adopted.record
            self.running.set_state(_("Using the server started earlier: {engine}, {model} at "
                                     "http://127.0.0.1:{port}/v1 (process {pid}).").format(
                engine=record.engine, model=record.model, port=record.port, pid=record.pid), ServerState.READY)
            return
        supervisor = manager.supervisor
        if supervisor is None:
            self.running.set_state(_("No server of the app runs on {host}.").format(host=self._host.label)
                                   if self._host is not None else _("No local server is running."), None)
            return
        name = manager.plan.model.name if manager.plan is not None else supervisor.command.model
        engine = manager.plan.engine.label if manager.plan is not None else supervisor.command.engine
        url = supervisor.base_url
        state = supervisor.state
        if isinstance(supervisor, RemoteSupervisor) and manager.host is not None:
            where = manager.host.label
            if not supervisor.link_up and state is ServerState.READY:
                self.running.set_state(_("The SSH link to {host} dropped; reconnecting… {model} keeps running "
                                         "there.").format(host=where, model=name), ServerState.LOADING)
                return
            engine = _("{engine} on {host}").format(engine=engine, host=where)
        text = {
            ServerState.STARTING: _("Starting {model} on {engine}…"),
            ServerState.LOADING: _("Starting {model} on {engine} at {url} (process {pid})…"),
            ServerState.READY: _("Ready: {model} on {engine} at {url} (process {pid}). New questions go to it."),
            ServerState.STOPPING: _("Stopping {model}…"),
            ServerState.STOPPED: _("Stopped. {model} on {engine} is no longer running."),
            ServerState.CRASHED: _("{model} on {engine} is not running (see below)."),
        }.get(state, _("No local server is running."))
        self.running.set_state(text.format(model=name, engine=engine, url=url, pid=supervisor.pid), state)

    # -- a server left by an earlier run -------------------------------------------------------------------------------
    def adopt(self, record: RunningServerRecord | RemoteServerRecord) -> asyncio.Task[object]:
        """Use the left-over server again, here or on the chosen host (it becomes the active endpoint)."""
        host, ssh = self._host, self._ssh

        async def take() -> object:
            if isinstance(record, RemoteServerRecord):
                assert host is not None and ssh is not None
                note = await asyncio.to_thread(self.manager.remote_note)
                port = note.local_port if note is not None and note.host_id == host.id else None
                return await self.manager.adopt_remote(host, ssh, record, port)
            adopted = await self.manager.adopt(record)
            tail = await asyncio.to_thread(adopted.log_tail)
            self._shown_log = tail
            self.running.adopted(record.log_path, tail)
            return adopted

        def done(_adopted: object) -> None:
            self.running.left_over.offer(None)
            if isinstance(record, RunningServerRecord):
                self._adopted_timer.start()  # a local one is watched by polling; a host's by its supervisor
            self._show_manager_state()
            self._show_selected()

        task = run_async(take(), notifier=self._notifier, owner=self, on_done=done,
                         on_error=lambda e: self._notifier.show_error(e, self))
        self._keep(task)
        return task

    def stop_left_over(self, record: RunningServerRecord | RemoteServerRecord) -> asyncio.Task[object]:
        """Stop the left-over server without using it."""
        self.running.left_over.offer(None)
        ssh = self._ssh
        stopping = (self.manager.stop_left_over(record) if isinstance(record, RunningServerRecord) else
                    ssh.stop(record) if ssh is not None else asyncio.sleep(0))
        task = run_async(stopping, notifier=self._notifier, owner=self,
                         on_done=lambda _r: self.running.set_state(
                             _("The server started earlier was stopped."), ServerState.STOPPED))
        self._keep(task)
        return task

    def _poll_adopted(self) -> None:
        adopted = self.manager.adopted
        if adopted is None:
            self._adopted_timer.stop()
            return

        async def poll() -> None:
            alive = await asyncio.to_thread(adopted.alive)
            if not alive:
                self.manager.adopted = None
                self._adopted_timer.stop()
                self.running.set_state(_("The server started earlier has exited."), ServerState.CRASHED)
                return
            tail = await asyncio.to_thread(adopted.log_tail)
            if tail != self._shown_log:
                self._shown_log = tail
                self.running.adopted(adopted.record.log_path, tail)

        self._keep(run_async(poll(), notifier=self._notifier, owner=self))

    def offer_left_over(self, record: RunningServerRecord) -> None:
        """Show the offer to use or stop a server an earlier run left (the app's start does this)."""
        self.running.left_over.offer(record)

    # -- housekeeping -------------------------------------------------------------------------------------------
    def _keep(self, task: asyncio.Task[object]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def shutdown(self) -> None:
        """Cancel installs, downloads and checks (quitting); the manager decides about the server."""
        self._adopted_timer.stop()
        for cancel in [*self._install_cancels.values(), *self._download_cancels.values()]:
            cancel.set()
        for task in list(self._tasks):
            task.cancel()
        if self.refresh_task is not None:
            self.refresh_task.cancel()
        with contextlib.suppress(RuntimeError):
            self.manager.on_event = None

