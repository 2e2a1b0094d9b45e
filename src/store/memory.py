"""``memory://``: the log in one process's memory; the model the other backends are checked against.

``memory://`` opens a fresh log; ``memory://NAME`` opens the log of that name
shared by every opener in the same process (tests wire a writer and a follower
through it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from ironlb.events.record import Record

from .base import Snapshot, Store, StoreStats, check_copy_seqs


class MemoryStore(Store):
    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._records: list[Record] = []
        self._first = 1  # seq of self._records[0]
        self._snapshots: list[Snapshot] = []
        self._changed = threading.Condition()

    def append(self, records: Sequence[Record]) -> range:
        with self._changed:
            start = self._first + len(self._records)
            self._records.extend(r.with_seq(start + i) for i, r in enumerate(records))
            self._changed.notify_all()
            return range(start, start + len(records))

    def append_keeping_seqs(self, records: Sequence[Record]) -> range:
        if not records:
            return range(self.last_seq + 1, self.last_seq + 1)
        with self._changed:
            check_copy_seqs(records, self.last_seq)
            if not self._records and self.last_seq == 0:
                self._first = records[0].seq
            self._records.extend(records)
            self._changed.notify_all()
            return range(records[0].seq, records[-1].seq + 1)

    @property
    def last_seq(self) -> int:
        return self._first + len(self._records) - 1

    @property
    def first_seq(self) -> int:
        return self._first

    def read(self, start: int | None = None, until: int | None = None) -> Iterator[Record]:
        begin = self._check_start(start)
        with self._changed:
            end = self.last_seq if until is None else min(until, self.last_seq)
            chosen = self._records[begin - self._first : end - self._first + 1]
        return iter(chosen)

    def wait(self, after_seq: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.last_seq > after_seq, timeout)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self._check_snapshot_seq(snapshot)
        with self._changed:
            self._snapshots.append(snapshot)
            self._snapshots.sort(key=lambda s: s.seq)

    def load_snapshot(self) -> Snapshot | None:
        return self._snapshots[-1] if self._snapshots else None

    def drop_history(self, before: int) -> int:
        with self._changed:
            target = min(self._snapshot_floor(before), self.last_seq + 1)
            if target > self._first:
                del self._records[: target - self._first]
                self._first = target
            return self._first

    def stats(self) -> StoreStats:
        return StoreStats(self.first_seq, self.last_seq, None, 0)


_NAMED: dict[str, MemoryStore] = {}
_NAMED_LOCK = threading.Lock()


def open_memory(name: str, url: str) -> MemoryStore:
    if not name:
        return MemoryStore(url)
    with _NAMED_LOCK:
        return _NAMED.setdefault(name, MemoryStore(url))
