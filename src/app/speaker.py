"""``ironlb speaker``: the speaker process, wired from sources to store to fold to effectors.

Standalone mode (``--events URL``) takes the cluster's events by following another
log instead of watching Kubernetes: a file store another process appends to with
``ironlb log import``, or a controller's log. Everything the speaker decides from
is first appended to its own log (``--store``): the followed events, its node's
links from netlink, its own identity. The fold reads only that log, so
``ironlb replay --verify`` on it repeats every decision.

One thread per source puts records on a queue; the main loop alone writes the own
log, folds what it wrote, and hands the node's plan to the effectors when it
changed. A ``FollowCursor`` record after each copied batch says how far the events
log was copied, so a restarted speaker resumes exactly there: nothing lost,
nothing twice.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TextIO

import attrs
from kubernetes.client import ApiClient

from ..announce.bgp.session import State
from ..announce.bgp.speaker import BgpSpeaker
from ..announce.k8s.speaker_status import SpeakerStatusPublisher
from ..announce.l2.core import ANNOUNCE_EVERY, Conflict
from ..announce.l2.responder import Layer2Responder, log_conflict
from ..announce.metrics import Counters, Labels
from ..events.errors import LbError
from ..events.own_kinds import (
    CONFLICT_KIND,
    CURSOR,
    CURSOR_KIND,
    GROUP,
    IDENTITY,
    IDENTITY_KIND,
    SESSION_KIND,
)
from ..events.record import EventType, Record
from ..events.sources.heartbeat_core import HeartbeatMembership
from ..events.sources.heartbeats import HeartbeatSource
from ..events.sources.leases import K8sLeaseStore
from ..events.sources.links import LinkSource
from ..events.sources.membership import (
    DEFAULT_LEASE_DURATION,
    DEFAULT_RENEW_INTERVAL,
    LeaseRenewer,
    MembershipSource,
)
from ..events.sources.secrets import LiveSecrets
from ..events.sources.watch import CONFIGMAPS, SECRETS, SPEAKER_RESOURCES, WatchSource
from ..reconcile.controller.fold import ControllerFold
from ..reconcile.plan.speaker import NodePlan
from ..reconcile.plan.verify import SPEAKER_SCOPE_PREFIX, planned_statuses
from ..reconcile.speaker.fold import SpeakerFold
from ..store import Store, open_store
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
from .options import MEMBERLIST_KEY_FIELD, MEMBERLIST_SECRETS, MembershipOptions
from .passwords import PasswordSource
from .snapshots import FoldSnapshot, SnapshotState

log = logging.getLogger("ironlb.speaker")


FOLLOW_AHEAD = 5000  # records of a followed log queued for the main loop, at most


class Effector(Protocol):
    """Makes the world match a node plan; called only when the plan changed."""

    def apply(self, plan: NodePlan) -> None: ...

    def close(self) -> None: ...


class SpeakerRuntime:
    def __init__(
        self,
        node: str,
        *,
        events_url: str | None = None,
        client: ApiClient | None = None,
        lease_interval: float = DEFAULT_RENEW_INTERVAL,
        lease_duration: float = DEFAULT_LEASE_DURATION,
        store_url: str,
        namespace: str | None = None,
        lb_class: str | None = None,
        ignore_exclude_lb: bool = False,
        assign_addresses: bool = False,
        links: bool = True,
        links_netns: str | None = None,
        digest_interval: float = 10.0,
        layer2: bool = False,
        bgp: bool = True,
        metrics_address: str | None = None,
        secure_metrics_address: str | None = None,
        bgp_password_dir: str | None = None,
        effectors: Sequence[Effector] = (),
        snapshots: SnapshotPolicy | None = None,
        plans_out: TextIO | None = None,
        membership: MembershipOptions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node = node
        self.membership = membership or MembershipOptions()
        self.heartbeats: HeartbeatSource | None = None
        self.heartbeat_stop = threading.Event()  # after the handover, not with ``stop``
        self.events_url = events_url
        self.client = client
        self.lease_interval = lease_interval
        self.lease_duration = lease_duration
        self.store_url = store_url
        self.identity = {
            "node": node,
            "namespace": namespace or "metallb-system",
            "loadBalancerClass": lb_class,
            "ignoreExcludeLB": ignore_exclude_lb,
            "assignAddresses": assign_addresses,
        }
        self.links = links
        self.links_netns = links_netns
        self.effectors = list(effectors)
        self.layer2 = layer2
        self.bgp = bgp
        self.live_secrets = LiveSecrets()
        self.bgp_password_dir = bgp_password_dir
        self.metrics_address = metrics_address
        self.secure_metrics_address = secure_metrics_address
        self.counters = Counters()
        self.log_metrics = LogMetrics(self.counters, clock)
        self.plans_out = plans_out
        self.clock = clock
        self.stop = threading.Event()
        self.supervisor = Supervisor(self.stop)
        self.incoming: queue.Queue[Record] = queue.Queue()
        self.fold = SpeakerFold(node=node)
        self._warned: frozenset = frozenset()  # configuration warnings already logged
        # Only a speaker that assigns addresses itself plans them as a controller does.
        self.controller = ControllerFold() if assign_addresses else None
        self.cursor = 0  # the last events-log seq copied into the own log
        self.last_printed: dict[str, Any] | None = None  # the last plan line's content
        self.last_node_plan: NodePlan | None = None  # the last plan the effectors got
        self._announced: dict[str, tuple[Labels, ...]] = {}  # Service -> its gauge series
        self.digests = DigestSchedule(digest_interval)
        self.snapshots = snapshots or SnapshotPolicy()
        self.watches: list[WatchSource] = []
        self.listed_once = False
        self.statuses: SpeakerStatusPublisher | None = None
        if client is not None:
            self.statuses = SpeakerStatusPublisher(
                client,
                node,
                self.identity["namespace"],
                counters=self.counters,
                uid_of=self._service_uid,
            )

    # --- the main loop ----------------------------------------------------------

    def run(self) -> None:
        with open_store(self.store_url) as own:
            if self.layer2:
                responder = Layer2Responder(
                    on_conflict=self._record_conflict, counters=self.counters
                )
                self.effectors.append(responder)
            if self.bgp:
                speaker = BgpSpeaker(
                    self.node,
                    counters=self.counters,
                    on_state=self._record_session_state,
                    password_of=PasswordSource(
                        self.identity["namespace"],
                        self.live_secrets if self.client is not None else None,
                        self.bgp_password_dir,
                    ),
                )
                self.effectors.append(speaker)
            metrics = metrics_servers(
                self.counters,
                self._ready,
                plain=self.metrics_address,
                secure=self.secure_metrics_address,
                client=self.client,
            )
            self._resume(own)
            self._append(own, self._identity_records())
            heartbeat_thread = self._start_heartbeats()
            threads = self._source_threads()
            if self.links:
                source = LinkSource(self.node, self.incoming.put, netns=self.links_netns)
                source.open()  # subscribe before the first dump, and fail early if we cannot
                threads.append(self.supervisor.thread("links", source.run, self.stop))
            for thread in threads:
                thread.start()
            try:
                self._publish(own)
                while not self.stop.is_set():
                    batch = next_batch(self.incoming, timeout=0.5)
                    if batch:
                        self._append(own, batch)
                    if batch or self.digests.changed or self._statuses_pending():
                        self._publish(own)
                    if self.snapshots.due(own, time.monotonic()):
                        snapshot = FoldSnapshot(own.last_seq, self.controller, self.fold)
                        self.snapshots.take(own, snapshot, time.monotonic())
                        self.digests.rebase()
            finally:
                self.stop.set()
                self._hand_over()
                join_within(threads)
                self._publish(own, force_digest=True)
                for effector in self.effectors:
                    effector.close()
                if self.statuses is not None:
                    self.statuses.idle(timeout=5)
                    self.statuses.close()
                for server in metrics:
                    server.close()
                self.heartbeat_stop.set()
                if heartbeat_thread is not None:
                    join_within([heartbeat_thread])
        self.supervisor.check()

    # --- membership: heartbeats between speakers ----------------------------------

    def _start_heartbeats(self) -> threading.Thread | None:
        """Heartbeats to the other speakers (heartbeat_core's rules), unless turned off."""
        options = self.membership
        if options.port == 0:
            return None
        if options.key is None and self.client is None:
            log.warning(
                "membership: no --membership-key-file: heartbeats are not authenticated, "
                "and anything on the node network can forge them"
            )
        core = HeartbeatMembership(
            self.node,
            incarnation=time.time_ns(),
            started_at=time.monotonic(),
            interval=options.interval,
            timeout=options.timeout,
            uses_leases=self.client is not None,
        )
        self.heartbeats = HeartbeatSource(
            core,
            self.incoming.put,
            key_of=self._membership_key,
            port=options.port,
            bind=options.bind,
            lease_duration=self.lease_duration if self.client is not None else None,
            known=self.fold.membership_verdicts(),
            counters=self.counters,
            source=f"speaker/{self.node}/membership",
        )
        self.heartbeats.set_addresses(self.fold.speaker_addresses())
        thread = self.supervisor.thread("heartbeats", self.heartbeats.run, self.heartbeat_stop)
        thread.start()
        return thread

    def _membership_key(self) -> bytes | None:
        """--membership-key-file's; in a cluster MetalLB's memberlist Secret's (None
        until it is seen: nothing is sent or accepted meanwhile); standalone without
        a file, none (unauthenticated)."""
        if self.membership.key is not None:
            return self.membership.key
        if self.client is None:
            return b""
        namespace = self.identity["namespace"]
        for name in MEMBERLIST_SECRETS:
            value = self.live_secrets.value(f"{namespace}/{name}", MEMBERLIST_KEY_FIELD)
            if value:
                return value.encode()
        return None

    def begin_leaving(self) -> None:
        """On SIGTERM, at once: the leaving beat goes before the main loop notices the
        stop, so the next node starts taking over while this one winds down."""
        if self.heartbeats is not None:
            self.heartbeats.leave()

    def _hand_over(self) -> None:
        """Make-before-break: tell the others we leave and keep answering until they
        have taken our addresses over (or the handover timeout passes)."""
        if self.heartbeats is None:
            return
        self.heartbeats.leave()
        started = time.monotonic()
        done = self.heartbeats.wait_handed_over(self.membership.handover_timeout)
        log.info(
            "membership: %s in %.2fs",
            "addresses handed over" if done else "handover not confirmed, stopping anyway",
            time.monotonic() - started,
        )
        if done and self._announced_l2():
            # Linux ignores an ARP update for a neighbour entry refreshed less than its
            # locktime (1 s) ago: a client that had just resolved us (or had its probe
            # answered by us) misses the new owner's first gratuitous ARP and learns
            # from the second, one announcement period later (announce/l2/core.py).
            # So: stop answering now (no probe refreshes the old entry any more) and
            # stay, this node still forwarding, until that second round went out.
            assert self.last_node_plan is not None  # _announced_l2 said so
            silent = attrs.evolve(self.last_node_plan, l2={})
            for effector in self.effectors:
                if isinstance(effector, Layer2Responder):
                    effector.apply(silent)
            time.sleep(ANNOUNCE_EVERY + 0.1)

    def _announced_l2(self) -> bool:
        """Whether the last plan applied had this node answer for an address."""
        plan = self.last_node_plan
        return plan is not None and any(
            a.node == self.node for by_ip in plan.l2.values() for a in by_ip.values()
        )

    def _source_threads(self) -> list[threading.Thread]:
        """Threads that feed the queue: the followed log, or the cluster (watches, the
        node's Lease and the membership verdicts)."""
        if self.client is None:
            return [self.supervisor.thread("follow", self._follow_events)]
        namespace = self.identity["namespace"]
        threads = []
        for resource in (*SPEAKER_RESOURCES, SECRETS, CONFIGMAPS):
            scoped = (
                namespace
                if resource.group == "metallb.io" or resource in (SECRETS, CONFIGMAPS)
                else None
            )
            source = WatchSource(
                self.client,
                resource,
                self._put,
                source=f"speaker/{self.node}/watch",
                stop=self.stop,
                namespace=scoped,
                live_secrets=self.live_secrets if resource.kind in ("Secret", "BGPPeer") else None,
            )
            self.watches.append(source)
            threads.append(self.supervisor.watch(source))
        leases = K8sLeaseStore(self.client, namespace)
        renewer = LeaseRenewer(
            leases,
            self.node,
            interval=self.lease_interval,
            duration=self.lease_duration,
            on_renewal=self.heartbeats.lease_renewed if self.heartbeats else None,
        )
        verdicts = self.heartbeats.lease_record if self.heartbeats else self.incoming.put
        members = MembershipSource(leases, verdicts, source=f"speaker/{self.node}/membership")
        for name, run in (("lease", renewer.run), ("membership", members.run)):
            threads.append(self.supervisor.thread(name, run, self.stop))
        return threads

    def _put(self, records: list[Record]) -> None:
        for record in records:
            self.incoming.put(record)

    def _can_resume(self, restored: SnapshotState) -> bool:
        """A snapshot without a controller's state cannot resume a speaker that now
        assigns addresses: that one replays its log."""
        return self.controller is None or restored.controller is not None

    def _resume(self, own: Store) -> None:
        """Fold what the own log already holds; find where copying the events stopped."""
        restored = self.snapshots.restore(own)
        start = None
        if restored is not None and restored.speaker is not None and self._can_resume(restored):
            if self.controller is not None:
                self.controller = restored.controller_fold(self.controller.overrides)
            self.fold = restored.speaker_fold(self.fold.overrides, self.node)
            cursor = self.fold.observed(GROUP, CURSOR.name, "events") or {}
            self.cursor = int(cursor.get("seq", 0))
            start = restored.seq + 1
        resume = ResumeCheck(self.counters, f"{SPEAKER_SCOPE_PREFIX}{self.node}")
        for record in own.read(start):
            resume.before_fold(record, self._plan)
            self._fold(record)
            if record.kind == CURSOR_KIND and record.key == "events":
                self.cursor = int(record.object.get("seq", 0))
        if self.cursor:
            log.info("resuming after events seq %d", self.cursor)

    def _identity_records(self) -> list[Record]:
        """Who this process is, as decisions depend on it; only when it changed.

        With ``--assign-addresses`` the speaker also plans Service addresses as a
        controller would, so a controller identity is recorded too: replay then
        plans with the same namespace and class.
        """
        wanted = [(f"speaker/{self.node}", dict(self.identity))]
        if self.identity["assignAddresses"]:
            controller = {
                "namespace": self.identity["namespace"],
                "loadBalancerClass": self.identity["loadBalancerClass"],
            }
            wanted.append(("controller", controller))
        recorded = self.fold.observed_of_kind(GROUP, IDENTITY.name)
        return [
            self._record(IDENTITY_KIND, key, obj) for key, obj in wanted if recorded.get(key) != obj
        ]

    def _append(self, own: Store, batch: list[Record]) -> None:
        copied = [r for r in batch if r.kind != CURSOR_KIND]
        if batch and batch[-1].kind == CURSOR_KIND:
            copied.append(batch[-1])  # only the newest cursor of a batch matters
        seqs = own.append(copied)
        started = time.perf_counter()
        for record, seq in zip(copied, seqs, strict=True):
            self._fold(record.with_seq(seq))
        if self.heartbeats is not None and any(r.kind == "v1/Node" for r in copied):
            self.heartbeats.set_addresses(self.fold.speaker_addresses())
        if copied:
            self.digests.note_change()
            waiting = self.incoming.qsize()
            self.log_metrics.appended(copied, time.perf_counter() - started, waiting)

    def _fold(self, record: Record) -> None:
        self.fold.apply(record)
        if self.controller is not None:
            self.controller.apply(record)
        mine = record.key.startswith(f"{self.node}/")
        if record.kind == CONFLICT_KIND and mine and self.statuses is not None:
            self.statuses.note_conflict(record.object or {}, record.observed_at)

    def _statuses_pending(self) -> bool:
        """Status objects wait for the first complete listing, then follow the plan."""
        if self.statuses is None:
            return False
        return self.statuses.changed or (self._listed() and not self.statuses.published)

    def _service_uid(self, service: str) -> str | None:
        observed = self.fold.observed("", "Service", service) or {}
        return (observed.get("metadata") or {}).get("uid")

    def _ready(self) -> bool:
        """/readyz: in a cluster once every watch has listed; standalone at once (the
        followed log is read from where it stands)."""
        return self.client is None or self.listed_once

    def _listed(self) -> bool:
        """Every watch has listed once (and stays so: a relist after 410 is folded
        between SYNC markers, so the plan never sees half of it)."""
        if not self.listed_once:
            self.listed_once = all_listed(self.watches, self.incoming)
        return self.listed_once

    def _plan(self) -> NodePlan:
        if self.controller is not None:
            self.fold.assume_statuses(planned_statuses(self.controller))
        self.fold.refresh()
        return self.fold.node_plan(self.node)

    def _publish(self, own: Store, *, force_digest: bool = False) -> None:
        plan = self._plan()
        # Compared as values: the routes are the fold's own objects, so equal plans of
        # 100,000 routes compare by identity, where rendering them would cost a pass
        # of Python over each. Sessions count too: a changed holdTime must redial.
        plan_changed = plan != self.last_node_plan
        changed: set[str] | None = None
        if plan_changed:
            changed = self.fold.take_changed()
            self._plan_metrics(plan, changed if self.last_node_plan is not None else None)
            self.last_node_plan = plan
            for effector in self.effectors:
                try:
                    effector.apply(plan)
                except LbError as exc:  # an effector's failure is reported, never fatal
                    log.error("effector %s failed: %s", type(effector).__name__, exc)
            if self.plans_out is not None:
                self._print_plan(plan, own.last_seq)
        if self.heartbeats is not None:
            # The plan for these verdicts is applied: peers leaving may go, and once
            # the first complete plan is, this speaker counts as alive to the others.
            gone = frozenset(n for n, up in self.fold.membership_verdicts().items() if not up)
            if gone - self.heartbeats.core.released:
                # A takeover: report it only once our announcements are on the wire,
                # so the speaker leaving stops answering after clients heard ours.
                for effector in self.effectors:
                    if isinstance(effector, Layer2Responder):
                        effector.flush(timeout=1.0)
            self.heartbeats.applied(ready=self._listed(), released=gone)
        if self.statuses is not None:
            self.statuses.publish(
                plan,
                self.fold.config_errors,
                ready=self._listed(),
                plan_changed=plan_changed,
                config_warnings=self.fold.config_warnings,
                dead=[n for n, up in self.fold.membership_verdicts().items() if not up],
                services=changed,
            )
        self._log_warnings()
        now = time.monotonic()
        if self.digests.due(now, force=force_digest):
            record = self.digests.take(
                plan, source=f"speaker/{self.node}", observed_at=self.clock(), now=now
            )
            if record is not None:
                seqs = own.append([record])
                self._fold(record.with_seq(seqs[0]))

    def _log_warnings(self) -> None:
        """Each configuration warning once, when it appears (not on every batch)."""
        warnings = frozenset(self.fold.config_warnings)
        for warning in sorted(warnings - self._warned):
            log.warning("configuration: %s", warning)
        self._warned = warnings

    def _print_plan(self, plan: NodePlan, seq: int) -> None:
        """A JSON line when the printed part (``l2``, ``bgp``, interfaces) changed."""
        rendered = {
            **plan.to_json(),
            # Where a responder would run: not in the digest's scope, but operators ask.
            "interfaces": {f"ipv{v}": list(names) for v, names in plan.l2_interfaces.items()},
        }
        if rendered != self.last_printed:
            self.last_printed = rendered
            line = {"seq": seq, "node": self.node, **rendered}
            assert self.plans_out is not None
            self.plans_out.write(json.dumps(line, sort_keys=True) + "\n")
            self.plans_out.flush()

    def _plan_metrics(self, plan: NodePlan, services: set[str] | None) -> None:
        """``metallb_speaker_announced`` for ``services`` (the fold's changed ones;
        None: every one, the first plan)."""
        if services is None:
            services = set(self._announced) | set(plan.l2) | set(plan.bgp_status)
        removed: list[Labels] = []
        added: dict[Labels, float] = {}
        for service in services:
            series: list[Labels] = []
            for ip in plan.l2.get(service, ()):
                labels = (("service", service), ("protocol", "layer2"), ("node", self.node))
                series.append((*labels, ("ip", ip)))
            if service in plan.bgp_status:
                for ip in self.fold.service_ips(service):
                    labels = (("service", service), ("protocol", "bgp"), ("node", self.node))
                    series.append((*labels, ("ip", ip)))
            removed += self._announced.pop(service, ())
            if series:
                self._announced[service] = tuple(series)
                added.update(dict.fromkeys(series, 1))
        self.counters.update_gauge(
            "metallb_speaker_announced", added, [s for s in removed if s not in added]
        )
        self.log_metrics.configuration(
            loaded=self.fold.configuration_loaded, stale=bool(self.fold.config_errors)
        )

    def _record_session_state(self, peer: str, old: State, new: State, reason: str) -> None:
        """A BGP session changed state: into the log, for explain, status and metrics."""
        self.incoming.put(
            self._record(
                SESSION_KIND,
                f"{self.node}/{peer}",
                {
                    "node": self.node,
                    "peer": peer,
                    "state": str(new),
                    "previous": str(old),
                    "reason": reason,
                },
                "/bgp",
            )
        )

    def _record_conflict(self, conflict: Conflict) -> None:
        """Another host claims an address we announce: into the log, for explain and status.
        Not while handing over: the node taking over announces on purpose."""
        if self.heartbeats is not None and self.heartbeats.core.leaving:
            return
        log_conflict(conflict)
        self.incoming.put(
            self._record(
                CONFLICT_KIND,
                f"{self.node}/{conflict.ip}",
                {
                    "node": self.node,
                    "ip": conflict.ip,
                    "interface": conflict.interface,
                    "mac": conflict.mac,
                    "how": conflict.how,
                },
                "/layer2",
            )
        )

    # --- the events source --------------------------------------------------------

    def _follow_events(self) -> None:
        """Copy the followed log's records, each batch closed by a cursor record.

        Reading waits while the main loop has more than ``FOLLOW_AHEAD`` records to
        fold: a log is read far faster than it is folded, and 100,000 records queued
        at once held 500 MB (the speaker's own state for them is 200 MB).
        """
        try:
            with open_store(self.events_url, readonly=True) as events:
                next_seq = self.cursor + 1
                while not self.stop.is_set():
                    if self.incoming.qsize() > FOLLOW_AHEAD:
                        self.stop.wait(0.01)  # the main loop takes batches of MAX_BATCH
                        continue
                    batch = list(itertools.islice(events.read(next_seq), 1000))
                    if not batch:
                        events.wait(next_seq - 1, 0.1)
                        continue
                    for record in batch:
                        self.incoming.put(record.with_seq(0))
                    next_seq = batch[-1].seq + 1
                    self.incoming.put(self._cursor(batch[-1].seq))
        except LbError as exc:  # the supervisor stops the process, which exits 1
            raise LbError(f"cannot follow {self.events_url}: {exc}") from None

    def _cursor(self, seq: int) -> Record:
        return self._record(CURSOR_KIND, "events", {"url": self.events_url, "seq": seq}, "/events")

    def _record(self, kind: str, key: str, obj: dict[str, Any], source: str = "") -> Record:
        """A record of this process's own, seq 0 until the store assigns one."""
        return Record(
            0, self.clock(), f"speaker/{self.node}{source}", EventType.ADDED, kind, key, None, obj
        )
