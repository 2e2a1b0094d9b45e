"""Shared output helpers for the command line: JSON that diffs well, tables for people."""

from __future__ import annotations

import datetime
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO


def dump_json(value: Any, out: TextIO) -> None:
    """Indented, with sorted keys, so output is byte-stable and diffable: the bytes of
    ``json.dump(value, out, sort_keys=True, indent=2, ensure_ascii=False)``.

    Written through orjson, piece by piece: the standard library's encoder is pure
    Python once it indents (a plan of 50 nodes and 10,000 BGP Services, a million
    routes, takes it 4.3 s, orjson 0.13 s), and a plan encoded whole is 158 MB
    held at once. The top two levels of maps, and below them any map of more than
    ``SPLIT`` entries (every node's routes, every Service), are written here and
    their values encoded one by one; a piece orjson refuses (integers past 64 bits,
    keys that are not strings) is encoded by the standard library instead.
    """
    _write_json(value, 0, _sink(out))
    out.write("\n")


def _sink(out: TextIO) -> Callable[[bytes], None]:
    """Bytes straight to a real file's buffer; decoded for a text-only stream."""
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        return lambda data: out.write(data.decode())
    out.flush()
    return buffer.write


SPLIT = 8  # a map deeper than two levels is written entry by entry above this size


def _write_json(value: Any, depth: int, write: Callable[[bytes], None]) -> None:
    if (
        not isinstance(value, dict)
        or (depth >= 2 and len(value) <= SPLIT)
        or not value
        or not all(isinstance(key, str) for key in value)
    ):
        write(_encoded(value, depth))
        return
    inner = b"  " * (depth + 1)
    write(b"{\n")
    for n, key in enumerate(sorted(value)):
        write((b",\n" if n else b"") + inner + _encoded(key, 0) + b": ")
        _write_json(value[key], depth + 1, write)
    write(b"\n" + b"  " * depth + b"}")


def _encoded(value: Any, depth: int) -> bytes:
    """One value, indented as if it stood ``depth`` levels deep."""
    import orjson

    try:
        encoded = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    except (orjson.JSONEncodeError, TypeError):
        encoded = json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False).encode()
    return encoded.replace(b"\n", b"\n" + b"  " * depth) if depth else encoded


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
