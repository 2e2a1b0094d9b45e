"""Pieces both long-running processes share: batching their sources' queue, signals,
digest and snapshot schedules."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..announce.metrics import Counters
from ..events.errors import LbError
from ..events.own_kinds import DIGEST_KIND
from ..events.own_kinds import GROUP as OWN_GROUP
from ..events.record import EventType, Record
from ..events.sources.watch import WatchSource
from ..reconcile.plan.verify import RULES_VERSION, DigestChain, plan_digest, rules_of
from ..store import Snapshot, Store
from .options import DEFAULT_MAX_LOG_MB, DEFAULT_SNAPSHOT_INTERVAL
from .snapshots import (
    FoldSnapshot,
    SnapshotState,
    SnapshotUnusable,
    encode_snapshot,
    usable_snapshot,
)

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


def join_within(threads: Iterable[threading.Thread], timeout: float = 10.0) -> None:
    """Wait for stopping threads under one deadline, not one each (nine stuck sources
    would otherwise hold a stopping process for a minute and a half); the ones still
    running are named in the log and, as daemons, end with the process."""
    deadline = time.monotonic() + timeout
    stuck = []
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            stuck.append(thread.name)
    if stuck:
        log.warning("still running %.0fs after stop, left behind: %s", timeout, ", ".join(stuck))


class SourceFailed(LbError):
    """A thread the process cannot run without died of an unexpected error."""

    exit_code = 1


class Supervisor:
    """The threads feeding a process. One that dies of an unexpected error stops
    the whole process, which then exits non-zero: a speaker or controller missing
    one of its sources would go on deciding from a world that no longer changes,
    while a process that exits is restarted (by Kubernetes, or systemd) whole."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.failed: list[str] = []

    def thread(self, name: str, target: Callable[..., object], *args: object) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)
            except LbError as exc:  # reported on purpose: the process's last line says it
                self.failed.append(f"{name}: {exc}")
                self.stop.set()
            except Exception as exc:  # a bug: the traceback goes to the log
                log.exception("%s failed; stopping the process", name)
                self.failed.append(f"{name}: {type(exc).__name__}: {exc}")
                self.stop.set()

        return threading.Thread(target=run, name=name, daemon=True)

    def watch(self, source: WatchSource) -> threading.Thread:
        return self.thread(f"watch/{source.resource.plural}", source.run)

    def check(self) -> None:
        """After the loop ended: raise if it ended because a thread died."""
        if self.failed:
            raise SourceFailed(f"stopped, as {'; '.join(self.failed)}")


def install_signal_handlers(
    stop: threading.Event, on_stop: Callable[[], None] | None = None
) -> None:
    """SIGTERM and SIGINT stop the loop; the process then closes everything cleanly.
    ``on_stop`` runs at once on the signal, before the loop notices (up to its
    batch timeout later): what must not wait, a speaker's leaving beat.

    A Python signal handler runs in the main thread between two bytecodes, maybe
    while that thread holds the lock ``stop.set()`` (or logging) needs: a second
    SIGTERM arriving during the first one's ``set()`` deadlocked the speaker. So the
    handler only writes the signal's number to a pipe, which takes no lock, and a
    thread of its own reads it and sets ``stop`` like any other thread.
    """
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    owner = os.getpid()

    def relay() -> None:
        while True:
            number = os.read(read_end, 1)
            log.info("signal %d: stopping", number[0] if number else 0)
            stop.set()
            if on_stop is not None:
                on_stop()

    threading.Thread(target=relay, name="signals", daemon=True).start()

    def handler(signum: int, _frame: object) -> None:
        if os.getpid() != owner:
            # A forked child (pyroute2 forks one to enter a network namespace) keeps
            # this handler and the pipe: its SIGTERM must end it, not stop us.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        with contextlib.suppress(BlockingIOError):  # a full pipe: stopping already
            os.write(write_end, bytes([signum]))

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
        self.chain = DigestChain()

    def rebase(self) -> None:
        """A snapshot was written: the next digest carries every entry, so that a
        verifier starting from the snapshot can name what differs."""
        self.chain.rebase()
        self._last = None

    def note_change(self) -> None:
        self.changed = True

    def due(self, now: float, *, force: bool = False) -> bool:
        return (self.changed or force) and (force or now - self._at >= self.interval)

    def take(self, plan: Any, *, source: str, observed_at: float, now: float) -> Record | None:
        """The digest record to append now, or None when the plan is what was vouched for."""
        self.changed = False
        self._at = now
        record = self.chain.record(plan, source=source, observed_at=observed_at)
        if record.object["digest"] == self._last:
            return None
        self._last = record.object["digest"]
        return record


