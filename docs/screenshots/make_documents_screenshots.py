"""Take the README's pictures of documents: `page-picker.png`, the page picker over a slide deck converted
by LibreOffice, and `chat-slide-deck.png`, the chat window with a question about that deck answered.

The deck is made here with python-pptx (a title slide, a chart, a table, a list); the conversion, the
loader, the picker and the window are the app's own. The answer is written into the conversation (no
model runs). Rendered off screen unless a display is set.

    .venv/bin/python -m docs.screenshots.make_documents_screenshots
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "page-picker.png"
CHAT_OUT = OUT.with_name("chat-slide-deck.png")

ANSWER = (
    "The deck argues for moving the reporting service to the new cluster in **Q3**:\n\n"
    "1. **Revenue by region** (slide 2): the EU grew fastest, from 3.1 to 4.6 M€ (+48 %), while APAC "
    "stayed flat at about 2.2 M€.\n"
    "2. **Cost per report** (slide 3) falls from 0.42 € to 0.17 € after the move; the migration itself "
    "costs 38 k€ once.\n"
    "3. **Risks** (slide 4): two days of read-only mode, the old certificate chain, and one team "
    "still on the legacy API.\n\n"
    "The numbers on slides 2 and 3 agree; the payback the title slide claims (*under six months*) "
    "holds if report volume stays above ~12,000 a month."
)


def make_deck() -> bytes:
    """A four-slide deck: a title, a column chart, a table and a list."""
    from pptx import Presentation
    from pptx.chart.data import CategoryChartData
    from pptx.dml.color import RGBColor
    from pptx.enum.chart import XL_CHART_TYPE, XL_LEGEND_POSITION
    from pptx.util import Emu, Pt

    deck = Presentation()
    deck.slide_width, deck.slide_height = Emu(12192000), Emu(6858000)
    title = deck.slides.add_slide(deck.slide_layouts[0])
    title.shapes.title.text = "Reporting service: move to the new cluster"
    title.placeholders[1].text = "Q3 plan · payback in under six months"
    chart_slide = deck.slides.add_slide(deck.slide_layouts[5])
    chart_slide.shapes.title.text = "Revenue by region (M€)"
    data = CategoryChartData()
    data.categories = ["Q1", "Q2", "Q3", "Q4"]
    data.add_series("EU", (3.1, 3.6, 4.1, 4.6))
    data.add_series("Americas", (2.8, 2.9, 3.2, 3.3))
    data.add_series("APAC", (2.2, 2.1, 2.3, 2.2))
    frame = chart_slide.shapes.add_chart(XL_CHART_TYPE.COLUMN_CLUSTERED, Emu(900000), Emu(1500000),
                                         Emu(10400000), Emu(4900000), data)
    frame.chart.has_legend = True
    frame.chart.legend.position = XL_LEGEND_POSITION.BOTTOM
    frame.chart.legend.include_in_layout = False
    table_slide = deck.slides.add_slide(deck.slide_layouts[5])
    table_slide.shapes.title.text = "Cost per report"
    rows = [("", "Today", "New cluster"), ("Compute", "0.31 €", "0.11 €"), ("Storage", "0.08 €", "0.05 €"),
            ("Licences", "0.03 €", "0.01 €"), ("Total", "0.42 €", "0.17 €")]
    table = table_slide.shapes.add_table(len(rows), 3, Emu(1500000), Emu(1800000), Emu(9200000),
                                         Emu(3600000)).table
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            cell = table.cell(r, c)
            cell.text = value
            for run in cell.text_frame.paragraphs[0].runs:
                run.font.size = Pt(24)
    risks = deck.slides.add_slide(deck.slide_layouts[1])
    risks.shapes.title.text = "Risks"
    body = risks.placeholders[1].text_frame
    body.text = "Two days of read-only mode during the copy"
    for line in ("The old certificate chain on the reporting gateway", "One team still on the legacy API",
                 "Migration cost: 38 k€ once"):
        body.add_paragraph().text = line
    for slide in deck.slides:
        slide.background.fill.solid()
        slide.background.fill.fore_color.rgb = RGBColor(250, 250, 252)
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


async def settle(rounds: int = 15) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0.03)


async def shoot() -> list[Path]:
    """Attach the deck through the window's loader, open its picker, then show it answered."""
    from desktop.assistant.services import AppPaths, Services
    from desktop.chat.attachments import DocumentAttachment
    from desktop.chat.conversation import Conversation, ReplyState
    from desktop.ui.chat_window import ChatWindow
    from desktop.ui.notifier import Notifier
    from desktop.ui.page_picker import PagePicker

    work = Path(tempfile.mkdtemp(prefix="glmv-documents-shot-"))
    deck = work / "Reporting migration.pptx"
    deck.write_bytes(make_deck())
    services = Services.create(AppPaths(config=work / "config", data=work / "data", logs=work / "logs"))
    chat = ChatWindow(services, Notifier())
    chat.resize(1000, 820)
    chat.show()
    document = await chat.loader.read(deck, "file")
    assert isinstance(document, DocumentAttachment)
    chat.composer.add_attachment(document)
    picker = PagePicker(document, chat.composer.sending(), services.profiles.active(), [], chat.notifier, chat)
    picker.resize(860, 520)
    picker.show()
    done = asyncio.Event()
    picker.thumbnails_done.connect(done.set)
    await asyncio.wait_for(done.wait(), 60)
    picker.ranges.setText("2-4")
    picker.ranges.editingFinished.emit()
    await settle()
    picker.grab().save(str(OUT))
    picker.accept()
    chat.composer.remove_attachment(document)

    conversation = Conversation()
    question = conversation.add_question("What does this deck argue, and do its numbers hold up?", [document])
    reply = conversation.start_reply(question, model="glm-4.6v", endpoint_id="zai", thinking=False)
    reply.text, reply.state, reply.finish_reason = ANSWER, ReplyState.COMPLETE, "stop"
    chat.session.replace_conversation(conversation)
    await settle(20)
    chat.grab().save(str(CHAT_OUT))
    chat.shutdown()
    await services.client.aclose()
    return [OUT, CHAT_OUT]


def main() -> int:
    """Render the windows and save the PNGs."""
    from docs.screenshots.offscreen import run_offscreen

    for path in run_offscreen(shoot):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
