"""The native BGP speaker: an effector holding one session per BGPPeer of the node's
plan, on an asyncio loop of its own.

``apply(plan)`` converges: peers that left the plan are shut down (Cease), new
ones are dialled, and every session is told its routes, which it announces or
withdraws in batched UPDATEs without a reset. A peer whose connection parameters
changed (address, ASNs, timers, password, ...) is re-dialled: those cannot change
on a live session.

Sockets carry what BGPPeer asks for: the source address, TCP MD5 signatures
(RFC 2385, ``TCP_MD5SIG``), TTL 255 for ``ebgpMultiHop`` and 1 for other eBGP
sessions (directly connected peers), the peer's port.

A peer with a ``bfdProfile`` gets a BFD session beside its BGP session
(``announce.bfd``, on the same loop); when it goes from Up to Down the BGP session
is torn down at once, as FRR's bgpd does on bfdd's word.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from collections.abc import Set as AbstractSet

import attrs

from ...events.errors import LbError
from ...events.sources.secrets import is_hashed
from ...reconcile.plan.speaker import (
    BFDSettings,
    BGPRoute,
    BGPSessionPlan,
    NodePlan,
    RouteDelta,
)
from ..bfd.core import BfdConfig, BfdStateChanged
from ..bfd.driver import BfdEndpoint, BfdLink
from ..metrics import Counters
from .session import (
    Close,
    Connect,
    Send,
    Session,
    SessionConfig,
    State,
    StateChanged,
    merged_route,
)
from .unnumbered import LinkNeighbours

log = logging.getLogger("ironlb.bgp")
TCP_MD5SIG = 14
TCP_MD5SIG_MAXKEYLEN = 80
CONNECT_TIMEOUT = 10.0  # as MetalLB: dial and OPEN exchange

StateCallback = Callable[[str, State, State, str], None]

# MetalLB's FRR-mode counter -> the session's message count it reads.
SENT_COUNTERS = {
    "metallb_bgp_opens_sent": "open",
    "metallb_bgp_notifications_sent": "notification",
    "metallb_bgp_keepalives_sent": "keepalive",
    "metallb_bgp_route_refresh_sent": "route_refresh",  # ironlb imports nothing: never asks
}
RECEIVED_COUNTERS = {
    "metallb_bgp_opens_received": "open",
    "metallb_bgp_updates_total_received": "update",
    "metallb_bgp_keepalives_received": "keepalive",
}


def md5sig_option(peer: str, password: str) -> bytes:
    """``struct tcp_md5sig`` for ``setsockopt(IPPROTO_TCP, TCP_MD5SIG)``."""
    key = password.encode()
    if len(key) > TCP_MD5SIG_MAXKEYLEN:
        raise ValueError(f"TCP MD5 passwords are at most {TCP_MD5SIG_MAXKEYLEN} bytes")
    address = ipaddress.ip_address(peer)
    if address.version == 4:
        sockaddr = struct.pack("=H", socket.AF_INET) + struct.pack("!H4s", 0, address.packed)
    else:
        sockaddr = struct.pack("=H", socket.AF_INET6) + struct.pack(
            "!HI16sI", 0, 0, address.packed, 0
        )
    sockaddr = sockaddr.ljust(128, b"\0")  # struct sockaddr_storage
    return (
        sockaddr + struct.pack("=BBHI", 0, 0, len(key), 0) + key.ljust(TCP_MD5SIG_MAXKEYLEN, b"\0")
    )


def fallback_router_id(local_address: str, node: str) -> str:
    """MetalLB's choice without ``routerID``: the connection's IPv4 address, else
    CRC32 of the node name (little-endian)."""
    if ipaddress.ip_address(local_address).version == 4:
        return local_address
    return str(ipaddress.IPv4Address(struct.pack("<I", zlib.crc32(node.encode()))))


@attrs.frozen
class Dial:
    """What a connection is made with: a change means a new connection."""

    address: str  # "" for an unnumbered peer: discovered on ``interface``
    port: int
    source_address: str | None
    password: str | None
    ttl: int | None
    config: SessionConfig
    interface: str | None = None  # BGP unnumbered (unnumbered.py)


def dial_for(plan: BGPSessionPlan, password: str | None) -> Dial:
    if plan.ebgp_multihop:
        ttl: int | None = 255
    elif plan.ibgp:
        ttl = None  # the system default: iBGP peers are often several hops away
    else:
        ttl = 1
    keepalive = int(plan.keepalive_time) if plan.keepalive_time else None
    config = SessionConfig(
        my_asn=plan.my_asn,
        local_asn=plan.local_asn,
        families=plan.families,
        peer_asn=plan.peer_asn,
        router_id=plan.router_id,
        hold_time=int(plan.hold_time),
        keepalive_time=keepalive,
        connect_time=plan.connect_time,
        dynamic_asn=plan.dynamic_asn,
        graceful_restart=plan.graceful_restart,
        extended_next_hop=plan.interface is not None,
    )
    address = plan.address or ""
    return Dial(address, plan.port, plan.source_address, password, ttl, config, plan.interface)


class _Peer:
    """One session's driver: its connection, its timers, its reader."""

    def __init__(self, name: str, dial: Dial, owner: BgpSpeaker) -> None:
        self.name, self.dial, self.owner = name, dial, owner
        self.session = Session(dial.config)
        self.label = f"{dial.address or dial.interface}:{dial.port}"
        self.writer: asyncio.StreamWriter | None = None
        self.tasks: set[asyncio.Task] = set()
        self.wake = asyncio.Event()
        self.stopped = False
        self.counted: dict[str, int] = {}  # message counters as last exported
        self.counted_totals: tuple[int, int] | None = None  # (sent, received) then
        # The plan's routes as last applied, the fold's version they stand at, and
        # grouped by prefix (one route is sent per prefix).
        self.plan_routes: tuple[BGPRoute, ...] | None = None
        self.routes_at: tuple[int, int] | None = None  # (lineage, version) of a RouteDelta
        self.plan_set: set[BGPRoute] = set()
        self.by_prefix: dict[str, set[BGPRoute]] = {}
        self.bfd: BFDSettings | None = None
        self.bfd_link: BfdLink | None = None
        self.timer = asyncio.get_running_loop().create_task(self._timers())
        self.perform(self.session.start(self.owner.now()))

    def set_routes(self, routes: tuple[BGPRoute, ...], delta: RouteDelta | None = None) -> None:
        """The plan's routes for this peer. Only what changed is converted and sent:
        with the fold's ``delta`` from the version these routes stand at, that is
        all this costs (100,000 prefixes held, one added: one route's work);
        otherwise the plan's routes are diffed with those held, as sets."""
        at = (delta.lineage, delta.until) if delta is not None else None
        if at is not None and at == self.routes_at:
            return  # this version is applied (a plan re-applied with other l2)
        if delta is not None and self.routes_at == (delta.lineage, delta.since):
            added = delta.added.get(self.name, frozenset())
            removed = delta.removed.get(self.name, frozenset())
            self.plan_set -= removed
            self.plan_set |= added
            kept = None  # the plan's routes are not needed: their owner frees them
        elif routes is self.plan_routes:
            return
        else:
            wanted = set(routes)
            added, removed = wanted - self.plan_set, self.plan_set - wanted
            self.plan_set, kept = wanted, routes
        self._send_changes(added, removed)
        # Only now, the UPDATE written: dropping the last plan's routes may free them,
        # which with 100,000 held costs as much as the change itself.
        self.plan_routes, self.routes_at = kept, at

    def _send_changes(self, added: AbstractSet[BGPRoute], removed: AbstractSet[BGPRoute]) -> None:
        """One route is sent per prefix: the union of the advertisements' communities."""
        for route in removed:
            held = self.by_prefix[route.prefix]
            held.discard(route)
            if not held:
                del self.by_prefix[route.prefix]
        for route in added:
            self.by_prefix.setdefault(route.prefix, set()).add(route)
        touched = {r.prefix for r in added} | {r.prefix for r in removed}
        changed = [merged_route(self.by_prefix[p]) for p in touched if p in self.by_prefix]
        gone = [p for p in touched if p not in self.by_prefix]
        self.perform(self.session.update_routes(changed, gone))
        pending = len(self.by_prefix)
        self.owner.counters.set("metallb_bgp_pending_prefixes_total", pending, peer=self.label)

    def set_bfd(self, settings: BFDSettings | None) -> None:
        """The BFD session beside this one, as the plan wants it: a changed profile
        replaces the BFD session, never the BGP one."""
        if settings == self.bfd:
            return
        self.close_bfd()
        self.bfd = settings
        if settings is not None:
            self._spawn(self._open_bfd(settings))

    def close_bfd(self) -> None:
        self.bfd = None
        if self.bfd_link is not None:
            self.owner.bfd.close(self.bfd_link)
            self.bfd_link = None

    async def _open_bfd(self, settings: BFDSettings) -> None:
        """Multihop as FRR decides it: ebgpMultiHop, or an iBGP peer on no subnet of
        the node's (RFC 5883); otherwise single hop (RFC 5881), unnumbered peers
        always (with the link-local address their advertisements gave)."""
        address = self.dial.address
        multihop = self.dial.ttl == 255
        if self.dial.interface:
            address, multihop = await self._discover_patiently(), False
        elif self.dial.ttl is None:  # iBGP
            loop = asyncio.get_running_loop()
            try:
                direct = await loop.run_in_executor(None, self.owner.connected, self.dial.address)
            except Exception as exc:
                log.warning("peer %s: no route to %s read (%s): BFD single hop",
                            self.name, self.dial.address, exc)  # fmt: skip
                direct = True
            multihop = not direct
        if self.bfd is not settings:
            return  # the plan changed meanwhile
        config = BfdConfig(
            desired_min_tx=settings.transmit_interval / 1000,
            required_min_rx=settings.receive_interval / 1000,
            detect_mult=settings.detect_multiplier,
            passive=settings.passive,
            multihop=multihop,
            minimum_ttl=settings.minimum_ttl,
        )
        try:
            self.bfd_link = self.owner.bfd.open(
                address, config, self._bfd_changed, self.dial.source_address, self.dial.interface
            )
        except (OSError, ValueError) as exc:
            log.error("peer %s: no BFD session (profile %s): %s", self.name, settings.profile, exc)

    def _bfd_changed(self, change: BfdStateChanged) -> None:
        if change.failed:
            reason = f"BFD session down ({change.diag})"
            self.perform(self.session.bfd_down(self.owner.now(), reason))

    def perform(self, actions: list) -> None:
        for action in actions:
            if isinstance(action, Send) and self.writer is not None:
                self.writer.write(action.data)
            elif isinstance(action, Close):
                self._drop_connection()
            elif isinstance(action, Connect):
                self._spawn(self._connect())
            elif isinstance(action, StateChanged):
                self._state_changed(action)
        announced = len(self.session.advertised)
        self.owner.counters.set("metallb_bgp_announced_prefixes_total", announced, peer=self.label)
        self.owner.counters.set(
            "metallb_bgp_updates_total", self.session.updates_sent, peer=self.label
        )
        self._count_messages()
        self.wake.set()

    def _count_messages(self) -> None:
        """MetalLB's FRR-mode message counters (labels peer and vrf, as its
        frr-metrics exports them), from the session's counts since the last call."""
        sent, received = self.session.sent, self.session.received
        totals = (sum(sent.values()), sum(received.values()))
        if totals == self.counted_totals:  # most actions move no message
            return
        self.counted_totals = totals
        counts = {name: sent[kind] for name, kind in SENT_COUNTERS.items()}
        counts |= {name: received[kind] for name, kind in RECEIVED_COUNTERS.items()}
        counts["metallb_bgp_total_sent"], counts["metallb_bgp_total_received"] = totals
        for name, count in counts.items():
            delta = count - self.counted.get(name, 0)
            if delta or name not in self.counted:  # every series exists from the start
                self.owner.counters.inc(name, delta, peer=self.label, vrf="default")
                self.counted[name] = count

    def _state_changed(self, change: StateChanged) -> None:
        log.info(
            "peer %s (%s): %s -> %s (%s)",
            self.name,
            self.label,
            change.old,
            change.new,
            change.reason,
        )
        up = int(change.new is State.ESTABLISHED)
        self.owner.counters.set("metallb_bgp_session_up", up, peer=self.label)
        self.owner.on_state(self.name, change.old, change.new, change.reason)

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _drop_connection(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def _connect(self) -> None:
        dial = self.dial
        try:
            address = dial.address or await self._discover(dial)
            reader, writer = await asyncio.wait_for(self._open(dial, address), CONNECT_TIMEOUT)
        except TimeoutError:
            reason = f"connect: no answer within {CONNECT_TIMEOUT:g} s"
            self.perform(self.session.connection_failed(self.owner.now(), reason))
            return
        except (OSError, ValueError) as exc:
            self.perform(self.session.connection_failed(self.owner.now(), f"connect: {exc}"))
            return
        self.writer = writer
        local = writer.get_extra_info("sockname")[0].split("%")[0]
        router_id = fallback_router_id(local, self.owner.node)
        families = dial.config.families
        other = 6 if ipaddress.ip_address(local).version == 4 else 4
        found = InterfaceAddresses()
        if 6 in families or other in families:
            try:  # pyroute2 runs an event loop of its own: not on this one
                loop = asyncio.get_running_loop()
                found = await loop.run_in_executor(None, self.owner.addresses_of, local)
            except Exception as exc:  # next hops without a link-local still work
                log.warning("peer %s: no addresses of the interface of %s: %s",
                            self.name, local, exc)  # fmt: skip
        # Unnumbered: IPv4 prefixes take the IPv6 next hop (RFC 8950), as FRR sends
        # them on interface sessions, whatever IPv4 address the interface holds.
        wants_other = other in families and not dial.interface
        other_address = found.of(other) if wants_other else None
        if wants_other and other_address is None:
            log.warning("peer %s: no IPv%d address on the interface of %s: the session "
                        "carries no IPv%d prefixes", self.name, other, local, other)  # fmt: skip
        link_local = found.link_local if 6 in families else None
        self.perform(self.session.connection_made(
            self.owner.now(), local, link_local, router_id, other_address
        ))  # fmt: skip
        self._spawn(self._read(reader, writer))

    async def _discover_patiently(self) -> str:
        """An unnumbered peer's address, however long its first advertisement takes
        (the task is cancelled when the peer leaves the plan)."""
        while True:
            with contextlib.suppress(OSError):
                return await self._discover(self.dial)
            await asyncio.sleep(1.0)  # no such interface yet: try again

    async def _discover(self, dial: Dial) -> str:
        """An unnumbered peer's link-local address, from its Router Advertisements."""
        assert dial.interface is not None
        neighbours = self.owner.neighbours_on(dial.interface)
        router = await neighbours.router(CONNECT_TIMEOUT)
        if router is None:
            raise OSError(f"no router advertisement heard on {dial.interface}")
        return router

    @staticmethod
    async def _open(dial: Dial, address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        version = ipaddress.ip_address(address).version
        family = socket.AF_INET if version == 4 else socket.AF_INET6
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if dial.password:
                sock.setsockopt(
                    socket.IPPROTO_TCP, TCP_MD5SIG, md5sig_option(address, dial.password)
                )
            if dial.ttl is not None:
                if version == 4:
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, dial.ttl)
                else:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, dial.ttl)
            if dial.source_address:
                sock.bind((dial.source_address, 0))
            target: tuple = (address, dial.port)
            if dial.interface:  # a link-local address: on that link
                target = (address, dial.port, 0, socket.if_nametoindex(dial.interface))
            await asyncio.get_running_loop().sock_connect(sock, target)
            return await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while self.writer is writer:
            try:
                data = await reader.read(65536)
            except OSError as exc:
                data, reason = b"", f"read: {exc}"
            else:
                reason = "the peer closed the connection"
            if self.writer is not writer:
                return  # the session closed this connection itself
            if not data:
                self._drop_connection()
                self.perform(self.session.connection_failed(self.owner.now(), reason))
                return
            self.perform(self.session.data_received(self.owner.now(), data))

    async def _timers(self) -> None:
        while not self.stopped:
            self.wake.clear()
            deadline = self.session.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.owner.now())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.wake.wait()
            if not self.stopped:
                self.perform(self.session.poll(self.owner.now()))

    async def stop(self) -> None:
        self.stopped = True  # the timer loop ends even if a wake-up races the cancel
        self.close_bfd()
        self.perform(self.session.stop(self.owner.now()))
        pending = [self.timer, *self.tasks]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self.owner.counters.set("metallb_bgp_session_up", 0, peer=self.label)


