"""The right half of the Local servers window: for the selected model and engine, the planner's verdict
and reasons, the engine (install, or use an existing one), the model files (download with progress,
cancel and resume) and the exact command, with Start."""

from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.assistant.local_models import EngineStatus, FolderState, ModelChoice
from desktop.backends.catalog import Engine, format_bytes
from desktop.backends.downloads import DiskSpace, DownloadProgress, not_enough_space
from desktop.backends.planner import Fit, Plan
from desktop.i18n import _
from desktop.ui.servers.running import MUTED, monospace

FIT_COLOURS = {Fit.GREEN: "#188038", Fit.YELLOW: "#b06000", Fit.RED: "#c5221f"}


def fit_label(fit: Fit) -> str:
    """The verdict in words."""
    return {Fit.GREEN: _("Fits"), Fit.YELLOW: _("Fits, with limits"), Fit.RED: _("Does not fit")}[fit]


def describe_download(progress: DownloadProgress) -> str:
    """"3.2 GB of 20.0 GB · 45.0 MB/s · about 6 min left" (the file when there are several)."""
    parts = [_("{done} of {total}").format(done=format_bytes(progress.done), total=format_bytes(progress.total))]
    if progress.bytes_per_s > 0:
        parts.append(_("{rate}/s").format(rate=format_bytes(int(progress.bytes_per_s))))
        left = (progress.total - progress.done) / progress.bytes_per_s
        if left >= 1:
            minutes = left / 60
            parts.append(_("about {n:.0f} min left").format(n=minutes) if minutes >= 1.5
                         else _("about {n:.0f} s left").format(n=left))
    if progress.files_total > 1:
        parts.append(_("file {n} of {total}: {name}").format(n=min(progress.files_done + 1, progress.files_total),
                                                             total=progress.files_total, name=progress.file))
    return " · ".join(parts)


@dataclass
class JobView:
    """What an install or download shows while it runs (or how it ended)."""

    running: bool = False
    fraction: float = -1.0  # -1: unknown
    text: str = ""


def _muted(label: QLabel) -> QLabel:
    label.setWordWrap(True)
    label.setStyleSheet(f"QLabel {{ color: {MUTED}; }}")
    return label


class _JobRow(QWidget):
    """A progress bar, its text and a Cancel button."""

    cancel = Signal()

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QVBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        line = QHBoxLayout()
        self.bar = QProgressBar()
        self.bar.setObjectName(f"{name}_progress")
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(10)
        self.cancel_button = QPushButton(_("Cancel"))
        self.cancel_button.setObjectName(f"cancel_{name}")
        self.cancel_button.clicked.connect(self.cancel.emit)
        line.addWidget(self.bar, 1)
        line.addWidget(self.cancel_button)
        row.addLayout(line)
        self.text = _muted(QLabel())
        self.text.setObjectName(f"{name}_text")
        row.addWidget(self.text)

    def show_job(self, job: JobView) -> None:
        self.setVisible(job.running or bool(job.text))
        self.bar.setVisible(job.running)
        self.cancel_button.setVisible(job.running)
        if job.fraction < 0:
            self.bar.setRange(0, 0)  # busy
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(job.fraction * 1000))
        self.text.setText(job.text)


