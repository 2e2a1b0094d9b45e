"""Command inputs: log URLs, files and standard input, read into one record sequence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..events.errors import ManifestError
from ..events.importer import import_files
from ..events.record import Record
from ..examples import example_path
from ..store import open_store

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def read_inputs(
    inputs: Sequence[str],
    *,
    start_seq: int = 1,
    origins: list[tuple[str, int] | None] | None = None,
) -> list[Record]:
    """Records of every input in the order given, numbered densely from ``start_seq``.

    An input with ``scheme://`` is a log; a directory is a log (a file store, as
    ``replay`` takes it) or, like ``kubectl apply -f DIR``, the manifests in it
    (``*.yaml``, ``*.yml``, ``*.json``, in name order); ``-`` is standard input;
    anything else a manifest file. An input that holds nothing is an error: a
    configuration checked against nothing must not come out "valid". Renumbering
    keeps each input's order, which is all the fold uses seqs for (pending order),
    so what-if folds can stack inputs. ``origins``, when given, receives each
    record's (file, document number), or None for a record read from a log.
    """
    records: list[Record] = []
    for source in inputs:
        path = Path(source)
        if "://" in source or (path.is_dir() and _is_log(path)):
            with open_store(source, readonly=True) as store:
                found = list(store.read())
            if origins is not None:
                origins.extend([None] * len(found))
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in MANIFEST_SUFFIXES)
            if not files:
                raise ManifestError(
                    source, None, "neither a log nor a directory of manifests "
                    "(*.yaml, *.yml, *.json)"
                )  # fmt: skip
            found = import_files([str(f) for f in files], origins=origins)
        else:
            found = import_files([source], origins=origins)
        if not found:
            raise ManifestError(source, None, "holds no objects")
        records.extend(found)
    return [r.with_seq(start_seq + i) for i, r in enumerate(records)]


def _is_log(path: Path) -> bool:
    """A file store's directory: its lock, manifest or segments are there."""
    return any(
        entry.name in ("LOCK", "SEGMENTS") or (entry.suffix == ".log" and entry.stem.isdigit())
        for entry in path.iterdir()
    )


def default_inputs() -> list[str]:
    """The bundled example cluster: what ``ironlb plan`` folds when given no input."""
    return [str(example_path())]