class PasswordMissing(LbError):
    """A peer needs a password this process cannot find: no session is opened (an
    unauthenticated one would be refused by the peer, or worse, accepted)."""


def recorded_password(plan: BGPSessionPlan) -> str | None:
    """The password as the plan holds it: usable only when it is not a recorded hash."""
    if plan.password and is_hashed(plan.password):
        raise PasswordMissing(
            f"peer {plan.peer}: the log holds only a hash of its password, and no live "
            "value was given"
        )
    return plan.password


class BgpSpeaker:
    """The effector. ``password_of`` reads a peer's password (the live value of its
    inline password or Secret) or raises PasswordMissing; ``on_state`` hears every
    session state change (and why a peer has no session)."""

    def __init__(
        self,
        node: str,
        *,
        counters: Counters | None = None,
        on_state: StateCallback | None = None,
        password_of: Callable[[BGPSessionPlan], str | None] = recorded_password,
        addresses_of: Callable[[str], InterfaceAddresses] | None = None,
        connected: Callable[[str], bool] | None = None,
    ) -> None:
        self.node = node
        self.counters = counters or Counters()
        self.on_state = on_state or (lambda peer, old, new, reason: None)
        self.password_of = password_of
        self.addresses_of = addresses_of or interface_addresses
        self.connected = connected or directly_connected
        self.now = time.monotonic
        self.peers: dict[str, _Peer] = {}
        self.neighbours: dict[str, LinkNeighbours] = {}  # interface -> RA discovery
        self.missing: dict[str, str] = {}  # peer -> why it has no session, as last logged
        self.loop = asyncio.new_event_loop()
        self.bfd = BfdEndpoint(self.loop, self.counters)
        self._thread = threading.Thread(target=self.loop.run_forever, name="bgp", daemon=True)
        self._thread.start()

    def apply(self, plan: NodePlan) -> None:
        self.loop.call_soon_threadsafe(self._converge, plan)

    def sessions(self) -> dict[str, State]:
        """Each peer's state (tests, ``explain``): read on the loop, so consistent."""
        future = asyncio.run_coroutine_threadsafe(self._states(), self.loop)
        return future.result(timeout=10)

    async def _states(self) -> dict[str, State]:
        return {name: peer.session.state for name, peer in self.peers.items()}

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)

    async def _shutdown(self) -> None:
        for peer in self.peers.values():
            await peer.stop()
        self.peers.clear()
        self.bfd.shutdown()
        self._forget_interfaces()
        await asyncio.sleep(0)  # let the transports flush the Cease they were handed

    def neighbours_on(self, interface: str) -> LinkNeighbours:
        """Router Advertisements on ``interface``, started on first use (OSError:
        no such interface, or no raw socket)."""
        if interface not in self.neighbours:
            self.neighbours[interface] = LinkNeighbours(self.loop, interface)
        return self.neighbours[interface]

    def _forget_interfaces(self) -> None:
        """Stop advertising on interfaces no unnumbered peer uses any more."""
        used = {peer.dial.interface for peer in self.peers.values()}
        for interface in [i for i in self.neighbours if i not in used]:
            self.neighbours.pop(interface).close()

    def _converge(self, plan: NodePlan) -> None:
        wanted: dict[str, Dial] = {}
        for name, session in plan.sessions.items():
            if session.vrf or (session.address is None and session.interface is None):
                why = "; ".join(session.conditions) or "unsupported by the native speaker"
                if self.missing.get(name) != why:  # said once, not on every plan
                    log.warning("peer %s: no session: %s", name, why)
                    self.missing[name] = why
                continue
            try:
                password = self.password_of(session)
            except PasswordMissing as exc:
                if self.missing.get(name) != str(exc):
                    log.error("%s: no session", exc)
                    self.missing[name] = str(exc)
                    self.on_state(name, State.IDLE, State.IDLE, str(exc))
                continue
            self.missing.pop(name, None)
            wanted[name] = dial_for(session, password)
        for name in [n for n, p in self.peers.items() if wanted.get(n) != p.dial]:
            peer = self.peers.pop(name)
            peer.close_bfd()  # now: its successor may open one with the same peer
            self.loop.create_task(peer.stop())
        for name, dial in wanted.items():
            if name not in self.peers:
                self.peers[name] = _Peer(name, dial, self)
            self.peers[name].set_bfd(plan.sessions[name].bfd)
            self.peers[name].set_routes(plan.bgp.get(name, ()), plan.route_delta)
        self._forget_interfaces()


