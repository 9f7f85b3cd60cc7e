"""The page picker: which pages of a document go to the model, and how (pictures, text, or both).

Page thumbnails fill in from a worker thread (the first at once, the rest with a progress bar; closing
the dialog stops them). The user ticks pages or types ranges ("1-5, 8"), picks All or None, the way
pages are sent and the tokens each page may cost; every page shows its cost and the total is checked
against what the endpoint takes in one request. Over the limit, the dialog says so and offers what
fits: fewer pages, a lower budget per page, or text instead of pictures.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.chat.attachments import (
    Attachment,
    DocumentAttachment,
    Fit,
    PageMode,
    Sending,
    fit,
    format_pages,
    parse_pages,
)
from desktop.config.profiles import EndpointProfile
from desktop.config.schema import MAX_IMAGE_TOKEN_BUDGET, MIN_IMAGE_TOKEN_BUDGET
from desktop.i18n import _
from desktop.ui.notifier import Notifier
from desktop.ui.operations import run_async

log = logging.getLogger(__name__)

THUMB = 150


def _pixmap(image: object) -> QPixmap:
    from PIL import Image

    assert isinstance(image, Image.Image)
    rgba = image.convert("RGBA")
    qimage = QImage(rgba.tobytes(), rgba.width, rgba.height, rgba.width * 4, QImage.Format.Format_RGBA8888).copy()
    return QPixmap.fromImage(qimage)


class PagePicker(QDialog):
    """Choose a document's pages; `chosen` is emitted with the attachment once the choice is applied."""

    chosen = Signal(object)
    thumbnails_done = Signal()

    def __init__(self, document: DocumentAttachment, sending: Sending, profile: EndpointProfile | None,
                 others: Sequence[Attachment], notifier: Notifier, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page_picker")
        self.setWindowTitle(_("Pages of {name}").format(name=document.name))
        self.document = document
        self._sending = sending
        self._notifier = notifier
        self._max_images = profile.traits.max_images if profile else None
        self._model = profile.model if profile else ""
        self._others = [a for a in others if a is not document]
        self._cancel = threading.Event()
        self._syncing = False
        self._probe = document.variant()  # tries choices without touching the document until OK

        layout = QVBoxLayout(self)
        self.summary = QLabel()
        self.summary.setObjectName("page_summary")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)

        self.pages = QListWidget()
        self.pages.setObjectName("page_list")
        self.pages.setViewMode(QListWidget.ViewMode.IconMode)
        self.pages.setIconSize(QSize(THUMB, THUMB))
        self.pages.setGridSize(QSize(THUMB + 36, THUMB + 40))
        self.pages.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.pages.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # no focus frame pretending a page is chosen
        self.pages.setStyleSheet("QListWidget::indicator { width: 18px; height: 18px; }")
        self.pages.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.pages.setMovement(QListWidget.Movement.Static)
        self.pages.setUniformItemSizes(True)
        self.pages.setWordWrap(True)
        blank = QPixmap(THUMB * 3 // 4, THUMB)
        blank.fill(Qt.GlobalColor.white)
        for index in range(document.page_count):
            item = QListWidgetItem(QIcon(blank), "")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if index in document.pages else Qt.CheckState.Unchecked)
            item.setData(Qt.ItemDataRole.UserRole, index)
            self.pages.addItem(item)
        self.pages.itemChanged.connect(self._ticked)
        self.pages.itemDoubleClicked.connect(self._toggle)
        layout.addWidget(self.pages, 1)

        self.progress = QProgressBar()
        self.progress.setObjectName("thumbnail_progress")
        self.progress.setRange(0, document.page_count)
        self.progress.setFormat(_("Page previews: %v of %m"))
        layout.addWidget(self.progress)

        row = QHBoxLayout()
        row.addWidget(QLabel(_("Pages:")))
        self.ranges = QLineEdit(format_pages(document.pages))
        self.ranges.setObjectName("page_ranges")
        self.ranges.setPlaceholderText(_("for example 1-5, 8"))
        self.ranges.editingFinished.connect(self._ranges_typed)
        row.addWidget(self.ranges, 1)
        for label, name, spec in ((_("All"), "pages_all", "all"), (_("None"), "pages_none", "none")):
            button = QPushButton(label)
            button.setObjectName(name)
            button.clicked.connect(lambda _checked=False, spec=spec: self.set_pages(
                parse_pages(spec, document.page_count)))
            row.addWidget(button)
        layout.addLayout(row)
        self.range_error = QLabel()
        self.range_error.setObjectName("range_error")
        self.range_error.setStyleSheet("QLabel { color: #b3261e; }")
        self.range_error.setVisible(False)
        layout.addWidget(self.range_error)

        how = QHBoxLayout()
        how.addWidget(QLabel(_("Send pages as:")))
        self.modes = QButtonGroup(self)
        for mode, label in ((PageMode.IMAGES, _("Pictures")), (PageMode.TEXT, _("Text")),
                            (PageMode.BOTH, _("Pictures and text"))):
            radio = QRadioButton(label)
            radio.setObjectName(f"mode_{mode.value}")
            radio.setChecked(mode is document.mode)
            radio.toggled.connect(self._update)
            radio.setProperty("mode", mode.value)
            self.modes.addButton(radio)
            how.addWidget(radio)
        how.addStretch(1)
        how.addWidget(QLabel(_("Tokens per page:")))
        self.budget = QSpinBox()
        self.budget.setObjectName("page_budget")
        self.budget.setRange(MIN_IMAGE_TOKEN_BUDGET, MAX_IMAGE_TOKEN_BUDGET)
        self.budget.setSingleStep(100)
        self.budget.setGroupSeparatorShown(True)
        self.budget.setValue(min(document.page_budget or sending.token_budget, sending.token_budget))
        self.budget.setToolTip(_("Each page is rendered as sharp as this many image tokens allow "
                                 "(at most the window's image budget)."))
        self.budget.valueChanged.connect(self._update)
        how.addWidget(self.budget)
        layout.addLayout(how)

        self.verdict = QLabel()
        self.verdict.setObjectName("page_verdict")
        self.verdict.setWordWrap(True)
        layout.addWidget(self.verdict)
        fixes = QHBoxLayout()
        self.fix_pages = QPushButton()
        self.fix_pages.setObjectName("fit_fewer_pages")
        self.fix_pages.clicked.connect(self._fit_pages)
        self.fix_budget = QPushButton()
        self.fix_budget.setObjectName("fit_lower_budget")
        self.fix_budget.clicked.connect(self._fit_budget)
        self.fix_text = QPushButton(_("Send as text"))
        self.fix_text.setObjectName("fit_as_text")
        self.fix_text.clicked.connect(lambda: self._mode_button(PageMode.TEXT).setChecked(True))
        for button in (self.fix_pages, self.fix_budget, self.fix_text):
            fixes.addWidget(button)
        fixes.addStretch(1)
        layout.addLayout(fixes)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        layout.addWidget(buttons)
        self.resize(760, 620)
        self._update()
        self._task = run_async(self._fill_thumbnails(), notifier=notifier, owner=self,
                               on_error=lambda exc: notifier.show_error(exc, self))

    # -- the choice ---------------------------------------------------------------------------------
    def mode(self) -> PageMode:
        """The way pages are sent, as chosen."""
        checked = self.modes.checkedButton()
        return PageMode(checked.property("mode")) if checked is not None else PageMode.IMAGES

    def _mode_button(self, mode: PageMode) -> QRadioButton:
        button = self.findChild(QRadioButton, f"mode_{mode.value}")
        assert isinstance(button, QRadioButton)
        return button

    def selected(self) -> tuple[int, ...]:
        """The ticked pages, in order (0-based)."""
        return tuple(index for index in range(self.pages.count())
                     if self.pages.item(index).checkState() == Qt.CheckState.Checked)

    def set_pages(self, pages: Sequence[int]) -> None:
        """Tick exactly `pages`."""
        wanted = set(pages)
        self._syncing = True
        for index in range(self.pages.count()):
            self.pages.item(index).setCheckState(
                Qt.CheckState.Checked if index in wanted else Qt.CheckState.Unchecked)
        self._syncing = False
        self.ranges.setText(format_pages(pages))
        self.range_error.setVisible(False)
        self._update()

    def _toggle(self, item: QListWidgetItem) -> None:
        item.setCheckState(Qt.CheckState.Unchecked if item.checkState() == Qt.CheckState.Checked
                           else Qt.CheckState.Checked)

    def _ticked(self, _item: QListWidgetItem) -> None:
        if self._syncing:
            return
        self.ranges.setText(format_pages(self.selected()))
        self.range_error.setVisible(False)
        self._update()

    def _ranges_typed(self) -> None:
        try:
            pages = parse_pages(self.ranges.text(), self.document.page_count)
        except ValueError as exc:
            self.range_error.setText(str(exc))
            self.range_error.setVisible(True)
            return
        self.set_pages(pages)

    def _fit(self) -> Fit:
        self._probe.choose(self.selected(), self.mode(), self.budget.value())
        return fit([*self._others, self._probe], self._sending, max_images=self._max_images, model=self._model)

    def _update(self) -> None:
        result = self._fit()
        pages = len(self._probe.pages)
        self.summary.setText(_("{name}: {count} pages. Tick the pages to send, or type them below.").format(
            name=self.document.name, count=self.document.page_count))
        self._syncing = True  # a label change is an itemChanged too: not a tick
        try:
            for index in range(self.pages.count()):
                item = self.pages.item(index)
                label = _("p. {n} · ≈{tokens:,} tok").format(
                    n=index + 1, tokens=self._probe.page_cost(index, self._sending).tokens)
                if item.text() != label:
                    item.setText(label)
        finally:
            self._syncing = False
        limits = []
        if result.max_images is not None:
            limits.append(_("{n} pictures per request").format(n=result.max_images))
        if result.max_tokens is not None:
            limits.append(_("{n:,} tokens (the model's context, less room for the answer)").format(
                n=result.max_tokens))
        total = _("Chosen: {pages} pages. With the question's other attachments: {images} pictures, "
                  "≈{tokens:,} tokens.").format(pages=pages, tokens=result.tokens, images=result.images)
        limit_text = (_("Limits: {limits}.").format(limits=_("; ").join(limits)) if limits
                      else _("This endpoint states no limit; very long requests may still be refused."))
        problem = result.problem()
        if problem is None:
            self.verdict.setText(f"{total}\n{limit_text}")
            self.verdict.setStyleSheet("")
        else:
            self.verdict.setText(f"{total}\n{problem.message}")
            self.verdict.setStyleSheet("QLabel { color: #b3261e; }")
        # The offers are worked out only when something does not fit.
        keep = self._pages_that_fit() if problem is not None else ()
        self.fix_pages.setText(_("Keep the first {n} pages").format(n=len(keep)))
        self.fix_pages.setVisible(problem is not None and 0 < len(keep) < pages)
        lower = self._budget_that_fits() if problem is not None and not result.too_many_images else None
        self.fix_budget.setText(_("Lower to {n:,} tokens per page").format(n=lower or 0))
        self.fix_budget.setVisible(lower is not None)
        self.fix_text.setVisible(problem is not None and self.mode() is not PageMode.TEXT)
        self.ok_button.setEnabled(pages > 0)

    def _pages_that_fit(self) -> tuple[int, ...]:
        chosen = self.selected()
        mode, budget = self.mode(), self.budget.value()
        low, high = 0, len(chosen)
        while low < high:  # the most leading pages that fit
            middle = (low + high + 1) // 2
            self._probe.choose(chosen[:middle], mode, budget)
            if fit([*self._others, self._probe], self._sending, max_images=self._max_images,
                   model=self._model).fits:
                low = middle
            else:
                high = middle - 1
        self._probe.choose(chosen, mode, budget)
        return chosen[:low]

    def _budget_that_fits(self) -> int | None:
        """The highest budget per page (in steps of 100, below the current one) at which the choice fits."""
        chosen, mode, current = self.selected(), self.mode(), self.budget.value()

        def fits(budget: int) -> bool:
            self._probe.choose(chosen, mode, budget)
            return fit([*self._others, self._probe], self._sending, max_images=self._max_images,
                       model=self._model).fits

        steps = list(range(MIN_IMAGE_TOKEN_BUDGET, current, 100))
        try:
            if not steps or not fits(steps[0]):
                return None
            low, high = 0, len(steps) - 1
            while low < high:  # the cost only falls with the budget: the last step that still fits
                middle = (low + high + 1) // 2
                if fits(steps[middle]):
                    low = middle
                else:
                    high = middle - 1
            return steps[low]
        finally:
            self._probe.choose(chosen, mode, current)

    def _fit_pages(self) -> None:
        self.set_pages(self._pages_that_fit())

    def _fit_budget(self) -> None:
        lower = self._budget_that_fits()
        if lower is not None:
            self.budget.setValue(lower)

    # -- previews -------------------------------------------------------------------------------------
    async def _fill_thumbnails(self) -> None:
        """Render each page's preview in a worker thread, the chosen pages first; stops when the dialog closes."""
        order = [*self.document.pages, *(i for i in range(self.document.page_count) if i not in self.document.pages)]
        for done, index in enumerate(order, 1):
            if self._cancel.is_set():
                return
            image = await asyncio.to_thread(self.document.page_thumbnail, index, THUMB)
            self.pages.item(index).setIcon(QIcon(_pixmap(image)))
            self.progress.setValue(done)
        self.progress.setVisible(False)
        self.thumbnails_done.emit()

    def done(self, result: int) -> None:  # noqa: D401 - Qt override
        """Closing (OK or Cancel) stops the previews; OK applies the choice."""
        self._cancel.set()
        self._task.cancel()
        if result == QDialog.DialogCode.Accepted:
            self.document.choose(self.selected(), self.mode(),
                                 None if self.budget.value() >= self._sending.token_budget else self.budget.value())
            self.chosen.emit(self.document)
        super().done(result)
