"""ARP and neighbor-discovery frames: what is built parses back, and no input ever raises."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from hypothesis import example, given
from hypothesis import strategies as st

from ironlb.announce.l2.packets import (
    ARP_REPLY,
    ARP_REQUEST,
    BROADCAST,
    Arp,
    Dropped,
    DropReason,
    NeighborAdvertisement,
    NeighborSolicitation,
    advertisement_for,
    arp_frame,
    arp_reply,
    gratuitous_arp,
    mac_bytes,
    mac_text,
    multicast_mac,
    neighbor_solicitation,
    parse_frame,
    solicited_node,
    unsolicited_advertisement,
)

macs = st.binary(min_size=6, max_size=6)
ipv4 = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
ipv6_unicast = st.builds(IPv6Address, st.integers(1, 2**127)).filter(lambda a: not a.is_multicast)


@given(st.sampled_from([ARP_REQUEST, ARP_REPLY]), macs, macs, ipv4, macs, ipv4)
def test_arp_frames_round_trip(op, dst, sha, spa, tha, tpa):
    parsed = parse_frame(arp_frame(op, dst, sha, spa, tha, tpa))
    assert parsed == Arp(dst, sha, op, sha, spa, tha, tpa)


@given(macs, ipv4, macs, ipv4)
def test_an_arp_reply_answers_the_request(requester_mac, requester_ip, our_mac, wanted):
    request = parse_frame(
        arp_frame(ARP_REQUEST, BROADCAST, requester_mac, requester_ip, b"\0" * 6, wanted)
    )
    assert isinstance(request, Arp)
    reply = parse_frame(arp_reply(request, our_mac))
    assert reply == Arp(
        requester_mac, our_mac, ARP_REPLY, our_mac, wanted, requester_mac, requester_ip
    )


@given(ipv4, macs)
def test_gratuitous_arp_is_a_broadcast_request_and_reply(ip, mac):
    frames = [parse_frame(f) for f in gratuitous_arp(ip, mac)]
    assert [f.op for f in frames] == [ARP_REQUEST, ARP_REPLY]
    assert all(f.gratuitous and f.eth_dst == BROADCAST and f.sender_mac == mac for f in frames)


@given(macs, ipv6_unicast, ipv6_unicast, macs)
def test_solicitation_and_its_advertisement(their_mac, their_ip, target, our_mac):
    ns = parse_frame(neighbor_solicitation(mac=their_mac, source=their_ip, target=target))
    assert ns == NeighborSolicitation(
        multicast_mac(solicited_node(target)),
        their_mac,
        their_ip,
        solicited_node(target),
        target,
        their_mac,
    )
    na = parse_frame(advertisement_for(ns, our_mac))
    assert na == NeighborAdvertisement(
        their_mac, our_mac, target, their_ip, target, False, True, False, our_mac
    )


@given(ipv6_unicast, macs)
def test_unsolicited_advertisement_overrides_caches(target, mac):
    na = parse_frame(unsolicited_advertisement(target, mac))
    assert isinstance(na, NeighborAdvertisement)
    assert (na.destination, na.override, na.solicited, na.target_lla) == (
        IPv6Address("ff02::1"),
        True,
        False,
        mac,
    )


def test_a_duplicate_address_probe_is_answered_to_all_nodes():
    probe = parse_frame(
        neighbor_solicitation(
            mac=b"\2" * 6, source=IPv6Address("::"), target=IPv6Address("fd00::5")
        )
    )
    assert isinstance(probe, NeighborSolicitation) and probe.source_lla is None
    na = parse_frame(advertisement_for(probe, b"\4" * 6))
    assert isinstance(na, NeighborAdvertisement) and na.destination == IPv6Address("ff02::1")


def test_bad_checksum_hop_limit_and_options_are_dropped_with_a_reason():
    frame = bytearray(
        neighbor_solicitation(
            mac=b"\2" * 6, source=IPv6Address("fe80::2"), target=IPv6Address("fd00::5")
        )
    )
    corrupt = bytearray(frame)
    corrupt[-1] ^= 0xFF
    assert parse_frame(bytes(corrupt)) == Dropped(DropReason.BAD_CHECKSUM)
    hop = bytearray(frame)
    hop[14 + 7] = 64
    assert parse_frame(bytes(hop)) == Dropped(DropReason.BAD_HOP_LIMIT)
    assert "hop limit" in parse_frame(bytes(hop)).detail
    assert parse_frame(b"\x00" * 10) == Dropped(DropReason.TRUNCATED)
    other = bytes(12) + b"\x08\x00" + bytes(40)
    assert parse_frame(other).reason is DropReason.OTHER_PROTOCOL
    assert "neither ARP nor IPv6" in parse_frame(other).detail


@given(st.binary(max_size=200))
@example(bytes(12) + b"\x86\xdd" + bytes(40))
@example(bytes(12) + b"\x08\x06" + bytes(28))
def test_arbitrary_bytes_never_raise(data):
    result = parse_frame(data)
    assert isinstance(result, Arp | NeighborSolicitation | NeighborAdvertisement | Dropped)


@given(
    st.sampled_from(["arp", "ns"]),
    st.lists(st.tuples(st.integers(0, 120), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_damaged_valid_frames_never_raise(kind, damage):
    if kind == "arp":
        frame = bytearray(gratuitous_arp(IPv4Address("192.0.2.1"), b"\2" * 6)[0])
    else:
        frame = bytearray(
            neighbor_solicitation(
                mac=b"\2" * 6, source=IPv6Address("fe80::1"), target=IPv6Address("fd00::1")
            )
        )
    for offset, value in damage:
        if offset < len(frame):
            frame[offset] = value
    result = parse_frame(bytes(frame))
    assert isinstance(result, Arp | NeighborSolicitation | NeighborAdvertisement | Dropped)


def test_mac_text_round_trips():
    assert mac_text(mac_bytes("02:aB:00:10:ff:09")) == "02:ab:00:10:ff:09"