class ResumeCheck:
    """A restarting process folds its own log's tail again, and each digest it wrote
    there is recomputed on the way: a plan that differs from what the live process
    vouched for means replay does not decide as it did (a nondeterministic rule, an
    altered log). Counted (``ironlb_replay_divergences_total``, alerted on) and
    logged with the record to start ``ironlb replay --verify`` from; never fatal,
    the process goes on from what the log says.

    Costs one plan per digest record in the tail read at start (after a snapshot,
    a few)."""

    def __init__(self, counters: Counters, scope: str) -> None:
        self.counters = counters
        self.scope = scope
        self.checked = 0
        for name in ("ironlb_replay_digests_checked", "ironlb_replay_divergences"):
            counters.inc(name, 0, scope=scope)  # a series from the start, for alerts

    def before_fold(self, record: Record, plan: Callable[[], Any]) -> None:
        """Call with each record read at start, before it is folded: a digest covers
        the records before it."""
        if record.kind != DIGEST_KIND or record.key != self.scope:
            return
        if record.type is EventType.DELETED:
            return
        recorded = record.object.get("digest")
        recomputed = plan_digest(plan())
        rules = rules_of(record)
        self.counters.inc("ironlb_replay_digests_checked", scope=self.scope)
        self.checked += 1
        if recorded == recomputed:
            return
        if rules != RULES_VERSION:
            log.info(
                "the plan digest at seq %d was written under decision rules %s, this ironlb "
                "applies rules %d: its plan differs on purpose (docs/upgrading.md)",
                record.seq, rules, RULES_VERSION,
            )  # fmt: skip
            return
        self.counters.inc("ironlb_replay_divergences", scope=self.scope)
        log.error(
            "replaying this process's own log computes another %s plan at seq %d than the "
            "live process vouched for (digest %.16s..., replay %.16s...): replay does not "
            "decide as it did; `ironlb replay --verify` on this log names what differs",
            self.scope, record.seq, recorded, recomputed,
        )  # fmt: skip


def all_listed(watches: Iterable[WatchSource], incoming: queue.Queue) -> bool:
    """Every watch listed once, and all it listed is folded: a source puts its list on
    ``incoming`` before ``listed`` counts it, so an empty queue means the one
    consumer (the main loop, which asks after appending its batch) took it all."""
    return all(w.listed for w in watches) and incoming.empty()


