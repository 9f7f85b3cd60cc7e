"""The frozen app's entry point: the same command line as `glmv-desktop`."""

import sys

from desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
