"""BGP unnumbered's neighbour discovery, as FRR does it for ``neighbor IFACE
interface``: each side sends IPv6 Router Advertisements on the link, and the peer
is whoever advertises there, at its link-local address. The session then runs over
link-local addresses, IPv4 prefixes with an IPv6 next hop (RFC 8950).

The advertisements say only "I am here": router lifetime 0 (RFC 4861 6.2.3: not a
default router), no prefixes, the interface's MAC in a source link-layer address
option. FRR's zebra learns the sender's link-local address from any valid one;
ironlb learns the router's from the ones zebra sends (every 10 s, and at once in
answer to the Router Solicitation sent at start). As RFC 4861 6.1.2 asks, only
packets with hop limit 255 from a link-local source are believed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from pathlib import Path

from ..bfd.driver import received_ttl

log = logging.getLogger("ironlb.bgp")

ROUTER_SOLICITATION, ROUTER_ADVERTISEMENT = 133, 134
ALL_NODES, ALL_ROUTERS = "ff02::1", "ff02::2"
ADVERTISE_EVERY = 10.0  # seconds, FRR's interval for unnumbered interfaces
ICMP6_FILTER = 1  # linux/icmpv6.h; not in Python's socket module
SOURCE_LINK_LAYER = 1  # option type (RFC 4861 4.6.1)
HOP_LIMIT = 255


def _link_layer_option(mac: bytes) -> bytes:
    return struct.pack("!BB", SOURCE_LINK_LAYER, 1) + mac if len(mac) == 6 else b""


def router_advertisement(mac: bytes) -> bytes:
    """An RA that announces presence only (the kernel fills in the checksum)."""
    # type, code, checksum, cur hop limit, flags, router lifetime, reachable, retrans
    header = struct.pack("!BBHBBHII", ROUTER_ADVERTISEMENT, 0, 0, 0, 0, 0, 0, 0)
    return header + _link_layer_option(mac)


def router_solicitation(mac: bytes) -> bytes:
    return struct.pack("!BBHI", ROUTER_SOLICITATION, 0, 0, 0) + _link_layer_option(mac)


def _icmp_filter(*allowed: int) -> bytes:
    """ICMP6_FILTER's bitmap: a set bit blocks that type."""
    words = [0xFFFFFFFF] * 8
    for kind in allowed:
        words[kind >> 5] &= ~(1 << (kind & 31))
    return struct.pack("=8I", *words)


def interface_mac(interface: str) -> bytes:
    try:
        text = Path(f"/sys/class/net/{interface}/address").read_text().strip()
        return bytes.fromhex(text.replace(":", ""))
    except (OSError, ValueError):
        return b""  # the option is optional


class LinkNeighbours:
    """Router Advertisements on one interface, sent and heard (on ``loop``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interface: str) -> None:
        self.loop, self.interface = loop, interface
        self.index = socket.if_nametoindex(interface)  # OSError: no such interface
        self.mac = interface_mac(interface)
        self.routers: dict[str, float] = {}  # link-local address -> last heard
        self.heard = asyncio.Event()
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, HOP_LIMIT)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, HOP_LIMIT)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.index)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)  # not our own
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            filter_ = _icmp_filter(ROUTER_SOLICITATION, ROUTER_ADVERTISEMENT)
            sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, filter_)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        loop.add_reader(sock.fileno(), self._readable)
        self._timer: asyncio.TimerHandle | None = None
        self._send(router_solicitation(self.mac), ALL_ROUTERS)
        self._advertise()

    async def router(self, timeout: float) -> str | None:
        """The link-local address of the router last heard on the link, waiting up
        to ``timeout`` for one; None when none spoke."""
        if not self.routers:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.heard.wait()
        if not self.routers:
            return None
        return max(self.routers, key=self.routers.__getitem__)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()

    def _advertise(self) -> None:
        self._send(router_advertisement(self.mac), ALL_NODES)
        self._timer = self.loop.call_later(ADVERTISE_EVERY, self._advertise)

    def _send(self, packet: bytes, to: str) -> None:
        try:
            self.sock.sendto(packet, (to, 0, 0, self.index))
        except OSError as exc:  # the link is down: the next round tries again
            log.debug("unnumbered %s: cannot send: %s", self.interface, exc)

    def _readable(self) -> None:
        while True:
            try:
                data, ancillary, _flags, source = self.sock.recvmsg(1500, socket.CMSG_SPACE(4))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("unnumbered %s: %s", self.interface, exc)
                return
            hop_limit = received_ttl(ancillary)
            address = ipaddress.IPv6Address(source[0].split("%")[0])
            if not data or hop_limit != HOP_LIMIT or not address.is_link_local:
                continue  # RFC 4861 6.1: not from a neighbour on this link
            if data[0] == ROUTER_SOLICITATION:
                self._send(router_advertisement(self.mac), str(address))
            elif data[0] == ROUTER_ADVERTISEMENT:
                if str(address) not in self.routers:
                    log.info("unnumbered %s: router %s heard", self.interface, address)
                self.routers[str(address)] = self.loop.time()
                self.heard.set()
