"""`python -m desktop.backends`: this machine's hardware and the fit plan of every catalog model.

The GPU check: run it on a machine with NVIDIA GPUs to see what the app would offer there.
"""

from __future__ import annotations

import sys
from pathlib import Path

from desktop.backends.catalog import CATALOG
from desktop.backends.hardware import describe, probe_hardware
from desktop.backends.planner import plan_all


def main(argv: list[str] | None = None) -> int:
    """Print the probe and the plans; the exit status is 0 (problems are findings)."""
    args = sys.argv[1:] if argv is None else argv
    models_dir = Path(args[0]) if args else Path.home()
    report = probe_hardware(models_dir)
    print("Hardware")
    for line in describe(report):
        print(f"  {line}")
    print("\nFit plans (model, engine: verdict, GPUs, context, reasons)")
    for entry in plan_all(CATALOG, report):
        print(f"  {entry.model.name:32} {entry.engine.label:18} {entry.fit.value:6} gpus={entry.gpus} "
              f"context={entry.context}")
        for reason in entry.reasons:
            print(f"      {reason}")
        if entry.flags:
            print(f"      flags: {' '.join(entry.flags)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
