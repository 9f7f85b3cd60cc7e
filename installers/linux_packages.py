"""The Linux packages: a .deb and a portable tarball made from the frozen app, each installed the way a
user would, smoke-tested on a display, and removed again; `python3 installers/build.py linux`.

The .deb puts the app in /opt/glmv-desktop with a `glmv-desktop` command, a desktop entry, hicolor
icons and AppStream metadata, and depends on the system libraries Qt's xcb platform needs (the
bundle carries Qt itself, never the build machine's libraries: see `check_bundled_libraries`).
The tarball runs from wherever it is unpacked; its `install.sh` adds the command, the menu entry
and the icon for the current user, and `install.sh --uninstall` removes them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from build import APP_DIR_NAME, BUILD, DIST, ROOT, folder_size, freeze, log, smoke, version

sys.path.insert(0, str(ROOT))
from desktop import APP_NAME, DESKTOP_ID  # noqa: E402

PACKAGE = "glmv-desktop"
MAINTAINER = "GLM-V Desktop contributors <glmv-desktop@users.noreply.github.com>"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
# Qt's xcb and Wayland platform plugins and the app's own needs that the bundle leaves to the system, for
# when dpkg-shlibdeps is not there to work them out (Debian/Ubuntu names; `a | b` where the 64-bit time
# transition renamed a package).
DEPENDS = [
    "libxcb-cursor0", "libxkbcommon-x11-0", "libxkbcommon0", "libxcb-icccm4", "libxcb-image0",
    "libxcb-keysyms1", "libxcb-randr0", "libxcb-render-util0", "libxcb-shape0", "libxcb-xkb1", "libxcb-xfixes0",
    "libxcb-shm0", "libxcb-sync1", "libx11-xcb1", "libegl1", "libgl1", "libfontconfig1", "libfreetype6",
    "libdbus-1-3", "libglib2.0-0t64 | libglib2.0-0", "libgssapi-krb5-2", "libwayland-client0", "libwayland-cursor0",
    "libstdc++6",
]
# The keychain, the desktop portals, and the SSH client that reaches GPU servers (ADR 011).
RECOMMENDS = ["gnome-keyring | kwalletmanager | keepassxc", "xdg-desktop-portal", "openssh-client"]
# Libraries a Linux bundle may take from the build machine: none but these, which PyInstaller adds
# for Python itself and which every glibc system has in a compatible version.
SYSTEM_LIBRARY_ALLOW = ("libpython", "libz.", "libbz2", "liblzma", "libffi", "libexpat", "libssl", "libcrypto",
                        "libuuid", "libreadline", "libtinfo", "libncurses", "libsqlite3", "libmpdec", "libgdbm",
                        "libcrypt", "libnsl")
DESCRIPTION = """\
Tray assistant for the GLM-V vision-language models
 Press a global hotkey, select anything on any monitor, and ask GLM-V about it;
 the answer streams back with its reasoning. Works with the Z.ai and BigModel
 clouds, a team server, or a vLLM / SGLang / llama.cpp server on this computer.
 API keys stay in the system keychain."""


# -- shared pieces -------------------------------------------------------------------------------------------------
def desktop_entry(exec_path: str) -> str:
    """The freedesktop menu entry, with quick actions for the capture modes."""
    return f"""[Desktop Entry]
Type=Application
Name={APP_NAME}
GenericName=Vision assistant
Comment=Ask GLM-V about anything on your screen
Exec={exec_path}
Icon={DESKTOP_ID}
Terminal=false
Categories=Utility;
Keywords=screenshot;AI;assistant;vision;GLM;
StartupNotify=false
Actions=capture-region;quick-ask;local-servers;

[Desktop Action capture-region]
Name=Capture a region
Exec={exec_path} capture region

[Desktop Action quick-ask]
Name=Quick ask
Exec={exec_path} quick-ask

