"""The page picker on real PDFs: previews fill in, ranges and ticks agree, each page's cost and the total
against the endpoint's limits, and the offers that make an oversized choice fit."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QRadioButton

from desktop.chat.attachments import DocumentAttachment, PageMode, Sending
from desktop.config.profiles import Flavor, preset
from desktop.ui.notifier import Notifier
from desktop.ui.page_picker import PagePicker
from tests.support.documents import PageSpec, make_pdf, text_pages

pytestmark = pytest.mark.usefixtures("qt_loop")  # the previews come from the app's loop


def picker(qtbot: Any, pages: int, flavor: Flavor = Flavor.ZAI, model: str = "glm-4.6v") -> PagePicker:
    document = DocumentAttachment.from_pdf(make_pdf(text_pages(pages, lines_per_page=2)), "deck.pdf", "file")
    profile = preset(flavor, name="endpoint", base_url="http://127.0.0.1:9/v1")
    profile = type(profile)(name=profile.name, flavor=profile.flavor, base_url=profile.base_url, model=model)
    dialog = PagePicker(document, Sending(token_budget=2700), profile, [], Notifier())
    qtbot.addWidget(dialog)
    return dialog


def test_previews_fill_in_and_ranges_follow_the_ticks(qtbot: Any) -> None:
    dialog = picker(qtbot, 12)
    dialog.show()
    # GIVEN the previews rendered in the background
    with qtbot.waitSignal(dialog.thumbnails_done, timeout=20000):
        pass
    assert all(not dialog.pages.item(i).icon().isNull() for i in range(12))
    # WHEN a range is typed
    dialog.ranges.setText("1-3, 8")
    dialog.ranges.editingFinished.emit()
    # THEN exactly those pages are ticked, and each shows its cost
    assert dialog.selected() == (0, 1, 2, 7)
    assert dialog.pages.item(0).text().startswith("p. 1 · ≈") and "tok" in dialog.pages.item(0).text()
    # ticking a page writes the range back
    dialog.pages.item(4).setCheckState(Qt.CheckState.Checked)
    assert dialog.ranges.text() == "1-3, 5, 8"
    # a range outside the document says so and changes nothing
    dialog.ranges.setText("10-14")
    dialog.ranges.editingFinished.emit()
    assert dialog.range_error.isVisibleTo(dialog) and "outside 1-12" in dialog.range_error.text()
    assert dialog.selected() == (0, 1, 2, 4, 7)
    dialog.findChild(QPushButton, "pages_none").click()
    assert dialog.selected() == () and not dialog.ok_button.isEnabled()
    dialog.findChild(QPushButton, "pages_all").click()
    assert dialog.selected() == tuple(range(12))


def test_too_many_pages_for_the_endpoint_are_said_and_fixed(qtbot: Any) -> None:
    # GIVEN a 60-page document for an endpoint that takes 50 pictures per request, at 1,000 tokens a page
    dialog = picker(qtbot, 60)
    dialog.budget.setValue(1000)
    dialog.findChild(QPushButton, "pages_all").click()
    # THEN the verdict says so, and offers what fits
    assert "60 pictures" in dialog.verdict.text() and "at most 50" in dialog.verdict.text()
    assert dialog.fix_pages.isVisibleTo(dialog) and dialog.fix_pages.text() == "Keep the first 50 pages"
    assert dialog.fix_text.isVisibleTo(dialog)
    # WHEN the first offer is taken
    dialog.fix_pages.click()
    assert dialog.selected() == tuple(range(50)) and not dialog.fix_pages.isVisibleTo(dialog)
    # or all pages as text instead
    dialog.findChild(QPushButton, "pages_all").click()
    dialog.fix_text.click()
    assert dialog.mode() is PageMode.TEXT and "#b3261e" not in dialog.verdict.styleSheet()
    assert dialog.findChild(QRadioButton, "mode_text").isChecked()
    # and OK applies the choice to the document
    with qtbot.waitSignal(dialog.chosen, timeout=5000) as chosen:
        dialog.accept()
    document = chosen.args[0]
    assert document.pages == tuple(range(60)) and document.mode is PageMode.TEXT


def test_a_lower_page_budget_is_offered_when_tokens_are_the_limit(qtbot: Any) -> None:
    # GIVEN 45 pages at 2,700 tokens each for a 64k-token model on a server with no picture limit
    dialog = picker(qtbot, 45, Flavor.VLLM, "glm-4.5v")
    dialog.findChild(QPushButton, "pages_all").click()
    assert "tokens" in dialog.verdict.text() and dialog.fix_budget.isVisibleTo(dialog)
    # WHEN the lower budget is taken
    dialog.fix_budget.click()
    # THEN it fits, and OK gives the document that budget per page
    assert "#b3261e" not in dialog.verdict.styleSheet()
    budget = dialog.budget.value()
    assert budget < 2700
    with qtbot.waitSignal(dialog.chosen, timeout=5000):
        dialog.accept()
    assert dialog.document.page_budget == budget
    assert all(dialog.document.page_cost(i, Sending(2700)).tokens <= budget for i in range(45))


def test_a_document_of_thousands_of_pages_opens_and_is_costed(qtbot: Any) -> None:
    # GIVEN a 3,000-page document (pages are costed and listed, not rendered, when the picker opens)
    document = DocumentAttachment.from_pdf(make_pdf([PageSpec(lines=("x",))] * 3000), "huge.pdf", "file")
    dialog = PagePicker(document, Sending(token_budget=2700), preset(Flavor.ZAI, name="z"), [], Notifier())
    qtbot.addWidget(dialog)
    assert dialog.pages.count() == 3000 and dialog.selected() == tuple(range(20))
    assert dialog.pages.item(2999).text().startswith("p. 3000 · ≈")
    # WHEN every page is chosen
    dialog.findChild(QPushButton, "pages_all").click()
    # THEN the verdict and the offer follow
    assert "3000 pictures" in dialog.verdict.text() and dialog.ranges.text() == "1-3000"
    assert dialog.fix_pages.isVisibleTo(dialog)
