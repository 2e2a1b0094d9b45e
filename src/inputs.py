"""Command inputs: log URLs, files and standard input, read into one record sequence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .events.importer import import_files
from .events.record import Record
from .examples import example_path
from .store import open_store


def read_inputs(inputs: Sequence[str], *, start_seq: int = 1) -> list[Record]:
    """Records of every input in the order given, numbered densely from ``start_seq``.

    An input with ``scheme://`` is a log, and so is a directory (a file store, as
    ``replay`` takes it); ``-`` is standard input; anything else a manifest file.
    Renumbering keeps each input's order, which is all the fold uses seqs for
    (pending order), so what-if folds can stack inputs.
    """
    records: list[Record] = []
    for source in inputs:
        if "://" in source or Path(source).is_dir():
            with open_store(source, readonly=True) as store:
                records.extend(store.read())
        else:
            records.extend(import_files([source]))
    return [r.with_seq(start_seq + i) for i, r in enumerate(records)]


def default_inputs() -> list[str]:
    """The bundled example cluster: what ``ironlb plan`` folds when given no input."""
    return [str(example_path())]