[Desktop Action local-servers]
Name=Local servers
Exec={exec_path} servers
"""


def metainfo() -> str:
    """AppStream metadata (software centres, Flatpak)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<component type="desktop-application">
  <id>{DESKTOP_ID}</id>
  <metadata_license>CC0-1.0</metadata_license>
  <project_license>{license_id()}</project_license>
  <name>{APP_NAME}</name>
  <summary>Ask GLM-V about anything on your screen</summary>
  <description>
    <p>A light system-tray assistant for the GLM-V vision-language models. Press a global hotkey, select
    anything on any monitor, and ask about it; the answer streams back with its reasoning.</p>
    <p>It works with the Z.ai and BigModel clouds, a team server, or a vLLM, SGLang or llama.cpp server
    it installs and runs on your own GPU. History stays local and API keys stay in the system keychain.</p>
  </description>
  <launchable type="desktop-id">{DESKTOP_ID}.desktop</launchable>
  <developer id="io.github.glmv_desktop">
    <name>GLM-V Desktop contributors</name>
  </developer>
  <content_rating type="oars-1.1"/>
  <releases>
    <release version="{version()}" date="{release_date()}"/>
  </releases>
</component>
"""


def release_date() -> str:
    """The date of the commit being built (today outside a git checkout)."""
    import datetime

    dated = subprocess.run(["git", "log", "-1", "--format=%cs"], capture_output=True, text=True, cwd=ROOT, check=False)
    return dated.stdout.strip() or datetime.date.today().isoformat()


def license_id() -> str:
    """The project's SPDX license id, from the first line of LICENSE (docs/adr/006-license.md)."""
    first = (ROOT / "LICENSE").read_text(encoding="utf-8").lstrip().splitlines()[0]
    for marker, spdx in (("Apache License", "Apache-2.0"), ("MIT License", "MIT"),
                         ("GNU GENERAL PUBLIC LICENSE", "GPL-3.0-or-later"),
                         ("GNU LESSER GENERAL PUBLIC LICENSE", "LGPL-3.0-or-later")):
        if marker.lower() in first.lower():
            return spdx
    sys.exit(f"Unknown license in LICENSE: {first!r}")


def install_icons(share: Path) -> None:
    """The SVG and PNG icons in share/icons/hicolor."""
    icons = BUILD / "icons"
    scalable = share / "icons" / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "resources" / "icons" / "glmv-desktop.svg", scalable / f"{DESKTOP_ID}.svg")
    for size in ICON_SIZES:
        folder = share / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(icons / f"{size}.png", folder / f"{DESKTOP_ID}.png")


def check_bundled_libraries(folder: Path) -> list[str]:
    """The shared libraries PyInstaller took from the build machine, outside the allowed few: must be none.

    Libraries that come with the wheels stay in their package's folder (PySide6/Qt/lib, pillow.libs, ...);
    what PyInstaller found through the system's linker lands at the top of _internal.
    """
    foreign = [library.name for library in (folder / "_internal").glob("*.so*")
               if not library.is_symlink()  # a link into a wheel's own folder
               and ".cpython-" not in library.name  # a Python extension module
               and not library.name.startswith(SYSTEM_LIBRARY_ALLOW)]
    return sorted(foreign)


def required_glibc(folder: Path) -> str:
    """The newest glibc symbol version anything in the bundle needs (objdump; else this system's glibc)."""
    if shutil.which("objdump") is None:
        import platform

        return platform.libc_ver()[1] or "2.31"
    newest = (2, 17)
    for path in [folder / "glmv-desktop", *(f for f in folder.rglob("*.so*") if f.is_file() and not f.is_symlink())]:
        dump = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True, check=False).stdout
        for major, minor in re.findall(r"GLIBC_(\d+)\.(\d+)", dump):
            newest = max(newest, (int(major), int(minor)))
    return f"{newest[0]}.{newest[1]}"


def shlib_depends(app: Path) -> str | None:
    """The Depends line dpkg-shlibdeps works out from every ELF file of the bundle: the distribution's
    own package names and minimum versions for each system library they link (None without dpkg-dev)."""
    if shutil.which("dpkg-shlibdeps") is None:
        return None
    files = [f for f in app.rglob("*") if f.is_file() and not f.is_symlink()
             and (f.name == "glmv-desktop" or ".so" in f.name)]
    internal = app / "_internal"
    with tempfile.TemporaryDirectory(prefix="glmv-shlibdeps-") as scratch:
        (Path(scratch) / "debian").mkdir()
        (Path(scratch) / "debian" / "control").write_text("Source: glmv-desktop\n\nPackage: glmv-desktop\n"
                                                          "Architecture: any\n", encoding="utf-8")
        found = subprocess.run(["dpkg-shlibdeps", "-O", "--ignore-missing-info", f"-l{internal}",
                                f"-l{internal / 'PySide6' / 'Qt' / 'lib'}", *(f"-e{f}" for f in files)],
                               capture_output=True, text=True, cwd=scratch, check=True).stdout
    line = next((entry for entry in found.splitlines() if entry.startswith("shlibs:Depends=")), "")
    return line.split("=", 1)[1] or None


