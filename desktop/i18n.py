"""The one translation function for every user-visible string, in the domain and the UI alike.

Catalogs are gettext `.mo` files under `resources/locale/<lang>/LC_MESSAGES/glmv-desktop.mo`, made from the
`.po` beside them by `installers/translations.py`. The language is the `ui.language` setting when it names
one, else the system's (LANGUAGE, LC_ALL, LC_MESSAGES, LANG, then the locale): any Chinese but the
traditional variants gets Simplified Chinese, everything else English. It is decided at the first `_()`
call, before any window exists; changing the setting takes effect at the next start.
"""

from __future__ import annotations

import gettext
import json
import locale
import os
from pathlib import Path

_LOCALE_DIR = Path(__file__).resolve().parent.parent / "resources" / "locale"
DOMAIN = "glmv-desktop"
# The languages the app speaks, by the code the setting and the catalogs use, with their own names.
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
_TRADITIONAL = ("zh_TW", "zh_HK", "zh_MO", "zh_Hant")
_language: str | None = None
_translation: gettext.NullTranslations | None = None


def system_language(environ: dict[str, str] | None = None) -> str:
    """The language code the system asks for: zh_CN for Simplified Chinese, else en."""
    env = os.environ if environ is None else environ
    wanted = [part for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG") for part in env.get(name, "").split(":")
              if part and part not in ("C", "POSIX", "C.UTF-8")]
    if not wanted:
        try:
            wanted = [locale.getlocale()[0] or ""]
        except ValueError:
            wanted = []
    for tag in wanted:
        tag = tag.split(".")[0].replace("-", "_")
        if tag.startswith("zh"):
            return "en" if tag.startswith(_TRADITIONAL) else "zh_CN"
        if tag:  # the first language asked for decides
            return "en"
    return "en"


def configured_language() -> str | None:
    """The language the `ui.language` setting names ("en" or "zh_CN"; None: the system's), read straight from
    the settings file: the language is needed before anything else is loaded."""
    try:
        import platformdirs

        path = Path(platformdirs.user_config_dir("glmv-desktop", appauthor=False)) / "settings.json"
        value = json.loads(path.read_text(encoding="utf-8")).get("ui.language", "system")
    except (OSError, ValueError, AttributeError, ImportError):
        return None
    return value if value in LANGUAGES else None


def language() -> str:
    """The language the app speaks in this process."""
    global _language
    if _language is None:
        _language = configured_language() or system_language()
    return _language


def translation() -> gettext.NullTranslations:
    """The catalog of `language()` (a pass-through for English)."""
    global _translation
    if _translation is None:
        code = language()
        _translation = (gettext.NullTranslations() if code == "en" else
                        gettext.translation(DOMAIN, localedir=_LOCALE_DIR, languages=[code], fallback=True))
        import argparse

        argparse._ = _  # type: ignore[attr-defined]  # its help headings and errors, in the same language
    return _translation


def _(message: str) -> str:
    """Translate one complete user-visible message (never a fragment)."""
    return translation().gettext(message)