class SnapshotPolicy:
    """When a process snapshots its folds, and how much history its log keeps.

    A snapshot is taken at most every ``interval`` seconds and only after at least
    ``min_records`` new records: restarting then replays at most that much. History
    is kept whole while the log is under ``max_log_bytes``; above it, everything
    behind the newest snapshot is dropped (the log keeps the snapshot and the tail,
    which replay together), so a node's disk holds at most about the cap plus one
    segment. ``max_log_bytes=None`` keeps all history.
    """

    def __init__(
        self,
        interval: float = DEFAULT_SNAPSHOT_INTERVAL,
        *,
        min_records: int = 1000,
        max_log_bytes: int | None = DEFAULT_MAX_LOG_MB * 2**20,
        size_check_every: float = 10.0,
    ) -> None:
        self.interval = interval
        self.min_records = min_records
        self.max_log_bytes = max_log_bytes
        self.size_check_every = size_check_every
        self.seq = 0  # the newest snapshot's seq
        self._at = float("-inf")
        self._size_checked_at = float("-inf")
        self._over_cap = False

    def restore(self, store: Store) -> SnapshotState | None:
        """The newest usable snapshot, or None: then the log is read from its start
        (a refused snapshot is logged, never trusted)."""
        saved = store.load_snapshot()
        if saved is None:
            if store.first_seq > 1:
                log.warning(
                    "%s: history before seq %d was dropped and there is no snapshot; "
                    "folding from there (the relist brings the cluster's current state)",
                    store.url,
                    store.first_seq,
                )
            return None
        try:
            snapshot = usable_snapshot(store, saved.data, saved.seq)
        except SnapshotUnusable as exc:
            log.warning("%s: snapshot at seq %d not used: %s", store.url, saved.seq, exc)
            return None
        self.seq = snapshot.seq
        log.info("restored the folds from the snapshot at seq %d", snapshot.seq)
        return snapshot

    def due(self, store: Store, now: float) -> bool:
        if store.last_seq <= self.seq:
            return False
        if self.max_log_bytes is not None and now - self._size_checked_at >= self.size_check_every:
            self._size_checked_at = now
            size = store.stats().bytes
            self._over_cap = size is not None and size > self.max_log_bytes
        if self._over_cap:
            return True
        return store.last_seq - self.seq >= self.min_records and now - self._at >= self.interval

    def take(self, store: Store, snapshot: FoldSnapshot, now: float) -> None:
        """Save ``snapshot`` (folds applied up to ``snapshot.seq``) and keep the cap."""
        store.save_snapshot(Snapshot(snapshot.seq, encode_snapshot(snapshot)))
        self.seq, self._at = snapshot.seq, now
        if self._over_cap:
            first = store.drop_history(snapshot.seq + 1)
            log.info("log over its cap: history before seq %d dropped", first)
            self._over_cap = False
            self._size_checked_at = float("-inf")  # look again at the next chance


OWN_GROUP_PREFIX = f"{OWN_GROUP}/"


class LogMetrics:
    """What every process reports about its log and fold (``ironlb_*``)."""

    def __init__(self, counters: Counters, clock: Callable[[], float]) -> None:
        self.counters = counters
        self.clock = clock
        # MetalLB's client counters exist from the start, at 0: a rate() over them
        # (the write-errors alert) has a series before the first error.
        for name in ("metallb_k8s_client_updates_total", "metallb_k8s_client_update_errors_total"):
            counters.inc(name, 0)
        self.fold_seconds = counters.histogram(
            "ironlb_fold_seconds",
            "time to fold one appended batch",
            (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
        )

    def appended(self, batch: Sequence[Record], fold_seconds: float, waiting: int) -> None:
        self.counters.inc("ironlb_events_appended", len(batch))
        # MetalLB counts each object change its reconcilers process: here, each
        # change observed from the API server (not the process's own records).
        observed = sum(1 for r in batch if not r.kind.startswith(OWN_GROUP_PREFIX))
        self.counters.inc("metallb_k8s_client_updates_total", observed)
        self.fold_seconds.observe(fold_seconds)
        self.counters.set("ironlb_log_queue_records", waiting)
        if batch:
            lag = max(0.0, self.clock() - min(r.observed_at for r in batch))
            self.counters.set("ironlb_log_lag_seconds", lag)

    def configuration(self, loaded: bool, stale: bool) -> None:
        """MetalLB's configuration gauges: a valid configuration was loaded; the newest
        one is invalid and the last valid one is in force."""
        self.counters.set("metallb_k8s_client_config_loaded_bool", int(loaded))
        self.counters.set("metallb_k8s_client_config_stale_bool", int(stale))