def validate_metadata(share: Path, *, metainfo: bool = True) -> None:
    """The menu entry and the AppStream metadata pass their validators (when installed)."""
    if shutil.which("desktop-file-validate"):
        subprocess.run(["desktop-file-validate", str(share / "applications" / f"{DESKTOP_ID}.desktop")], check=True)
    if metainfo and shutil.which("appstreamcli"):
        subprocess.run(["appstreamcli", "validate", "--no-net", str(share / "metainfo" / f"{DESKTOP_ID}.metainfo.xml")],
                       check=True, stdout=subprocess.DEVNULL)


# -- .deb -----------------------------------------------------------------------------------------------------------
def build_deb(app: Path) -> Path:
    """dist/glmv-desktop_VERSION_ARCH.deb from the frozen folder."""
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()
    root = BUILD / "deb" / "root"
    shutil.rmtree(root.parent, ignore_errors=True)
    opt = root / "opt" / PACKAGE
    shutil.copytree(app, opt, symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / PACKAGE).symlink_to(f"/opt/{PACKAGE}/glmv-desktop")
    share = root / "usr" / "share"
    (share / "applications").mkdir(parents=True)
    (share / "applications" / f"{DESKTOP_ID}.desktop").write_text(desktop_entry(PACKAGE), encoding="utf-8")
    (share / "metainfo").mkdir(parents=True)
    (share / "metainfo" / f"{DESKTOP_ID}.metainfo.xml").write_text(metainfo(), encoding="utf-8")
    install_icons(share)
    doc = share / "doc" / PACKAGE
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        f"{APP_NAME}\nLicense: {license_id()} (the full text is /opt/{PACKAGE}/LICENSE.txt)\n\n"
        f"It bundles third-party components under their own licenses (Qt and PySide6 under LGPL-3.0, ...):\n"
        f"see /opt/{PACKAGE}/THIRD-PARTY-NOTICES.txt.\n", encoding="utf-8")
    for path in root.rglob("*"):
        if path.is_symlink():
            continue
        executable = path.is_dir() or os.access(path, os.X_OK) and path.suffix not in (".txt", ".json", ".svg",
                                                                                          ".png", ".qm", ".pem")
        path.chmod(0o755 if executable else 0o644)
    control = root / "DEBIAN"
    control.mkdir()
    installed_kib = folder_size(root) // 1024
    # dpkg-shlibdeps reads every ELF file; without it (not a Debian system) the list below stands in.
    depends = shlib_depends(app) or f"libc6 (>= {required_glibc(app)}), {', '.join(DEPENDS)}"
    (control / "control").write_text(
        f"Package: {PACKAGE}\nVersion: {version()}\nArchitecture: {arch}\nMaintainer: {MAINTAINER}\n"
        f"Installed-Size: {installed_kib}\nDepends: {depends}\n"
        f"Recommends: {', '.join(RECOMMENDS)}\n"
        f"Section: utils\nPriority: optional\nDescription: {DESCRIPTION}\n", encoding="utf-8")
    out = DIST / f"{PACKAGE}_{version()}_{arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    log(f"built {out.name} ({out.stat().st_size / 1e6:.0f} MB)")
    return out


