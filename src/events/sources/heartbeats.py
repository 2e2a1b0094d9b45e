"""The heartbeat core on a UDP socket, in its own thread: beats out every interval,
beats in as they come, and every change of verdict appended as a
``SpeakerMembership`` record, so replay shows why a failover happened.

The Lease source (``membership.py``) feeds its verdicts in here instead of into the
log: the core merges both signals (heartbeat_core's rules) and only the merged
verdict is recorded. Other threads talk to the driver through its methods, under
one lock.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping

from ...announce.metrics import Counters
from ..own_kinds import MEMBERSHIP_KIND
from ..record import EventType, Record
from .heartbeat_codec import MAX_DATAGRAM, BeatRefused, decode, encode
from .heartbeat_core import HeartbeatMembership, Verdict

log = logging.getLogger("ironlb.membership")
DEFAULT_PORT = 7946  # MetalLB's memberlist port: existing firewall rules carry over
REBIND_EVERY = 1.0  # seconds between attempts while the port is taken


class HeartbeatSource:
    """Heartbeats for one speaker; ``key_of`` gives the current key (None: not known
    yet, so nothing is sent or accepted; ``b""``: unauthenticated)."""

    def __init__(
        self,
        core: HeartbeatMembership,
        append: Callable[[Record], None],
        *,
        key_of: Callable[[], bytes | None],
        port: int = DEFAULT_PORT,
        bind: str = "::",
        lease_duration: float | None = None,
        known: Mapping[str, bool] | None = None,
        counters: Counters | None = None,
        source: str = "membership",
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self.append = append
        self.key_of = key_of
        self.port = port
        self.bind = bind
        self.lease_duration = lease_duration  # None: no Lease (standalone)
        self.recorded: dict[str, bool] = dict(known or {})  # verdicts the log holds
        self.counters = counters or Counters()
        self.source = source
        self.clock = clock
        self.monotonic = monotonic
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.sock: socket.socket | None = None
        self._keys: tuple[bytes, ...] = ()
        self._lease_renewed_at: float | None = None
        self._warned_unheard = False
        self._warned_bind = False
        # How long a failed speaker was silent when this one judged it down: the
        # failover's detection as the survivor saw it (Leases alone: seconds).
        self.failover = self.counters.histogram(
            "ironlb_membership_failover_seconds",
            "time from the last heartbeat heard from a speaker to the verdict that it is down",
            buckets=(0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0),
        )
        # Time between two beats heard from the same speaker: the interval when all is
        # well; its tail is how close the network (or a busy node) comes to a timeout.
        step = core.interval
        self.gaps = self.counters.histogram(
            "ironlb_membership_beat_gap_seconds",
            "time between two consecutive heartbeats heard from the same speaker",
            buckets=tuple(round(step * f, 4) for f in (1.1, 1.25, 1.5, 2, 3, 4, 6, 10)),
        )

    # --- what other threads tell it ---------------------------------------------

    def set_addresses(self, addresses: Mapping[str, str]) -> None:
        with self.lock:
            self.core.set_addresses(addresses)

    def lease_record(self, record: Record) -> None:
        """A Lease verdict from the Lease source (``append`` of MembershipSource)."""
        obj = record.object or {}
        node = obj.get("node")
        if isinstance(node, str):
            with self.lock:
                self.core.lease(node, obj.get("alive") is True, str(obj.get("reason", "")))

    def lease_renewed(self, ok: bool) -> None:
        """The outcome of one renewal of this node's own Lease."""
        if ok:
            with self.lock:
                self._lease_renewed_at = self.monotonic()

    def applied(self, *, ready: bool, released: frozenset[str]) -> None:
        """The speaker published a plan: it is ready once its first complete plan is
        applied, and ``released`` are the peers whose takeover that plan applied."""
        with self.changed:
            self.core.ready = ready
            self.core.released = released
            self.changed.notify_all()

    def leave(self) -> None:
        """Stopping on purpose: beats say so from now on (the next one goes at once)."""
        with self.lock:
            self.core.leaving = True
            self.core.next_beat_at = self.monotonic()
        self._wake()

    def wait_handed_over(self, timeout: float) -> bool:
        """After ``leave``: wait until every peer we hear has taken our addresses over."""
        deadline = self.monotonic() + timeout
        with self.changed:
            while not self.core.handed_over(self.monotonic()):
                left = deadline - self.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, self.core.interval))
        return True

    # --- the thread -------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        bind_at = 0.0
        try:
            while not stop.is_set():
                if self.sock is None and self.monotonic() >= bind_at and not self._open():
                    bind_at = self.monotonic() + REBIND_EVERY
                if self.sock is None:  # Lease verdicts still go through, as promptly
                    self._judge()
                    stop.wait(self.core.interval)
                    continue
                self._cycle()
        finally:
            if self.sock is not None:
                self.sock.close()
                self.sock = None

    def _open(self) -> bool:
        family = socket.AF_INET6 if ":" in self.bind else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((self.bind, self.port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EAFNOSUPPORT and family == socket.AF_INET6:
                log.info("membership: no IPv6 here; heartbeats over IPv4 only")
                self.bind = "0.0.0.0"
                return self._open()
            if not self._warned_bind:
                self._warned_bind = True
                log.warning(
                    "membership: cannot listen on UDP port %d (%s); Leases alone judge the "
                    "other speakers until it is free", self.port, exc.strerror or exc,
                )  # fmt: skip
            return False
        sock.setblocking(False)
        self.sock = sock
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        log.info("membership: heartbeats on UDP port %d", self.port)
        return True

    def _wake(self) -> None:
        with contextlib.suppress(AttributeError, OSError):
            self._wakeup_w.send(b"\0")

    def _cycle(self) -> None:
        assert self.sock is not None
        now = self.monotonic()
        wait = max(0.0, min(self.core.next_beat_at - now, self.core.interval / 2))
        readable, _, _ = select.select([self.sock, self._wakeup_r], [], [], wait)
        if self._wakeup_r in readable:
            with contextlib.suppress(OSError):
                self._wakeup_r.recv(4096)
        if self.sock in readable:
            self._receive()
        with self.lock:
            due = self.monotonic() >= self.core.next_beat_at
        if due:
            self._send()
        self._judge()

    def _current_keys(self) -> tuple[bytes, ...]:
        """The key now, and the one before it while a rotation settles."""
        key = self.key_of()
        if key is None:
            return ()
        if not self._keys or self._keys[0] != key:
            self._keys = (key, *self._keys[:1])
        return self._keys

    def _receive(self) -> None:
        assert self.sock is not None
        keys = self._current_keys()
        for _ in range(1000):  # bounded: the loop must also beat and judge
            try:
                datagram = self.sock.recv(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported on the socket
                log.debug("membership: receive: %s", exc)
                continue
            if not keys:
                continue
            try:
                beat = decode(datagram, keys)
            except BeatRefused as exc:
                self.counters.inc("ironlb_membership_beats_refused", reason=_short(str(exc)))
                continue
            now = self.monotonic()
            with self.changed:
                peer = self.core.peers.get(beat.node)
                heard_before = None if peer is None else peer.heard_at
                refused = self.core.receive(beat, now, self.clock())
                self.changed.notify_all()
            if refused is None:
                self.counters.inc("ironlb_membership_beats_received")
                if heard_before is not None:
                    self.gaps.observe(now - heard_before)
            else:
                self.counters.inc("ironlb_membership_beats_refused", reason=_short(refused))

    def _send(self) -> None:
        assert self.sock is not None
        keys = self._current_keys()
        with self.lock:
            beat = self.core.beat(self.monotonic(), self.clock())
            addresses = list(self.core.addresses.values())
        if not keys:
            return
        datagram = encode(beat, keys[0])
        v6 = self.sock.family == socket.AF_INET6
        for address in addresses:
            target = f"::ffff:{address}" if v6 and ":" not in address else address
            try:
                self.sock.sendto(datagram, (target, self.port))
                self.counters.inc("ironlb_membership_beats_sent")
            except OSError as exc:  # unreachable for now: its silence is the signal
                log.debug("membership: send to %s: %s", address, exc)

    def _judge(self) -> None:
        now = self.monotonic()
        with self.lock:
            if self.lease_duration is not None:
                renewed = self._lease_renewed_at
                self.core.own_lease_renewed = (
                    renewed is not None and now - renewed < self.lease_duration
                )
            verdicts = self.core.verdicts(now)
            leases = bool(self.core.leases)
            heard = sum(1 for p in self.core.peers.values() if p.heard_at is not None)
            peers = len(self.core.peers)
        self.counters.set(
            "ironlb_membership_speakers_alive", sum(1 for v in verdicts.values() if v.alive)
        )
        if peers and not heard and not self._warned_unheard and now - self.core.started_at > 30:
            self._warned_unheard = True
            log.warning(
                "membership: no heartbeat heard from any of %d peers in 30 s: is UDP port %d "
                "open between the nodes (and the key the same)?", peers, self.port,
            )  # fmt: skip
        if all(node == self.core.node for node in verdicts) and not leases:
            # No opinion on any other speaker and no Lease read (a standalone speaker
            # with no peer): a verdict on ourselves alone would make every other Node
            # not live. With Leases read, the speakers without one are not live.
            return
        if any(node not in verdicts for node in self.core.peers) and self.core.in_grace(now):
            # Standalone and starting: verdicts on some speakers only would make the
            # others not live for a moment (and this one announce their addresses).
            return
        for node in sorted(verdicts):
            self._record(node, verdicts[node])

    def _record(self, node: str, verdict: Verdict) -> None:
        if self.recorded.get(node) == verdict.alive:
            return
        was_alive = self.recorded.get(node) is True
        self.recorded[node] = verdict.alive
        peer = self.core.peers.get(node)
        failed = was_alive and not verdict.alive and peer is not None
        if failed and peer.heard_at is not None and not (peer.last and peer.last.leaving):
            # (a speaker handing over on purpose is no failure)
            self.failover.observe(self.monotonic() - peer.heard_at)
        log.info("membership: %s %s (%s)", node, "alive" if verdict.alive else "down",
                 verdict.reason)  # fmt: skip
        obj = {"node": node, "alive": verdict.alive, "reason": verdict.reason}
        self.append(
            Record(0, self.clock(), self.source, EventType.ADDED, MEMBERSHIP_KIND, node, None, obj)
        )


def _short(reason: str) -> str:
    """A refusal as a metric label: its first words, bounded."""
    return reason.split(" (")[0].split(":")[0][:40]