class PlanDetails(QWidget):
    """Verdict, engine, files and command for one model and engine."""

    install_requested = Signal(object)  # Engine
    use_existing_requested = Signal(object)  # Engine
    cancel_install = Signal()
    download_requested = Signal()
    cancel_download = Signal()
    start_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel()
        self.title.setObjectName("plan_title")
        self.title.setStyleSheet("QLabel { font-size: 15px; }")
        layout.addWidget(self.title)
        self.verdict = QLabel()
        self.verdict.setObjectName("plan_verdict")
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verdict.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout.addWidget(self.verdict)

        engine_box = QGroupBox(_("Engine"))
        engine_layout = QVBoxLayout(engine_box)
        engine_row = QHBoxLayout()
        self.engine_text = QLabel()
        self.engine_text.setObjectName("engine_status")
        self.engine_text.setWordWrap(True)
        self.install_button = QPushButton(_("Install"))
        self.install_button.setObjectName("install_engine")
        self.existing_button = QPushButton(_("Use an existing install…"))
        self.existing_button.setObjectName("use_existing_engine")
        engine_row.addWidget(self.engine_text, 1)
        engine_row.addWidget(self.install_button)
        engine_row.addWidget(self.existing_button)
        engine_layout.addLayout(engine_row)
        self.install_job = _JobRow("install")
        self.install_job.cancel.connect(self.cancel_install.emit)
        engine_layout.addWidget(self.install_job)
        layout.addWidget(engine_box)

        files_box = QGroupBox(_("Model files"))
        files_layout = QVBoxLayout(files_box)
        files_row = QHBoxLayout()
        self.files_text = QLabel()
        self.files_text.setObjectName("files_status")
        self.files_text.setWordWrap(True)
        self.files_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download_button = QPushButton(_("Download"))
        self.download_button.setObjectName("download_model")
        files_row.addWidget(self.files_text, 1)
        files_row.addWidget(self.download_button)
        files_layout.addLayout(files_row)
        self.download_job = _JobRow("download")
        self.download_job.cancel.connect(self.cancel_download.emit)
        files_layout.addWidget(self.download_job)
        layout.addWidget(files_box)

        start_box = QGroupBox(_("Command"))
        start_layout = QVBoxLayout(start_box)
        self.command = QPlainTextEdit()
        self.command.setObjectName("server_command")
        self.command.setReadOnly(True)
        self.command.setFont(monospace())  # type: ignore[arg-type]
        self.command.setMaximumHeight(96)
        start_layout.addWidget(self.command)
        start_row = QHBoxLayout()
        self.start_hint = _muted(QLabel())
        self.start_hint.setObjectName("start_hint")
        self.copy_button = QPushButton(_("Copy"))
        self.copy_button.setObjectName("copy_command")
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.command.toPlainText()))
        self.start_button = QPushButton(_("Start server"))
        self.start_button.setObjectName("start_server")
        self.start_button.setDefault(True)
        start_row.addWidget(self.start_hint, 1)
        start_row.addWidget(self.copy_button)
        start_row.addWidget(self.start_button)
        start_layout.addLayout(start_row)
        layout.addWidget(start_box)
        layout.addStretch(1)

        self.install_button.clicked.connect(lambda: self.install_requested.emit(self._engine))
        self.existing_button.clicked.connect(lambda: self.use_existing_requested.emit(self._engine))
        self.download_button.clicked.connect(self.download_requested.emit)
        self.start_button.clicked.connect(self.start_requested.emit)
        self._engine: Engine | None = None
        self.setEnabled(False)

    def show_plan(self, choice: ModelChoice, plan: Plan, engine: EngineStatus | None, files: FolderState | None,
                  *, install: JobView, download: JobView, command: str, server_busy: bool,
                  is_running: bool = False, launching: bool = False, space: DiskSpace | None = None,
                  host: str = "", host_download: str = "") -> None:
        """Fill every part for `plan`; `engine` and `files` are None while they are being checked; `space` is the
        room for what is left to download (None: unknown, the download checks it itself). `host`: the SSH host
        it would run on ("": this computer), `host_download`: the command that downloads its files there."""
        self.setEnabled(True)
        self._engine = plan.engine
        self.title.setText(_("<b>{model}</b> with {engine}").format(model=html.escape(choice.spec.name),
                                                                   engine=html.escape(plan.engine.label)))
        reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in plan.reasons)
        alternatives = "".join(f"<li>{html.escape(_('Instead: {what}').format(what=what))}</li>"
                               for what in plan.alternatives)
        note = f'<p style="color:{MUTED}">{html.escape(choice.spec.note)}</p>' if choice.spec.note else ""
        self.verdict.setText(f'<span style="color:{FIT_COLOURS[plan.fit]}; font-weight:bold">● '
                             f'{html.escape(fit_label(plan.fit))}</span>'
                             f'<ul style="margin-left:-20px">{reasons}{alternatives}</ul>{note}')
        # Engine
        pip_engine = plan.engine is not Engine.LLAMA_CPP
        self.engine_text.setText(engine.text if engine is not None else _("Checking…"))
        self.install_button.setVisible(pip_engine and (engine is None or not engine.ready))
        self.install_button.setEnabled(engine is not None and not engine.ready and not install.running)
        if engine is not None and engine.location.existing:
            self.install_button.setText(_("Install the app's own"))
        else:
            self.install_button.setText(_("Upgrade") if engine is not None and engine.installed is not None
                                        else _("Install"))
        self.existing_button.setText(_("Use an existing install…") if pip_engine else _("Choose llama-server…"))
        self.existing_button.setEnabled(not install.running)
        self.existing_button.setVisible(not host)  # on a host, an engine on its PATH is found by itself
        self.install_job.show_job(install)
        # Files
        no_room = "" if download.running or space is None or space.enough else self._no_room(choice, space)
        self.files_text.setText(self._files_text(choice, files, download) + (f"\n{no_room}" if no_room else ""))
        if host and files is not None:
            self.files_text.setText(
                _("On {host}: {path}").format(host=host, path=choice.folder) if files.complete else
                _("Not on {host} yet (about {size}). Download fetches it there from the source chosen above, and "
                  "resumes where it stopped; or run there:\n{command}").format(
                    host=host, size=format_bytes(choice.spec.download_bytes), command=host_download))
        self.download_button.setVisible(choice.downloadable)
        self.download_button.setEnabled(files is not None and not files.complete and not download.running
                                        and not no_room)
        self.download_button.setToolTip(no_room)
        self.download_button.setText(_("Resume download") if files is not None and files.partial_bytes
                                     else _("Download"))
        self.download_job.show_job(download)
        # Command and Start
        self.command.setPlainText(command)
        self.copy_button.setEnabled(bool(command))
        blocker = _("A server is starting; Cancel start stops it.") if launching else self._blocker(plan, engine, files)
        busy = _("This is the server that runs now; Start restarts it.") if is_running else _(
            "Starting it stops the server that runs now.")
        self.start_hint.setText(blocker or (busy if server_busy else ""))
        self.start_button.setEnabled(not blocker)

    @staticmethod
    def _files_text(choice: ModelChoice, files: FolderState | None, download: JobView) -> str:
        size = format_bytes(choice.spec.download_bytes)
        if files is None:
            return _("Checking…")
        if choice.added:
            return _("A folder on this computer: {path}").format(path=choice.folder)
        if files.complete:
            return _("Downloaded to {path}").format(path=choice.folder)
        if download.running:
            return _("Downloading into {path}").format(path=choice.folder)
        if files.partial_bytes:
            return _("Partly downloaded ({done} of about {size}) in {path}; the download continues where it "
                     "stopped.").format(done=format_bytes(files.partial_bytes), size=size, path=choice.folder)
        return _("Not downloaded yet: about {size}, into {path}").format(size=size, path=choice.folder)

    @staticmethod
    def _no_room(choice: ModelChoice, space: DiskSpace) -> str:
        problem = not_enough_space(choice.spec.name, space)
        return f"{problem.message} {problem.hint}"

    @staticmethod
    def _blocker(plan: Plan, engine: EngineStatus | None, files: FolderState | None) -> str:
        if plan.fit is Fit.RED:
            return _("This machine cannot run it (see above).")
        if engine is None or files is None:
            return _("Checking…")
        if not engine.ready:
            return _("Install the engine, or choose an existing install, first.")
        if not files.complete:
            return _("Download the model files first.")
        return ""