def check_deb(deb: Path) -> None:
    """Install the .deb with dpkg (as root; otherwise unpack it into a clean prefix), smoke-test, remove it."""
    if os.geteuid() != 0 or shutil.which("dpkg") is None:
        prefix = Path(tempfile.mkdtemp(prefix="glmv-deb-prefix-"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(prefix)], check=True)
        log(f"not root: unpacked {deb.name} into a clean prefix instead of installing it")
        smoke(prefix / "opt" / PACKAGE / "glmv-desktop")
        shutil.rmtree(prefix)
        return
    subprocess.run(["dpkg", "--purge", PACKAGE], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["dpkg", "-i", str(deb)], check=True, stdout=subprocess.DEVNULL)
    files = subprocess.run(["dpkg", "-L", PACKAGE], capture_output=True, text=True, check=True).stdout.split("\n")
    try:
        for needed in (f"/usr/bin/{PACKAGE}", f"/usr/share/applications/{DESKTOP_ID}.desktop",
                       f"/usr/share/icons/hicolor/scalable/apps/{DESKTOP_ID}.svg", f"/opt/{PACKAGE}/LICENSE.txt",
                       f"/opt/{PACKAGE}/THIRD-PARTY-NOTICES.txt"):
            if not Path(needed).exists():
                sys.exit(f"The installed package lacks {needed}")
        validate_metadata(Path("/usr/share"))
        smoke(f"/usr/bin/{PACKAGE}")  # the installed command, not one earlier on the PATH
    finally:
        subprocess.run(["dpkg", "--purge", PACKAGE], check=True, stdout=subprocess.DEVNULL)
    left = [f for f in files if f.startswith(("/opt/", "/usr/")) and Path(f).exists()
            and not (Path(f).is_dir() and any(Path(f).iterdir()))]
    left = [f for f in left if f.startswith(f"/opt/{PACKAGE}") or PACKAGE in f or DESKTOP_ID in f]
    if left:
        sys.exit(f"Removing the package left files behind: {left[:10]}")
    log(f"{deb.name}: installed, smoke-tested and removed cleanly")


# -- portable tarball -------------------------------------------------------------------------------------------------
INSTALL_SH = r"""#!/bin/sh
# Add GLM-V Desktop from this folder to your menu, or take it out again with --uninstall.
# Nothing is written outside your home folder.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
config=${XDG_CONFIG_HOME:-$HOME/.config}
bin=$HOME/.local/bin
id=__ID__
if [ "${1:-}" = "--uninstall" ]; then
    # Also the app's own "start when I log in" entry: it would start a program that is no longer there.
    rm -f "$bin/glmv-desktop" "$data/applications/$id.desktop" "$config/autostart/$id.desktop"
    find "$data/icons/hicolor" -name "$id.*" -delete 2>/dev/null || true
    command -v update-desktop-database >/dev/null && update-desktop-database "$data/applications" || true
    echo "GLM-V Desktop was removed from your menu (this folder is left as it is)."
    exit 0
fi
mkdir -p "$bin" "$data/applications"
ln -sf "$here/glmv-desktop" "$bin/glmv-desktop"
cp -R "$here/share/icons" "$data/"
# The program's path as a Desktop Entry Exec argument: double-quoted, with " ` $ \ escaped inside the
# quotes and every backslash doubled again for the string value, and % doubled.
quoted=$(printf '%s' "$here/glmv-desktop" | sed -e 's/[\\"`$]/\\&/g' -e 's/\\/\\\\/g' -e 's/%/%%/g')
while IFS= read -r line; do
    case $line in
        Exec=glmv-desktop*) printf '%s\n' "Exec=\"$quoted\"${line#Exec=glmv-desktop}" ;;
        *) printf '%s\n' "$line" ;;
    esac
done < "$here/share/applications/$id.desktop" > "$data/applications/$id.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database "$data/applications" || true
echo "GLM-V Desktop is in your menu; 'glmv-desktop' runs it from $bin."
"""


