"""The composer's and the quick-ask question's text fields in a window of their own, for a real input method
(IBus) to type into: `python -m tests.support.ime_typing` (with QT_IM_MODULE=ibus).

Prints "composer" once the composer has the focus; on a line "question" on stdin, gives the question the
focus and prints "question"; on "done", prints {"composer": …, "question": …} as JSON and exits.
"""

from __future__ import annotations

import json
import sys
import threading

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from desktop.ui.composer import PromptEdit
from desktop.ui.quick_ask import QuestionLine


class _Commands(QObject):
    said = Signal(str)


def main() -> int:
    """Show the two fields and follow the commands on stdin."""
    app = QApplication(sys.argv[:1])
    window = QWidget()
    layout = QVBoxLayout(window)
    composer = PromptEdit()
    question = QuestionLine(lambda: [])
    layout.addWidget(composer)
    layout.addWidget(question)
    window.resize(500, 200)
    window.show()
    window.activateWindow()
    commands = _Commands()

    def follow(word: str) -> None:
        if word == "question":
            question.setFocus()
            QApplication.processEvents()
            print("question", flush=True)
        elif word == "done":
            print(json.dumps({"composer": composer.toPlainText(), "question": question.text()}, ensure_ascii=False),
                  flush=True)
            app.quit()

    commands.said.connect(follow)
    threading.Thread(target=lambda: [commands.said.emit(line.strip()) for line in sys.stdin], daemon=True).start()

    def ready() -> None:
        composer.setFocus()
        print("composer", flush=True)

    from PySide6.QtCore import QTimer

    QTimer.singleShot(500, ready)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
