"""Helpers for the test suite: real X displays, tray host, keyring, and protocol servers."""
