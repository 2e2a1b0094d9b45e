"""Two sans-IO BGP sessions wired back to back: the FSM, timers, routes, errors."""

from __future__ import annotations

import pytest

from ironlb.announce.bgp.messages import (
    ErrorCode,
    Keepalive,
    Notification,
    Open,
    RouteRefresh,
    Update,
    decode,
    encode,
    split_messages,
)
from ironlb.announce.bgp.session import (
    CONNECTED,
    Close,
    Connect,
    LocalProtocolError,
    Route,
    Send,
    Session,
    SessionConfig,
    State,
    merged_route,
)
from ironlb.reconcile.plan.speaker import BGPRoute


def sent(actions) -> list:
    """Every message the actions send, decoded."""
    frames, rest = split_messages(b"".join(a.data for a in actions if isinstance(a, Send)))
    assert rest == b""
    return [decode(f) for f in frames]


class Wire:
    """Two sessions and the bytes in flight between them."""

    def __init__(self, a: SessionConfig, b: SessionConfig) -> None:
        self.a, self.b = Session(a), Session(b)
        self.now = 0.0
        self.from_a: list = []  # every message a sent through exchange()

    def connect(self) -> None:
        assert any(isinstance(x, Connect) for x in self.a.start(self.now))
        self.b.start(self.now)
        self.exchange(
            self.a.connection_made(self.now, "192.0.2.1"),
            self.b.connection_made(self.now, "192.0.2.2"),
        )

    def exchange(self, from_a: list, from_b: list) -> None:
        """Deliver until quiet."""
        for _ in range(20):
            data_a = b"".join(x.data for x in from_a if isinstance(x, Send))
            data_b = b"".join(x.data for x in from_b if isinstance(x, Send))
            if not data_a and not data_b:
                return
            self.from_a += sent(from_a)
            # As a driver does: bytes reach a session only while its connection is up.
            from_b = self.b.data_received(self.now, data_a) if data_a and up(self.b) else []
            from_a = self.a.data_received(self.now, data_b) if data_b and up(self.a) else []
        raise AssertionError("the sessions never went quiet")


def up(session: Session) -> bool:
    return session.state in CONNECTED


def config(my: int, peer: int, **extra) -> SessionConfig:
    return SessionConfig(my_asn=my, peer_asn=peer, router_id=f"10.0.0.{my % 250}", **extra)


def test_sessions_establish_and_negotiate_the_lower_hold_time():
    wire = Wire(config(64512, 64513, hold_time=90), config(64513, 64512, hold_time=30))
    wire.connect()
    assert wire.a.state is wire.b.state is State.ESTABLISHED
    assert wire.a.hold_time == wire.b.hold_time == 30
    assert wire.a.keepalive_interval == 10


def test_routes_are_announced_batched_and_withdrawn_without_a_reset():
    wire = Wire(config(64512, 64513), config(64513, 64512))
    wire.connect()
    routes = [Route(f"10.0.{i // 256}.{i % 256}/32", None, (0xFDE80064,)) for i in range(300)]
    routes.append(Route("203.0.113.0/24"))
    actions = wire.a.set_routes(routes)
    updates = [m for m in sent(actions) if isinstance(m, Update)]
    assert len(updates) == 2  # one per set of attributes, 300 /32s fit in one message
    announced = {p for u in updates for p in u.nlri}
    assert announced == {r.prefix for r in routes}
    first = next(u for u in updates if "203.0.113.0/24" not in u.nlri)
    assert first.attributes.as_path == ((2, (64512,)),)
    assert first.attributes.next_hop == "192.0.2.1"
    assert first.attributes.local_pref is None  # eBGP
    assert first.attributes.communities == (0xFDE80064,)

    actions = wire.a.set_routes(routes[1:])
    (withdrawal,) = sent(actions)
    assert withdrawal.withdrawn == ("10.0.0.0/32",) and not withdrawal.nlri
    assert wire.a.state is State.ESTABLISHED and not any(isinstance(x, Close) for x in actions)
    assert wire.a.set_routes(routes[1:]) == []  # nothing changed: nothing sent


