"""heartbeat_core's rules, one by one (the simulated LAN in tests/property checks
them together under loss and jitter)."""

from __future__ import annotations

import pytest

from ironlb.events.sources.heartbeat_codec import Beat
from ironlb.events.sources.heartbeat_core import CLOCK_WINDOW, HeartbeatMembership

WALL = 1_700_000_000.0


def core(node: str = "a", *, leases: bool = True, peers=("b", "c")) -> HeartbeatMembership:
    membership = HeartbeatMembership(node, incarnation=1, started_at=0.0, uses_leases=leases)
    membership.set_addresses({p: f"10.0.0.{i}" for i, p in enumerate(peers, start=2)})
    return membership


def beat(node: str, seq: int, *, incarnation: int = 1, ready: bool = True, leaving=False,
         misses=(), released=(), sent_at=WALL) -> Beat:  # fmt: skip
    return Beat(node, incarnation, seq, sent_at, ready, leaving, frozenset(misses),
                frozenset(released))  # fmt: skip


def test_a_peer_heard_is_alive_whatever_its_lease_says():
    m = core()
    m.lease("b", False, "lease not renewed for 2.5s")
    assert m.receive(beat("b", 1), 1.0, WALL) is None
    assert m.verdicts(1.1)["b"].alive  # lost the API server, still beating: kept


def test_a_peer_never_heard_is_judged_by_its_lease_and_without_one_not_at_all():
    m = core()
    assert "b" not in m.verdicts(1.0)  # no opinion yet: the log's verdict stands
    m.lease("b", False, "lease not renewed for 2.5s")
    m.lease("d", True, "lease renewed")  # a speaker with no address: Leases still count
    verdicts = m.verdicts(1.0)
    assert not verdicts["b"].alive and "lease not renewed" in verdicts["b"].reason
    assert verdicts["d"].alive


def test_standalone_a_peer_never_heard_is_down_after_the_grace_period():
    m = core(leases=False)
    assert "b" not in m.verdicts(1.0)
    assert not m.verdicts(10.0)["b"].alive


def test_leaving_and_starting_peers_are_not_alive():
    m = core()
    m.receive(beat("b", 1, leaving=True), 1.0, WALL)
    m.receive(beat("c", 1, ready=False), 1.0, WALL)
    verdicts = m.verdicts(1.0)
    assert "leaving" in verdicts["b"].reason and not verdicts["b"].alive
    assert "starting" in verdicts["c"].reason and not verdicts["c"].alive
    # Restarted and ready: a new life, alive again.
    m.receive(beat("b", 1, incarnation=2), 2.0, WALL)
    assert m.verdicts(2.0)["b"].alive


def test_replays_and_old_lives_are_refused():
    m = core()
    assert m.receive(beat("b", 5, incarnation=3), 1.0, WALL) is None
    assert "not newer" in m.receive(beat("b", 5, incarnation=3), 1.1, WALL)
    assert "older life" in m.receive(beat("b", 9, incarnation=2), 1.1, WALL)
    replayed = beat("b", 6, incarnation=3, sent_at=WALL - CLOCK_WINDOW - 1)
    assert "clock window" in m.receive(replayed, 1.1, WALL)
    assert "our own name" in m.receive(beat("a", 1), 1.1, WALL)


def test_a_silent_peer_is_failed_over_only_with_a_majority_of_those_that_saw_it():
    m = core()
    m.receive(beat("b", 1), 0.0, WALL)
    m.receive(beat("c", 1), 0.0, WALL)
    m.receive(beat("b", 2), 0.5, WALL)  # b beats on, c falls silent
    m.receive(beat("b", 3, misses={"c"}), 0.6, WALL)
    assert m.verdicts(0.6)["c"].reason == "no heartbeat for 0.4s, 2 of 2 speakers agree"
    # Had b still heard c, a alone would not be a majority: the Lease decides.
    lone = core()
    lone.receive(beat("b", 1), 0.0, WALL)
    lone.receive(beat("c", 1), 0.0, WALL)
    lone.receive(beat("b", 2), 0.5, WALL)
    lone.lease("c", True, "lease renewed")
    verdict = lone.verdicts(0.6)["c"]
    assert verdict.alive and "no majority" in verdict.reason


def test_the_leaving_speaker_waits_until_every_ready_peer_released_it():
    m = core()
    m.receive(beat("b", 1), 0.0, WALL)
    m.receive(beat("c", 1, ready=False), 0.0, WALL)  # not ready: not waited for
    m.leaving = True
    assert not m.handed_over(0.1)
    m.receive(beat("b", 2, released={"a"}), 0.2, WALL)
    assert m.handed_over(0.2)
    assert m.beat(0.3, WALL).leaving


def test_a_big_cluster_stretches_interval_and_timeout_to_the_send_budget():
    m = core(peers=[f"n{i}" for i in range(1000)])
    assert m.stretch() == pytest.approx(5.0)  # 1000 peers / (2000 beats/s x 0.1 s)
    assert m.effective_timeout() == pytest.approx(2.0)
    m.beat(0.0, WALL)
    assert m.next_beat_at == pytest.approx(0.5)


def test_a_timeout_not_longer_than_the_interval_is_refused():
    with pytest.raises(ValueError, match="must exceed the interval"):
        HeartbeatMembership("a", incarnation=1, started_at=0.0, interval=0.5, timeout=0.5)
