"""The log protocol every backend implements, and the values it trades in.

A log is a sequence of records at dense seqs starting at 1 (or, after retention
dropped old history, at some later seq). Exactly one writer appends; any number
of readers read and follow, also from other processes where the backend allows.

Retention contract: ``drop_history(before)`` drops *at most* the records before
``before`` (a backend may keep more, e.g. whole file segments) and never a record
after the newest snapshot, so replay from the newest snapshot plus the tail is
always possible.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Self

import attrs

from ironlb.events.errors import LbError
from ironlb.events.record import Record

__all__ = [
    "CorruptLog",
    "HistoryDropped",
    "InvalidStoreURL",
    "Snapshot",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoreStats",
]


class StoreError(LbError):
    """The log cannot do what was asked."""


class InvalidStoreURL(StoreError, ValueError):
    """A store URL or one of its options is malformed."""


class StoreLocked(StoreError):
    """Another writer holds the log."""


class HistoryDropped(StoreError):
    """A read asked for records that retention already removed."""


class CorruptLog(StoreError):
    """Stored bytes are damaged; names where, so nothing is silently skipped."""

    def __init__(self, segment: str, offset: int, message: str) -> None:
        super().__init__(f"corrupt log: {segment} at offset {offset}: {message}")
        self.segment = segment
        self.offset = offset


@attrs.frozen
class Snapshot:
    """Opaque bytes that stand for the log's effect up to and including ``seq``."""

    seq: int
    data: bytes


@attrs.frozen
class StoreStats:
    first_seq: int
    last_seq: int
    bytes: int | None  # None where the backend cannot tell (memory)
    segments: int

    @property
    def events(self) -> int:
        return self.last_seq - self.first_seq + 1


class Store(abc.ABC):
    """One log. Backends implement the abstract methods; the rest has defaults."""

    url: str = ""

    # --- writing -------------------------------------------------------------

    @abc.abstractmethod
    def append(self, records: Sequence[Record]) -> range:
        """Append a batch atomically in order; return the seqs assigned to it.

        The records' own ``seq`` fields are ignored. An empty batch returns an
        empty range.
        """

    @abc.abstractmethod
    def append_keeping_seqs(self, records: Sequence[Record]) -> range:
        """Append records whose seqs are already set (``log copy``).

        The first must be ``last_seq + 1``, or anything >= 1 when the log is
        empty; the rest must follow densely.
        """

    # --- reading -------------------------------------------------------------

    @property
    @abc.abstractmethod
    def last_seq(self) -> int:
        """Seq of the newest record, 0 when nothing was ever appended."""

    @property
    @abc.abstractmethod
    def first_seq(self) -> int:
        """Seq of the oldest record still held (``last_seq + 1`` when empty)."""

    @abc.abstractmethod
    def read(self, start: int | None = None, until: int | None = None) -> Iterator[Record]:
        """Records from ``start`` to ``until``, both inclusive, in seq order.

        ``start=None`` means the oldest record held; asking for a seq retention
        dropped raises HistoryDropped.
        """

    @abc.abstractmethod
    def wait(self, after_seq: int, timeout: float) -> bool:
        """Block until a record past ``after_seq`` exists or ``timeout`` passes."""

    def follow(
        self,
        start: int | None = None,
        *,
        stop: threading.Event | None = None,
        idle_timeout: float | None = None,
        poll: float = 0.05,
    ) -> Iterator[Record]:
        """Yield records from ``start`` on, waiting for new ones as they arrive.

        Ends when ``stop`` is set, or when nothing new arrived for
        ``idle_timeout`` seconds; otherwise runs forever.
        """
        next_seq = self.first_seq if start is None else start
        idle_since = time.monotonic()
        while stop is None or not stop.is_set():
            progressed = False
            for record in self.read(next_seq):
                yield record
                next_seq = record.seq + 1
                progressed = True
            if progressed:
                idle_since = time.monotonic()
            elif idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                return
            self.wait(next_seq - 1, poll)

    # --- snapshots and retention ---------------------------------------------

    @abc.abstractmethod
    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store a snapshot; its seq must be an appended seq."""

    @abc.abstractmethod
    def load_snapshot(self) -> Snapshot | None:
        """The newest intact snapshot, or None."""

    @abc.abstractmethod
    def drop_history(self, before: int) -> int:
        """Drop records before ``before`` (see module doc); return the new first_seq."""

    # --- housekeeping --------------------------------------------------------

    @abc.abstractmethod
    def stats(self) -> StoreStats: ...

    def close(self) -> None:  # noqa: B027 - backends without resources need nothing
        """Release files, locks and connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- helpers for backends ------------------------------------------------

    def _check_snapshot_seq(self, snapshot: Snapshot) -> None:
        if not 1 <= snapshot.seq <= self.last_seq:
            raise StoreError(
                f"snapshot at seq {snapshot.seq} is outside the log (last seq {self.last_seq})"
            )

    def _snapshot_floor(self, before: int) -> int:
        """Clamp a retention point so no record after the newest snapshot goes."""
        snapshot = self.load_snapshot()
        ceiling = snapshot.seq + 1 if snapshot else self.first_seq
        return min(before, ceiling)

    def _check_start(self, start: int | None) -> int:
        first = self.first_seq
        if start is None:
            return first
        if start < first and first > 1:
            raise HistoryDropped(
                f"{self.url}: records before seq {first} were dropped by retention "
                f"(asked for seq {start})"
            )
        return max(start, 1)


def check_copy_seqs(records: Sequence[Record], last_seq: int) -> None:
    """Validate the seqs of a batch for append_keeping_seqs."""
    expected = records[0].seq if last_seq == 0 else last_seq + 1
    if expected < 1:
        raise StoreError(f"cannot keep seq {records[0].seq}: seqs start at 1")
    for offset, record in enumerate(records):
        if record.seq != expected + offset:
            raise StoreError(
                f"cannot keep seq {record.seq}: the log expects seq {expected + offset} next"
            )
