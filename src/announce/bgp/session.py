"""One BGP session as a sans-IO state machine (RFC 4271 section 8), with its
Adj-RIB-Out.

The driver feeds it what happened (a connection made or lost, bytes received,
time passing) with the current time, and performs the actions it returns: open a
connection, send bytes, close. It never reads a clock or touches a socket, so the
whole protocol is tested back to back and fuzzed without either.

ironlb only dials out (as MetalLB's native speaker) and never imports routes: what
peers announce is parsed (errors are protocol errors) and dropped.

Routes are kept as desired (``set_routes``) and as advertised; once Established,
the difference goes out in batched UPDATEs (one per set of identical attributes,
filled up to the 4096-byte limit). Changing what is advertised never resets the
session. After a reconnect everything desired is advertised again.

Theory of operation, as a table
-------------------------------
``RECEIVED`` says what each message does in each state where a connection is up
(RFC 4271 section 8.2.2). A NOTIFICATION ends the session in any state. A message
a state does not expect is the peer's error: a NOTIFICATION "Finite State Machine
Error" with the subcode RFC 6608 gives that state, and the session goes down (to
Active, retrying; to Idle once stopped). Errors are split as h11 splits them: the
peer's are ``BgpError`` (answered on the wire), ironlb's own misuse of a session
(bytes fed with no connection up, a connection reported twice) is
``LocalProtocolError``, raised to the caller and never sent.

Size: about 470 lines, on purpose: the state machine and the Adj-RIB-Out it
guards share one session's state; split, each half would reach into the other.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from ...events.errors import LbError
from ...reconcile.addresses import family_of
from ...reconcile.plan.speaker import BGPRoute
from .messages import (
    ADMINISTRATIVE_SHUTDOWN,
    AFI_IPV4,
    AFI_IPV6,
    BAD_PEER_AS,
    BFD_DOWN,
    MAX_SIZE,
    SAFI_UNICAST,
    UNACCEPTABLE_HOLD_TIME,
    BgpError,
    Capabilities,
    ErrorCode,
    Keepalive,
    Message,
    MpReach,
    MpUnreach,
    Notification,
    Open,
    PathAttributes,
    RouteRefresh,
    Update,
    decode,
    encode,
    split_messages,
)

EXTENDED_NEXT_HOP = 5  # capability code (RFC 8950)
IPV4_OVER_IPV6 = struct.pack("!HHH", AFI_IPV4, SAFI_UNICAST, AFI_IPV6)  # NLRI AFI/SAFI, NH AFI
BACKOFF_FIRST, BACKOFF_CAP = 1.0, 120.0  # MetalLB's: 1 s doubling to 2 min
OPEN_HOLD_TIME = 240.0  # RFC 4271: a large hold time until OPENs are exchanged
GRACEFUL_RESTART_TIME = 120


class State(enum.StrEnum):
    IDLE = "Idle"
    CONNECT = "Connect"
    ACTIVE = "Active"
    OPEN_SENT = "OpenSent"
    OPEN_CONFIRM = "OpenConfirm"
    ESTABLISHED = "Established"


class LocalProtocolError(LbError):
    """The driver used a session wrongly: a bug in ironlb, never the peer's fault."""


MESSAGE_TYPES: dict[type, str] = {
    Open: "open",
    Update: "update",
    Notification: "notification",
    Keepalive: "keepalive",
    RouteRefresh: "route_refresh",
}

CONNECTED = frozenset((State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED))
# RFC 6608: the FSM error subcode names the state the unexpected message came in.
FSM_SUBCODE = {State.OPEN_SENT: 1, State.OPEN_CONFIRM: 2, State.ESTABLISHED: 3}


@attrs.frozen
class SessionConfig:
    my_asn: int
    peer_asn: int  # 0 with dynamic_asn
    router_id: str | None = None  # None: the driver's fallback, given on connection_made
    hold_time: int = 90
    keepalive_time: int | None = None  # None: a third of the negotiated hold time
    connect_time: float | None = None  # fixed retry interval; None: exponential backoff
    dynamic_asn: str | None = None  # "internal" / "external"
    graceful_restart: bool = False
    # The AS the peer sees, in OPEN and in AS_PATH, instead of my_asn (FRR's
    # ``local-as N no-prepend replace-as``); 0: my_asn. eBGP only (config/peers.py).
    local_asn: int = 0
    families: tuple[int, ...] = (4, 6)  # address families offered and carried
    # RFC 8950: IPv4 prefixes with an IPv6 next hop, offered on unnumbered sessions
    # (FRR turns it on for ``neighbor IFACE interface``); used when both offer it.
    extended_next_hop: bool = False

    @property
    def open_asn(self) -> int:
        return self.local_asn or self.my_asn


