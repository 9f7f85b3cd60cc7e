"""The stand-in app's `glmv-desktop`: says it ran, with its arguments."""

import sys


def main() -> int:
    """Print the arguments, so a test sees the setup script started this command."""
    print(f"tiny app ran with {sys.argv[1:]}")
    return 0
