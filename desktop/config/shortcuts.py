"""Key combinations as settings values: parsed, checked and written in Qt's portable text form.

They live with the settings (not with the hotkey backends) so the settings file can reject a bad
combination when it is set, from the dialog or from `glmv-desktop config set`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from desktop.i18n import _


class Modifier(StrEnum):
    """Modifier keys, by their portable names (Meta is Super/Windows on PCs, Command on macOS)."""

    CTRL = "Ctrl"
    ALT = "Alt"
    SHIFT = "Shift"
    META = "Meta"


_MODIFIER_ORDER = (Modifier.CTRL, Modifier.ALT, Modifier.SHIFT, Modifier.META)
_MODIFIER_ALIASES = {
    "ctrl": Modifier.CTRL, "control": Modifier.CTRL,
    "alt": Modifier.ALT, "option": Modifier.ALT,
    "shift": Modifier.SHIFT,
    "meta": Modifier.META, "super": Modifier.META, "win": Modifier.META, "cmd": Modifier.META,
    "command": Modifier.META,
}
# Named keys a shortcut may use besides letters and digits (Qt's portable key names).
NAMED_KEYS = (
    *(f"F{n}" for n in range(1, 25)),
    "Space", "Tab", "Return", "Enter", "Backspace", "Insert", "Delete", "Home", "End", "PgUp", "PgDown",
    "Left", "Right", "Up", "Down", "Print", "Pause", "Esc",
    "`", "-", "=", "[", "]", "\\", ";", "'", ",", ".", "/",
)
_NAMED_BY_LOWER = {name.lower(): name for name in NAMED_KEYS} | {
    "escape": "Esc", "pageup": "PgUp", "pagedown": "PgDown", "del": "Delete", "ins": "Insert",
    "sysreq": "Print", "printscreen": "Print",
}


@dataclass(frozen=True)
class Shortcut:
    """A key combination: modifiers plus one key, in Qt's portable text form ("Ctrl+Alt+Shift+S")."""

    modifiers: frozenset[Modifier]
    key: str  # an upper-case letter, a digit, or one of NAMED_KEYS

    @classmethod
    def parse(cls, text: str) -> Shortcut:
        """Read "Ctrl+Alt+S" (any case, aliases such as Super/Cmd); ValueError says what is wrong."""
        parts = [p.strip() for p in text.replace(" ", "").split("+")]
        # "Ctrl++" means the plus key; splitting leaves two empty parts at the end.
        if text.endswith("++"):
            parts = [*parts[:-2], "+"]
        if not text.strip() or any(p == "" for p in parts):
            raise ValueError(_("'{text}' is not a key combination, e.g. Ctrl+Alt+Shift+S.").format(text=text))
        *mods, key = parts
        modifiers = set()
        for mod in mods:
            found = _MODIFIER_ALIASES.get(mod.lower())
            if found is None:
                raise ValueError(_("'{part}' in '{text}' is not a modifier (Ctrl, Alt, Shift, Meta).")
                                 .format(part=mod, text=text))
            modifiers.add(found)
        if len(key) == 1 and key.isalnum() and key.isascii():
            key = key.upper()
        elif key == "+":
            pass
        elif key.lower() in _NAMED_BY_LOWER:
            key = _NAMED_BY_LOWER[key.lower()]
        elif key.lower() in _MODIFIER_ALIASES:
            raise ValueError(_("'{text}' has only modifiers; add a key, e.g. {text}+S.").format(text=text))
        else:
            raise ValueError(_("'{part}' in '{text}' is not a key a global shortcut can use.")
                             .format(part=key, text=text))
        if not modifiers and not (key.startswith("F") and key[1:].isdigit()) and key not in {"Print", "Pause"}:
            raise ValueError(_("'{text}' needs a modifier (Ctrl, Alt, Shift or Meta), or it would take that key "
                               "from every program.").format(text=text))
        return cls(frozenset(modifiers), key)

    def portable(self) -> str:
        """The canonical text: modifiers in Ctrl, Alt, Shift, Meta order, then the key."""
        return "+".join([*(m.value for m in _MODIFIER_ORDER if m in self.modifiers), self.key])

    def __str__(self) -> str:
        return self.portable()