def test_ibgp_carries_local_pref_and_an_empty_as_path_ipv6_goes_in_mp_reach():
    wire = Wire(config(64512, 64512), config(64512, 64512))
    wire.a.start(0)
    wire.b.start(0)
    wire.exchange(
        wire.a.connection_made(0, "2001:db8::1", "fe80::1"),
        wire.b.connection_made(0, "2001:db8::2"),
    )
    actions = wire.a.set_routes([Route("2001:db8:ff::5/128", 150, (), ((64512, 1, 2),))])
    (update,) = sent(actions)
    assert update.mp_reach.prefixes == ("2001:db8:ff::5/128",)
    assert update.mp_reach.next_hops == ("2001:db8::1", "fe80::1")
    assert update.attributes.as_path == () and update.attributes.local_pref == 150
    assert update.attributes.large_communities == ((64512, 1, 2),)
    (gone,) = sent(wire.a.set_routes([]))
    assert gone.mp_unreach.prefixes == ("2001:db8:ff::5/128",)


def test_a_wrong_peer_as_is_refused_with_a_notification():
    wire = Wire(config(64512, 65000), config(64513, 64512))
    wire.a.start(0)
    wire.b.start(0)
    actions = wire.a.connection_made(0, "192.0.2.1")
    reply = wire.b.connection_made(0, "192.0.2.2")
    refused = wire.a.data_received(0, b"".join(x.data for x in reply if isinstance(x, Send)))
    (notification,) = sent(refused)
    assert notification == Notification(2, 2)  # OPEN message error / bad peer AS
    assert wire.a.state is State.ACTIVE and "64513" in wire.a.last_error
    assert actions  # the OPEN went out first


def test_hold_timer_expiry_closes_and_the_retry_backs_off():
    wire = Wire(config(64512, 64513, hold_time=9), config(64513, 64512, hold_time=9))
    wire.connect()
    wire.now = 9.5  # the peer went silent
    actions = wire.a.poll(wire.now)
    assert Notification(4, 0) in sent(actions)
    assert any(isinstance(x, Close) for x in actions) and wire.a.state is State.ACTIVE
    retries = []
    for _ in range(4):  # each failed attempt waits twice as long, from 0 s (MetalLB's)
        at = wire.a.next_deadline()
        retries.append(at - wire.now)
        wire.now = at
        assert any(isinstance(x, Connect) for x in wire.a.poll(wire.now))
        wire.a.connection_failed(wire.now, "refused")
    assert retries == [0.0, 1.0, 2.0, 4.0]


def test_keepalives_go_out_at_a_third_of_the_hold_time():
    wire = Wire(config(64512, 64513, hold_time=30), config(64513, 64512, hold_time=30))
    wire.connect()
    wire.now = wire.a.next_deadline()
    assert wire.now == 10.0 and sent(wire.a.poll(wire.now)) == [Keepalive()]


def test_routes_are_sent_again_after_a_reconnect_and_on_route_refresh():
    wire = Wire(config(64512, 64513), config(64513, 64512))
    wire.connect()
    wire.a.set_routes([Route("192.0.2.10/32")])
    wire.a.connection_failed(0, "reset")
    wire.b.connection_failed(0, "reset")
    assert any(isinstance(x, Connect) for x in wire.a.poll(0))  # at once: it was up
    wire.b.poll(0)
    wire.from_a.clear()
    wire.exchange(wire.a.connection_made(0, "192.0.2.1"), wire.b.connection_made(0, "192.0.2.2"))
    assert wire.a.state is State.ESTABLISHED
    assert any(isinstance(m, Update) and m.nlri == ("192.0.2.10/32",) for m in wire.from_a)
    again = sent(wire.a.data_received(0, encode(RouteRefresh(1, 1))))
    assert [m.nlri for m in again] == [("192.0.2.10/32",)]


