"""The one translation function for every user-visible string, in the domain and the UI alike.

Catalogs are gettext `.mo` files under `resources/locale/<lang>/LC_MESSAGES/glmv-desktop.mo`;
with none installed every string passes through unchanged.
"""

from __future__ import annotations

import gettext
from pathlib import Path

_LOCALE_DIR = Path(__file__).resolve().parent.parent / "resources" / "locale"
_translation = gettext.translation("glmv-desktop", localedir=_LOCALE_DIR, fallback=True)


def _(message: str) -> str:
    """Translate one complete user-visible message (never a fragment)."""
    return _translation.gettext(message)
