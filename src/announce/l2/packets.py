"""Ethernet, ARP (RFC 826) and IPv6 Neighbor Discovery (RFC 4861) frames, sans IO.

Pure functions from bytes to values and back. ``parse_frame`` never raises: any
input yields either a parsed packet or ``Dropped`` with the reason, which the
responder counts. Validation follows RFC 4861 section 7.1 for what ironlb reads:
hop limit 255, ICMPv6 code 0, a correct checksum, option lengths that are not zero
and stay inside the packet; a solicitation from the unspecified address carries no
source link-layer option.
"""

from __future__ import annotations

import enum
import struct
from ipaddress import IPv4Address, IPv6Address

import attrs

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
BROADCAST = b"\xff" * 6
ARP_REQUEST, ARP_REPLY = 1, 2
ICMPV6 = 58
NEIGHBOR_SOLICITATION, NEIGHBOR_ADVERTISEMENT = 135, 136
OPTION_SOURCE_LLA, OPTION_TARGET_LLA = 1, 2
ALL_NODES = IPv6Address("ff02::1")
UNSPECIFIED = IPv6Address("::")

_ETHERNET = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_IPV6 = struct.Struct("!IHBB16s16s")


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def mac_bytes(text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != 6:
        raise ValueError(f"invalid MAC address {text!r}")
    return bytes(int(p, 16) for p in parts)


class DropReason(enum.StrEnum):
    """Why a frame was not for the responder: the label of the dropped-frames metric,
    so a bounded set (the detail goes to the debug log, not to a label)."""

    TRUNCATED = "truncated"  # shorter than its headers say, or an option runs past it
    VLAN_TAGGED = "vlanTagged"  # the kernel strips tags for the interfaces we serve
    OTHER_PROTOCOL = "otherProtocol"  # not ARP over Ethernet/IPv4, not ICMPv6 ND
    BAD_HOP_LIMIT = "badHopLimit"  # ND with a hop limit other than 255 (RFC 4861 7.1)
    BAD_CODE = "badCode"  # ND with a nonzero code
    BAD_CHECKSUM = "badChecksum"
    BAD_OPTION = "badOption"  # a zero-length option, or an option the sender may not send
    MULTICAST_TARGET = "multicastTarget"
    MALFORMED = "malformed"  # anything else that does not parse


@attrs.frozen
class Dropped:
    reason: DropReason
    detail: str = attrs.field(default="", eq=False)


@attrs.frozen
class Arp:
    eth_dst: bytes
    eth_src: bytes
    op: int
    sender_mac: bytes
    sender_ip: IPv4Address
    target_mac: bytes
    target_ip: IPv4Address

    @property
    def gratuitous(self) -> bool:
        """An announcement: the sender tells everyone its own address (request or reply)."""
        return self.sender_ip == self.target_ip


@attrs.frozen
class NeighborSolicitation:
    eth_dst: bytes
    eth_src: bytes
    source: IPv6Address
    destination: IPv6Address
    target: IPv6Address
    source_lla: bytes | None


@attrs.frozen
class NeighborAdvertisement:
    eth_dst: bytes
    eth_src: bytes
    source: IPv6Address
    destination: IPv6Address
    target: IPv6Address
    router: bool
    solicited: bool
    override: bool
    target_lla: bytes | None


Packet = Arp | NeighborSolicitation | NeighborAdvertisement


class _Malformed(Exception):
    def __init__(self, reason: DropReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def parse_frame(frame: bytes) -> Packet | Dropped:
    """One Ethernet frame as ironlb sees it; any other frame is Dropped with its reason."""
    try:
        return _parse(bytes(frame))
    except _Malformed as exc:
        return Dropped(exc.reason, str(exc))
    except (struct.error, ValueError, IndexError) as exc:  # belt and braces: never raise
        return Dropped(DropReason.MALFORMED, str(exc))


def _parse(frame: bytes) -> Packet:
    if len(frame) < _ETHERNET.size:
        raise _Malformed(DropReason.TRUNCATED, "shorter than an Ethernet header")
    dst, src, ethertype = _ETHERNET.unpack_from(frame)
    if ethertype == ETH_P_8021Q:
        raise _Malformed(
            DropReason.VLAN_TAGGED, "VLAN-tagged frame (the kernel strips tags for our interfaces)"
        )
    body = frame[_ETHERNET.size :]
    if ethertype == ETH_P_ARP:
        return _parse_arp(dst, src, body)
    if ethertype == ETH_P_IPV6:
        return _parse_ndp(dst, src, body)
    raise _Malformed(
        DropReason.OTHER_PROTOCOL, f"ethertype 0x{ethertype:04x} is neither ARP nor IPv6"
    )


def _parse_arp(dst: bytes, src: bytes, body: bytes) -> Arp:
    if len(body) < _ARP.size:
        raise _Malformed(DropReason.TRUNCATED, "ARP packet shorter than 28 bytes")
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(body)
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4):
        raise _Malformed(DropReason.OTHER_PROTOCOL, "ARP for other than Ethernet and IPv4")
    if op not in (ARP_REQUEST, ARP_REPLY):
        raise _Malformed(DropReason.OTHER_PROTOCOL, f"ARP operation {op}")
    return Arp(dst, src, op, sha, IPv4Address(spa), tha, IPv4Address(tpa))


def _parse_ndp(dst: bytes, src: bytes, body: bytes) -> NeighborSolicitation | NeighborAdvertisement:
    if len(body) < _IPV6.size:
        raise _Malformed(DropReason.TRUNCATED, "IPv6 packet shorter than its header")
    first, length, next_header, hop_limit, source, destination = _IPV6.unpack_from(body)
    if first >> 28 != 6:
        raise _Malformed(DropReason.OTHER_PROTOCOL, "IP version is not 6")
    if next_header != ICMPV6:
        raise _Malformed(DropReason.OTHER_PROTOCOL, f"next header {next_header} is not ICMPv6")
    if hop_limit != 255:
        raise _Malformed(
            DropReason.BAD_HOP_LIMIT,
            "neighbor discovery with hop limit other than 255 (RFC 4861 7.1)",
        )
    payload = body[_IPV6.size : _IPV6.size + length]
    if len(payload) != length or length < 4:
        raise _Malformed(DropReason.TRUNCATED, "ICMPv6 message truncated")
    kind, code = payload[0], payload[1]
    if kind not in (NEIGHBOR_SOLICITATION, NEIGHBOR_ADVERTISEMENT):
        raise _Malformed(DropReason.OTHER_PROTOCOL, f"ICMPv6 type {kind} is not neighbor discovery")
    if length < 24:
        raise _Malformed(DropReason.TRUNCATED, "neighbor discovery message shorter than 24 bytes")
    if code != 0:
        raise _Malformed(DropReason.BAD_CODE, "neighbor discovery with a nonzero code")
    if icmpv6_checksum(source, destination, payload[:2] + b"\0\0" + payload[4:]) != (
        payload[2] << 8 | payload[3]
    ):
        raise _Malformed(DropReason.BAD_CHECKSUM, "ICMPv6 checksum mismatch")
    flags = payload[4]
    target = IPv6Address(payload[8:24])
    if target.is_multicast:
        raise _Malformed(DropReason.MULTICAST_TARGET, "target is a multicast address")
    options = _options(payload[24:])
    src_ip, dst_ip = IPv6Address(source), IPv6Address(destination)
    if kind == NEIGHBOR_SOLICITATION:
        source_lla = options.get(OPTION_SOURCE_LLA)
        if src_ip == UNSPECIFIED and source_lla is not None:
            raise _Malformed(
                DropReason.BAD_OPTION, "solicitation from :: with a source link-layer option"
            )
        return NeighborSolicitation(dst, src, src_ip, dst_ip, target, source_lla)
    return NeighborAdvertisement(
        dst,
        src,
        src_ip,
        dst_ip,
        target,
        bool(flags & 0x80),
        bool(flags & 0x40),
        bool(flags & 0x20),
        options.get(OPTION_TARGET_LLA),
    )


def _options(data: bytes) -> dict[int, bytes]:
    """Link-layer address options by type (the first of each); others skipped."""
    found: dict[int, bytes] = {}
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise _Malformed(DropReason.TRUNCATED, "truncated option")
        kind, units = data[offset], data[offset + 1]
        if units == 0:
            raise _Malformed(DropReason.BAD_OPTION, "option with length zero (RFC 4861 4.6)")
        end = offset + units * 8
        if end > len(data):
            raise _Malformed(DropReason.TRUNCATED, "option runs past the packet")
        if kind in (OPTION_SOURCE_LLA, OPTION_TARGET_LLA) and units == 1:
            found.setdefault(kind, data[offset + 2 : offset + 8])
        offset = end
    return found


def icmpv6_checksum(source: bytes, destination: bytes, message: bytes) -> int:
    """RFC 4443 2.3: the one's-complement sum over the pseudo-header and the message."""
    pseudo = source + destination + struct.pack("!I3xB", len(message), ICMPV6)
    data = pseudo + message
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# --- building ---------------------------------------------------------------


def arp_frame(
    op: int,
    eth_dst: bytes,
    sender_mac: bytes,
    sender_ip: IPv4Address,
    target_mac: bytes,
    target_ip: IPv4Address,
) -> bytes:
    return _ETHERNET.pack(eth_dst, sender_mac, ETH_P_ARP) + _ARP.pack(
        1, 0x0800, 6, 4, op, sender_mac, sender_ip.packed, target_mac, target_ip.packed
    )


def arp_reply(request: Arp, mac: bytes) -> bytes:
    """The unicast answer to ``request``: its target address is at ``mac``."""
    return arp_frame(
        ARP_REPLY, request.sender_mac, mac, request.target_ip, request.sender_mac, request.sender_ip
    )


def gratuitous_arp(ip: IPv4Address, mac: bytes) -> list[bytes]:
    """MetalLB's announcement: a broadcast request and a broadcast reply, sender = target."""
    return [
        arp_frame(ARP_REQUEST, BROADCAST, mac, ip, BROADCAST, ip),
        arp_frame(ARP_REPLY, BROADCAST, mac, ip, BROADCAST, ip),
    ]


def multicast_mac(address: IPv6Address) -> bytes:
    """RFC 2464 7: 33:33 and the low 32 bits of the IPv6 multicast address."""
    return b"\x33\x33" + address.packed[-4:]


def solicited_node(address: IPv6Address) -> IPv6Address:
    """RFC 4291 2.7.1: ff02::1:ffXX:XXXX, the group a solicitation for ``address`` goes to."""
    return IPv6Address(b"\xff\x02" + b"\0" * 9 + b"\x01\xff" + address.packed[-3:])


def neighbor_advertisement(
    *,
    mac: bytes,
    source: IPv6Address,
    eth_dst: bytes,
    destination: IPv6Address,
    target: IPv6Address,
    solicited: bool,
    override: bool,
) -> bytes:
    flags = (0x40 if solicited else 0) | (0x20 if override else 0)
    body = struct.pack("!BBHB3x16s", NEIGHBOR_ADVERTISEMENT, 0, 0, flags, target.packed)
    body += struct.pack("!BB6s", OPTION_TARGET_LLA, 1, mac)
    checksum = icmpv6_checksum(source.packed, destination.packed, body)
    body = body[:2] + struct.pack("!H", checksum) + body[4:]
    header = _IPV6.pack(6 << 28, len(body), ICMPV6, 255, source.packed, destination.packed)
    return _ETHERNET.pack(eth_dst, mac, ETH_P_IPV6) + header + body


def advertisement_for(solicitation: NeighborSolicitation, mac: bytes) -> bytes:
    """MetalLB's answer: solicited, not override, to the solicitor (all-nodes for a DAD probe).

    The source is the target address itself, as a host that owns the address sends
    it (MetalLB sends from the interface's link-local address, which some clients,
    ndisc6 among them, do not accept as the answer).
    """
    source = solicitation.target
    if solicitation.source == UNSPECIFIED:
        return neighbor_advertisement(
            mac=mac,
            source=source,
            eth_dst=multicast_mac(ALL_NODES),
            destination=ALL_NODES,
            target=solicitation.target,
            solicited=False,
            override=False,
        )
    assert solicitation.source_lla is not None
    return neighbor_advertisement(
        mac=mac,
        source=source,
        eth_dst=solicitation.source_lla,
        destination=solicitation.source,
        target=solicitation.target,
        solicited=True,
        override=False,
    )


def unsolicited_advertisement(target: IPv6Address, mac: bytes) -> bytes:
    """The IPv6 announcement: to all nodes, override set, so caches update at once."""
    return neighbor_advertisement(
        mac=mac,
        source=target,
        eth_dst=multicast_mac(ALL_NODES),
        destination=ALL_NODES,
        target=target,
        solicited=False,
        override=True,
    )


def neighbor_solicitation(*, mac: bytes, source: IPv6Address, target: IPv6Address) -> bytes:
    """A solicitation for ``target`` (tests and the load generator send these)."""
    group = solicited_node(target)
    body = struct.pack("!BBH4x16s", NEIGHBOR_SOLICITATION, 0, 0, target.packed)
    if source != UNSPECIFIED:
        body += struct.pack("!BB6s", OPTION_SOURCE_LLA, 1, mac)
    checksum = icmpv6_checksum(source.packed, group.packed, body)
    body = body[:2] + struct.pack("!H", checksum) + body[4:]
    header = _IPV6.pack(6 << 28, len(body), ICMPV6, 255, source.packed, group.packed)
    return _ETHERNET.pack(multicast_mac(group), mac, ETH_P_IPV6) + header + body
