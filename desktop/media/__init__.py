"""Pixels to payloads: image budgets, resizing and encoding (no Qt)."""
