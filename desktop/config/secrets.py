"""API keys in the OS keychain via `keyring`, and nowhere else.

If no usable keychain exists (keyring's fail backend, or a plaintext-file backend such as
keyrings.alt), keys are refused rather than written to disk; the user may still use a key for the
current session only, held in memory. Keychain calls can block on D-Bus or an unlock prompt, so the
UI calls these methods from a worker thread. Keys go in and come out as `Secret`s, so a library that
logs the arguments or results of a worker-thread call (qasync does, at debug level) logs no key.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.secret import Secret

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

log = logging.getLogger(__name__)

SERVICE = "glmv-desktop"
# Keyring backends that are the operating system's own keychain; anything else is refused.
_OS_KEYCHAINS = ("keyring.backends.SecretService", "keyring.backends.libsecret", "keyring.backends.kwallet",
                 "keyring.backends.macOS", "keyring.backends.Windows")
_REFUSED = ("keyring.backends.fail", "keyring.backends.null")
_PROBE_ENTRY = "availability-probe"


@dataclass(frozen=True)
class KeychainStatus:
    """Whether keys can be stored, which backend would hold them, and what to do if not."""

    usable: bool
    backend: str
    reason: str = ""
    how_to_fix: str = ""


class KeychainUnavailable(UserFacingError):
    """No secure keychain: the key cannot be saved."""


def how_to_get_a_keychain() -> str:
    """Platform-specific advice for getting a working keychain."""
    if sys.platform == "darwin":
        return _("Unlock the login keychain in Keychain Access, then try again.")
    if sys.platform == "win32":
        return _("Windows Credential Manager should always be present; check that the Credential Manager "
                 "service is running.")
    return _("Install and unlock a Secret Service keyring: GNOME Keyring (sudo apt install gnome-keyring "
             "libsecret-tools) or KWallet, and log in through your desktop so it is unlocked. On a headless "
             "machine, start one inside 'dbus-run-session' with 'gnome-keyring-daemon --unlock'.")


class SecretStore:
    """Reads and writes endpoint API keys in the keychain; keeps session-only keys in memory."""

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self._backend = backend
        self._session_keys: dict[str, Secret] = {}

    def _get_backend(self) -> KeyringBackend:
        if self._backend is None:
            import keyring  # deferred: its backend discovery costs start-up time

            self._backend = keyring.get_keyring()
        return self._backend

    def prepare(self) -> None:
        """Find the keychain backend now (slow: entry points, D-Bus); call from a worker thread."""
        self._get_backend()

    def status(self) -> KeychainStatus:
        """Check the backend for real (one harmless read) and say whether keys can be kept."""
        backend = self._get_backend()
        name = f"{type(backend).__module__}.{type(backend).__name__}"
        fix = how_to_get_a_keychain()
        members = getattr(backend, "backends", None)
        if members is None:
            members = [backend]
        if not members or any(type(m).__module__.startswith(_REFUSED) for m in members):
            return KeychainStatus(False, name, _("No keychain backend is available."), fix)
        untrusted = [m for m in members if not type(m).__module__.startswith(_OS_KEYCHAINS)]
        if untrusted:
            kinds = ", ".join(f"{type(m).__module__}.{type(m).__name__}" for m in untrusted)
            return KeychainStatus(False, name, _("The keyring backend {kinds} is not a system keychain (it may "
                                                 "keep keys in a plain file); keys are not saved there.").format(
                kinds=kinds), fix)
        try:
            backend.get_password(SERVICE, _PROBE_ENTRY)
        except Exception as exc:  # noqa: BLE001 - any backend failure means "not usable", with its text
            return KeychainStatus(False, name, _("The keychain did not answer: {error}").format(error=exc), fix)
        return KeychainStatus(True, name)

    def get(self, entry: str) -> Secret | None:
        """The key stored under `entry` (session keys first), or None."""
        if entry in self._session_keys:
            return self._session_keys[entry]
        from keyring.errors import NoKeyringError

        try:
            key = self._get_backend().get_password(SERVICE, entry)
        except NoKeyringError:
            return None  # no keychain at all: the settings page and doctor explain it
        except Exception as exc:  # noqa: BLE001 - reported to the user as "no key", logged for support
            if type(exc).__name__ == "ItemNotFoundException":
                return None  # Secret Service: the entry was deleted between finding and reading it
            log.warning("Could not read an API key from the keychain: %s", exc)
            return None
        return Secret(key) if key else None

    def set(self, entry: str, key: Secret) -> None:
        """Store `key` in the keychain, or raise KeychainUnavailable explaining how to get one."""
        status = self.status()
        if not status.usable:
            raise KeychainUnavailable(
                _("The API key was not saved: {reason}").format(reason=status.reason), status.how_to_fix
            )
        try:
            self._get_backend().set_password(SERVICE, entry, key.reveal())
        except Exception as exc:
            raise KeychainUnavailable(
                _("The keychain refused to store the key: {error}").format(error=exc), how_to_get_a_keychain()
            ) from exc
        self._session_keys.pop(entry, None)

    def keep(self, entry: str, key: Secret) -> KeychainUnavailable | None:
        """Store `key` in the keychain or, when it cannot, for this session only (so it is not lost);
        returns the keychain's refusal, to tell the user, or None when the key was stored."""
        try:
            self.set(entry, key)
        except KeychainUnavailable as exc:
            self.set_for_session(entry, key)
            return exc
        return None

    def set_for_session(self, entry: str, key: Secret) -> None:
        """Hold `key` in memory until the app quits; nothing is written anywhere."""
        self._session_keys[entry] = key

    def delete(self, entry: str) -> None:
        """Forget the key under `entry` (in memory and in the keychain)."""
        self._session_keys.pop(entry, None)
        try:
            from keyring.errors import PasswordDeleteError

            self._get_backend().delete_password(SERVICE, entry)
        except PasswordDeleteError:
            pass
        except Exception as exc:  # noqa: BLE001 - deleting from a missing keychain must not block removal
            log.warning("Could not delete an API key from the keychain: %s", exc)
