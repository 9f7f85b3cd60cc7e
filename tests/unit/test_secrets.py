"""Keys live in the real OS keychain (gnome-keyring over D-Bus) and nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest
from keyring.backends import fail

from desktop.config.secrets import KeychainUnavailable, SecretStore
from desktop.secret import Secret


def test_real_secret_service_round_trip(session_bus: object) -> None:
    from keyring.backends.SecretService import Keyring

    store = SecretStore(Keyring())
    status = store.status()
    assert status.usable, status
    store.set("endpoint:test-roundtrip", Secret("  zai-key-1234567890  "))
    key = SecretStore(Keyring()).get("endpoint:test-roundtrip")
    assert key is not None and key.reveal() == "zai-key-1234567890"
    store.delete("endpoint:test-roundtrip")
    assert SecretStore(Keyring()).get("endpoint:test-roundtrip") is None


def test_default_backend_in_the_test_session_is_the_real_keychain(session_bus: object) -> None:
    status = SecretStore().status()
    assert status.usable and "SecretService" in status.backend


def test_no_keychain_refuses_to_store_and_explains(tmp_path: Path) -> None:
    store = SecretStore(fail.Keyring())
    status = store.status()
    assert not status.usable and "Secret Service" in status.how_to_fix
    with pytest.raises(KeychainUnavailable) as info:
        store.set("endpoint:x", Secret("secret-key-abcdef"))
    assert info.value.hint
    assert store.get("endpoint:x") is None
    store.set_for_session("endpoint:x", Secret("secret-key-abcdef"))
    assert store.get("endpoint:x") == Secret("secret-key-abcdef")
    assert SecretStore(fail.Keyring()).get("endpoint:x") is None


class PlaintextFileKeyring:
    """Stands for keyrings.alt's file backend: classified by its module, never called. (Not a
    KeyringBackend subclass: those register themselves as candidates for keyring's default.)"""

    def get_password(self, service: str, username: str) -> str | None:
        raise AssertionError("must not be used")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("must not be used")

    def delete_password(self, service: str, username: str) -> None:
        raise AssertionError("must not be used")


PlaintextFileKeyring.__module__ = "keyrings.alt.file"


def test_plaintext_backend_is_refused() -> None:
    store = SecretStore(PlaintextFileKeyring())  # type: ignore[arg-type]
    assert not store.status().usable
    with pytest.raises(KeychainUnavailable):
        store.set("endpoint:y", Secret("secret-key-abcdef"))


def test_a_secret_never_shows_as_text() -> None:
    import functools
    import pickle

    key = Secret("shown-nowhere-0123456789")
    call = functools.partial(SecretStore.set, SecretStore(fail.Keyring()), "endpoint:z", key)
    logged = "%s %r" % (key, key)  # noqa: UP031 - the way logging formats its arguments
    for text in (repr(key), str(key), f"{key}", f"{key!r}", logged, repr(call), repr([key])):
        assert "shown-nowhere" not in text
    assert key.reveal() == "shown-nowhere-0123456789" and key and not Secret("  ")
    with pytest.raises(TypeError):
        pickle.dumps(key)
