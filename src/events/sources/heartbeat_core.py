"""Fast membership between speakers, sans-IO: heartbeats in, verdicts out, time
passed in.

Every speaker sends a heartbeat to every other speaker each ``interval`` and
judges each peer from them (docs/speaker.md has the truth table):

* a peer heard within ``timeout`` is alive (whatever its Lease says: a speaker that
  lost the API server but still beats is not failed over);
* a peer heard before and silent for ``timeout`` is failed over when a majority of
  the speakers that last saw it live agree: this speaker, and every other speaker
  whose newest heartbeat lists it among the peers it ``misses`` (does not hear
  now). Those whose newest heartbeat does not (however old it is) still count as
  seeing it live, so a speaker cut off from the others cannot win the vote alone.
  With two speakers the majority of one is the survivor itself;
* without such a majority, or for a peer never heard, its Lease decides (the slow
  path, the only one when heartbeats cannot flow); a standalone speaker without
  Leases leaves a peer never heard to the log's last verdict for a grace period
  after it starts, then judges it down;
* a peer that says it is leaving, or is not yet ready (its plan not yet applied),
  is not alive: its addresses are taken over at once, and a leaving speaker keeps
  answering until every peer says the takeover is applied (make-before-break);
* this speaker fences itself (judges itself not alive, announcing nothing) when it
  reaches fewer than half of the speakers it has heard and cannot renew its Lease.

All-to-all heartbeats were chosen over SWIM's random probes: detection is one
timeout after the last beat instead of a few protocol periods, every speaker
judges from first-hand evidence, and at the sizes layer 2 serves (one LAN) the
cost is small. The send rate is capped (``MAX_BEATS_PER_SECOND``): in larger
clusters the interval and timeout stretch together.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .heartbeat_codec import Beat

DEFAULT_INTERVAL = 0.1
DEFAULT_TIMEOUT = 0.4
MAX_BEATS_PER_SECOND = 2000.0  # per speaker: beyond, interval and timeout stretch
CLOCK_WINDOW = 60.0  # a beat sent further from our wall clock is refused (replays)
STARTUP_GRACE_TIMEOUTS = 5  # standalone: unheard peers count as alive this long


@attrs.define
class _Peer:
    incarnation: int = -1
    seq: int = -1
    heard_at: float | None = None  # our monotonic clock, newest accepted beat
    last: Beat | None = None


@attrs.frozen
class Verdict:
    alive: bool
    reason: str


class HeartbeatMembership:
    """One speaker's view of the others: feed it beats, Lease verdicts and time."""

    def __init__(
        self,
        node: str,
        *,
        incarnation: int,
        started_at: float,
        interval: float = DEFAULT_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        uses_leases: bool = True,
    ) -> None:
        if timeout <= interval:
            raise ValueError(f"timeout {timeout}s must exceed the interval {interval}s")
        self.node = node
        self.incarnation = incarnation
        self.started_at = started_at
        self.interval = interval
        self.timeout = timeout
        self.uses_leases = uses_leases
        self.peers: dict[str, _Peer] = {}
        self.addresses: dict[str, str] = {}  # where to send: peers with an address
        self.leases: dict[str, Verdict] = {}
        self.own_lease_renewed: bool | None = None  # None: no Lease (standalone) or unknown
        self.ready = False
        self.leaving = False
        self.released: frozenset[str] = frozenset()
        self.seq = 0
        self.next_beat_at = started_at

    # --- inputs -----------------------------------------------------------------

    def set_addresses(self, addresses: Mapping[str, str]) -> None:
        """Where the other speakers are (node -> address, from the Nodes). A node no
        longer listed is forgotten: it is not a peer any more."""
        self.addresses = {n: a for n, a in addresses.items() if n != self.node}
        for node in list(self.peers):
            if node not in self.addresses:
                del self.peers[node]
        for node in self.addresses:
            self.peers.setdefault(node, _Peer())

    def receive(self, beat: Beat, now: float, wall: float) -> str | None:
        """Take in a beat whose MAC verified; the reason it was refused, or None."""
        if beat.node == self.node:
            return "our own name (a loop, or a second speaker for this node)"
        if abs(wall - beat.sent_at) > CLOCK_WINDOW:
            return "sent outside the clock window (a replay, or a clock far off)"
        peer = self.peers.get(beat.node)
        if peer is None:  # heard before its Node arrived: a peer we cannot yet answer
            peer = self.peers[beat.node] = _Peer()
        if beat.incarnation < peer.incarnation:
            return "an older life of the speaker (a replay)"
        if beat.incarnation == peer.incarnation and beat.seq <= peer.seq:
            return "not newer than the last beat (a replay, or reordered)"
        peer.incarnation, peer.seq, peer.heard_at, peer.last = (
            beat.incarnation, beat.seq, now, beat,
        )  # fmt: skip
        return None

    def lease(self, node: str, alive: bool, reason: str) -> None:
        """The Lease-based verdict on ``node`` (the slow path)."""
        self.leases[node] = Verdict(alive, reason)

    # --- outputs ----------------------------------------------------------------

    def stretch(self) -> float:
        """How much longer than configured the interval and timeout are, so that a
        speaker sends at most MAX_BEATS_PER_SECOND."""
        return max(1.0, len(self.addresses) / (MAX_BEATS_PER_SECOND * self.interval))

    def effective_timeout(self) -> float:
        return self.timeout * self.stretch()

    def beat(self, now: float, wall: float) -> Beat:
        """The next beat to send to every address; schedules the one after it."""
        self.seq += 1
        self.next_beat_at = now + self.interval * self.stretch()
        return Beat(
            self.node, self.incarnation, self.seq, wall, self.ready, self.leaving,
            frozenset(self._silent(now)), self.released,
        )  # fmt: skip

    def verdicts(self, now: float) -> dict[str, Verdict]:
        """The verdict on every speaker there is an opinion about, this one's included."""
        timeout = self.effective_timeout()
        verdicts: dict[str, Verdict] = {}
        missed = self._missed(now)
        for node, peer in self.peers.items():
            beat = peer.last
            if beat is not None and beat.leaving:
                verdicts[node] = Verdict(False, "leaving: its addresses are handed over")
            elif node not in missed and beat is not None and not beat.ready:
                verdicts[node] = Verdict(False, "starting: its plan is not applied yet")
            elif node not in missed and beat is not None:
                verdicts[node] = Verdict(True, "heartbeats")
        failed = self._failed_by_vote(missed, now)
        for node, votes in failed.items():
            verdicts[node] = Verdict(False, f"no heartbeat for {timeout:g}s, {votes} agree")
        for node in sorted(set(self.peers) | set(self.leases)):
            if node not in verdicts and node != self.node:
                slow = self._slow_path(node, node in missed, now)
                if slow is not None:
                    verdicts[node] = slow
        verdicts[self.node] = self._self_verdict(now)
        return verdicts

    def handed_over(self, now: float) -> bool:
        """Leaving: every ready peer we hear has applied the takeover of our addresses."""
        timeout = self.effective_timeout()
        waiting = [
            node
            for node, peer in self.peers.items()
            if peer.heard_at is not None
            and now - peer.heard_at < timeout
            and peer.last is not None
            and peer.last.ready
            and not peer.last.leaving
            and self.node not in peer.last.released
        ]
        return not waiting

    # --- the rules ----------------------------------------------------------------

    def _silent(self, now: float) -> set[str]:
        """What a beat lists as ``misses``: peers not heard within the timeout, those
        never heard included once this speaker has listened for a timeout."""
        timeout = self.effective_timeout()
        listened = now - self.started_at >= timeout
        return {
            node
            for node, peer in self.peers.items()
            if (peer.heard_at is None and listened)
            or (peer.heard_at is not None and now - peer.heard_at >= timeout)
        }

    def _missed(self, now: float) -> set[str]:
        """Peers heard before and silent for the timeout."""
        timeout = self.effective_timeout()
        return {
            node
            for node, peer in self.peers.items()
            if peer.heard_at is not None and now - peer.heard_at >= timeout
        }

    def _failed_by_vote(self, missed: set[str], now: float) -> dict[str, str]:
        """Missed peers a majority of the speakers that last saw them live agree on,
        as "K of N speakers"; a speaker failed over no longer votes (to a fixpoint)."""
        failed: dict[str, str] = {}
        changed = True
        while changed:
            changed = False
            for node in sorted(missed - set(failed)):
                voters = [
                    peer.last
                    for other, peer in self.peers.items()
                    if other != node and other not in failed and peer.last is not None
                    and not peer.last.leaving
                ]  # fmt: skip
                agreeing = 1 + sum(1 for beat in voters if node in beat.misses)
                if 2 * agreeing > 1 + len(voters):
                    failed[node] = f"{agreeing} of {1 + len(voters)} speakers"
                    changed = True
        return failed

    def _slow_path(self, node: str, missed: bool, now: float) -> Verdict | None:
        """The Lease's verdict; without one, None (no opinion: the log's last verdict
        stands) unless this is a standalone speaker past its grace period."""
        lease = self.leases.get(node)
        if lease is not None:
            prefix = "heartbeats lost, no majority agrees; " if missed else "no heartbeat heard; "
            return Verdict(lease.alive, prefix + lease.reason)
        if missed:
            return Verdict(True, "heartbeats lost, no majority agrees")
        if self.uses_leases or self.in_grace(now):
            return None
        return Verdict(False, "no heartbeat heard since this speaker started")

    def _grace(self) -> float:
        return STARTUP_GRACE_TIMEOUTS * self.effective_timeout()

    def in_grace(self, now: float) -> bool:
        """Standalone and just started: peers not heard yet may still be starting."""
        return not self.uses_leases and now - self.started_at < self._grace()

    def _self_verdict(self, now: float) -> Verdict:
        if self.own_lease_renewed is False:
            timeout = self.effective_timeout()
            known = [p for p in self.peers.values() if p.last is not None and not p.last.leaving]
            reached = [p for p in known if p.heard_at is not None and now - p.heard_at < timeout]
            if 2 * len(reached) < len(known):
                return Verdict(
                    False,
                    f"fenced: reaches {len(reached)} of {len(known)} speakers and cannot "
                    "renew its Lease",
                )
        return Verdict(True, "this speaker")
