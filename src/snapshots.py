"""Fold snapshots: the state of the folds after seq N, so a process restarts from N
instead of from the first record, and retention can drop history behind N.

What is saved is the fold objects themselves (pickled): the observed world and the
state not derivable from it (decisions not yet written, pending order) are then
exactly what the fold held, which is the rule a snapshot must keep: replay from a
snapshot plus the tail equals replay from the start (tests/property).

Two guards make pickling safe enough for a file or a Redis key:

* loading resolves only classes of ``ironlb.reconcile`` and plain containers, so a
  crafted snapshot cannot name a function to call;
* a snapshot carries a fingerprint of the fold's source code; a snapshot from other
  code is refused (``SnapshotUnusable``) rather than trusted. A process that meets
  one rebuilds from the records it still holds and relists the cluster, which is
  how a controller with an empty log keeps every address.
"""

from __future__ import annotations

import functools
import hashlib
import io
import pickle
from pathlib import Path
from typing import Any

import attrs
import msgpack

from .events.errors import LbError
from .reconcile.controller import ControllerFold
from .reconcile.speaker import SpeakerFold
from .store import Store

FORMAT = 1
_SAFE_BUILTINS = {
    "object",
    "set",
    "frozenset",
    "dict",
    "list",
    "tuple",
    "int",
    "float",
    "str",
    "bytes",
    "bool",
    "complex",
    "range",
    "slice",
}
_SAFE_MODULES = {"collections": {"OrderedDict", "deque"}, "copyreg": {"_reconstructor"}}


class SnapshotUnusable(Exception):
    """A snapshot that cannot stand for the log: damaged, foreign, or from other code."""


@attrs.define
class FoldSnapshot:
    """The folds of one process after ``seq``: the controller's, and a speaker's."""

    seq: int
    controller: ControllerFold
    speaker: SpeakerFold | None = None


@functools.cache
def code_fingerprint() -> str:
    """Hash of the fold's source files (ironlb.reconcile): the pickled layout is theirs."""
    digest = hashlib.sha256()
    for path in sorted((Path(__file__).parent / "reconcile").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def encode_snapshot(snapshot: FoldSnapshot) -> bytes:
    folds = pickle.dumps((snapshot.controller, snapshot.speaker), protocol=5)
    header = {"format": FORMAT, "code": code_fingerprint(), "seq": snapshot.seq}
    return msgpack.packb({**header, "folds": folds}, use_bin_type=True)


def decode_snapshot(data: bytes) -> FoldSnapshot:
    try:
        body = msgpack.unpackb(data, raw=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise SnapshotUnusable(f"not a snapshot: {exc}") from exc
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise SnapshotUnusable(f"unknown snapshot format {body.get('format')!r}")
    if body.get("code") != code_fingerprint():
        raise SnapshotUnusable("written by another version of ironlb's fold")
    try:
        controller, speaker = _RestrictedUnpickler(io.BytesIO(body["folds"])).load()
    except Exception as exc:  # any damage at all: the snapshot is not used
        raise SnapshotUnusable(f"damaged snapshot: {exc}") from exc
    if not isinstance(controller, ControllerFold) or not (
        speaker is None or isinstance(speaker, SpeakerFold)
    ):
        raise SnapshotUnusable("the snapshot does not hold folds")
    return FoldSnapshot(int(body.get("seq", 0)), controller, speaker)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        allowed = (
            (module == "builtins" and name in _SAFE_BUILTINS)
            or name in _SAFE_MODULES.get(module, ())
            or module.startswith("ironlb.reconcile.")
        )
        if not allowed:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a snapshot")
        found = super().find_class(module, name)
        if module.startswith("ironlb.reconcile.") and not isinstance(found, type):
            raise pickle.UnpicklingError(f"{module}.{name} is not a class")
        return found


def snapshot_to_start_from(store: Store) -> FoldSnapshot | None:
    """Where a tool replaying ``store`` from its start must begin: None when the log
    holds its whole history, else the newest snapshot (retention dropped what is
    behind it). A speaker fold is rebuilt from the world when the snapshot has none
    (a controller's log): the speakers' state is a function of the world."""
    if store.first_seq <= 1:
        return None
    saved = store.load_snapshot()
    if saved is None:
        raise LbError(
            f"{store.url}: history before seq {store.first_seq} was dropped and no snapshot "
            "stands for it; replay with --start to fold the tail alone"
        )
    try:
        snapshot = decode_snapshot(saved.data)
    except SnapshotUnusable as exc:
        raise LbError(f"{store.url}: snapshot at seq {saved.seq} unusable: {exc}") from exc
    if snapshot.speaker is None:
        snapshot.speaker = SpeakerFold().apply_all(snapshot.controller.world.as_records())
    return snapshot
