"""BGP unnumbered's Router Advertisements: what ironlb sends to be found (FRR's
zebra learns a peer from any valid RA), and the ICMPv6 filter that lets only
solicitations and advertisements reach Python."""

from __future__ import annotations

import struct

from ironlb.announce.bgp.unnumbered import (
    _icmp_filter,
    router_advertisement,
    router_solicitation,
)

MAC = bytes.fromhex("020000000001")


def test_an_advertisement_says_here_i_am_and_nothing_else():
    packet = router_advertisement(MAC)
    kind, code, _checksum, hop_limit, flags, lifetime = struct.unpack_from("!BBHBBH", packet)
    assert (kind, code, hop_limit, flags) == (134, 0, 0, 0)
    assert lifetime == 0  # not a default router: no node routes through ironlb by it
    assert packet[16:] == b"\x01\x01" + MAC  # source link-layer address option only


def test_a_solicitation_asks_the_routers_to_advertise_now():
    packet = router_solicitation(MAC)
    assert packet[0] == 133 and packet[8:] == b"\x01\x01" + MAC
    assert router_solicitation(b"") == packet[:8]  # no MAC known: no option


def test_the_filter_passes_solicitations_and_advertisements_only():
    words = struct.unpack("=8I", _icmp_filter(133, 134))

    def blocked(kind: int) -> bool:
        return bool(words[kind >> 5] & (1 << (kind & 31)))

    assert not blocked(133) and not blocked(134)
    assert all(blocked(kind) for kind in (1, 128, 129, 135, 136, 137))
