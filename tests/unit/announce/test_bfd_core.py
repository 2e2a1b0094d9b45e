"""The sans-IO BFD session (RFC 5880) against another one over a simulated link:
the handshake, the profile's intervals and multiplier, detection, the passive role,
the TTL rules, polls, and packets it must drop."""

from __future__ import annotations

import itertools

import pytest

from ironlb.announce.bfd.core import BfdConfig, BfdSession, Transmit
from ironlb.announce.bfd.packets import BfdState, ControlPacket, Diag
from tests.bfd_wire import BfdWire

DEFAULT = BfdConfig()  # MetalLB's defaults: 300 ms, 300 ms, multiplier 3


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_two_sessions_come_up_and_tighten_their_interval_with_a_poll():
    wire = BfdWire(DEFAULT, DEFAULT)
    wire.start()
    wire.run_until(5.0)
    assert wire.a.state is wire.b.state is BfdState.UP
    # While not Up, at most one packet a second (RFC 5880 6.8.3) ...
    first_up = min(t for t, _, c in wire.changes if c.new is BfdState.UP)
    slow = [t for t in wire.sent["a"] if t < first_up]
    assert all(gap >= 0.75 for gap in gaps(slow))
    # ... then the profile's interval, announced with a Poll the peer answered.
    assert wire.a.advertised_tx == 0.3 and not wire.a.polling and not wire.b.polling
    polls = [ControlPacket.decode(p) for p in wire.packets["a"]]
    assert any(p.poll for p in polls) and any(p.final for p in polls)


def test_transmission_follows_the_transmit_interval_and_the_peers_receive_interval():
    fast_sender = BfdConfig(desired_min_tx=0.1, required_min_rx=0.1)
    slow_receiver = BfdConfig(desired_min_tx=0.5, required_min_rx=0.5)
    wire = BfdWire(fast_sender, slow_receiver)
    wire.start()
    wire.run_until(4.0)
    assert wire.a.state is BfdState.UP
    start = len(wire.sent["a"])
    wire.run_until(14.0)
    # a wants 100 ms but b accepts one per 500 ms; b sends at its own 500 ms: both
    # with the 0-25 % jitter of RFC 5880 6.8.7.
    for name in ("a", "b"):
        interval = gaps(wire.sent[name][start:] if name == "a" else wire.sent["b"][-20:])
        assert all(0.375 - 1e-9 <= gap <= 0.5 + 1e-9 for gap in interval), (name, interval)
    advertised = ControlPacket.decode(wire.packets["a"][-1])
    assert advertised.desired_min_tx == 100_000 and advertised.required_min_rx == 100_000


def test_a_silent_peer_is_down_after_the_detection_time():
    # a's detection time: b's multiplier (5) x max(a's receive interval, b's transmit)
    a = BfdConfig(required_min_rx=0.2, desired_min_tx=0.2)
    b = BfdConfig(desired_min_tx=0.3, required_min_rx=0.3, detect_mult=5)
    silent_after = 10.0
    wire = BfdWire(a, b, cut=lambda sender, at: sender == "b" and at >= silent_after)
    wire.start()
    wire.run_until(silent_after)
    assert wire.a.detection_time == pytest.approx(5 * 0.3)
    wire.run_until(20.0)
    (down,) = wire.downs("a")
    last_heard = max(t for t in wire.sent["b"] if t < silent_after) + wire.delay
    assert down - last_heard == pytest.approx(5 * 0.3)
    (change,) = [c for t, who, c in wire.changes if who == "a" and t == down]
    assert change.diag is Diag.TIME_EXPIRED and change.failed
    # Only b's packets are dropped: b hears a's Down and follows ("neighbor down").
    assert wire.b.state is not BfdState.UP


def test_a_passive_session_is_silent_until_the_peer_speaks():
    wire = BfdWire(BfdConfig(passive=True), DEFAULT)
    wire.start("a")
    wire.run_until(30.0)
    assert wire.sent["a"] == []  # nobody spoke: not one packet (RFC 5880 6.8.7)
    wire.start("b")
    wire.run_until(35.0)
    assert wire.a.state is wire.b.state is BfdState.UP
    assert wire.sent["a"][0] > 30.0


def test_single_hop_wants_ttl_255_multihop_its_minimum_ttl():
    hello = ControlPacket(BfdState.DOWN, 3, 9, 0, 1_000_000, 300_000).encode()
    single = BfdSession(DEFAULT, 1)
    assert single.receive(0.0, hello, ttl=254) == []  # one hop off: spoofable (RFC 5881)
    assert single.state is BfdState.DOWN and single.discarded == {"TTL 254": 1}
    assert single.receive(0.0, hello, ttl=255)[0].new is BfdState.INIT
    multihop = BfdSession(BfdConfig(multihop=True, minimum_ttl=250), 1)
    assert multihop.receive(0.0, hello, ttl=249) == []
    assert multihop.receive(0.0, hello, ttl=250)[0].new is BfdState.INIT


def test_a_poll_is_answered_at_once_with_a_final():
    session = BfdSession(DEFAULT, 1)
    session.start(0.0)
    poll = ControlPacket(BfdState.DOWN, 3, 9, 1, 1_000_000, 300_000, poll=True)
    (changed, answer) = session.receive(0.5, poll.encode(), 255)
    reply = ControlPacket.decode(answer.data)
    assert changed.new is BfdState.INIT
    assert reply.final and not reply.poll and reply.your_discriminator == 9


def test_the_peers_admin_down_is_not_a_failure():
    wire = BfdWire(DEFAULT, DEFAULT)
    wire.start()
    wire.run_until(5.0)
    for action in wire.b.stop():  # b's operator: AdminDown, then silence
        if isinstance(action, Transmit):
            wire.deliver("a", action.data)
    ((_, _, change),) = [x for x in wire.changes if x[1] == "a" and x[0] == wire.now]
    assert change.new is BfdState.DOWN and change.peer_admin_down and not change.failed
    assert wire.b.state is BfdState.ADMIN_DOWN and wire.b.next_deadline() is None


def test_a_peers_down_after_up_is_a_failure():
    wire = BfdWire(DEFAULT, DEFAULT)
    wire.start()
    wire.run_until(5.0)
    down = ControlPacket(BfdState.DOWN, 3, wire.b.discriminator, 1, 1_000_000, 300_000)
    wire.deliver("a", down.encode())
    assert wire.a.state is BfdState.DOWN and wire.a.diag is Diag.NEIGHBOR_DOWN
    assert wire.downs("a") == [wire.now]


def test_malformed_packets_are_counted_not_raised():
    session = BfdSession(DEFAULT, 1)
    session.start(0.0)
    wrong_session = ControlPacket(BfdState.UP, 3, 9, 77, 300_000, 300_000).encode()
    for data in (b"", b"\xff" * 24, wrong_session):
        assert session.receive(0.0, data, 255) == []
    assert sum(session.discarded.values()) == 3
    assert session.state is BfdState.DOWN and session.packets_in == 0
