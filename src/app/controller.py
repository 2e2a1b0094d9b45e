"""``ironlb controller``: watches -> the log -> the controller fold -> Service statuses.

Every replica watches and folds (a follower is ready to take over at once); only
the one holding the ``ironlb-controller`` Lease writes. Sources (one watch per
resource) put records on a queue; the main loop alone appends them to the log,
folds what it appended, and hands the plan to the status writer when it leads.
On start the fold is rebuilt from the log, then every watch relists between SYNC
markers, so what changed while no controller ran is folded in, and Services keep
the addresses their status holds.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable

from kubernetes.client import ApiClient

from ..announce.k8s.memberlist_secret import create_memberlist_secret
from ..announce.k8s.service_status import ServiceStatusWriter
from ..announce.k8s.status_content import controller_statuses
from ..announce.k8s.status_objects import StatusObjectWriter
from ..announce.metrics import Counters, Labels
from ..events.own_kinds import GROUP, IDENTITY, IDENTITY_KIND
from ..events.record import EventType, Record
from ..events.sources.leases import K8sLeaseStore
from ..events.sources.watch import CONFIGMAPS, CONTROLLER_RESOURCES, SECRETS, WatchSource
from ..reconcile.controller.fold import ControllerFold
from ..reconcile.plan.controller import ControllerPlan
from ..reconcile.plan.verify import CONTROLLER_SCOPE
from ..store import Store, open_store
from .leader import LeaderElector
from .loop import (
    DigestSchedule,
    LogMetrics,
    ResumeCheck,
    SnapshotPolicy,
    Supervisor,
    all_listed,
    join_within,
    next_batch,
)
from .metrics_access import metrics_servers
from .options import MEMBERLIST_SECRETS
from .snapshots import FoldSnapshot

log = logging.getLogger("ironlb.controller")
# Compare the whole plan with what is observed at least this often, even when nothing
# changed: a write that met a conflict is retried from the latest observed version.
# Between resyncs only the Services a batch touched are compared.
RESYNC_SECONDS = 5.0
# Pool status, ConfigurationState and the allocator gauges follow at most this often.
OBJECTS_SECONDS = 1.0


ALLOCATOR_GAUGES = [
    f"metallb_allocator_{suffix}"
    for suffix in (
        "addresses_in_use_total", "addresses_total", "ipv4_addresses_in_use_total",
        "ipv4_addresses_total", "ipv6_addresses_in_use_total", "ipv6_addresses_total",
        "services_allocated_total",
    )
]  # fmt: skip


class ControllerRuntime:
    def __init__(
        self,
        client: ApiClient,
        *,
        store_url: str,
        namespace: str = "metallb-system",
        lb_class: str | None = None,
        identity: str | None = None,
        lease_interval: float = 2.0,
        lease_duration: float = 15.0,
        qps: float = 20.0,
        burst: int = 30,
        digest_interval: float = 30.0,
        metrics_address: str | None = None,
        secure_metrics_address: str | None = None,
        snapshots: SnapshotPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.store_url = store_url
        self.namespace = namespace
        self.lb_class = lb_class
        self.identity = identity or f"{socket.gethostname()}-{os.getpid()}"
        self.clock = clock
        self.stop = threading.Event()
        self.supervisor = Supervisor(self.stop)
        self.incoming: queue.Queue[Record] = queue.Queue()
        self.fold = ControllerFold()
        self.counters = Counters()
        self.log_metrics = LogMetrics(self.counters, clock)
        self.elector = LeaderElector(
            K8sLeaseStore(client, namespace),
            self.identity,
            interval=lease_interval,
            duration=lease_duration,
        )
        self.qps, self.burst = qps, burst
        self.metrics_address = metrics_address
        self.secure_metrics_address = secure_metrics_address
        self.ready = threading.Event()  # every watch has listed once
        self.digests = DigestSchedule(digest_interval)
        self.snapshots = snapshots or SnapshotPolicy()

    def sources(self) -> list[WatchSource]:
        resources = [
            (r, self.namespace if r.group == "metallb.io" else None) for r in CONTROLLER_RESOURCES
        ]
        resources += [(SECRETS, self.namespace), (CONFIGMAPS, self.namespace)]
        return [
            WatchSource(
                self.client,
                resource,
                self._put,
                source="controller/watch",
                stop=self.stop,
                namespace=namespace,
            )
            for resource, namespace in resources
        ]

    def _put(self, records: list[Record]) -> None:
        for record in records:
            self.incoming.put(record)

    def run(self) -> None:
        with open_store(self.store_url) as store:
            restored = self.snapshots.restore(store)
            if restored is not None:
                self.fold = restored.controller_fold(self.fold.overrides)
            resume = ResumeCheck(self.counters, CONTROLLER_SCOPE)
            for record in store.read(restored.seq + 1 if restored else None):
                resume.before_fold(record, self.fold.plan)
                self.fold.apply(record)
            self._append(store, self._identity_records())
            sources = self.sources()
            threads = [self.supervisor.watch(s) for s in sources]
            threads.append(self.supervisor.thread("leader", self.elector.run, self.stop))
            writer = ServiceStatusWriter(
                self.client, qps=self.qps, burst=self.burst, counters=self.counters
            )
            objects = StatusObjectWriter(
                self.client, qps=self.qps, burst=self.burst, counters=self.counters
            )
            metrics = metrics_servers(
                self.counters,
                self.ready.is_set,
                plain=self.metrics_address,
                secure=self.secure_metrics_address,
                client=self.client,
            )
            for thread in threads:
                thread.start()
            leading = key_ensured = False
            applied_at = objects_at = 0.0
            try:
                while not self.stop.is_set():
                    batch = next_batch(self.incoming, timeout=0.5)
                    if batch:
                        self._append(store, batch)
                    if self.snapshots.due(store, time.monotonic()):
                        snapshot = FoldSnapshot(store.last_seq, self.fold)
                        self.snapshots.take(store, snapshot, time.monotonic())
                        self.digests.rebase()
                    if not self.ready.is_set() and all_listed(sources, self.incoming):
                        log.info("every watch has listed: ready")
                        self.ready.set()
                    now_leading = self.elector.leading
                    if now_leading != leading:
                        log.info("%s leadership", "took" if now_leading else "lost")
                        self.counters.set("ironlb_leader", int(now_leading))
                    touched = self.fold.changed_services()
                    if self.ready.is_set() and now_leading:
                        now = time.monotonic()
                        if not leading or now - applied_at >= RESYNC_SECONDS:
                            # Everything: on taking over, and now and then, so a write
                            # that met a conflict is retried from the newest version.
                            writer.apply(self.fold.plan())
                            applied_at = now
                            if not key_ensured:
                                key_ensured = self._ensure_memberlist_key()
                        elif touched:  # only what this batch changed
                            services = self.fold.plan_services(touched)
                            writer.apply(ControllerPlan(services, {}, ()))
                        if not leading or now - objects_at >= OBJECTS_SECONDS:
                            summary = ControllerPlan(
                                {}, self.fold.pool_counters(), self.fold.config_errors
                            )
                            objects.converge(
                                "controller", controller_statuses(summary, self.namespace)
                            )
                            self._plan_metrics(summary)
                            objects_at = now
                        self._digest(store)
                    leading = now_leading
            finally:
                self.stop.set()
                writer.idle(timeout=10)
                writer.close()
                objects.idle(timeout=5)
                objects.close()
                join_within(threads)
                for server in metrics:
                    server.close()
        self.supervisor.check()

    def _ensure_memberlist_key(self) -> bool:
        """The speakers' heartbeat key exists (MetalLB's Secret, or ours made now)."""
        for name in MEMBERLIST_SECRETS:
            if self.fold.observed("", "Secret", f"{self.namespace}/{name}") is not None:
                return True
        return create_memberlist_secret(self.client, self.namespace)

    def _append(self, store: Store, batch: list[Record]) -> None:
        if not batch:
            return
        seqs = store.append(batch)
        started = time.perf_counter()
        for record, seq in zip(batch, seqs, strict=True):
            self.fold.apply(record.with_seq(seq))
        self.digests.note_change()
        self.log_metrics.appended(batch, time.perf_counter() - started, self.incoming.qsize())

    def _plan_metrics(self, plan: ControllerPlan) -> None:
        """MetalLB's allocator gauges, per pool (and per family, as MetalLB has them)."""
        gauges: dict[str, dict[Labels, float]] = {name: {} for name in ALLOCATOR_GAUGES}
        services = self.fold.services_per_pool()
        for name, pool in plan.pools.items():
            labels = (("pool", name),)
            values = {
                "ipv4_addresses_in_use_total": pool.assigned_v4,
                "ipv6_addresses_in_use_total": pool.assigned_v6,
                "ipv4_addresses_total": pool.assigned_v4 + pool.available_v4,
                "ipv6_addresses_total": pool.assigned_v6 + pool.available_v6,
                "services_allocated_total": services.get(name, 0),
            }
            values["addresses_in_use_total"] = pool.assigned_v4 + pool.assigned_v6
            values["addresses_total"] = (
                values["ipv4_addresses_total"] + values["ipv6_addresses_total"]
            )
            for suffix, value in values.items():
                gauges[f"metallb_allocator_{suffix}"][labels] = value
        for name, series in gauges.items():
            self.counters.replace_gauge(name, series)
        self.counters.set("ironlb_services_without_address", self.fold.services_without_address())
        self.log_metrics.configuration(
            loaded=self.fold.configuration_loaded,
            stale=bool(plan.config_errors),
        )

    def _identity_records(self) -> list[Record]:
        wanted = {"namespace": self.namespace, "loadBalancerClass": self.lb_class}
        recorded = self.fold.observed(GROUP, IDENTITY.name, "controller")
        if recorded == wanted:
            return []
        return [
            Record(
                0,
                self.clock(),
                "controller",
                EventType.ADDED,
                IDENTITY_KIND,
                "controller",
                None,
                dict(wanted),
            )
        ]

    def _digest(self, store: Store) -> None:
        if not self.digests.due(time.monotonic()):
            return
        record = self.digests.take(
            self.fold.plan(), source="controller", observed_at=self.clock(), now=time.monotonic()
        )
        if record is not None:
            seqs = store.append([record])
            self.fold.apply(record.with_seq(seqs[0]))
