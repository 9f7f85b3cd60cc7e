"""The lower half of the Local servers window: the running server's state, start-up stages, advice, log
and controls (Stop, Open log, Keep running when the app quits), and the offer to use or stop a server
an earlier run left behind."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFontDatabase, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.backends.remote import RemoteServerRecord
from desktop.backends.startup_stages import StartupStage
from desktop.backends.supervisor import RunningServerRecord, ServerState
from desktop.i18n import _

LOG_VIEW_LINES = 5000
MUTED = "#5f6368"
STATE_COLOURS = {ServerState.READY: "#188038", ServerState.CRASHED: "#c5221f", ServerState.LOADING: "#b06000",
                 ServerState.STARTING: "#b06000", ServerState.STOPPING: "#b06000"}
STAGES = (StartupStage.STARTING, StartupStage.LOADING_WEIGHTS, StartupStage.PROFILING, StartupStage.WARMING_UP,
          StartupStage.READY)


def monospace() -> object:
    """The system's fixed-pitch font."""
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


class LeftOverBanner(QFrame):
    """"A server started earlier is still running": use it or stop it."""

    use_requested = Signal(object)  # RunningServerRecord
    stop_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("left_over_banner")
        self.setStyleSheet("QFrame#left_over_banner { background: #fef7e0; border-radius: 6px; }")
        row = QHBoxLayout(self)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.use_button = QPushButton(_("Use it"))
        self.use_button.setObjectName("adopt_server")
        self.stop_button = QPushButton(_("Stop it"))
        self.stop_button.setObjectName("stop_left_over")
        row.addWidget(self.text, 1)
        row.addWidget(self.use_button)
        row.addWidget(self.stop_button)
        self._record: RunningServerRecord | RemoteServerRecord | None = None
        self.use_button.clicked.connect(lambda: self.use_requested.emit(self._record))
        self.stop_button.clicked.connect(lambda: self.stop_requested.emit(self._record))
        self.hide()

    def offer(self, record: RunningServerRecord | RemoteServerRecord | None, where: str = "") -> None:
        """Show the offer for `record` (None hides it); `where`: the SSH host it runs on ("": this computer)."""
        self._record = record
        if record is None:
            self.hide()
            return
        if where:
            text = _("A server started earlier is still running on {host}: {engine}, {model} (process {pid} there). "
                     "Use it, or stop it to free its memory?").format(host=where, engine=record.engine,
                                                                      model=record.model, pid=record.pid)
        else:
            text = _("A server started earlier is still running: {engine}, {model}, port {port} (process {pid}). Use "
                     "it, or stop it to free its memory?").format(engine=record.engine, model=record.model,
                                                                  port=record.port, pid=record.pid)
        self.text.setText(text)
        self.show()


