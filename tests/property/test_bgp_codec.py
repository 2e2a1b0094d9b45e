"""The BGP codec on arbitrary bytes and on generated messages: a message or a
protocol error carrying the NOTIFICATION to send, never anything else."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from ironlb.announce.bgp.messages import (
    HEADER,
    MARKER,
    BgpError,
    Capabilities,
    Keepalive,
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
from ironlb.announce.bgp.session import CONNECTED, Session, SessionConfig, State

asn = st.integers(1, 2**32 - 1)
u32 = st.integers(0, 2**32 - 1)


def prefixes(version: int):
    bits = 32 if version == 4 else 128
    address = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return st.builds(
        lambda value, length: str(ipaddress.ip_network((address(value), length), strict=False)),
        st.integers(0, 2**bits - 1),
        st.integers(0, bits),
    )


attributes = st.builds(
    PathAttributes,
    origin=st.integers(0, 2),
    as_path=st.lists(
        st.tuples(st.sampled_from([1, 2]), st.lists(asn, min_size=1, max_size=4).map(tuple)),
        max_size=3,
    ).map(tuple),
    next_hop=st.none() | st.ip_addresses(v=4).map(str),
    med=st.none() | u32,
    local_pref=st.none() | u32,
    communities=st.lists(u32, max_size=4).map(tuple),
    large_communities=st.lists(st.tuples(u32, u32, u32), max_size=3).map(tuple),
)

updates = st.builds(
    Update,
    withdrawn=st.lists(prefixes(4), max_size=5).map(tuple),
    attributes=st.none() | attributes,
    nlri=st.lists(prefixes(4), max_size=5).map(tuple),
    mp_reach=st.none()
    | st.builds(
        MpReach,
        afi=st.just(2),
        safi=st.just(1),
        next_hops=st.lists(st.ip_addresses(v=6).map(str), min_size=1, max_size=2).map(tuple),
        prefixes=st.lists(prefixes(6), max_size=5).map(tuple),
    )
    | st.builds(  # IPv4 prefixes with IPv6 next hops (RFC 8950, unnumbered sessions)
        MpReach,
        afi=st.just(1),
        safi=st.just(1),
        next_hops=st.lists(st.ip_addresses(v=6).map(str), min_size=1, max_size=2).map(tuple),
        prefixes=st.lists(prefixes(4), max_size=5).map(tuple),
    ),
    mp_unreach=st.none()
    | st.builds(
        MpUnreach,
        afi=st.just(2),
        safi=st.just(1),
        prefixes=st.lists(prefixes(6), max_size=5).map(tuple),
    ),
)

opens = st.builds(
    lambda real_asn, hold, ident, rr, families, four: Open(
        real_asn if four else min(real_asn, 65535),
        hold,
        str(ipaddress.IPv4Address(ident)),
        Capabilities(families, rr, real_asn if four else None),
    ),
    asn,
    st.sampled_from([0, 3, 90, 65535]),
    st.integers(1, 2**32 - 1),
    st.booleans(),
    st.lists(st.sampled_from([(1, 1), (2, 1)]), unique=True).map(tuple),
    st.booleans(),
)

messages = (
    opens
    | updates
    | st.builds(Notification, st.integers(1, 7), st.integers(0, 11), st.binary(max_size=8))
    | st.just(Keepalive())
    | st.builds(RouteRefresh, st.sampled_from([1, 2]), st.just(1))
)


def well_formed_for_receipt(message) -> bool:
    """An announcing UPDATE without its well-known attributes is treat-as-withdraw on
    receipt (RFC 7606): it decodes, but not to itself."""
    if not isinstance(message, Update) or message.attributes is None:
        return True
    return bool(message.attributes.next_hop) or not message.nlri


@given(messages)
def test_what_is_encoded_decodes_to_the_same_value(message):
    data = encode(message)
    decoded = decode(data)
    if isinstance(message, Update):
        assert decoded.nlri == message.nlri and decoded.withdrawn == message.withdrawn
        assert decoded.mp_reach == message.mp_reach
        assert decoded.mp_unreach == message.mp_unreach
        if message.attributes is not None:
            assert decoded.attributes == message.attributes
        else:  # MP attributes alone: an empty attribute set, never invented values
            assert decoded.attributes in (None, PathAttributes())
        if well_formed_for_receipt(message):
            assert decoded.treat_as_withdraw is None or message.attributes is None
    else:
        assert decoded == message
    assert split_messages(data + data[:7]) == ([data], data[:7])


@given(st.binary(max_size=200), st.integers(0, 255))
def test_arbitrary_bodies_decode_or_fail_with_a_notification(body, kind):
    frame = HEADER.pack(MARKER, HEADER.size + len(body), kind) + body
    try:
        decode(frame)
    except BgpError as error:
        assert 1 <= error.notification().code <= 7


@given(messages, st.data())
def test_a_damaged_message_decodes_or_fails_with_a_notification(message, data):
    raw = bytearray(encode(message))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        for frame in split_messages(bytes(raw))[0]:
            decode(frame)
    except BgpError as error:
        assert isinstance(error.notification(), Notification)


@given(st.lists(st.binary(max_size=120), max_size=6))
def test_a_session_survives_any_bytes_from_its_peer(chunks):
    session = Session(SessionConfig(my_asn=64512, peer_asn=64513, router_id="10.0.0.1"))
    session.start(0)
    session.connection_made(0, "192.0.2.1")
    for chunk in chunks:
        for data in (MARKER + chunk, chunk):
            if session.state not in CONNECTED:  # a driver stops reading a closed connection
                break
            session.data_received(0, data)
    # Whatever came, the session is up or went down naming why, ready to retry.
    assert session.state in CONNECTED or (session.state is State.ACTIVE and session.last_error)
