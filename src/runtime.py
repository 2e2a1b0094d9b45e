"""Pieces both long-running processes share: batching their sources' queue, signals."""

from __future__ import annotations

import logging
import queue
import signal
import threading
from collections.abc import Iterable
from typing import Any

from .events.record import Record
from .events.watch import WatchSource
from .reconcile.verify import digest_record

log = logging.getLogger("ironlb")
MAX_BATCH = 10_000


def next_batch(incoming: queue.Queue[Record], timeout: float) -> list[Record]:
    """Everything waiting (up to MAX_BATCH), after waiting up to ``timeout`` for the first."""
    try:
        first = incoming.get(timeout=timeout)
    except queue.Empty:
        return []
    batch = [first]
    while len(batch) < MAX_BATCH:
        try:
            batch.append(incoming.get_nowait())
        except queue.Empty:
            break
    return batch


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT stop the loop; the process then closes everything cleanly."""

    def handler(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class DigestSchedule:
    """When a live process vouches for its plan with a digest record (DESIGN.md rule 4).

    At most every ``interval`` seconds, only after something changed, and the digest
    (canonical JSON of the whole plan) is computed only when one is due: it is not
    work for every batch on the hot path.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.changed = False  # records arrived since the last digest
        self._at = float("-inf")
        self._last: str | None = None

    def note_change(self) -> None:
        self.changed = True

    def due(self, now: float, *, force: bool = False) -> bool:
        return (self.changed or force) and (force or now - self._at >= self.interval)

    def take(self, plan: Any, *, source: str, observed_at: float, now: float) -> Record | None:
        """The digest record to append now, or None when the plan is what was vouched for."""
        self.changed = False
        self._at = now
        record = digest_record(plan, source=source, observed_at=observed_at)
        if record.object["digest"] == self._last:
            return None
        self._last = record.object["digest"]
        return record


def all_listed(watches: Iterable[WatchSource], incoming: queue.Queue) -> bool:
    """Every watch listed once, and all it listed is folded: a source puts its list on
    ``incoming`` before ``listed`` counts it, so an empty queue means the one
    consumer (the main loop, which asks after appending its batch) took it all."""
    return all(w.listed for w in watches) and incoming.empty()
