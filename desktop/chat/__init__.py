"""Conversations, requests per endpoint, streaming and parsing of replies, typed errors (no Qt)."""