@attrs.frozen
class Route:
    """What one prefix is announced with on this session (the plan's BGPRoute)."""

    prefix: str
    local_pref: int | None = None
    communities: tuple[int, ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()


# --- actions the driver performs --------------------------------------------------------


@attrs.frozen
class Connect:
    pass


@attrs.frozen
class Send:
    data: bytes


@attrs.frozen
class Close:
    reason: str


@attrs.frozen
class StateChanged:
    old: State
    new: State
    reason: str


Action = Connect | Send | Close | StateChanged


class Session:
    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.state = State.IDLE
        self.desired: dict[str, Route] = {}
        self.advertised: dict[str, Route] = {}
        self.peer: Open | None = None
        self.hold_time = 0.0  # negotiated; 0 means no keepalives and no hold timer
        self.keepalive_interval = 0.0
        self.local_address: str | None = None
        self.link_local: str | None = None
        self.other_family_address: str | None = None  # next hop of the other family
        self.last_error = ""
        # Messages by type ("open", "update", ...), as FRR counts them per neighbour.
        self.sent: dict[str, int] = dict.fromkeys(MESSAGE_TYPES.values(), 0)
        self.received: dict[str, int] = dict.fromkeys(MESSAGE_TYPES.values(), 0)
        self.four_octet = True
        self.extended_next_hop = False  # negotiated (RFC 8950): IPv4 over an IPv6 next hop
        self._buffer = b""
        self._retry_at: float | None = None
        self._backoff = 0.0
        self._hold_deadline: float | None = None
        self._keepalive_at: float | None = None
        self._stopped = True
        self._fallback_router_id = "0.0.0.1"

    # --- inputs ------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        self._stopped = False
        if self.state is State.IDLE:
            self._retry_at = now
        return self.poll(now)

    def stop(self, now: float, reason: str = "administrative shutdown") -> list[Action]:
        """Close for good (the peer left the plan, or the process stops)."""
        self._stopped = True
        self._retry_at = self._hold_deadline = self._keepalive_at = None
        actions: list[Action] = []
        if self.state in (State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED):
            actions.append(self._send(Notification(ErrorCode.CEASE, ADMINISTRATIVE_SHUTDOWN)))
        if self.state is not State.IDLE:
            actions.append(Close(reason))
        return actions + self._move(State.IDLE, reason)

    def connection_made(
        self,
        now: float,
        local_address: str,
        link_local: str | None = None,
        router_id: str = "0.0.0.1",
        other_family_address: str | None = None,
    ) -> list[Action]:
        """Connected; ``router_id`` serves when the configuration names none.
        ``other_family_address``: the node's address of the other family on the same
        interface, the next hop of that family's prefixes on a dual-stack session."""
        if self.state is not State.CONNECT:
            raise LocalProtocolError(f"connection_made in {self.state}: no Connect was asked for")
        self.local_address, self.link_local = local_address, link_local
        self.other_family_address = other_family_address
        self._fallback_router_id = router_id
        self._buffer = b""
        self.peer = None
        self.advertised.clear()  # a new connection starts with an empty Adj-RIB-Out
        self._hold_deadline = now + OPEN_HOLD_TIME
        self._keepalive_at = None
        return [self._send(self._open()), *self._move(State.OPEN_SENT, "connected")]

    def bfd_down(self, now: float, reason: str) -> list[Action]:
        """The BFD session beside this one lost the peer: the path is gone, so the
        session goes at once, not when the hold timer runs out (FRR's and BIRD's
        reaction; the Cease says why, RFC 9384, should it still get through)."""
        if self.state not in CONNECTED:
            return []
        cease = self._send(Notification(ErrorCode.CEASE, BFD_DOWN))
        return [cease, *self.connection_failed(now, reason)]

    def connection_failed(self, now: float, reason: str) -> list[Action]:
        """The connection could not be made, or was lost."""
        if self.state is State.ESTABLISHED:
            self._backoff = 0.0  # as MetalLB: a session that was up retries at once
        return self._down(now, reason)

    def data_received(self, now: float, data: bytes) -> list[Action]:
        if self.state not in CONNECTED:
            raise LocalProtocolError(f"data_received in {self.state}: no connection is up")
        try:
            frames, self._buffer = split_messages(self._buffer + data)
            actions: list[Action] = []
            for frame in frames:
                message = decode(frame, four_octet_as=self.four_octet)
                self.received[MESSAGE_TYPES[type(message)]] += 1
                actions += self._message(now, message)
                if self.state in (State.IDLE, State.ACTIVE):
                    break
            return actions
        except BgpError as error:
            return self._error(now, error)

    def poll(self, now: float) -> list[Action]:
        """Timers: connect retry, keepalive, hold. Call at ``next_deadline()``."""
        actions: list[Action] = []
        waiting = self.state in (State.IDLE, State.ACTIVE) and not self._stopped
        if waiting and self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            actions += [Connect(), *self._move(State.CONNECT, "connecting")]
        if self._hold_deadline is not None and now >= self._hold_deadline:
            error = BgpError(ErrorCode.HOLD_TIMER_EXPIRED, 0, "hold timer expired")
            return actions + self._error(now, error)
        if self._keepalive_at is not None and now >= self._keepalive_at:
            actions.append(self._send(Keepalive()))
            self._keepalive_at = now + self.keepalive_interval
        return actions

    def next_deadline(self) -> float | None:
        times = [t for t in (self._retry_at, self._hold_deadline, self._keepalive_at) if t]
        return min(times) if times else None

    def set_routes(self, routes: Iterable[Route]) -> list[Action]:
        """What this session should advertise; the difference goes out if Established."""
        self.desired = {r.prefix: r for r in routes}
        return self._sync()

    def update_routes(self, changed: Iterable[Route], removed: Iterable[str]) -> list[Action]:
        """A change of what this session advertises: routes added or altered, and
        prefixes no longer wanted. Costs what changed, not what is held."""
        touched = []
        for prefix in removed:
            self.desired.pop(prefix, None)
            touched.append(prefix)
        for route in changed:
            self.desired[route.prefix] = route
            touched.append(route.prefix)
        return self._sync(only=touched)

    @property
    def updates_sent(self) -> int:
        return self.sent["update"]

    # --- internals ----------------------------------------------------------------

    def _send(self, *messages: Message) -> Send:
        for message in messages:
            self.sent[MESSAGE_TYPES[type(message)]] += 1
        return Send(b"".join(encode(m, four_octet_as=self.four_octet) for m in messages))

    def _open(self) -> Open:
        afis = {4: AFI_IPV4, 6: AFI_IPV6}
        families = tuple((afis[f], SAFI_UNICAST) for f in sorted(self.config.families))
        graceful = None
        if self.config.graceful_restart:
            # Forwarding survives a speaker restart (kube-proxy keeps serving), so
            # the F bit is set for each family.
            graceful = (0, GRACEFUL_RESTART_TIME, tuple((a, s, 0x80) for a, s in families))
        other = ((EXTENDED_NEXT_HOP, IPV4_OVER_IPV6),) if self.config.extended_next_hop else ()
        capabilities = Capabilities(families, True, self.config.open_asn, graceful, other)
        router_id = self.config.router_id or self._fallback_router_id
        return Open(self.config.open_asn, self.config.hold_time, router_id, capabilities)

    def _message(self, now: float, message: object) -> list[Action]:
        if isinstance(message, Notification):
            return self._down(now, f"peer sent NOTIFICATION {message.describe()}")
        handler = RECEIVED.get((self.state, type(message)))
        if handler is None:
            subcode = FSM_SUBCODE[self.state]
            raise BgpError(ErrorCode.FSM, subcode, f"{type(message).__name__} in {self.state}")
        return handler(self, now, message)

    def _confirmed(self, now: float, _keepalive: Keepalive) -> list[Action]:
        self._restart_hold(now)
        return self._move(State.ESTABLISHED, "established") + self._sync(initial=True)

    def _alive(self, now: float, _message: object) -> list[Action]:
        """A KEEPALIVE, or an UPDATE (ironlb imports nothing): the peer is there."""
        self._restart_hold(now)
        return []

    def _refresh_requested(self, now: float, _refresh: RouteRefresh) -> list[Action]:
        self._restart_hold(now)
        return self._resend()

    def _open_received(self, now: float, peer: Open) -> list[Action]:
        expected = self.config.peer_asn
        if self.config.dynamic_asn == "internal":
            expected = self.config.my_asn
        if self.config.dynamic_asn == "external":
            if peer.asn == self.config.my_asn:
                raise BgpError(
                    ErrorCode.OPEN_MESSAGE,
                    BAD_PEER_AS,
                    f"peer AS {peer.asn} is ours; expected external",
                )
        elif peer.asn != expected:
            raise BgpError(
                ErrorCode.OPEN_MESSAGE, BAD_PEER_AS, f"peer AS {peer.asn}, expected {expected}"
            )
        if peer.hold_time in (1, 2):
            raise BgpError(
                ErrorCode.OPEN_MESSAGE, UNACCEPTABLE_HOLD_TIME, f"hold time {peer.hold_time}"
            )
        self.peer = peer
        self.four_octet = peer.capabilities.four_octet_as is not None
        self.extended_next_hop = self.config.extended_next_hop and any(
            code == EXTENDED_NEXT_HOP and _offers(value, IPV4_OVER_IPV6)
            for code, value in peer.capabilities.other
        )
        self.hold_time = float(min(self.config.hold_time, peer.hold_time))
        keepalive = self.config.keepalive_time
        if self.hold_time == 0:
            self.keepalive_interval = 0.0
        elif keepalive:
            self.keepalive_interval = float(min(keepalive, self.hold_time / 3))
        else:
            self.keepalive_interval = self.hold_time / 3
        self._restart_hold(now)
        self._keepalive_at = now + self.keepalive_interval if self.keepalive_interval else None
        return [self._send(Keepalive()), *self._move(State.OPEN_CONFIRM, "OPEN received")]

    def _restart_hold(self, now: float) -> None:
        self._hold_deadline = now + self.hold_time if self.hold_time else None

    def _error(self, now: float, error: BgpError) -> list[Action]:
        self.last_error = str(error)
        actions: list[Action] = []
        if self.state in (State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED):
            actions.append(self._send(error.notification()))
        return actions + self._down(now, str(error))

    def _down(self, now: float, reason: str) -> list[Action]:
        self.last_error = reason
        self._hold_deadline = self._keepalive_at = None
        self._buffer = b""
        actions: list[Action] = []
        if self.state in (State.OPEN_SENT, State.OPEN_CONFIRM, State.ESTABLISHED):
            actions.append(Close(reason))
        if self._stopped:
            return actions + self._move(State.IDLE, reason)
        if self.config.connect_time:
            delay = self.config.connect_time
        else:
            delay = self._backoff
            self._backoff = min(BACKOFF_CAP, max(BACKOFF_FIRST, self._backoff * 2))
        self._retry_at = now + delay
        return actions + self._move(State.ACTIVE, reason)

    def _move(self, state: State, reason: str) -> list[Action]:
        if state is self.state:
            return []
        old, self.state = self.state, state
        if state is State.ESTABLISHED:
            self._backoff = 0.0
        return [StateChanged(old, state, reason)]

    # --- the Adj-RIB-Out --------------------------------------------------------------

    @property
    def ibgp(self) -> bool:
        if self.config.dynamic_asn:
            return self.config.dynamic_asn == "internal"
        return self.config.my_asn == self.config.peer_asn

    def _resend(self) -> list[Action]:
        self.advertised.clear()
        return self._sync()

    def _sync(self, *, initial: bool = False, only: Iterable[str] | None = None) -> list[Action]:
        """Send the difference between desired and advertised: for every prefix, or
        for the prefixes ``only`` names (an update that touched just those)."""
        if self.state is not State.ESTABLISHED:
            return []
        versions = self._sendable_versions()
        if only is None:
            prefixes = [*self.desired, *(p for p in self.advertised if p not in self.desired)]
        else:
            prefixes = list(dict.fromkeys(only))  # once each, in the order given
        withdrawn, changed = [], []
        for prefix in prefixes:
            route = self.desired.get(prefix)
            if route is not None and family_of(prefix) in versions:
                if self.advertised.get(prefix) != route:
                    changed.append(route)
            elif prefix in self.advertised:
                withdrawn.append(prefix)
        messages = list(self._withdrawals(withdrawn)) + list(self._announcements(changed))
        for prefix in withdrawn:
            del self.advertised[prefix]
        for route in changed:
            self.advertised[route.prefix] = route
        if initial and self.peer is not None and self.peer.capabilities.graceful_restart:
            messages += self._end_of_rib()
        if not messages:
            return []
        return [self._send(*messages)]

    def _end_of_rib(self) -> list[Update]:
        """RFC 4724: one marker per family both sides use."""
        offered = self.peer.capabilities.multiprotocol if self.peer else ()
        ours = self.config.families
        markers = []
        if 4 in ours and ((AFI_IPV4, SAFI_UNICAST) in offered or not offered):
            markers.append(Update())
        if 6 in ours and (AFI_IPV6, SAFI_UNICAST) in offered:
            markers.append(Update(mp_unreach=MpUnreach(AFI_IPV6, SAFI_UNICAST, ())))
        return markers

    def _withdrawals(self, prefixes: list[str]) -> Iterable[Update]:
        v4 = [p for p in prefixes if family_of(p) == 4]
        v6 = [p for p in prefixes if family_of(p) == 6]
        room = MAX_SIZE - 64  # the header, the lengths and MP_UNREACH's own header
        for chunk in _chunks(v4, room // 5):  # a /32 takes 5 octets
            yield Update(withdrawn=tuple(chunk))
        for chunk in _chunks(v6, room // 17):  # a /128 takes 17
            yield Update(mp_unreach=MpUnreach(AFI_IPV6, SAFI_UNICAST, tuple(chunk)))

    def _announcements(self, routes: list[Route]) -> Iterable[Update]:
        groups: dict[tuple, list[str]] = {}
        for route in routes:
            version = family_of(route.prefix)
            key = (version, route.local_pref, route.communities, route.large_communities)
            groups.setdefault(key, []).append(route.prefix)
        for (version, local_pref, communities, large), prefixes in sorted(groups.items()):
            classic = version == 4 and self._address_of(4) is not None  # else RFC 8950
            attributes = PathAttributes(
                origin=0,
                as_path=() if self.ibgp else ((2, (self.config.open_asn,)),),
                next_hop=self._address_of(4) if classic else None,
                local_pref=local_pref if self.ibgp else None,
                communities=communities,
                large_communities=large,
            )
            room = MAX_SIZE - len(encode(Update(attributes=attributes), four_octet_as=True)) - 64
            per_prefix = 5 if version == 4 else 17
            afi = AFI_IPV4 if version == 4 else AFI_IPV6
            for chunk in _chunks(prefixes, max(1, room // per_prefix)):
                if classic:
                    yield Update(attributes=attributes, nlri=tuple(chunk))
                else:
                    reach = MpReach(afi, SAFI_UNICAST, self._ipv6_next_hops(), tuple(chunk))
                    yield Update(attributes=attributes, mp_reach=reach)

    def _sendable_versions(self) -> frozenset[int]:
        """The families this session sends now: those it carries and both sides
        negotiated (RFC 4760: no capability, IPv4 alone), with a next hop of the
        family known."""
        offered = self.peer.capabilities.multiprotocol if self.peer else ()
        versions = set()
        for version in self.config.families:
            afi = AFI_IPV4 if version == 4 else AFI_IPV6
            if (afi, SAFI_UNICAST) not in offered and (offered or version == 6):
                continue
            if self._address_of(version) is not None:
                versions.add(version)
            elif version == 4 and self.extended_next_hop and self._ipv6_next_hops():
                versions.add(4)  # RFC 8950: an IPv6 next hop
        return frozenset(versions)

    def _address_of(self, version: int) -> str | None:
        """The node's address of ``version`` on this connection: the local end, or on a
        dual-stack session the interface's address of the other family."""
        for address in (self.local_address, self.other_family_address):
            if address is not None and ipaddress.ip_address(address).version == version:
                return address
        return None

    def _ipv6_next_hops(self) -> tuple[str, ...]:
        address = self._address_of(6)
        if address is None:
            return ()
        return (address, self.link_local) if self.link_local else (address,)


def _offers(value: bytes, triple: bytes) -> bool:
    """Whether an extended next hop capability's value lists ``triple``."""
    return any(value[i : i + 6] == triple for i in range(0, len(value) - 5, 6))


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def merged_route(routes: Iterable[BGPRoute]) -> Route:
    """One prefix's plan routes as the one route a session sends: two advertisements
    of a prefix send the union of their communities (MetalLB's FRR modes: each adds
    its own, "additive"), communities as numbers."""
    routes = list(routes)
    prefs = [r.local_pref for r in routes if r.local_pref is not None]
    return Route(
        routes[0].prefix,
        max(prefs) if prefs else None,
        tuple(sorted({_community(c) for r in routes for c in r.communities})),
        tuple(sorted({_large(c) for r in routes for c in r.large_communities})),
    )


def _community(text: str) -> int:
    high, _, low = text.partition(":")
    return (int(high) << 16) | int(low)


def _large(text: str) -> tuple[int, int, int]:
    a, b, c = text.split(":")
    return int(a), int(b), int(c)


# What a received message does, by state (see the module docstring). The handlers
# are Session methods; anything not here is an FSM error.
RECEIVED: dict[tuple[State, type], Callable[[Session, float, Any], list[Action]]] = {
    (State.OPEN_SENT, Open): Session._open_received,
    (State.OPEN_CONFIRM, Keepalive): Session._confirmed,
    (State.ESTABLISHED, Keepalive): Session._alive,
    (State.ESTABLISHED, Update): Session._alive,
    (State.ESTABLISHED, RouteRefresh): Session._refresh_requested,
}