def test_garbage_from_the_peer_is_a_header_error_not_a_crash():
    wire = Wire(config(64512, 64513), config(64513, 64512))
    wire.connect()
    actions = wire.a.data_received(0, b"\x00" * 19)
    assert sent(actions) == [Notification(1, 1)]  # connection not synchronized
    assert wire.a.state is State.ACTIVE


@pytest.mark.parametrize(
    "peer_asn,dynamic,ok",
    [
        (64512, "internal", True),
        (64513, "internal", False),
        (64513, "external", True),
        (64512, "external", False),
    ],
)
def test_dynamic_asn(peer_asn, dynamic, ok):
    wire = Wire(config(64512, 0, dynamic_asn=dynamic), config(peer_asn, 64512))
    wire.connect()
    assert (wire.a.state is State.ESTABLISHED) is ok


def test_a_stop_says_cease():
    wire = Wire(config(64512, 64513), config(64513, 64512))
    wire.connect()
    actions = wire.a.stop(0)
    assert sent(actions) == [Notification(6, 2)]
    assert wire.a.state is State.IDLE and wire.a.next_deadline() is None


def test_a_bfd_failure_ends_the_session_at_once_with_a_cease():
    wire = Wire(config(64512, 64513, hold_time=90), config(64513, 64512, hold_time=90))
    wire.connect()
    wire.now = 1.0  # long before the hold timer
    actions = wire.a.bfd_down(wire.now, "BFD session down (time expired)")
    assert sent(actions) == [Notification(6, 10)]  # Cease, "BFD Down" (RFC 9384)
    assert any(isinstance(x, Close) for x in actions)
    assert wire.a.state is State.ACTIVE and wire.a.last_error == "BFD session down (time expired)"
    assert wire.a.next_deadline() == wire.now  # a session that was up redials at once
    assert wire.a.bfd_down(wire.now, "again") == []  # nothing left to tear down


def test_open_carries_the_capabilities():
    wire = Wire(config(4_200_000_000, 64513, graceful_restart=True), config(64513, 64512))
    wire.a.start(0)
    (message,) = sent(wire.a.connection_made(0, "192.0.2.1"))
    assert isinstance(message, Open) and message.asn == 4_200_000_000
    raw = encode(message)
    assert raw[20:22] == (23456).to_bytes(2, "big")  # AS_TRANS in My Autonomous System
    caps = message.capabilities
    assert caps.multiprotocol == ((1, 1), (2, 1)) and caps.route_refresh
    assert caps.graceful_restart == (0, 120, ((1, 1, 0x80), (2, 1, 0x80)))


@pytest.mark.parametrize(
    ("state", "message", "subcode"),
    [
        (State.OPEN_SENT, Keepalive(), 1),
        (State.OPEN_SENT, Update(), 1),
        (State.OPEN_CONFIRM, Update(), 2),
        (State.OPEN_CONFIRM, RouteRefresh(1, 1), 2),
        (State.ESTABLISHED, Open(64513, 90, "10.0.0.9"), 3),
    ],
)
def test_a_message_a_state_does_not_expect_is_an_fsm_error(state, message, subcode):
    """RFC 4271 section 8.2.2: NOTIFICATION (FSM Error, RFC 6608's subcode for the
    state), close, and back to Active to retry."""
    wire = Wire(config(64512, 64513), config(64513, 64512))
    wire.a.start(0)
    actions = wire.a.connection_made(0, "192.0.2.1")
    if state is not State.OPEN_SENT:
        actions = wire.a.data_received(0, encode(Open(64513, 90, "10.0.0.13")))
    if state is State.ESTABLISHED:
        wire.a.data_received(0, encode(Keepalive()))
    assert wire.a.state is state
    actions = wire.a.data_received(0, encode(message))
    assert sent(actions) == [Notification(ErrorCode.FSM, subcode)]
    assert any(isinstance(a, Close) for a in actions)
    assert wire.a.state is State.ACTIVE and "in " + str(state) in wire.a.last_error


