"""`python -m desktop.backends`: a machine's hardware and the fit plan of every catalog model (the GPU check).

    python -m desktop.backends [MODELS_DIR]
        this machine
    python -m desktop.backends --ssh HOST [--ssh HOST …] [--model ID] [--engine ENGINE] [--trust] [-F CONFIG]
        each SSH host, probed there over SSH by the same probe; with --model (or several hosts), the plan
        across them and the commands each node runs

Run it on (or against) a machine with NVIDIA GPUs to see what the app would offer there. A host whose key
is unknown is refused with its fingerprints, unless --trust (then it is added to the app's known_hosts).
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path

from desktop.backends.catalog import BY_ID, CATALOG, Engine
from desktop.backends.cluster import Node, plan_cluster
from desktop.backends.hardware import HardwareReport, describe, probe_hardware
from desktop.backends.planner import plan_all
from desktop.backends.remote import MODELS_DIR, SshHost
from desktop.backends.ssh import HostKeyUnknown, KnownHosts, SshConnection, SshError, SshTarget


def _print_plans(title: str, report: HardwareReport) -> None:
    print(title)
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


def _shell_line(argv: list[str]) -> str:
    """`argv` as a shell line, with ~/… left for the shell there to expand."""
    def word(arg: str) -> str:
        if arg.startswith("~/") and shlex.quote(arg[2:]) == arg[2:]:
            return arg
        return shlex.quote(arg)

    return " ".join(word(arg) for arg in argv)


def _known_hosts() -> KnownHosts:
    import platformdirs

    return KnownHosts(Path(platformdirs.user_data_dir("glmv-desktop", appauthor=False)) / KnownHosts.IN_DATA_DIR)


async def _probe_hosts(addresses: list[str], trust: bool, config: Path | None) -> list[tuple[str, HardwareReport]]:
    known = _known_hosts()
    found = []
    for address in addresses:
        connection = SshConnection(SshTarget.parse(address), known, config_file=config)

        async def trusted(unknown: HostKeyUnknown, address: str = address) -> bool:
            print(f"Trusting {address}:\n{unknown.detail}", file=sys.stderr)
            return True

        await connection.connect_trusting(trusted if trust else None)
        try:
            found.append((address, await SshHost(connection).probe()))
        finally:
            await connection.close()
    return found


def main(argv: list[str] | None = None) -> int:
    """Print the probe and the plans; 0 unless a host could not be reached (problems are findings)."""
    parser = argparse.ArgumentParser(prog="python -m desktop.backends", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models_dir", nargs="?", type=Path, help="where models go on this machine")
    parser.add_argument("--ssh", action="append", default=[], metavar="HOST", help="an SSH host to probe (repeatable)")
    parser.add_argument("--model", choices=sorted(BY_ID), help="plan this model across the hosts")
    parser.add_argument("--engine", choices=["vllm", "sglang"], default="vllm", help="for the plan across hosts")
    parser.add_argument("--trust", action="store_true", help="trust hosts whose key is unknown (shown first)")
    parser.add_argument("-F", dest="ssh_config", type=Path, help="an ssh_config file instead of ~/.ssh/config")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.ssh:
        _print_plans("Hardware", probe_hardware(args.models_dir or Path.home()))
        return 0
    try:
        hosts = asyncio.run(_probe_hosts(args.ssh, args.trust, args.ssh_config))
    except SshError as exc:
        print(f"{exc.message}\n{exc.detail}\n{exc.hint}\n(--trust adds an unknown host's key once you have "
              "checked it)" if isinstance(exc, HostKeyUnknown) else f"{exc.message} {exc.hint}\n{exc.detail}",
              file=sys.stderr)
        return 1
    for address, report in hosts:
        _print_plans(f"Hardware of {address} (probed over SSH)", report)
        print()
    if args.model or len(hosts) > 1:
        spec = BY_ID[args.model] if args.model else max(CATALOG, key=lambda s: s.weights_bytes)
        cluster = plan_cluster(spec, Engine(args.engine), [Node(address, report) for address, report in hosts],
                               model_path=f"{MODELS_DIR}/{spec.id}", port=8000, api_key=None)
        print(f"Across {', '.join(address for address, _report in hosts)}: {spec.name} with {args.engine}")
        print(f"  {cluster.summary()}")
        for reason in cluster.reasons:
            print(f"      {reason}")
        for launch in cluster.launches:
            print(f"  on {launch.node.address}:")
            for command in launch.commands:
                print(f"      {_shell_line(command)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