def build_tarball(app: Path) -> Path:
    """dist/glmv-desktop-VERSION-linux-ARCH.tar.gz: the frozen folder, install.sh, menu entry and icons."""
    machine = os.uname().machine
    name = f"{PACKAGE}-{version()}-linux-{machine}"
    stage = BUILD / "tarball" / name
    shutil.rmtree(stage.parent, ignore_errors=True)
    shutil.copytree(app, stage, symlinks=True)
    share = stage / "share"
    (share / "applications").mkdir(parents=True)
    (share / "applications" / f"{DESKTOP_ID}.desktop").write_text(desktop_entry(PACKAGE), encoding="utf-8")
    (share / "metainfo").mkdir(parents=True)
    (share / "metainfo" / f"{DESKTOP_ID}.metainfo.xml").write_text(metainfo(), encoding="utf-8")
    install_icons(share)
    script = stage / "install.sh"
    script.write_text(INSTALL_SH.replace("__ID__", DESKTOP_ID), encoding="utf-8")
    script.chmod(0o755)
    (stage / "README.txt").write_text(
        f"{APP_NAME} {version()}\n\nRun ./glmv-desktop from this folder, or ./install.sh to add it to your menu "
        "(./install.sh --uninstall takes it out).\nIt needs the X11/xcb libraries every desktop has "
        "(on Debian/Ubuntu: libxcb-cursor0 libxkbcommon-x11-0).\nLicense: LICENSE.txt; bundled components: "
        "THIRD-PARTY-NOTICES.txt.\n", encoding="utf-8")
    out = DIST / f"{name}.tar.gz"
    with tarfile.open(out, "w:gz", compresslevel=9) as archive:
        archive.add(stage, arcname=name, filter=_normalise)
    log(f"built {out.name} ({out.stat().st_size / 1e6:.0f} MB)")
    return out


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def check_tarball(tarball: Path) -> None:
    """Unpack into a clean folder (with a space in its path), smoke-test, install for a scratch user, remove."""
    scratch = Path(tempfile.mkdtemp(prefix="glmv-tarball-"))
    try:
        unpack = scratch / "Apps & tools (50%)"  # spaces and characters the menu entry must quote
        unpack.mkdir()
        with tarfile.open(tarball) as archive:
            archive.extractall(unpack, filter="tar")
        (folder,) = list(unpack.iterdir())
        validate_metadata(folder / "share")
        smoke(folder / "glmv-desktop")
        home = scratch / "home"
        home.mkdir()
        env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / ".local" / "share")}
        subprocess.run([str(folder / "install.sh")], check=True, env=env, stdout=subprocess.DEVNULL)
        entry = home / ".local" / "share" / "applications" / f"{DESKTOP_ID}.desktop"
        command = home / ".local" / "bin" / "glmv-desktop"
        if not entry.exists() or not command.exists():
            sys.exit("install.sh did not add the command and the menu entry")
        validate_metadata(entry.parent.parent, metainfo=False)
        exec_line = next(line for line in entry.read_text().splitlines() if line.startswith("Exec="))
        if exec_line != f'Exec="{folder}/glmv-desktop"'.replace("%", "%%"):
            sys.exit(f"install.sh wrote {exec_line!r} for {folder}")
        smoke(command, env={"HOME": str(home)})
        subprocess.run([str(folder / "install.sh"), "--uninstall"], check=True, env=env, stdout=subprocess.DEVNULL)
        caches = ("mimeinfo.cache", "icon-theme.cache")  # the desktop's own indexes, rebuilt by it
        # Where install.sh writes (the menu, the command, the icons) and where the app's autostart entry goes.
        written = [p for folder in (home / ".local", home / ".config") for p in folder.rglob("*")]
        left = [p for p in written if (p.is_file() or p.is_symlink()) and p.name not in caches]
        if left:
            sys.exit(f"install.sh --uninstall left files behind: {left[:5]}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"{tarball.name}: unpacked, smoke-tested, installed for a user and removed cleanly")


# -- Flatpak ---------------------------------------------------------------------------------------------------------
FLATPAK_MANIFEST = ROOT / "installers" / "linux" / "flatpak" / f"{DESKTOP_ID}.yml"
# What the features need: the display, the network, the tray, the keychain, the GPU for local servers.
FLATPAK_NEEDS = ("--socket=wayland", "--socket=fallback-x11", "--share=network",
                 "--talk-name=org.kde.StatusNotifierWatcher", "--talk-name=org.freedesktop.secrets", "--device=all")


def check_flatpak_manifest(tarball: Path) -> None:
    """As far as it goes offline: flatpak-builder parses the manifest, which must build from this tarball and
    grant what the features need; building it needs the freedesktop runtime from a Flatpak remote."""
    if shutil.which("flatpak-builder") is None:
        log("flatpak-builder is not installed: the Flatpak manifest was not checked")
        return
    shown = subprocess.run(["flatpak-builder", "--show-manifest", str(FLATPAK_MANIFEST)], capture_output=True,
                           text=True, check=True).stdout
    manifest = json.loads(shown)
    if manifest["id"] != DESKTOP_ID or manifest["command"] != PACKAGE:
        sys.exit("The Flatpak manifest's id or command is not the app's")
    missing = [arg for arg in FLATPAK_NEEDS if arg not in manifest["finish-args"]]
    if missing:
        sys.exit(f"The Flatpak manifest lacks {missing}")
    (source,) = manifest["modules"][0]["sources"]
    if (FLATPAK_MANIFEST.parent / source["path"]).resolve() != tarball.resolve():
        sys.exit(f"The Flatpak manifest builds from {source['path']}, not {tarball.name}: update it to this version")
    with tarfile.open(tarball) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for command in manifest["modules"][0]["build-commands"]:
        for word in command.split():
            if word.startswith(("share/", "glmv-desktop", "_internal", "LICENSE", "THIRD-PARTY")) and word not in names:
                sys.exit(f"The Flatpak build uses {word}, which the tarball does not have")
    log("Flatpak manifest: parsed by flatpak-builder, builds from this tarball, grants what the features need")


# -- Wayland ---------------------------------------------------------------------------------------------------------
def smoke_on_wayland(executable: Path) -> None:
    """The smoke test once more on a Wayland compositor (weston, headless), so the bundled Wayland platform
    plugin is loaded for real; skipped when weston is not installed."""
    if shutil.which("weston") is None:
        log("weston is not installed: the bundle was not tried on Wayland")
        return
    runtime = Path(tempfile.mkdtemp(prefix="glmv-wayland-"))
    runtime.chmod(0o700)
    socket = "wayland-glmv-smoke"
    compositor = subprocess.Popen(["weston", "--backend=headless-backend.so", f"--socket={socket}", "--width=1920",
                                   "--height=1080"], env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not (runtime / socket).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not (runtime / socket).exists():
            sys.exit("weston did not start; the bundle could not be tried on Wayland")
        smoke(executable, env={"XDG_RUNTIME_DIR": str(runtime), "WAYLAND_DISPLAY": socket,
                               "XDG_SESSION_TYPE": "wayland", "QT_QPA_PLATFORM": "wayland"})
    finally:
        compositor.terminate()
        compositor.wait(timeout=10)
        shutil.rmtree(runtime, ignore_errors=True)


# -- the whole Linux build ---------------------------------------------------------------------------------------------
def ensure_build_environment(args: list[str]) -> None:
    """Re-run inside .venv with PyInstaller installed (set up like from_source.py) unless already there."""
    venv_python = ROOT / ".venv" / "bin" / "python"
    if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
        return
    sys.path.insert(0, str(ROOT / "installers"))
    from from_source import PACKAGING_PACKAGES, ensure_venv, install_system_packages

    install_system_packages(PACKAGING_PACKAGES)
    ensure_venv("package")
    os.execv(str(venv_python), [str(venv_python), str(ROOT / "installers" / "build.py"), "linux", *args])


def build_and_check(args: list[str]) -> int:
    """Freeze, check the bundle, build the .deb and the tarball, check both; write dist/sizes.json."""
    ensure_build_environment(args)
    DIST.mkdir(exist_ok=True)
    executable = freeze()
    app = DIST / APP_DIR_NAME
    foreign = check_bundled_libraries(app)
    if foreign:
        sys.exit(f"The bundle took these libraries from the build machine: {', '.join(foreign)}. Exclude them in "
                 "the spec and declare the package that provides them in DEPENDS.")
    smoke(executable)
    smoke_on_wayland(executable)
    deb = build_deb(app)
    tarball = build_tarball(app)
    check_deb(deb)
    check_tarball(tarball)
    check_flatpak_manifest(tarball)
    sizes = {"bundle_bytes": folder_size(app), "deb_bytes": deb.stat().st_size, "tarball_bytes": tarball.stat().st_size}
    (DIST / "sizes.json").write_text(json.dumps(sizes, indent=2) + "\n", encoding="utf-8")
    log("sizes: " + ", ".join(f"{key} {value / 1e6:.1f} MB" for key, value in sizes.items()))
    return 0
