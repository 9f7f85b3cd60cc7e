"""What can go wrong with the history, in the user's words: each error says what happened and what to do."""

from __future__ import annotations

from pathlib import Path

from desktop.errors import UserFacingError
from desktop.i18n import _


class HistoryError(UserFacingError):
    """The history could not be read or written."""


class HistoryFull(HistoryError):
    """The disk (or the user's quota) is full: nothing was written, the database is as it was before."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            _("The disk is full, so the conversation could not be saved to history."),
            _("It stays open in this window. Free some disk space; saving resumes by itself."),
            detail=detail)


class HistoryFromNewerVersion(HistoryError):
    """The database was written by a newer version of the app; it is left untouched."""

    def __init__(self, path: Path, found: int, supported: int) -> None:
        super().__init__(
            _("The history file was written by a newer version of GLM-V Desktop, so this version "
              "cannot open it."),
            _("Update GLM-V Desktop to see your history. The file is kept as it is: {path}").format(path=path),
            detail=f"schema version {found}, this version reads up to {supported}")
        self.found = found
        self.supported = supported


class HistoryMovedAside(HistoryError):
    """The history file was damaged or not ours: it was moved aside and a fresh one started (a notice)."""

    def __init__(self, aside: Path, reason: str) -> None:
        super().__init__(
            _("The history file was damaged, so it was put aside and a new, empty history started."),
            _("The old file is kept as {name} in the same folder, with its pictures.").format(name=aside.name),
            detail=reason)
        self.aside = aside


class HistoryDamaged(HistoryError):
    """The history file is damaged, and this process may not repair it (another may have it open)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            _("The history file is damaged."),
            _("Start GLM-V Desktop (or quit and start it again): it puts the damaged file aside and "
              "starts a new history."), detail=f"{path}: {reason}")


class HistoryUnavailable(HistoryError):
    """The history file could not be opened at all (permissions, a locked or missing folder)."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            _("The history could not be opened, so conversations will not be saved."),
            _("Check that you may write to {folder}, then restart GLM-V Desktop.").format(folder=path.parent),
            detail=detail)


class ConversationNotFound(HistoryError, LookupError):
    """No conversation has this id (deleted meanwhile, or mistyped)."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__(
            _("There is no conversation '{id}' in the history.").format(id=conversation_id),
            _("`glmv-desktop history list` shows the conversations and their ids."))
        self.conversation_id = conversation_id


class NotAnExport(HistoryError, ValueError):
    """A file given to import is not a conversation exported by this app (or is damaged)."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            _("This is not a conversation exported by GLM-V Desktop, or it is damaged."),
            _("Import a .json file made with `glmv-desktop history export ID --format json`."),
            detail=detail)


class HistoryWriteFailed(HistoryError):
    """Writing to the history failed for another reason than a full disk; nothing was written."""

    def __init__(self, folder: Path, detail: str) -> None:
        super().__init__(
            _("The conversation could not be saved to history."),
            _("It stays open in this window. Check that the disk works and that you may write to {folder}.")
            .format(folder=folder),
            detail=detail)


class HistoryReadFailed(HistoryError):
    """Reading the history failed (a damaged file, a disk error)."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            _("The history could not be read."),
            _("Restart GLM-V Desktop; if the file is damaged it is put aside and a new history started."),
            detail=detail)