def test_misuse_by_ironlb_is_a_local_error_never_sent_to_the_peer():
    session = Session(config(64512, 64513))
    with pytest.raises(LocalProtocolError, match="data_received in Idle"):
        session.data_received(0, encode(Keepalive()))
    with pytest.raises(LocalProtocolError, match="connection_made in Idle"):
        session.connection_made(0, "192.0.2.1")
    session.start(0)
    session.connection_made(0, "192.0.2.1")
    with pytest.raises(LocalProtocolError, match="connection_made in OpenSent"):
        session.connection_made(0, "192.0.2.1")
    assert session.state is State.OPEN_SENT  # a local error changes nothing


def dual_wire(a: SessionConfig, b: SessionConfig, other: str | None) -> Wire:
    """``a`` on IPv4, its interface also holding ``other`` (IPv6) and fe80::1."""
    wire = Wire(a, b)
    wire.a.start(0)
    wire.b.start(0)
    wire.exchange(
        wire.a.connection_made(0, "192.0.2.1", "fe80::1", "192.0.2.1", other),
        wire.b.connection_made(0, "192.0.2.2"),
    )
    return wire


BOTH = [Route("198.51.100.10/32"), Route("2001:db8:ff::5/128")]


def test_a_session_carries_only_its_own_family_unless_dual_stack():
    wire = dual_wire(config(64512, 64513, families=(4,)), config(64513, 64512), "2001:db8::1")
    opened = next(m for m in wire.from_a if isinstance(m, Open))
    assert opened.capabilities.multiprotocol == ((1, 1),)  # IPv6 unicast not offered
    (update,) = sent(wire.a.set_routes(BOTH))
    assert update.nlri == ("198.51.100.10/32",) and update.mp_reach is None


def unnumbered_wire(offered_by_peer: bool) -> Wire:
    """``a`` over link-local addresses only, as on an unnumbered interface."""
    wire = Wire(
        config(64512, 64513, extended_next_hop=True),
        config(64513, 64512, extended_next_hop=offered_by_peer),
    )
    wire.a.start(0)
    wire.b.start(0)
    wire.exchange(
        wire.a.connection_made(0, "fe80::1", "fe80::1", "10.0.0.1"),
        wire.b.connection_made(0, "fe80::2", "fe80::2", "10.0.0.2"),
    )
    return wire


def test_an_unnumbered_session_sends_ipv4_with_an_ipv6_next_hop():
    wire = unnumbered_wire(offered_by_peer=True)
    opened = next(m for m in wire.from_a if isinstance(m, Open))
    assert (5, bytes.fromhex("000100010002")) in opened.capabilities.other  # RFC 8950
    assert wire.a.extended_next_hop
    updates = sent(wire.a.set_routes(BOTH))
    v4 = next(u for u in updates if u.mp_reach and u.mp_reach.afi == 1)
    assert v4.mp_reach.prefixes == ("198.51.100.10/32",) and v4.nlri == ()
    assert v4.mp_reach.next_hops == ("fe80::1", "fe80::1")  # no global: the link-local
    assert v4.attributes.next_hop is None  # no IPv4 NEXT_HOP attribute
    assert any(u.mp_reach and u.mp_reach.afi == 2 for u in updates)
    (withdrawal,) = sent(wire.a.set_routes(BOTH[1:]))
    assert withdrawal.withdrawn == ("198.51.100.10/32",)


def test_without_the_peers_extended_next_hop_ipv4_stays_home():
    wire = unnumbered_wire(offered_by_peer=False)
    assert not wire.a.extended_next_hop
    (update,) = sent(wire.a.set_routes(BOTH))
    assert update.mp_reach.afi == 2 and update.nlri == ()  # IPv6 only: no IPv4 next hop