class RunningServerView(QWidget):
    """State, stages, advice and log of the one local server."""

    stop_requested = Signal()
    keep_running_changed = Signal(bool)

    def __init__(self, keep_running: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.left_over = LeftOverBanner()
        layout.addWidget(self.left_over)
        top = QHBoxLayout()
        self.state_label = QLabel(_("No local server is running."))
        self.state_label.setObjectName("server_state")
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.state_label, 1)
        self.keep_running = QCheckBox(_("Keep running when the app quits"))
        self.keep_running.setObjectName("keep_running")
        self.keep_running.setChecked(keep_running)
        self.keep_running.setToolTip(_("Otherwise quitting GLM-V Desktop stops the server and frees its memory."))
        self.keep_running.toggled.connect(self.keep_running_changed.emit)
        top.addWidget(self.keep_running)
        self.open_log = QPushButton(_("Open log file"))
        self.open_log.setObjectName("open_log")
        self.open_log.setEnabled(False)
        self.open_log.clicked.connect(self._open_log)
        top.addWidget(self.open_log)
        self.stop_button = QPushButton(_("Stop server"))
        self.stop_button.setObjectName("stop_server")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_requested.emit)
        top.addWidget(self.stop_button)
        layout.addLayout(top)
        stages = QHBoxLayout()
        stages.setSpacing(14)
        self.stage_labels: dict[StartupStage, QLabel] = {}
        for stage in STAGES:
            label = QLabel()
            label.setObjectName(f"stage_{stage.value}")
            self.stage_labels[stage] = label
            stages.addWidget(label)
        stages.addStretch(1)
        layout.addLayout(stages)
        self.advice = QLabel()
        self.advice.setObjectName("server_advice")
        self.advice.setWordWrap(True)
        self.advice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.advice.setStyleSheet("QLabel { background: #fce8e6; color: #a50e0e; border-radius: 6px; padding: 6px; }")
        self.advice.hide()
        layout.addWidget(self.advice)
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("server_log")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_VIEW_LINES)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_view.setFont(monospace())  # type: ignore[arg-type]
        self.log_view.setPlaceholderText(_("The server's output appears here while it runs."))
        layout.addWidget(self.log_view, 1)
        self._log_path = ""
        self._reached: StartupStage | None = None
        self._show_stages(None, active=False)

    # -- what the window tells it
    def set_state(self, text: str, state: ServerState | None) -> None:
        """The state line; `state` colours it and decides what the buttons do."""
        colour = STATE_COLOURS.get(state, MUTED) if state is not None else MUTED
        self.state_label.setText(f'<span style="color:{colour}">●</span> {html.escape(text)}')
        running = state in (ServerState.STARTING, ServerState.LOADING, ServerState.READY)
        self.stop_button.setEnabled(running)
        self.stop_button.setText(_("Stop server") if state is ServerState.READY or not running else _("Cancel start"))

    def starting(self, log_path: str) -> None:
        """A new server is being started: clear the log, the advice and the stages."""
        self.log_view.clear()
        self.advice.hide()
        self._log_path = log_path
        self.open_log.setEnabled(True)
        self._reached = None
        self._show_stages(StartupStage.STARTING, active=True)

    def adopted(self, log_path: str, log_text: str) -> None:
        """A left-over server is used again: show its log file's end."""
        self.advice.hide()
        self._log_path = log_path
        self.open_log.setEnabled(bool(log_path))
        self.log_view.setPlainText(log_text)
        self.log_view.moveCursor(QTextCursor.MoveOperation.End)
        self._show_stages(StartupStage.READY, active=False)

    def append_log(self, lines: tuple[str, ...]) -> None:
        """New output lines (kept scrolled to the end unless the user scrolled up)."""
        bar = self.log_view.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 2
        self.log_view.appendPlainText("\n".join(lines))
        if at_end:
            bar.setValue(bar.maximum())

    def stage(self, stage: StartupStage) -> None:
        """Start-up reached `stage`."""
        self._show_stages(stage, active=stage is not StartupStage.READY)

    def failed(self, message: str, hint: str) -> None:
        """Show why the server failed and what to do."""
        self.advice.setText(f"<b>{html.escape(message)}</b>" + (f"<br>{html.escape(hint)}" if hint else ""))
        self.advice.show()
        self._show_stages(self._reached, active=False, failed=True)

    # -- internals
    def _show_stages(self, reached: StartupStage | None, *, active: bool, failed: bool = False) -> None:
        self._reached = reached
        index = STAGES.index(reached) if reached is not None else -1
        for position, (stage, label) in enumerate(self.stage_labels.items()):
            if position < index or (position == index and not active):
                mark, colour = "✓", "#188038"
            elif position == index:
                mark, colour = "●", "#b06000"
            else:
                mark, colour = "○", "#9aa0a6"
            if position == index and failed:
                mark, colour = "✗", "#c5221f"
            label.setText(f'<span style="color:{colour}">{mark}</span> {html.escape(stage.label)}')

    def _open_log(self) -> None:
        if self._log_path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self._log_path))
