"""The layering rule of ARCHITECTURE.md: domain packages import no Qt, imports run downwards."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "desktop"
DOMAIN = ("chat", "media", "config", "store", "backends", "assistant")
# Each layer may import only the layers listed after it (and itself).
LAYERS = [
    {"app", "cli", "doctor", "__main__", "smoke", "running_notice", "commands", "askpass"},
    {"ui"},
    {"assistant"},
    {"backends", "capture", "hotkeys", "store"},
    {"chat"},
    {"media", "config"},
    {"availability", "display", "errors", "i18n", "logsetup", "processenv", "secret", "__init__"},
]


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ["desktop", *path.relative_to(PACKAGE).parent.parts]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.add(node.module or "")
            else:
                base = package[: len(package) - node.level + 1]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
    return found


def package_of(module: str) -> str:
    return module.split(".")[1] if module.startswith("desktop.") else ""


def layer_of(part: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if part in layer)


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_package_imports_no_qt(package: str) -> None:
    for path in (PACKAGE / package).rglob("*.py"):
        qt = {m for m in imports_of(path) if m.split(".")[0] in {"PySide6", "shiboken6", "PyQt5", "PyQt6", "qasync"}}
        assert not qt, f"{path.relative_to(PACKAGE)} imports {qt}"


def test_importing_the_domain_loads_no_qt() -> None:
    modules = [f"desktop.{p.relative_to(PACKAGE).with_suffix('').as_posix().replace('/', '.')}"
               for pkg in DOMAIN for p in (PACKAGE / pkg).rglob("*.py")]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m.removesuffix('.__init__'))\n"
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_run_downwards_only() -> None:
    problems = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        own = rel.parts[0].removesuffix(".py")
        for module in imports_of(path):
            target = package_of(module)
            if not target or target == own:
                continue
            if layer_of(target) < layer_of(own):
                problems.append(f"{rel} ({own}) imports {module} ({target}), a higher layer")
    assert not problems, "\n".join(problems)


def test_chat_never_imports_store() -> None:
    for path in (PACKAGE / "chat").rglob("*.py"):
        assert not any(m.startswith("desktop.store") for m in imports_of(path))


def test_cli_imports_no_qt_at_module_level() -> None:
    tree = ast.parse((PACKAGE / "cli.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in top if isinstance(n, ast.ImportFrom)}
    assert not any(n.startswith(("PySide6", "desktop.app", "desktop.ui")) for n in names)


def _module_name(path: Path) -> str:
    name = ".".join(("desktop", *path.relative_to(PACKAGE).with_suffix("").parts))
    return name.removesuffix(".__init__")


def _runtime_imports(path: Path, known: set[str]) -> set[str]:
    """The desktop modules `path` imports when it runs (at module level or in a function), not those
    imported only for the type checker; `from package import name` counts the submodule `name` too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
                   for n in ast.walk(node)}
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or "" if node.level == 0 else ".".join(
                [*package[: len(package) - node.level + 1], *([node.module] if node.module else [])])
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m in known and m != _module_name(path)}


def test_no_import_circles_between_modules() -> None:
    """Every module of the app imports only modules that do not import it back, directly or not."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: _runtime_imports(path, set(paths)) for name, path in paths.items()}
    assert "desktop.capture.chain" in graph and "desktop.app" in graph, "the scan found the modules"
    circles = []
    for start in sorted(graph):
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module == start:
                circles.append(start)
                break
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
    assert circles == [], f"these modules are in import circles: {circles}"
