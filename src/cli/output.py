"""Shared output helpers for the command line: JSON that diffs well, tables for people."""

from __future__ import annotations

import datetime
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO


def dump_json(value: Any, out: TextIO, *, indent: int | None = 2) -> None:
    """Sorted keys, so output is byte-stable and diffable."""
    json.dump(value, out, sort_keys=True, indent=indent, ensure_ascii=False)
    out.write("\n")


def json_line(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def timestamp(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def use_colour(out: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


COLOURS = {"red": "31", "green": "32", "yellow": "33", "dim": "2", "bold": "1"}


def paint(text: str, colour: str | None, enabled: bool) -> str:
    if not enabled or colour is None or not text:
        return text
    return f"\x1b[{COLOURS[colour]}m{text}\x1b[0m"


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    out: TextIO | None = None,
    *,
    colours: Sequence[Sequence[str | None]] | None = None,
) -> None:
    """Left-aligned columns separated by two spaces; optional colour per cell."""
    out = out or sys.stdout
    enabled = use_colour(out)
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    out.write(paint(_line(headers, widths), "bold", enabled) + "\n")
    for r, row in enumerate(rows):
        cells = []
        for i, cell in enumerate(row):
            padded = cell.ljust(widths[i]) if i < len(row) - 1 else cell
            colour = colours[r][i] if colours else None
            cells.append(paint(padded, colour, enabled))
        out.write("  ".join(cells).rstrip() + "\n")


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
