"""The heartbeat datagram: what a speaker sends is what its peers read, under the
shared key only; anything else is refused with a reason, never an exception."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from ironlb.events.sources.heartbeat_codec import MAGIC, Beat, BeatRefused, decode, encode

KEY = b"k" * 32
BEAT = Beat("node-1", 7, 42, 1700000000.5, True, False, frozenset({"n2"}), frozenset({"n3"}))


def refusal(datagram: bytes, keys=(KEY,)) -> str:
    try:
        decode(datagram, keys)
    except BeatRefused as exc:
        return str(exc)
    raise AssertionError("accepted")


def test_a_beat_round_trips_under_its_key():
    assert decode(encode(BEAT, KEY), (KEY,)) == BEAT


def test_another_key_or_a_changed_byte_is_refused():
    datagram = encode(BEAT, KEY)
    assert "bad MAC" in refusal(datagram, (b"other",))
    flipped = bytearray(datagram)
    flipped[10] ^= 1
    assert "bad MAC" in refusal(bytes(flipped))


def test_the_previous_key_still_verifies_while_a_rotation_settles():
    assert decode(encode(BEAT, b"old"), (b"new", b"old")) == BEAT


def test_memberlist_and_truncated_datagrams_are_told_apart():
    assert refusal(b"\x00memberlist gossip") == "not an ironlb heartbeat"
    assert refusal(MAGIC + b"\x01") == "truncated"


def test_well_signed_nonsense_is_refused_by_field():
    import hashlib
    import hmac

    import msgpack

    def signed(fields) -> bytes:
        body = MAGIC + msgpack.packb(fields)
        return body + hmac.new(KEY, body, hashlib.sha256).digest()[:16]

    assert refusal(signed({"a": 1})) == "malformed: not a heartbeat's fields"
    assert refusal(signed(["", 1, 1, 1.0, 0, [], []])) == "malformed: node"
    assert refusal(signed(["n", -1, 1, 1.0, 0, [], []])) == "malformed: incarnation"
    assert refusal(signed(["n", 1, True, 1.0, 0, [], []])) == "malformed: seq"
    assert refusal(signed(["n", 1, 1, "x", 0, [], []])) == "malformed: sent_at"
    assert refusal(signed(["n", 1, 1, 1.0, 0, [3], []])) == "malformed: misses"


@given(st.binary(max_size=300))
def test_any_bytes_are_a_beat_or_a_refusal(data):
    for datagram in (data, MAGIC + data):
        with contextlib.suppress(BeatRefused):
            decode(datagram, (KEY, b""))
