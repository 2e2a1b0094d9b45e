"""BFD sessions on an asyncio loop: the sockets and timers around ``core.BfdSession``.

Sockets as RFC 5881 (single hop) and RFC 5883 (multihop) have them: each session
sends from a UDP source port of its own in 49152-65535 to the peer's port 3784
(4784 multihop), with TTL/hop limit 255; one listening socket per family and port
receives every session's packets, with their TTL (``IP_RECVTTL``,
``IPV6_RECVHOPLIMIT``), and hands each to its session: by Your Discriminator when
the peer knows ours, else by the peer's address.

Timers are ``loop.call_at`` handles rescheduled after each event, so a hundred
sessions cost no task each; everything runs on the loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import struct
from collections.abc import Callable

from ...reconcile.addresses import family_of
from ..metrics import Counters
from .core import Action, BfdConfig, BfdSession, BfdStateChanged, Transmit
from .packets import BfdState

log = logging.getLogger("ironlb.bfd")

SINGLE_HOP_PORT, MULTIHOP_PORT = 3784, 4784
SOURCE_PORTS = range(49152, 65536)
IP_RECVTTL = 12  # linux/in.h; not in Python's socket module
TTL = 255
_CMSG_SPACE = socket.CMSG_SPACE(4)

ChangeCallback = Callable[[BfdStateChanged], None]
# MetalLB's FRR-mode BFD counters (labels peer and vrf), besides the packet counts.
# FRR's "zebra notifications" are its state reports to its clients; ironlb's one
# client is the peer's BGP session, told of every state change.
EVENT_COUNTERS = (
    "metallb_bfd_session_up_events",
    "metallb_bfd_session_down_events",
    "metallb_bfd_zebra_notifications",
    "metallb_bfd_control_packet_input",
    "metallb_bfd_control_packet_output",
)


def _family(address: str) -> int:
    return socket.AF_INET if family_of(address) == 4 else socket.AF_INET6


class BfdLink:
    """One session's socket and timer. ``on_change`` hears its state changes."""

    def __init__(
        self,
        endpoint: BfdEndpoint,
        peer: str,
        session: BfdSession,
        sock: socket.socket,
        on_change: ChangeCallback,
    ) -> None:
        self.endpoint, self.peer, self.session = endpoint, peer, session
        self.sock, self.on_change = sock, on_change
        self.labels = {"peer": peer, "vrf": "default"}
        self._timer: asyncio.TimerHandle | None = None
        self._counted = (0, 0)  # packets in, out as last exported
        self._closed = False
        counters = endpoint.counters
        counters.set("metallb_bfd_session_up", 0, **self.labels)
        for name in EVENT_COUNTERS:  # every series exists from the start
            counters.inc(name, 0, **self.labels)
        self._perform(session.start(endpoint.loop.time()))

    def receive(self, data: bytes, ttl: int | None) -> None:
        self._perform(self.session.receive(self.endpoint.loop.time(), data, ttl))

    def close(self) -> None:
        """AdminDown to the peer, then the socket goes."""
        self._perform(self.session.stop())
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.sock.close()
        self.endpoint.counters.set("metallb_bfd_session_up", 0, **self.labels)

    def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Transmit):
                with contextlib.suppress(OSError):  # a full buffer, an unreachable peer
                    self.sock.send(action.data)
            else:
                self._changed(action)
        self._count_packets()
        self._reschedule()

    def _changed(self, change: BfdStateChanged) -> None:
        log.info("BFD peer %s: %s -> %s (%s)", self.peer, change.old, change.new, change.diag)
        counters = self.endpoint.counters
        counters.set("metallb_bfd_session_up", int(change.new is BfdState.UP), **self.labels)
        if change.new is BfdState.UP:
            counters.inc("metallb_bfd_session_up_events", **self.labels)
        elif change.old is BfdState.UP:
            counters.inc("metallb_bfd_session_down_events", **self.labels)
        counters.inc("metallb_bfd_zebra_notifications", **self.labels)
        self.on_change(change)

    def _count_packets(self) -> None:
        now = (self.session.packets_in, self.session.packets_out)
        if now == self._counted:
            return
        counters, (was_in, was_out) = self.endpoint.counters, self._counted
        self._counted = now
        if now[0] != was_in:  # one packet a call, mostly: one counter touched
            counters.inc("metallb_bfd_control_packet_input", now[0] - was_in, **self.labels)
        if now[1] != was_out:
            counters.inc("metallb_bfd_control_packet_output", now[1] - was_out, **self.labels)

    def _reschedule(self) -> None:
        deadline = self.session.next_deadline()
        if self._timer is not None:
            if deadline is not None and self._timer.when() == deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None and not self._closed:
            self._timer = self.endpoint.loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._perform(self.session.poll(self.endpoint.loop.time()))


