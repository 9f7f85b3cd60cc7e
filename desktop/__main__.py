"""`python -m desktop` runs the same command line as `glmv-desktop`."""

import sys

from desktop.cli import main

sys.exit(main())
