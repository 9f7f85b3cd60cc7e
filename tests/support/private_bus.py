"""A bare D-Bus session daemon with no activatable services: nothing that is not started by the test can
appear on it (the system's real xdg-desktop-portal would otherwise be D-Bus-activated)."""

from __future__ import annotations

import subprocess
from pathlib import Path

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:dir={folder}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{services}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def start_bus_daemon(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start dbus-daemon with its socket and config in `folder`; returns the process and the bus address."""
    services = folder / "dbus-services"  # empty: nothing is activatable
    services.mkdir(parents=True, exist_ok=True)
    config = folder / "bus.conf"
    config.write_text(_CONFIG.format(folder=folder, services=services), encoding="utf-8")
    bus = subprocess.Popen(["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    assert bus.stdout is not None
    address = bus.stdout.readline().decode().strip()
    if not address:
        bus.terminate()
        bus.wait(10)
        bus.stdout.close()
        raise RuntimeError("dbus-daemon did not start")
    return bus, address
