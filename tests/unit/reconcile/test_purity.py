"""src/reconcile is pure: no I/O, no clock, no randomness, and nothing that could do them."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

RECONCILE = Path(__file__).resolve().parents[3] / "src" / "reconcile"
FORBIDDEN = {
    "socket",
    "os",
    "time",
    "random",
    "asyncio",
    "threading",
    "subprocess",
    "select",
    "selectors",
    "ssl",
    "urllib",
    "http",
    "requests",
    "kubernetes",
    "redis",
    "pyroute2",
    "msgpack",
    "secrets",
    "shutil",
    "tempfile",
    "ironlb.store",
    "ironlb.announce",
}
MODULES = sorted(RECONCILE.rglob("*.py"))
IDS = [str(p.relative_to(RECONCILE)) for p in MODULES]
# The YAML loader parses text and nothing else: metallb-excludel2 holds YAML.
ALLOWED_IRONLB = (
    "ironlb.events.record",
    "ironlb.events.errors",
    "ironlb.events.own_kinds",
    "ironlb.events.yaml_loader",
)


def module_name(path: Path) -> str:
    parts = ["ironlb", *path.relative_to(RECONCILE.parent).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved to absolute names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names.add(".".join([*base, *([node.module] if node.module else [])]))
    return names


def forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_no_module_imports_io_clock_or_randomness(path):
    bad = sorted(n for n in imported_names(path) if forbidden(n))
    assert not bad, f"{path.name} imports {bad}"


def test_the_only_ironlb_dependencies_are_the_events_leaf_modules():
    for path in MODULES:
        for name in imported_names(path):
            if name.startswith("ironlb.") and not name.startswith("ironlb.reconcile"):
                assert name in ALLOWED_IRONLB, (path, name)


def test_importing_the_reconciler_loads_nothing_impure():
    """Transitively, in a fresh, isolated interpreter: what importing src/reconcile
    loads beyond what its allowed dependencies (attrs, the record module) load
    themselves. attrs imports threading on some versions; that is attrs', not ours."""
    modules = [module_name(p) for p in MODULES]
    script = (
        f"import sys, json, attrs, {', '.join(ALLOWED_IRONLB)}\n"
        "before = set(sys.modules)\n"
        + "".join(f"import {m}\n" for m in modules)
        + "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
    )
    assert not [m for m in loaded if forbidden(m)], loaded


CALLS = {"open", "print", "input", "exec", "eval", "compile", "__import__", "breakpoint"}


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_no_module_calls_io_or_code_builtins(path):
    """Imports are not the only way out: no open(), print(), eval() and the like."""
    tree = ast.parse(path.read_text(), filename=str(path))
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & CALLS, f"{path.name} calls {sorted(called & CALLS)}"
