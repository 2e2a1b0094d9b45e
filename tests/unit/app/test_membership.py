"""Speaker membership: Lease renewal, the judging source, and what the fold makes of it.

Clocks are injected: no test waits for real time to pass.
"""

from __future__ import annotations

import threading

import pytest

from ironlb.events.errors import LbError
from ironlb.events.sources.membership import (
    InMemoryLeaseStore,
    Lease,
    LeaseConflict,
    LeaseRenewer,
    MembershipSource,
    lease_name,
)
from ironlb.reconcile.speaker.fold import SpeakerFold
from tests.k8s import endpoints, l2, node, pool, records, service


class Clock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.wall = start
        self.mono = 100.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@pytest.fixture
def setup():
    clock = Clock()
    leases = InMemoryLeaseStore()
    appended = []
    source = MembershipSource(
        leases, appended.append, clock=lambda: clock.wall, monotonic=lambda: clock.mono
    )

    def renewer(node_name: str) -> LeaseRenewer:
        return LeaseRenewer(leases, node_name, interval=1.0, duration=2.5, clock=lambda: clock.wall)

    return clock, leases, source, appended, renewer


def verdicts(recorded) -> list[tuple[str, bool]]:
    return [(r.key, r.object["alive"]) for r in recorded]


def test_a_renewing_speaker_is_alive_and_a_silent_one_dies_after_the_duration(setup):
    clock, _leases, source, appended, renewer = setup
    n1 = renewer("n1")
    n1.renew()
    assert verdicts(source.check()) == [("n1", True)]
    assert source.check() == []  # records only when the verdict changes
    for _ in range(5):  # renewing every second keeps it alive
        clock.advance(1.0)
        n1.renew()
        assert source.check() == []
    clock.advance(2.4)
    assert source.check() == []
    clock.advance(0.2)  # 2.6 s since the last renewal was observed
    died = source.check()
    assert verdicts(died) == [("n1", False)]
    assert died[0].kind == "ironlb.io/v1/SpeakerMembership"
    assert "not renewed" in died[0].object["reason"]
    n1.renew()
    assert verdicts(source.check()) == [("n1", True)]
    assert verdicts(appended) == [("n1", True), ("n1", False), ("n1", True)]


def test_releasing_the_lease_is_death_at_once(setup):
    _clock, leases, source, _appended, renewer = setup
    renewer("n1").renew()
    renewer("n2").renew()
    assert verdicts(source.check()) == [("n1", True), ("n2", True)]
    renewer("n1").release()
    assert leases.get(lease_name("n1")) is None
    assert verdicts(source.check()) == [("n1", False)]


def test_a_lease_first_seen_is_judged_by_its_renew_time_with_skew_allowed(setup):
    clock, leases, source, _appended, _renewer = setup
    leases.create(Lease(lease_name("old"), "old", clock.wall - 60, 2.5))
    leases.create(Lease(lease_name("recent"), "recent", clock.wall - 2.0, 2.5))
    leases.create(Lease(lease_name("ahead"), "ahead", clock.wall + 5.0, 2.5))  # skewed clock
    assert verdicts(source.check()) == [("ahead", True), ("old", False), ("recent", True)]


def test_verdicts_use_the_observers_clock_not_the_renew_time(setup):
    clock, leases, source, _appended, _renewer = setup
    # The holder's clock runs 30 s behind ours; its renewals still count.
    lease = leases.create(Lease(lease_name("slow"), "slow", clock.wall - 0.5, 2.5))
    assert verdicts(source.check()) == [("slow", True)]
    for _ in range(4):
        clock.advance(1.0)
        lease = leases.update(
            Lease(lease.name, "slow", clock.wall - 30, 2.5, lease.resource_version)
        )
        assert source.check() == []


def test_updates_need_the_current_resource_version():
    leases = InMemoryLeaseStore()
    first = leases.create(Lease(lease_name("n1"), "n1", 1.0, 2.5))
    leases.update(Lease(first.name, "n1", 2.0, 2.5, first.resource_version))
    with pytest.raises(LeaseConflict):
        leases.update(Lease(first.name, "n1", 3.0, 2.5, first.resource_version))
    with pytest.raises(LbError, match="must exceed the renew interval"):
        LeaseRenewer(leases, "n1", interval=2.0, duration=2.0)


def test_a_stopped_renewer_releases_its_lease():
    leases = InMemoryLeaseStore()
    renewer = LeaseRenewer(leases, "n1", interval=0.01, duration=1.0)
    stop = threading.Event()
    with leases.changed:
        thread = threading.Thread(target=renewer.run, args=(stop,))
        thread.start()
        assert leases.changed.wait_for(lambda: leases._leases, timeout=30)
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert leases.list() == []


def test_membership_verdicts_move_layer2_addresses(setup):
    clock, _leases, source, appended, renewer = setup
    nodes = ["n1", "n2", "n3"]
    for name in nodes:
        renewer(name).renew()
    source.check()
    cluster = records(
        pool("p", "192.0.2.0/28"),
        *(node(n) for n in nodes),
        l2("all"),
        endpoints("web", "n1"),
        service("web", loadBalancerIP="192.0.2.5", status=["192.0.2.5"]),
    )
    fold = SpeakerFold().apply_all(cluster)
    seq = len(cluster)

    def fold_new() -> str | None:
        nonlocal seq
        while seq - len(cluster) < len(appended):
            seq += 1
            fold.apply(appended[seq - len(cluster) - 1].with_seq(seq))
        return fold.l2()["default/web"]["192.0.2.5"].node

    winner = fold_new()
    assert winner in nodes
    # The winner stops renewing; the others keep going. Its address moves.
    for _ in range(3):
        clock.advance(1.0)
        for name in nodes:
            if name != winner:
                renewer(name).renew()
        source.check()
    second = fold_new()
    assert second not in (None, winner)
    # It comes back and takes the address back (no stickiness, as in MetalLB).
    renewer(winner).renew()
    source.check()
    assert fold_new() == winner


def test_leases_that_are_not_speakers_are_no_members(setup):
    """Found with a controller and speakers on one real API server: the controller's
    leader-election Lease lives in the same namespace and was judged a node."""
    clock, leases, source, _appended, renewer = setup
    leases.create(Lease("ironlb-controller", "controller-1", clock.wall, 15.0))
    leases.create(Lease("someone-elses", "x", clock.wall, 15.0))
    renewer("n1").renew()
    assert verdicts(source.check()) == [("n1", True)]
