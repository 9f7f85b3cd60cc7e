"""The composer: Enter sends, Shift+Enter adds a line, attachments with token estimates."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QImage

from desktop.chat.conversation import ImageAttachment
from desktop.ui.composer import AttachmentChip, Composer


def test_enter_sends_shift_enter_adds_a_line(qtbot: object) -> None:
    composer = Composer()
    qtbot.addWidget(composer)  # type: ignore[attr-defined]
    sent: list[bool] = []
    composer.send_requested.connect(lambda: sent.append(True))
    qtbot.keyClicks(composer.prompt, "first")  # type: ignore[attr-defined]
    qtbot.keyClick(composer.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)  # type: ignore[attr-defined]
    qtbot.keyClicks(composer.prompt, "second")  # type: ignore[attr-defined]
    assert not sent
    qtbot.keyClick(composer.prompt, Qt.Key.Key_Return)  # type: ignore[attr-defined]
    assert sent == [True]
    assert composer.text() == "first\nsecond"


def test_send_button_becomes_stop_while_busy(qtbot: object) -> None:
    composer = Composer()
    qtbot.addWidget(composer)  # type: ignore[attr-defined]
    events: list[str] = []
    composer.send_requested.connect(lambda: events.append("send"))
    composer.stop_requested.connect(lambda: events.append("stop"))
    composer.send_button.click()
    composer.set_busy(True)
    assert composer.send_button.text() == "Stop"
    composer.send_button.click()
    assert events == ["send", "stop"]


def test_attachment_shows_token_estimate_and_can_be_removed(qtbot: object) -> None:
    composer = Composer()
    qtbot.addWidget(composer)  # type: ignore[attr-defined]
    shot = ImageAttachment.from_pixels(Image.new("RGB", (3840, 2160), "white"), "4k.png", "screen")
    composer.add_attachment(shot)
    chip = composer.strip.findChild(AttachmentChip)
    assert chip is not None
    composer.budget.setValue(2700)
    assert chip.tokens.text() == "≈2,691 tok" or chip.tokens.text().startswith("≈2,")
    assert "sent as" in chip.toolTip() and "3840×2160" in chip.toolTip()
    composer.budget.setValue(1000)
    assert int(chip.tokens.text().strip("≈ tok").replace(",", "")) <= 1000
    chip.findChild(type(chip.findChildren(object)[0]), "attachment_remove")
    from PySide6.QtWidgets import QToolButton

    chip.findChild(QToolButton, "attachment_remove").click()
    assert composer.attachments() == []


def test_pasted_image_becomes_an_attachment_request(qtbot: object) -> None:
    composer = Composer()
    qtbot.addWidget(composer)  # type: ignore[attr-defined]
    got: list[list[object]] = []
    composer.images_received.connect(got.append)
    mime = QMimeData()
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.red)
    mime.setImageData(image)
    composer.prompt.insertFromMimeData(mime)
    assert len(got) == 1 and isinstance(got[0][0], QImage) and got[0][0].size().width() == 40
    text = QMimeData()
    text.setText("just text")
    composer.prompt.insertFromMimeData(text)
    assert composer.text() == "just text"
