"""The responder's kernel filters, run by the real kernel: a classic BPF program
attached to a datagram socket sees each datagram as a packet socket sees a frame
(offset 0 = the Ethernet header), so no root and no network is needed."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address

import pytest

from ironlb.announce.l2 import kernel_filter
from ironlb.announce.l2.packets import (
    ARP_REPLY,
    ARP_REQUEST,
    BROADCAST,
    arp_frame,
    gratuitous_arp,
    neighbor_advertisement,
    neighbor_solicitation,
    unsolicited_advertisement,
)

MAC = b"\x02\0\0\0\0\x09"
OURS4 = [IPv4Address("10.0.0.200"), IPv4Address("10.0.0.201")]
OURS6 = [IPv6Address("fd00::200"), IPv6Address("fd00::201")]
CLIENT4 = IPv4Address("10.0.0.9")
CLIENT6 = IPv6Address("fd00::9")


def passes(program, frames: list[bytes]) -> list[bool]:
    """Which of ``frames`` the kernel lets through ``program``."""
    sender, receiver = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with sender, receiver:
        kernel_filter.attach(receiver, program)
        receiver.setblocking(False)
        through = []
        for frame in frames:
            sender.send(frame)
            try:
                through.append(receiver.recv(65535) == frame)
            except BlockingIOError:
                through.append(False)
        return through


def request(target: IPv4Address, sender: IPv4Address = CLIENT4) -> bytes:
    return arp_frame(ARP_REQUEST, BROADCAST, MAC, sender, bytes(6), target)


def test_arp_reaches_python_only_about_our_addresses():
    program = kernel_filter.arp_filter(OURS4)
    frames = {
        "request for ours": request(OURS4[0]),
        "request for the other of ours": request(OURS4[1]),
        "gratuitous arp claiming ours": gratuitous_arp(OURS4[1], MAC)[0],
        "reply from ours (a second host answers for it)": arp_frame(
            ARP_REPLY, MAC, MAC, OURS4[0], MAC, CLIENT4
        ),
        "probe for ours": request(OURS4[0], sender=IPv4Address(0)),
        "request for another address": request(IPv4Address("10.0.0.202")),
        "request for an address one bit off": request(IPv4Address("10.0.0.232")),
    }
    through = dict(zip(frames, passes(program, list(frames.values())), strict=True))
    assert through == {name: "another" not in name and "bit off" not in name for name in frames}


def test_an_empty_arp_filter_lets_nothing_through():
    assert passes(kernel_filter.arp_filter([]), [request(OURS4[0])]) == [False]


def test_ndp_reaches_python_only_about_our_addresses():
    program = kernel_filter.ndp_filter(OURS6)
    # (The filter compares a target's last 32 bits: a superset the core narrows.)
    others = [IPv6Address("fd00::202"), IPv6Address("fd01::1:0:0:202")]
    frames = {
        "solicitation for ours": neighbor_solicitation(mac=MAC, source=CLIENT6, target=OURS6[0]),
        "solicitation for the other of ours": neighbor_solicitation(
            mac=MAC, source=CLIENT6, target=OURS6[1]
        ),
        "duplicate probe for ours": neighbor_solicitation(
            mac=MAC, source=IPv6Address("::"), target=OURS6[1]
        ),
        "advertisement claiming ours": unsolicited_advertisement(OURS6[0], MAC),
        "solicitation for ours' last 32 bits (the core narrows)": neighbor_solicitation(
            mac=MAC, source=CLIENT6, target=IPv6Address("fd01::1:0:0:201")
        ),
        **{
            f"solicitation for another address {a}": neighbor_solicitation(
                mac=MAC, source=CLIENT6, target=a
            )
            for a in others
        },
        "advertisement of another address": neighbor_advertisement(
            mac=MAC,
            source=others[0],
            eth_dst=MAC,
            destination=CLIENT6,
            target=others[0],
            solicited=True,
            override=True,
        ),
    }
    through = dict(zip(frames, passes(program, list(frames.values())), strict=True))
    assert through == {name: "another" not in name for name in frames}


def test_an_address_over_300_compares_away_is_still_accepted():
    # Compares come in chunks sharing an accept (8-bit jumps): one in a later chunk.
    addresses = [IPv4Address(int(IPv4Address("10.1.0.0")) + i) for i in range(300)]
    program = kernel_filter.arp_filter(addresses)
    frames = [request(addresses[0]), request(addresses[254]), request(addresses[299])]
    assert passes(program, [*frames, request(IPv4Address("10.2.0.0"))]) == [True] * 3 + [False]


def test_ndp_filter_drops_other_icmpv6_and_ipv6():
    solicitation = neighbor_solicitation(mac=MAC, source=CLIENT6, target=OURS6[0])
    echo = bytearray(solicitation)
    echo[54] = 128  # an echo request, same addresses
    udp = bytearray(solicitation)
    udp[20] = 17
    assert passes(kernel_filter.ndp_filter(OURS6), [bytes(echo), bytes(udp)]) == [False, False]
    assert passes(kernel_filter.ALL_NDP, [solicitation, bytes(echo)]) == [True, False]


@pytest.mark.parametrize(
    ("build", "count", "widened"),
    [
        (kernel_filter.arp_filter, 500, False),
        (kernel_filter.arp_filter, 520, True),
        (kernel_filter.ndp_filter, 1000, False),
        (kernel_filter.ndp_filter, 1020, True),
    ],
)
def test_past_the_kernels_limit_the_filter_widens_instead_of_failing(build, count, widened):
    kind = IPv4Address if build is kernel_filter.arp_filter else IPv6Address
    base = int(kind("10.1.0.0" if kind is IPv4Address else "fd00::1:0"))
    addresses = [kind(base + i) for i in range(count)]
    program = build(addresses)
    assert len(program) <= kernel_filter.MAX_INSTRUCTIONS
    assert (program in (kernel_filter.ALL_ARP, kernel_filter.ALL_NDP)) is widened
    last = addresses[-1]
    frame = (
        request(last)
        if kind is IPv4Address
        else neighbor_solicitation(mac=MAC, source=CLIENT6, target=last)
    )
    assert passes(program, [frame]) == [True]  # the kernel accepts the program as built
