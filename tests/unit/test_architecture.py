"""docs/architecture.md draws the tree; every package sits where it says, and every
module is named under its package there (a new module is placed, not dropped in)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src"


def tree_block() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text()
    return re.search(r"## The tree\n\n```\n(.*?)```", text, re.S).group(1)


def drawn() -> dict[str, set[str]]:
    """package path -> the words written on its lines (module names among them)."""
    packages: dict[str, set[str]] = {}
    stack: list[tuple[int, str]] = []
    current = ""
    for line in tree_block().splitlines():
        match = re.match(r"^( *)(\w+)/", line)
        if match:
            depth = len(match.group(1))
            while stack and stack[-1][0] >= depth:
                stack.pop()
            stack.append((depth, match.group(2)))
            current = "/".join(name for _depth, name in stack)
            packages.setdefault(current, set())
        packages.setdefault(current, set()).update(re.findall(r"[a-z_0-9]+", line))
    return packages


def test_every_package_is_drawn_where_it_is():
    actual = {
        str(p.parent.relative_to(SRC.parent))
        for p in SRC.rglob("__init__.py")
        if "__pycache__" not in p.parts and p.parent != SRC
    }
    assert actual == set(drawn()) - {"src"}


def test_every_module_is_named_under_its_package():
    packages = drawn()
    missing = [
        str(path.relative_to(ROOT))
        for path in SRC.rglob("*.py")
        if path.parent != SRC
        and path.name != "__init__.py"
        and path.stem not in packages.get(str(path.parent.relative_to(SRC.parent)), set())
    ]
    assert missing == []
