"""Global triggers: platform hotkeys (later) and the single-instance command channel."""
