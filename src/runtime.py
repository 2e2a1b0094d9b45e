"""Pieces both long-running processes share: batching their sources' queue, signals."""

from __future__ import annotations

import logging
import queue
import signal
import threading

from .events.record import Record

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