@attrs.frozen
class InterfaceAddresses:
    """The node's addresses on the interface a session leaves by: next hops (IPv6
    ones carry the link-local too, RFC 2545; a dual-stack session needs the other
    family's)."""

    link_local: str | None = None
    ipv4: str | None = None
    ipv6: str | None = None  # global

    def of(self, version: int) -> str | None:
        return self.ipv4 if version == 4 else self.ipv6


def directly_connected(address: str) -> bool:
    """Whether the kernel reaches ``address`` without a gateway (on a node's subnet)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        routes = ipr.route("get", dst=address)
        return not any(route.get_attr("RTA_GATEWAY") for route in routes)


def interface_addresses(address: str) -> InterfaceAddresses:
    """The addresses of the interface that holds ``address``, read through netlink."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        index = next(
            (a["index"] for a in ipr.get_addr() if a.get_attr("IFA_ADDRESS") == address), None
        )
        if index is None:
            return InterfaceAddresses()
        own = ipaddress.ip_address(address)
        found = {f"ipv{own.version}": address}  # the connection's own end comes first
        for entry in ipr.get_addr(index=index):
            candidate = ipaddress.ip_address(entry.get_attr("IFA_ADDRESS") or "0.0.0.0")
            if candidate.is_unspecified or (candidate.version == 4 and candidate.is_link_local):
                continue
            if candidate.version == 6 and candidate.is_link_local:
                found.setdefault("link_local", str(candidate))
            else:
                found.setdefault(f"ipv{candidate.version}", str(candidate))
        return InterfaceAddresses(**found)