def test_a_dual_stack_session_sends_ipv6_with_the_interfaces_ipv6_next_hop():
    wire = dual_wire(config(64512, 64513), config(64513, 64512), "2001:db8::1")
    opened = next(m for m in wire.from_a if isinstance(m, Open))
    assert opened.capabilities.multiprotocol == ((1, 1), (2, 1))
    updates = sent(wire.a.set_routes(BOTH))
    v4 = next(u for u in updates if u.nlri)
    v6 = next(u for u in updates if u.mp_reach is not None)
    assert v4.attributes.next_hop == "192.0.2.1"
    assert v6.mp_reach.prefixes == ("2001:db8:ff::5/128",)
    assert v6.mp_reach.next_hops == ("2001:db8::1", "fe80::1")


def test_a_dual_stack_session_without_an_ipv6_address_keeps_its_ipv6_prefixes():
    wire = dual_wire(config(64512, 64513), config(64513, 64512), None)
    (update,) = sent(wire.a.set_routes(BOTH))  # no next hop for IPv6: only IPv4 goes
    assert update.nlri == ("198.51.100.10/32",) and update.mp_reach is None


def test_local_asn_replaces_my_asn_in_the_open_and_the_as_path():
    # FRR's "local-as 64600 no-prepend replace-as": the peer sees only 64600.
    wire = Wire(config(64512, 64513, local_asn=64600), config(64513, 64600))
    wire.connect()
    assert wire.a.state is wire.b.state is State.ESTABLISHED
    opened = next(m for m in wire.from_a if isinstance(m, Open))
    assert opened.asn == 64600 and opened.capabilities.four_octet_as == 64600
    (update,) = sent(wire.a.set_routes([Route("198.51.100.10/32")]))
    assert update.attributes.as_path == ((2, (64600,)),)


def test_a_peer_expecting_my_asn_refuses_a_local_asn_session():
    wire = Wire(config(64512, 64513, local_asn=64600), config(64513, 64512))
    wire.connect()
    assert wire.b.state is not State.ESTABLISHED
    assert "peer AS 64600, expected 64512" in wire.b.last_error


def test_router_id_keepalive_and_connect_time_come_from_the_configuration():
    wire = Wire(config(64512, 64513, keepalive_time=7, connect_time=5.0), config(64513, 64512))
    wire.connect()
    opened = next(m for m in wire.from_a if isinstance(m, Open))
    assert opened.router_id == "10.0.0.12"  # routerID, not the connection's address
    assert wire.a.keepalive_interval == 7  # keepaliveTime below a third of the hold time
    wire.a.connection_failed(100.0, "gone")
    assert wire.a.next_deadline() == 105.0  # connectTime: a fixed retry, no backoff


def test_two_advertisements_of_one_prefix_send_the_union_of_their_communities():
    # MetalLB's FRR modes: each advertisement adds its communities to the one route.
    plan = [
        BGPRoute("198.51.100.10/32", None, ("1:1",), ()),
        BGPRoute("198.51.100.10/32", None, ("2:2",), ("64512:1:2",)),
    ]
    route = merged_route(plan)
    assert route.communities == ((1 << 16) | 1, (2 << 16) | 2)
    assert route.large_communities == ((64512, 1, 2),)


def test_an_update_sends_only_what_it_touches():
    wire = Wire(config(64512, 64513), config(64513, 64512))
    wire.connect()
    held = [Route(f"10.0.{i // 256}.{i % 256}/32") for i in range(1000)]
    wire.a.set_routes(held)
    (added,) = sent(wire.a.update_routes([Route("203.0.113.1/32")], []))
    assert added.nlri == ("203.0.113.1/32",)
    (gone,) = sent(wire.a.update_routes([], ["10.0.0.7/32"]))
    assert gone.withdrawn == ("10.0.0.7/32",)
    assert wire.a.update_routes([held[1]], []) == []  # as advertised: nothing to send
    assert len(wire.a.advertised) == 1000
