"""Command inputs: log URLs, files and standard input, read into one record sequence."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from ..events.errors import ManifestError
from ..events.importer import import_files
from ..events.record import Record
from ..examples import example_path
from ..store import open_store
from .progress import progress, reading

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


Origin = tuple[str, int]  # (file, document number) of a record read from a manifest


def stream_inputs(
    inputs: Sequence[str], *, start_seq: int = 1
) -> Iterator[tuple[Record, Origin | None]]:
    """Records of every input in the order given, numbered densely from ``start_seq``,
    each with its origin (None for a record read from a log), one at a time: a log
    of 100,000 records is folded without being held.

    An input with ``scheme://`` is a log; a directory is a log (a file store, as
    ``replay`` takes it) or, like ``kubectl apply -f DIR``, the manifests in it
    (``*.yaml``, ``*.yml``, ``*.json``, in name order); ``-`` is standard input;
    anything else a manifest file. An input that holds nothing is an error: a
    configuration checked against nothing must not come out "valid". Renumbering
    keeps each input's order, which is all the fold uses seqs for (pending order),
    so what-if folds can stack inputs.
    """
    seq = start_seq
    for source in inputs:
        count = 0
        for record, origin in _records_of(source):
            yield (record if record.seq == seq else record.with_seq(seq)), origin
            seq += 1
            count += 1
        if not count:
            raise ManifestError(source, None, "holds no objects")


def read_inputs(
    inputs: Sequence[str],
    *,
    start_seq: int = 1,
    origins: list[Origin | None] | None = None,
) -> list[Record]:
    """``stream_inputs`` held in a list; ``origins``, when given, receives each
    record's origin."""
    records: list[Record] = []
    for record, origin in stream_inputs(inputs, start_seq=start_seq):
        records.append(record)
        if origins is not None:
            origins.append(origin)
    return records


def timeline(inputs: Sequence[str]) -> list[tuple[int, float]]:
    """(seq, observed time) of every record: what resolves a time to a seq."""
    return [(record.seq, record.observed_at) for record, _origin in stream_inputs(inputs)]


def _records_of(source: str) -> Iterator[tuple[Record, Origin | None]]:
    path = Path(source)
    if "://" in source or (path.is_dir() and _is_log(path)):
        with open_store(source, readonly=True) as store:
            total = store.last_seq - store.first_seq + 1
            for record in progress(store.read(), total=total, what=source):
                yield record, None
        return
    origins: list[Origin | None] = []
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in MANIFEST_SUFFIXES)
        if not files:
            raise ManifestError(
                source, None, "neither a log nor a directory of manifests "
                "(*.yaml, *.yml, *.json)"
            )  # fmt: skip
        found = import_files([str(f) for f in files], origins=origins, reading=reading)
    else:
        found = import_files([source], origins=origins, reading=reading)
    yield from progress(zip(found, origins, strict=True), total=len(found), what=source)


def _is_log(path: Path) -> bool:
    """A file store's directory: its lock, manifest or segments are there."""
    return any(
        entry.name in ("LOCK", "SEGMENTS") or (entry.suffix == ".log" and entry.stem.isdigit())
        for entry in path.iterdir()
    )


def default_inputs() -> list[str]:
    """The bundled example cluster: what ``ironlb plan`` folds when given no input."""
    return [str(example_path())]
