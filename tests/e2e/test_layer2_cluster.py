"""Layer 2 with speakers in cluster mode, fed from a real kube-apiserver: heartbeats
(with MetalLB's memberlist Secret) or, without them, Leases decide failover;
ServiceL2Status reports who answers and which other host claims the address."""

from __future__ import annotations

import signal
import time

import pytest

from ironlb.events.own_kinds import MEMBERSHIP_KIND
from ironlb.store import open_store
from tests.e2e.cluster_lan import ClusterLan, announcing
from tests.e2e.test_layer2 import (  # noqa: F401 - pytestmark: the skip rules
    NODES,
    VIP4,
    elected,
    pytestmark,
    ready,
    wait_for_record,
)
from tests.processes import DEADLINE


def started(tmp_path, binaries, heartbeats: bool):
    network = ClusterLan(tmp_path, binaries, heartbeats=heartbeats)
    try:
        network.build()
        for node in NODES:
            network.start(node)
        yield network
    finally:
        network.destroy()


@pytest.fixture(params=["leases", "heartbeats"])
def lan(request, tmp_path, kube_binaries_dir):
    yield from started(tmp_path, kube_binaries_dir, request.param == "heartbeats")


def l2_status_of(lan: ClusterLan, node: str) -> dict | None:
    found = lan.server.get("servicel2statuses.metallb.io", "-n", "metallb-system") or {}
    for obj in found.get("items", []):
        if obj["metadata"]["labels"]["metallb.io/node"] == node:
            return obj.get("status")
    return None


def wait_for_verdict(store_path, node: str, *, alive: bool) -> int:
    """Block until the newest membership verdict on ``node`` in the log says ``alive``;
    its seq."""
    deadline = time.monotonic() + DEADLINE
    with open_store(str(store_path), readonly=True) as store:
        seen, newest = 0, None
        while time.monotonic() < deadline:
            for record in store.read(seen + 1):
                seen = record.seq
                if record.kind == MEMBERSHIP_KIND and record.key == node:
                    newest = record
            if newest is not None and newest.object["alive"] is alive:
                return newest.seq
            store.wait(seen, 1.0)
    raise AssertionError(f"the log never held {node} {'alive' if alive else 'down'}")


def wait_for_beats(lan: ClusterLan, node: str) -> None:
    """Block until ``node``'s speaker has accepted a heartbeat from another."""
    deadline = time.monotonic() + DEADLINE
    while lan.beats_heard(node) == 0:
        assert time.monotonic() < deadline, f"{node} heard no heartbeat"
        time.sleep(0.05)  # polling its metrics: the beats arrive on their own clock


def answered_by(lan: ClusterLan, mac: str) -> bool:
    """Ask with arping until ``mac`` answers (each try waits for its replies)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if lan.arping(VIP4, count=3) == mac:
            return True
    return False


def test_a_killed_speaker_is_replaced(lan):
    winner = elected(VIP4, NODES)
    other = next(n for n in NODES if n != winner)
    lan.speakers[winner].next_plan(announcing(winner))
    # Until it has seen the winner's Lease, the other node may announce too (it was
    # alone when it started): the network settles on the winner.
    assert answered_by(lan, lan.mac(winner))
    lan.speakers[other].next_plan(ready)  # its responder can take over at once
    capture = lan.frames("capture-announcement", VIP4, lan.mac(other))
    assert capture.stdout.readline().strip() == "ready"
    # The survivor holds the winner live (at start it may have judged it down while
    # the winner started, and stood in for it).
    before = wait_for_verdict(lan.tmp / f"own-{other}", winner, alive=True)
    if lan.heartbeats:
        # That verdict may come from the winner's Lease alone, before any beat was
        # heard: killed then, the Lease would judge it (in seconds), not the beats.
        wait_for_beats(lan, other)
    lan.speakers[winner].process.send_signal(signal.SIGKILL)
    assert capture.stdout.readline().strip() == lan.mac(other)
    capture.wait(timeout=DEADLINE)
    assert lan.arping(VIP4) == lan.mac(other)
    lan.server.wait_for(
        lambda: l2_status_of(lan, other) is not None and l2_status_of(lan, winner) is None,
        f"only {other}'s ServiceL2Status",
    )
    why = wait_for_record(
        lan.tmp / f"own-{other}",
        MEMBERSHIP_KIND,
        lambda r: r.seq > before and r.key == winner and r.object["alive"] is False,
    )
    if lan.heartbeats:
        assert why.object["reason"] == "no heartbeat for 0.4s, 1 of 1 speakers agree"
    else:
        assert "lease not renewed" in why.object["reason"]


def test_a_host_claiming_the_address_shows_in_the_service_l2_status(lan):
    winner = elected(VIP4, NODES)
    # The responder listens once the node's links are in its plan (a plan line is
    # printed after the effectors applied it).
    lan.speakers[winner].next_plan(lambda p: announcing(winner)(p) and ready(p))
    lan.server.wait_for(lambda: l2_status_of(lan, winner) is not None, "the winner's status")
    claim = lan.frames("claim", VIP4)
    assert claim.communicate(timeout=DEADLINE)[0].strip() == "sent"
    lan.server.wait_for(
        lambda: (l2_status_of(lan, winner) or {}).get("conflicts"), "a conflict in the status"
    )
    (conflict,) = l2_status_of(lan, winner)["conflicts"]
    assert conflict["ip"] == VIP4
    assert conflict["mac"] == lan.mac("client")
    assert conflict["how"] == "gratuitous arp"
    assert conflict["interface"] == "eth0"
