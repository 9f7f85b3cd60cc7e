"""The line a start prints once the app is up: from a terminal, that is how a newcomer knows the app
is running (and not still installing, or hung) and how to reach it. Not printed when the command was
handed to an instance already running; that path prints the instance's reply instead."""

from __future__ import annotations

import sys

from desktop.i18n import _


def running_notice(in_tray: bool) -> str:
    """Where the app now is and how to reach and quit it."""
    if in_tray:
        return _("GLM-V Desktop is running in the tray. Click its icon for the menu; 'glmv-desktop quit' quits it.")
    return _("GLM-V Desktop is running. This desktop has no system tray, so it opened its chat window instead; "
             "'glmv-desktop chat' brings the window back, 'glmv-desktop quit' quits it.")


def print_running_notice(in_tray: bool) -> None:
    """Print `running_notice` on stdout, if there is one (a Windows GUI start has none)."""
    if sys.stdout is not None:
        print(running_notice(in_tray), flush=True)
