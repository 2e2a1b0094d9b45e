"""Layer-2 failover by the speakers' heartbeats, on the e2e LAN (network namespaces,
real ARP): standalone speakers (no Kubernetes, no Leases) fail a killed speaker
over; a speaker stopped on purpose hands its address over before it stops
answering, and a client sending 100 datagrams a second loses none, there and back;
a speaker cut off from the others is failed over by them, the duplicate is
recorded, and after the cut heals one speaker answers again."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ironlb.events.own_kinds import MEMBERSHIP_KIND
from tests.e2e.cluster_lan import announcing
from tests.e2e.test_layer2 import (  # noqa: F401 - pytestmark: the skip rules
    NODES,
    VIP4,
    Lan,
    cluster,
    elected,
    pytestmark,
    ready,
    wait_for_record,
)
from tests.processes import DEADLINE

FLOW = Path(__file__).with_name("udp_flow.py")
PORT = 9000


def started_lan(tmp: Path, nodes: tuple[str, ...], *extra: str) -> Lan:
    """The LAN with a standalone speaker on each node (``extra``: more of their
    arguments), once every speaker has heard every other one."""
    lan = Lan(tmp, nodes)
    lan.build()
    lan.publish(cluster(nodes, nodes, addresses=True))
    key = tmp / "membership.key"
    key.write_text("a shared secret of the test cluster\n")
    lan.key = key  # type: ignore[attr-defined]
    for node in nodes:
        start(lan, node, *extra)
    for node in nodes:
        lan.speakers[node].next_plan(ready)
    # Settled: every speaker has heard every other one.
    for observer in nodes:
        for node in nodes:
            wait_for_record(
                tmp / f"own-{observer}",
                MEMBERSHIP_KIND,
                lambda r, n=node: r.key == n and r.object["alive"] is True,
            )
    return lan


def start(lan: Lan, node: str, *extra: str):
    return lan.start(node, "--membership-key-file", lan.key, *extra)  # type: ignore[attr-defined]


@pytest.fixture
def pair(tmp_path):
    lan = None
    try:
        lan = started_lan(tmp_path, NODES)
        yield lan
    finally:
        if lan is not None:
            lan.destroy()


@pytest.fixture
def trio(tmp_path):
    lan = None
    try:
        lan = started_lan(tmp_path, ("n1", "n2", "n3"))
        yield lan
    finally:
        if lan is not None:
            lan.destroy()


def down_record(lan: Lan, observer: str, node: str):
    return wait_for_record(
        lan.tmp / f"own-{observer}",
        MEMBERSHIP_KIND,
        lambda r: r.key == node and r.object["alive"] is False,
    )


def test_a_killed_standalone_speaker_is_failed_over_by_heartbeats(pair):
    lan = pair
    winner = elected(VIP4, NODES)
    other = next(n for n in NODES if n != winner)
    lan.speakers[winner].next_plan(announcing(winner))
    assert lan.arping(VIP4) == lan.mac(winner)
    capture = lan.frames("capture-announcement", VIP4, lan.mac(other))
    assert capture.stdout.readline().strip() == "ready"
    lan.speakers[winner].process.send_signal(signal.SIGKILL)
    assert capture.stdout.readline().strip() == lan.mac(other)
    capture.wait(timeout=DEADLINE)
    # Why, in the survivor's log: two speakers, so the survivor's vote alone.
    record = down_record(lan, other, winner)
    assert record.object["reason"] == "no heartbeat for 0.4s, 1 of 1 speakers agree"
    assert lan.arping(VIP4) == lan.mac(other)


class Node:
    """A node's namespace that accepts the address's traffic only while its speaker
    runs, as a node that goes away right after its speaker stops."""

    def __init__(self, lan: Lan, name: str) -> None:
        self.lan, self.name, self.ns = lan, name, lan.ns[name]
        # The address on lo and arp_ignore=1: the kernel accepts its datagrams but
        # never answers ARP for it; only the speaker does.
        lan.exec(self.ns, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1")
        self.receiver = flow(self.ns, "receive", str(PORT))

    def accept(self, on: bool) -> None:
        verb = "add" if on else "del"
        self.lan.exec(self.ns, "ip", "addr", verb, f"{VIP4}/32", "dev", "lo")

    def received(self) -> set[int]:
        self.receiver.send_signal(signal.SIGTERM)
        out, _ = self.receiver.communicate(timeout=DEADLINE)
        return {int(n) for n in out.split()}  # "ready" was read when it started


def flow(ns: str, *args: str) -> subprocess.Popen:
    process = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, str(FLOW), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def test_a_planned_restart_hands_over_and_back_without_losing_a_datagram(pair):
    lan = pair
    winner = elected(VIP4, NODES)
    other = next(n for n in NODES if n != winner)
    nodes = {name: Node(lan, name) for name in NODES}
    for node in nodes.values():
        node.accept(True)
    lan.exec(lan.ns["client"], "sysctl", "-qw", "net.ipv4.conf.all.arp_accept=1")
    lan.speakers[winner].next_plan(announcing(winner))
    assert lan.arping(VIP4) == lan.mac(winner)
    sender = flow(lan.ns["client"], "send", VIP4, str(PORT), "100")
    try:
        # Stopped on purpose (a rolling upgrade): the other node announces first,
        # and only then does the stopping speaker go, and its node with it.
        handover = lan.frames("capture-announcement", VIP4, lan.mac(other))
        assert handover.stdout.readline().strip() == "ready"
        lan.speakers[winner].process.send_signal(signal.SIGTERM)
        assert lan.speakers[winner].process.wait(timeout=DEADLINE) == 0
        nodes[winner].accept(False)
        assert handover.stdout.readline().strip() == lan.mac(other)
        handover.wait(timeout=DEADLINE)
        lan.speakers[other].next_plan(announcing(other))
        # Back: the node returns, its speaker wins the election again, announces,
        # and only once it is ready does the other stop answering.
        back = lan.frames("capture-announcement", VIP4, lan.mac(winner))
        assert back.stdout.readline().strip() == "ready"
        nodes[winner].accept(True)
        start(lan, winner)
        assert back.stdout.readline().strip() == lan.mac(winner)
        back.wait(timeout=DEADLINE)
        lan.speakers[other].next_plan(lambda p: "default/web" not in p["l2"])
        assert lan.arping(VIP4, count=3) == lan.mac(winner)
    finally:
        sender.send_signal(signal.SIGTERM)
        out, _ = sender.communicate(timeout=DEADLINE)
    sent = int(out.split()[-1])
    received = nodes[winner].received() | nodes[other].received()
    lost = sorted(set(range(1, sent + 1)) - received)
    assert sent > 100 and lost == [], f"{len(lost)} of {sent} lost: {lost[:20]}"


def heartbeats(lan: Lan, node: str, *, blocked: bool) -> None:
    """Drop (or let through again) the node's heartbeats, both ways: the node is cut
    off from the other speakers, its ARP still works."""
    action = "-A" if blocked else "-D"
    for chain, direction in (("INPUT", "--dport"), ("OUTPUT", "--dport")):
        lan.exec(lan.ns[node], "iptables", action, chain, "-p", "udp", direction, "7946",
                 "-j", "DROP")  # fmt: skip


def test_a_speaker_cut_off_is_failed_over_the_duplicate_recorded_and_healed(trio):
    lan = trio
    nodes = ("n1", "n2", "n3")
    cut = elected(VIP4, nodes)
    rest = tuple(n for n in nodes if n != cut)
    heir = elected(VIP4, rest)
    lan.speakers[cut].next_plan(announcing(cut))
    assert lan.arping(VIP4) == lan.mac(cut)
    capture = lan.frames("capture-announcement", VIP4, lan.mac(heir))
    assert capture.stdout.readline().strip() == "ready"
    heartbeats(lan, cut, blocked=True)
    try:
        # The two others agree it is gone; the heir announces.
        assert capture.stdout.readline().strip() == lan.mac(heir)
        capture.wait(timeout=DEADLINE)
        lan.speakers[heir].next_plan(announcing(heir))
        for node in rest:
            assert "2 of 2 speakers agree" in down_record(lan, node, cut).object["reason"]
        # Cut off alone, it has no majority and keeps its address: the duplicate is
        # what its duplicate-address detector records.
        conflict = wait_for_record(lan.tmp / f"own-{cut}", "ironlb.io/v1/AddressConflict")
        assert conflict.object["ip"] == VIP4 and conflict.object["mac"] == lan.mac(heir)
        assert lan.speakers[cut].next_plan(announcing(cut))
    finally:
        heartbeats(lan, cut, blocked=False)
    # Healed: heard again, elected again; the heir stops answering.
    lan.speakers[heir].next_plan(lambda p: "default/web" not in p["l2"])
    assert lan.speakers[cut].next_plan(announcing(cut))
    assert lan.arping(VIP4, count=3) == lan.mac(cut)