class BfdEndpoint:
    """Every BFD session of one process, on ``loop`` (call from its thread only)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, counters: Counters | None = None) -> None:
        self.loop = loop
        self.counters = counters or Counters()
        self.rng = random.Random()
        self.by_discriminator: dict[int, BfdLink] = {}
        self.by_peer: dict[tuple[str, bool], BfdLink] = {}
        self.listeners: dict[tuple[int, int], socket.socket] = {}

    def open(
        self,
        peer: str,
        config: BfdConfig,
        on_change: ChangeCallback,
        source_address: str | None = None,
        interface: str | None = None,
    ) -> BfdLink:
        """A session with ``peer`` (a link-local address on ``interface`` for an
        unnumbered session); OSError if its sockets cannot be had (the port 3784
        taken by another BFD daemon, say)."""
        peer = str(ipaddress.ip_address(peer))
        key = (peer, config.multihop)
        if key in self.by_peer:
            raise ValueError(f"a BFD session with {peer} exists already")
        port = MULTIHOP_PORT if config.multihop else SINGLE_HOP_PORT
        self._listen(_family(peer), port)
        sock = self._sender(peer, port, source_address, interface)
        discriminator = self._new_discriminator()
        session = BfdSession(config, discriminator, random.Random(self.rng.random()))
        link = BfdLink(self, peer, session, sock, on_change)
        self.by_discriminator[discriminator] = self.by_peer[key] = link
        return link

    def close(self, link: BfdLink) -> None:
        link.close()
        self.by_discriminator.pop(link.session.discriminator, None)
        self.by_peer.pop((link.peer, link.session.config.multihop), None)
        if not self.by_peer:
            self.shutdown()

    def shutdown(self) -> None:
        for link in list(self.by_peer.values()):
            link.close()
        self.by_peer.clear()
        self.by_discriminator.clear()
        for sock in self.listeners.values():
            self.loop.remove_reader(sock.fileno())
            sock.close()
        self.listeners.clear()

    def _new_discriminator(self) -> int:
        while True:
            candidate = self.rng.randrange(1, 2**32)
            if candidate not in self.by_discriminator:
                return candidate

    def _sender(
        self, peer: str, port: int, source: str | None, interface: str | None
    ) -> socket.socket:
        family = _family(peer)
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, TTL)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, TTL)
            for candidate in self.rng.sample(SOURCE_PORTS, 64):
                try:
                    sock.bind((source or "", candidate))
                    break
                except OSError as exc:
                    if exc.errno != 98:  # EADDRINUSE: try another port
                        raise
            else:
                raise OSError(f"no free UDP source port for BFD with {peer}")
            if interface:  # a link-local peer: on that link
                sock.connect((peer, port, 0, socket.if_nametoindex(interface)))
            else:
                sock.connect((peer, port))
            return sock
        except BaseException:
            sock.close()
            raise

    def _listen(self, family: int, port: int) -> None:
        if (family, port) in self.listeners:
            return
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
                sock.bind(("0.0.0.0", port))
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
                sock.bind(("::", port))
        except BaseException:
            sock.close()
            raise
        self.listeners[(family, port)] = sock
        self.loop.add_reader(sock.fileno(), self._readable, sock, port == MULTIHOP_PORT)

    def _readable(self, sock: socket.socket, multihop: bool) -> None:
        for _ in range(256):  # drain, but let the loop breathe under a flood
            # (the TTL check is the session's: core.BfdSession.receive)
            try:
                data, ancillary, _flags, source = sock.recvmsg(512, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ICMP errors surface here; the next read goes on
                log.debug("BFD listener: %s", exc)
                continue
            link = self._link_for(data, source[0].split("%")[0], multihop)
            if link is not None:
                link.receive(data, received_ttl(ancillary))

    def _link_for(self, data: bytes, source: str, multihop: bool) -> BfdLink | None:
        """The session a packet belongs to (RFC 5880 6.8.6), or None: dropped."""
        if len(data) >= 12:
            (yours,) = struct.unpack_from("!I", data, 8)
            if yours:
                link = self.by_discriminator.get(yours)
                return link if link is not None and link.peer == source else None
        return self.by_peer.get((source, multihop))


def received_ttl(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    """The TTL / hop limit a datagram arrived with, from ``recvmsg``'s ancillary data
    (``IP_RECVTTL`` / ``IPV6_RECVHOPLIMIT`` set on the socket); None without it."""
    for level, kind, value in ancillary:
        if (level, kind) in ((socket.IPPROTO_IP, socket.IP_TTL),
                             (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT)):  # fmt: skip
            return struct.unpack("=i", value[:4])[0] if len(value) >= 4 else value[0]
    return None
