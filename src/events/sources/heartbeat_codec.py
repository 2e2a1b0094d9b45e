"""The speakers' heartbeat datagram: msgpack, authenticated with HMAC-SHA256.

One UDP datagram per heartbeat, on MetalLB's memberlist port (7946) so existing
firewall rules carry over. The magic prefix tells ironlb's datagrams from
memberlist's (a MetalLB speaker may still run there during a takeover): those are
dropped, never parsed. The MAC covers everything before it; the key is the
``secretkey`` of MetalLB's ``memberlist`` Secret, or a file for standalone
speakers; an empty key still detects corruption but authenticates nothing.

Replays are refused by the receiver (``heartbeat_core``): a beat older than the
newest seen from the same speaker's incarnation, or sent outside the accepted
clock window, is dropped. Nothing here trusts the payload before the MAC is
checked, and nothing raises but ``BeatRefused``.
"""

from __future__ import annotations

import hashlib
import hmac

import attrs
import msgpack

MAGIC = b"ILB\x01"
MAC_LENGTH = 16  # HMAC-SHA256 truncated (RFC 2104 section 5): 128 bits
MAX_DATAGRAM = 65_000
READY, LEAVING = 1, 2  # flags


class BeatRefused(ValueError):
    """A datagram that is not a heartbeat this speaker accepts; the reason is its text."""


@attrs.frozen
class Beat:
    """What a speaker tells its peers, ``interval`` apart."""

    node: str
    incarnation: int  # new each start: a restarted speaker is a new life
    seq: int  # rises with every beat of one incarnation
    sent_at: float  # the sender's wall clock (the replay window)
    ready: bool  # its plan is applied: it answers for what it is elected for
    leaving: bool  # stopping on purpose: take its addresses over now
    misses: frozenset[str] = frozenset()  # peers it heard before and hears no more
    released: frozenset[str] = frozenset()  # peers it judges gone, their takeover applied


def encode(beat: Beat, key: bytes) -> bytes:
    flags = (READY if beat.ready else 0) | (LEAVING if beat.leaving else 0)
    body = MAGIC + msgpack.packb(
        [beat.node, beat.incarnation, beat.seq, beat.sent_at, flags,
         sorted(beat.misses), sorted(beat.released)],
        use_bin_type=True,
    )  # fmt: skip
    return body + _mac(key, body)


def decode(datagram: bytes, keys: tuple[bytes, ...]) -> Beat:
    """The beat in ``datagram`` if its MAC verifies under one of ``keys`` (the
    current key and, while a rotation settles, the previous one)."""
    if not datagram.startswith(MAGIC):
        raise BeatRefused("not an ironlb heartbeat")
    if len(datagram) < len(MAGIC) + MAC_LENGTH + 1:
        raise BeatRefused("truncated")
    body, mac = datagram[:-MAC_LENGTH], datagram[-MAC_LENGTH:]
    if not any(hmac.compare_digest(mac, _mac(key, body)) for key in keys):
        raise BeatRefused("bad MAC (another key, or forged)")
    try:
        fields = msgpack.unpackb(body[len(MAGIC) :], raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise BeatRefused(f"malformed: {exc}") from None
    if not isinstance(fields, list) or len(fields) != 7:
        raise BeatRefused("malformed: not a heartbeat's fields")
    node, incarnation, seq, sent_at, flags, misses, released = fields
    if not (isinstance(node, str) and node):
        raise BeatRefused("malformed: node")
    for name, value in (("incarnation", incarnation), ("seq", seq), ("flags", flags)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BeatRefused(f"malformed: {name}")
    if not isinstance(sent_at, float | int) or isinstance(sent_at, bool):
        raise BeatRefused("malformed: sent_at")
    for name, value in (("misses", misses), ("released", released)):
        if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
            raise BeatRefused(f"malformed: {name}")
    return Beat(
        node, incarnation, seq, float(sent_at), bool(flags & READY), bool(flags & LEAVING),
        frozenset(misses), frozenset(released),
    )  # fmt: skip


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:MAC_LENGTH]
