"""The layer-2 responder's decisions, without sockets: what is answered, announced, reported."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from ironlb.announce.l2.core import (
    ANNOUNCE_EVERY,
    InterfaceInfo,
    Layer2Core,
    desired_addresses,
)
from ironlb.announce.l2.packets import (
    ARP_REPLY,
    ARP_REQUEST,
    BROADCAST,
    Arp,
    NeighborAdvertisement,
    arp_frame,
    gratuitous_arp,
    neighbor_solicitation,
    parse_frame,
    unsolicited_advertisement,
)
from ironlb.announce.metrics import Counters
from ironlb.reconcile.plan.speaker import L2Announcement, NodePlan

OURS = b"\x02\0\0\0\0\x01"
OTHER_NIC = b"\x02\0\0\0\0\x02"
CLIENT = b"\x02\0\0\0\0\x99"
VIP = IPv4Address("192.0.2.10")
VIP6 = IPv6Address("2001:db8::10")


def counted_in(counts, name: str, **labels: str) -> int:
    return counts.get((name, tuple(sorted(labels.items()))), 0)


def counted(c: Layer2Core, name: str, **labels: str) -> int:
    return counted_in(c.counts, name, **labels)


def core(now: float = 0.0) -> Layer2Core:
    c = Layer2Core()
    c.set_interface(InterfaceInfo("eth0", OURS), "eth0")
    c.set_interface(InterfaceInfo("eth1", OTHER_NIC), "eth1")
    c.set_desired({"eth0": frozenset({VIP, VIP6})}, now)
    return c


CLIENT_IP = IPv4Address("192.0.2.99")


def request(target: IPv4Address, dst: bytes = BROADCAST) -> bytes:
    return arp_frame(ARP_REQUEST, dst, CLIENT, CLIENT_IP, b"\0" * 6, target)


def test_plans_become_addresses_per_interface():
    plan = NodePlan(
        "n1",
        {
            "default/a": {"192.0.2.10": L2Announcement("n1", None, None)},
            "default/b": {"2001:db8::10": L2Announcement("n1", ("eth1", "eth9"), None)},
        },
        {},
        {},
        {4: ("eth0", "eth1"), 6: ("eth1",)},
        {},
        {},
    )
    assert desired_addresses(plan) == {
        "eth0": frozenset({VIP}),
        "eth1": frozenset({VIP, VIP6}),
    }


def test_arp_requests_for_our_addresses_on_that_interface_are_answered():
    c = core()
    answer, conflict = c.receive("eth0", request(VIP), 1.0)
    reply = parse_frame(answer)
    assert isinstance(reply, Arp) and conflict is None
    assert (reply.op, reply.eth_dst, reply.sender_mac, reply.sender_ip) == (
        ARP_REPLY,
        CLIENT,
        OURS,
        VIP,
    )
    assert counted(c, "metallb_layer2_responses_sent", ip=str(VIP)) == 1  # MetalLB: ip only
    assert c.receive("eth1", request(VIP), 1.0) == (None, None)  # not announced there
    assert c.receive("eth0", request(IPv4Address("192.0.2.11")), 1.0) == (None, None)
    assert c.receive("eth0", request(VIP, dst=b"\x02" * 6), 1.0) == (None, None)  # not for us
    assert c.receive("eth0", request(VIP, dst=OURS), 1.0)[0] is not None  # unicast to us


def test_losing_an_address_stops_answers_and_announcements_at_once():
    c = core()
    c.set_desired({}, 0.5)
    assert c.receive("eth0", request(VIP), 1.0) == (None, None)
    assert c.due(1.0) == [] and c.next_due() is None


def test_gaining_an_address_announces_it_for_five_seconds():
    c = core(now=10.0)
    rounds = []
    now = 10.0
    while (due := c.next_due()) is not None:
        now = due
        frames = c.due(now)
        rounds.append((round(now - 10.0, 1), len(frames)))
    # Each round: a gratuitous ARP request and reply, and one unsolicited NA.
    assert rounds == [(round(i * ANNOUNCE_EVERY, 1), 3) for i in range(5)]
    first = [parse_frame(f) for _name, f in core(now=0.0).due(0.0)]
    assert sum(isinstance(p, Arp) and p.gratuitous for p in first) == 2
    na = next(p for p in first if isinstance(p, NeighborAdvertisement))
    assert na.override and not na.solicited and na.target == VIP6
    # Keeping an address is not gaining it: no new window.
    c.set_desired({"eth0": frozenset({VIP, VIP6})}, now + 1)
    assert c.next_due() is None


def test_solicitations_are_answered_including_nud_and_duplicate_probes():
    c = core()
    ns = neighbor_solicitation(mac=CLIENT, source=IPv6Address("fe80::99"), target=VIP6)
    answer = parse_frame(c.receive("eth0", ns, 1.0)[0])
    assert isinstance(answer, NeighborAdvertisement)
    assert (answer.eth_dst, answer.solicited, answer.target_lla) == (CLIENT, True, OURS)
    probe = neighbor_solicitation(mac=CLIENT, source=IPv6Address("::"), target=VIP6)
    answer, conflict = c.receive("eth0", probe, 1.0)
    assert parse_frame(answer).destination == IPv6Address("ff02::1")
    assert conflict is not None and conflict.how == "duplicate probe"


def test_other_hosts_claiming_our_address_are_conflicts_reported_once_a_minute():
    c = core()
    claim = gratuitous_arp(VIP, CLIENT)[0]
    _answer, conflict = c.receive("eth0", claim, 1.0)
    assert conflict is not None
    assert (conflict.ip, conflict.mac, conflict.how) == (
        str(VIP),
        "02:00:00:00:00:99",
        "gratuitous arp",
    )
    assert c.receive("eth0", claim, 30.0) == (None, None)  # counted, not reported again
    assert c.receive("eth0", claim, 62.0)[1] is not None
    assert sum(n for (name, _), n in c.counts.items() if name.endswith("conflicts")) == 3
    na = unsolicited_advertisement(VIP6, CLIENT)
    assert c.receive("eth0", na, 1.0)[1].how == "neighbor advertisement"
    # Our own frames, looped back or from our other NIC, are never conflicts.
    assert c.receive("eth1", gratuitous_arp(VIP, OURS)[0], 1.0) == (None, None)


def test_malformed_frames_are_counted_by_reason():
    c = core()
    assert c.receive("eth0", b"\x00" * 5, 1.0) == (None, None)
    c.receive("eth0", bytes(12) + b"\x08\x00" + bytes(40), 1.0)  # IPv4: not ours
    counts = c.take_counts()
    assert counted_in(counts, "ironlb_layer2_frames_dropped", reason="truncated") == 1
    assert counted_in(counts, "ironlb_layer2_frames_dropped", reason="otherProtocol") == 1
    assert c.take_counts() == {}  # taken: the driver adds them to its metrics once
    metrics = Counters()
    metrics.add_all(counts)
    assert "ironlb_layer2_frames_dropped_total{" in metrics.render()
