"""The files of a log directory: segments, the SEGMENTS manifest and snapshots."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..base import (
    CorruptLog,
    StoreError,
)
from .segments import MANIFEST, segment_name

SEGMENT_NAME = re.compile(r"^(\d{20})\.log$")
SNAPSHOT_NAME = re.compile(r"^(\d{20})\.snap$")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_manifest(path: Path, first: int, newest: int) -> None:
    """Replace the manifest atomically: the first and the newest segment."""
    temporary = path / ".SEGMENTS.tmp"
    temporary.write_text(f"first {first}\nnewest {newest}\n")
    with open(temporary, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(temporary, path / MANIFEST)
    fsync_dir(path)


def read_manifest(path: Path) -> tuple[int, int] | None:
    try:
        text = (path / MANIFEST).read_text()
    except FileNotFoundError:
        return None  # a log written before the manifest existed
    try:
        fields = dict(line.split() for line in text.splitlines() if line.strip())
        return int(fields["first"]), int(fields["newest"])
    except (ValueError, KeyError):
        raise CorruptLog(MANIFEST, 0, f"unreadable manifest: {text[:80]!r}") from None


def check_manifest(path: Path, segments: list[tuple[int, Path]]) -> None:
    """Segments missing at either end are damage: name them."""
    manifest = read_manifest(path)
    if manifest is None:
        return
    first, newest = manifest
    present = {seq for seq, _path in segments}
    if newest not in present and (not segments or segments[-1][0] < newest):
        raise CorruptLog(
            segment_name(newest), 0, "the newest segment the manifest names is missing"
        )
    if segments and segments[0][0] > first:
        raise CorruptLog(
            segment_name(first),
            0,
            f"segments before seq {segments[0][0]} are missing (the manifest says the "
            f"log starts at seq {first})",
        )


def segment_files(path: Path) -> list[tuple[int, Path]]:
    """The segments in the directory, by first seq."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        raise StoreError(f"no log at {path}: the directory is gone") from None
    return _numbered(path, names, SEGMENT_NAME)


def snapshot_files(path: Path) -> list[tuple[int, Path]]:
    """The snapshot files, by seq (oldest first)."""
    directory = path / "snapshots"
    if not directory.is_dir():
        return []
    return _numbered(directory, os.listdir(directory), SNAPSHOT_NAME)


def _numbered(
    directory: Path, names: list[str], pattern: re.Pattern[str]
) -> list[tuple[int, Path]]:
    found = []
    for name in names:
        match = pattern.match(name)
        if match:
            found.append((int(match.group(1)), directory / name))
    found.sort()
    return found
