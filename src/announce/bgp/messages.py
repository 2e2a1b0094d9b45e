"""BGP-4 messages (RFC 4271) and the extensions ironlb speaks, as values and bytes.

Sans-IO: ``decode`` turns one framed message into a value or raises ``BgpError``
carrying the NOTIFICATION to send; ``encode`` turns a value into bytes. Nothing
here reads a clock or a socket.

Extensions: capabilities (RFC 5492) for multiprotocol IPv4/IPv6 unicast (RFC 4760),
4-octet AS numbers (RFC 6793), route refresh (RFC 2918) and graceful restart
(RFC 4724); COMMUNITIES (RFC 1997) and LARGE_COMMUNITY (RFC 8092). Errors in
received UPDATEs follow RFC 7606: an attribute that does not parse makes the UPDATE
"treat-as-withdraw" (the session stays up) unless the message's framing itself is
broken, which resets the session.

Size: about 600 lines, on purpose: one wire codec, each message and path attribute
encoded and decoded side by side, so a reader checks one against the other (and
the property tests round-trip them) in one place.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from collections.abc import Iterable, Sequence

import attrs

from ...events.errors import LbError

MARKER = b"\xff" * 16
HEADER = struct.Struct("!16sHB")
HEADER_SIZE = HEADER.size  # 19
MAX_SIZE = 4096
AS_TRANS = 23456
AFI_IPV4, AFI_IPV6, SAFI_UNICAST = 1, 2, 1


class MessageType(enum.IntEnum):
    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5


class ErrorCode(enum.IntEnum):
    MESSAGE_HEADER = 1
    OPEN_MESSAGE = 2
    UPDATE_MESSAGE = 3
    HOLD_TIMER_EXPIRED = 4
    FSM = 5
    CEASE = 6
    ROUTE_REFRESH = 7  # RFC 7313


# Subcodes (RFC 4271 section 4.5, RFC 5492, RFC 4486)
CONNECTION_NOT_SYNCHRONIZED, BAD_MESSAGE_LENGTH, BAD_MESSAGE_TYPE = 1, 2, 3
UNSUPPORTED_VERSION, BAD_PEER_AS, BAD_BGP_IDENTIFIER = 1, 2, 3
UNSUPPORTED_OPTIONAL_PARAMETER, UNACCEPTABLE_HOLD_TIME = 4, 6
MALFORMED_ATTRIBUTE_LIST, UNRECOGNIZED_WELL_KNOWN, MISSING_WELL_KNOWN = 1, 2, 3
ATTRIBUTE_FLAGS_ERROR, ATTRIBUTE_LENGTH_ERROR, INVALID_ORIGIN = 4, 5, 6
INVALID_NEXT_HOP, OPTIONAL_ATTRIBUTE_ERROR, INVALID_NETWORK_FIELD, MALFORMED_AS_PATH = 8, 9, 10, 11
ADMINISTRATIVE_SHUTDOWN, PEER_DECONFIGURED, ADMINISTRATIVE_RESET = 2, 3, 4
BFD_DOWN = 10  # Cease subcode (RFC 9384)
INVALID_MESSAGE_LENGTH = 1  # ROUTE-REFRESH (RFC 7313)


class BgpError(LbError):
    """A protocol error of the peer's making: the NOTIFICATION to send before closing
    (RFC 4271 section 6). Our own misuse of a session is ``LocalProtocolError``."""

    def __init__(self, code: ErrorCode, subcode: int, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.code, self.subcode, self.data = code, subcode, data

    def notification(self) -> Notification:
        return Notification(self.code, self.subcode, self.data)


# --- values -----------------------------------------------------------------------


@attrs.frozen
class Capabilities:
    multiprotocol: tuple[tuple[int, int], ...] = ()  # (AFI, SAFI)
    route_refresh: bool = False
    four_octet_as: int | None = None  # the speaker's real AS
    graceful_restart: tuple[int, int, tuple[tuple[int, int, int], ...]] | None = None
    # (flags, restart time, ((afi, safi, afi flags), ...)) as RFC 4724 lays it out
    other: tuple[tuple[int, bytes], ...] = ()  # codes ironlb does not interpret


@attrs.frozen
class Open:
    asn: int  # the real AS (the 4-octet capability's when present)
    hold_time: int
    router_id: str
    capabilities: Capabilities = Capabilities()
    version: int = 4


@attrs.frozen
class PathAttributes:
    origin: int = 0  # 0 IGP, 1 EGP, 2 INCOMPLETE
    as_path: tuple[tuple[int, tuple[int, ...]], ...] = ()  # (segment type, ASNs)
    next_hop: str | None = None
    med: int | None = None
    local_pref: int | None = None
    communities: tuple[int, ...] = ()  # 32-bit values
    large_communities: tuple[tuple[int, int, int], ...] = ()
    other: tuple[tuple[int, int, bytes], ...] = ()  # (flags, type, value) kept opaque


@attrs.frozen
class MpReach:
    afi: int
    safi: int
    next_hops: tuple[str, ...]  # IPv6: global, then link-local when present
    prefixes: tuple[str, ...]


@attrs.frozen
class MpUnreach:
    afi: int
    safi: int
    prefixes: tuple[str, ...]


@attrs.frozen
class Update:
    withdrawn: tuple[str, ...] = ()  # IPv4 prefixes
    attributes: PathAttributes | None = None
    nlri: tuple[str, ...] = ()  # IPv4 prefixes
    mp_reach: MpReach | None = None
    mp_unreach: MpUnreach | None = None
    treat_as_withdraw: str | None = None  # RFC 7606: why the announced routes do not count


@attrs.frozen
class Notification:
    code: int
    subcode: int
    data: bytes = b""

    def describe(self) -> str:
        try:
            name = ErrorCode(self.code).name.lower().replace("_", " ")
        except ValueError:
            name = f"code {self.code}"
        return f"{name} (subcode {self.subcode})"


@attrs.frozen
class Keepalive:
    pass


@attrs.frozen
class RouteRefresh:
    afi: int
    safi: int


Message = Open | Update | Notification | Keepalive | RouteRefresh


# --- framing ------------------------------------------------------------------------


def split_messages(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete messages at the front of a stream, and what remains of it.

    Raises ``BgpError`` for a broken header: nothing after it can be framed.
    """
    messages = []
    view = memoryview(buffer)
    offset = 0
    while len(view) - offset >= HEADER_SIZE:
        marker, length, _type = HEADER.unpack_from(view, offset)
        if marker != MARKER:
            raise BgpError(ErrorCode.MESSAGE_HEADER, CONNECTION_NOT_SYNCHRONIZED, "bad marker")
        if not HEADER_SIZE <= length <= MAX_SIZE:
            raise BgpError(
                ErrorCode.MESSAGE_HEADER,
                BAD_MESSAGE_LENGTH,
                f"bad length {length}",
                struct.pack("!H", length),
            )
        if len(view) - offset < length:
            break
        messages.append(bytes(view[offset : offset + length]))
        offset += length
    return messages, bytes(view[offset:])


def decode(message: bytes, *, four_octet_as: bool = True) -> Message:
    """One framed message (header included). ``four_octet_as``: whether AS_PATH in
    UPDATEs carries 4-octet ASNs (both sides sent capability 65)."""
    if len(message) < HEADER_SIZE:
        raise BgpError(
            ErrorCode.MESSAGE_HEADER,
            BAD_MESSAGE_LENGTH,
            "short message",
            struct.pack("!H", len(message)),
        )
    marker, length, kind = HEADER.unpack_from(message)
    if marker != MARKER:
        raise BgpError(ErrorCode.MESSAGE_HEADER, CONNECTION_NOT_SYNCHRONIZED, "bad marker")
    if length != len(message) or not HEADER_SIZE <= length <= MAX_SIZE:
        raise BgpError(
            ErrorCode.MESSAGE_HEADER,
            BAD_MESSAGE_LENGTH,
            f"bad length {length}",
            struct.pack("!H", length),
        )
    body = message[HEADER_SIZE:]
    if kind == MessageType.OPEN:
        return _decode_open(body)
    if kind == MessageType.UPDATE:
        return _decode_update(body, four_octet_as)
    if kind == MessageType.NOTIFICATION:
        if len(body) < 2:
            raise BgpError(
                ErrorCode.MESSAGE_HEADER,
                BAD_MESSAGE_LENGTH,
                "short NOTIFICATION",
                struct.pack("!H", length),
            )
        return Notification(body[0], body[1], bytes(body[2:]))
    if kind == MessageType.KEEPALIVE:
        if body:
            length_field = struct.pack("!H", length)
            raise BgpError(
                ErrorCode.MESSAGE_HEADER, BAD_MESSAGE_LENGTH, "KEEPALIVE with a body", length_field
            )
        return Keepalive()
    if kind == MessageType.ROUTE_REFRESH:
        if len(body) != 4:
            raise BgpError(
                ErrorCode.ROUTE_REFRESH,
                INVALID_MESSAGE_LENGTH,
                "bad ROUTE-REFRESH length",
                bytes(message),
            )
        afi, _reserved, safi = struct.unpack("!HBB", body)
        return RouteRefresh(afi, safi)
    raise BgpError(
        ErrorCode.MESSAGE_HEADER, BAD_MESSAGE_TYPE, f"unknown message type {kind}", bytes([kind])
    )


def encode(message: Message, *, four_octet_as: bool = True) -> bytes:
    if isinstance(message, Open):
        kind, body = MessageType.OPEN, _encode_open(message)
    elif isinstance(message, Update):
        kind, body = MessageType.UPDATE, _encode_update(message, four_octet_as)
    elif isinstance(message, Notification):
        kind, body = MessageType.NOTIFICATION, bytes([message.code, message.subcode]) + message.data
    elif isinstance(message, Keepalive):
        kind, body = MessageType.KEEPALIVE, b""
    else:
        kind, body = MessageType.ROUTE_REFRESH, struct.pack("!HBB", message.afi, 0, message.safi)
    if HEADER_SIZE + len(body) > MAX_SIZE:
        raise ValueError(f"{kind.name} of {HEADER_SIZE + len(body)} bytes exceeds {MAX_SIZE}")
    return HEADER.pack(MARKER, HEADER_SIZE + len(body), kind) + body


# --- OPEN ---------------------------------------------------------------------------


def _decode_open(body: bytes) -> Open:
    if len(body) < 10:
        raise BgpError(
            ErrorCode.MESSAGE_HEADER,
            BAD_MESSAGE_LENGTH,
            "short OPEN",
            struct.pack("!H", len(body) + 19),
        )
    version, my_as, hold, ident, params_length = struct.unpack_from("!BHHIB", body)
    if version != 4:
        raise BgpError(
            ErrorCode.OPEN_MESSAGE,
            UNSUPPORTED_VERSION,
            f"BGP version {version}",
            struct.pack("!H", 4),
        )
    if hold in (1, 2):
        raise BgpError(ErrorCode.OPEN_MESSAGE, UNACCEPTABLE_HOLD_TIME, f"hold time {hold}")
    if ident == 0:
        raise BgpError(ErrorCode.OPEN_MESSAGE, BAD_BGP_IDENTIFIER, "BGP identifier 0.0.0.0")
    params = body[10:]
    if len(params) != params_length:
        raise BgpError(
            ErrorCode.OPEN_MESSAGE, 0, "optional parameters length disagrees with the message"
        )
    capabilities = _decode_capabilities(params)
    asn = capabilities.four_octet_as if capabilities.four_octet_as is not None else my_as
    return Open(asn, hold, str(ipaddress.IPv4Address(ident)), capabilities, version)


def _decode_capabilities(params: bytes) -> Capabilities:
    multiprotocol: list[tuple[int, int]] = []
    other: list[tuple[int, bytes]] = []
    route_refresh = False
    four_octet: int | None = None
    graceful: tuple[int, int, tuple[tuple[int, int, int], ...]] | None = None
    offset = 0
    while offset < len(params):
        if offset + 2 > len(params):
            raise BgpError(ErrorCode.OPEN_MESSAGE, 0, "truncated optional parameter")
        kind, length = params[offset], params[offset + 1]
        value = params[offset + 2 : offset + 2 + length]
        if len(value) != length:
            raise BgpError(ErrorCode.OPEN_MESSAGE, 0, "truncated optional parameter")
        offset += 2 + length
        if kind != 2:  # only Capabilities (RFC 5492) are defined
            raise BgpError(
                ErrorCode.OPEN_MESSAGE, UNSUPPORTED_OPTIONAL_PARAMETER, f"optional parameter {kind}"
            )
        inner = 0
        while inner < len(value):
            if inner + 2 > len(value):
                raise BgpError(ErrorCode.OPEN_MESSAGE, 0, "truncated capability")
            code, size = value[inner], value[inner + 1]
            data = value[inner + 2 : inner + 2 + size]
            if len(data) != size:
                raise BgpError(ErrorCode.OPEN_MESSAGE, 0, "truncated capability")
            inner += 2 + size
            if code == 1 and size == 4:
                afi, _reserved, safi = struct.unpack("!HBB", data)
                multiprotocol.append((afi, safi))
            elif code == 2 and size == 0:
                route_refresh = True
            elif code == 65 and size == 4:
                four_octet = struct.unpack("!I", data)[0]
            elif code == 64 and size >= 2 and (size - 2) % 4 == 0:
                word = struct.unpack_from("!H", data)[0]
                families = tuple(
                    struct.unpack_from("!HBB", data, 2 + 4 * i) for i in range((size - 2) // 4)
                )
                graceful = (word >> 12, word & 0x0FFF, families)
            else:
                other.append((code, bytes(data)))
    return Capabilities(tuple(multiprotocol), route_refresh, four_octet, graceful, tuple(other))


def _encode_open(message: Open) -> bytes:
    caps = message.capabilities
    encoded = b""
    for afi, safi in caps.multiprotocol:
        encoded += struct.pack("!BBHBB", 1, 4, afi, 0, safi)
    if caps.route_refresh:
        encoded += b"\x02\x00"
    if caps.four_octet_as is not None:
        encoded += struct.pack("!BBI", 65, 4, caps.four_octet_as)
    if caps.graceful_restart is not None:
        flags, restart_time, families = caps.graceful_restart
        data = struct.pack("!H", (flags << 12) | (restart_time & 0x0FFF))
        data += b"".join(struct.pack("!HBB", *family) for family in families)
        encoded += bytes([64, len(data)]) + data
    for code, data in caps.other:
        encoded += bytes([code, len(data)]) + data
    params = bytes([2, len(encoded)]) + encoded if encoded else b""
    my_as = message.asn if message.asn <= 0xFFFF else AS_TRANS
    ident = int(ipaddress.IPv4Address(message.router_id))
    return struct.pack("!BHHIB", message.version, my_as, message.hold_time, ident, len(params)) + (
        params
    )


# --- prefixes -----------------------------------------------------------------------


def _decode_prefixes(data: bytes, version: int) -> tuple[str, ...]:
    """NLRI encoding (RFC 4271 4.3): length in bits, then the significant octets."""
    width = 32 if version == 4 else 128
    prefixes = []
    offset = 0
    while offset < len(data):
        bits = data[offset]
        size = (bits + 7) // 8
        if bits > width or offset + 1 + size > len(data):
            raise BgpError(ErrorCode.UPDATE_MESSAGE, INVALID_NETWORK_FIELD, "malformed prefix")
        raw = data[offset + 1 : offset + 1 + size] + b"\x00" * (width // 8 - size)
        offset += 1 + size
        address = ipaddress.ip_address(raw)
        network = ipaddress.ip_network(f"{address}/{bits}", strict=False)
        prefixes.append(str(network))
    return tuple(prefixes)


def _encode_prefixes(prefixes: Iterable[str]) -> bytes:
    out = b""
    for prefix in prefixes:
        network = ipaddress.ip_network(prefix, strict=False)
        bits = network.prefixlen
        out += bytes([bits]) + network.network_address.packed[: (bits + 7) // 8]
    return out


# --- UPDATE ---------------------------------------------------------------------------

# type -> (name, the flags it must carry: optional 0x80 / transitive 0x40)
ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF = 1, 2, 3, 4, 5
COMMUNITIES, MP_REACH_NLRI, MP_UNREACH_NLRI, AS4_PATH, LARGE_COMMUNITY = 8, 14, 15, 17, 32
WELL_KNOWN = {ORIGIN, AS_PATH, NEXT_HOP, LOCAL_PREF, 6}  # 6 ATOMIC_AGGREGATE
OPTIONAL, TRANSITIVE, PARTIAL, EXTENDED = 0x80, 0x40, 0x20, 0x10
EXPECTED_FLAGS = {
    ORIGIN: TRANSITIVE,
    AS_PATH: TRANSITIVE,
    NEXT_HOP: TRANSITIVE,
    MED: OPTIONAL,
    LOCAL_PREF: TRANSITIVE,
    COMMUNITIES: OPTIONAL | TRANSITIVE,
    MP_REACH_NLRI: OPTIONAL,
    MP_UNREACH_NLRI: OPTIONAL,
    LARGE_COMMUNITY: OPTIONAL | TRANSITIVE,
}


class _Withdraw(Exception):
    """RFC 7606 treat-as-withdraw: the attribute is bad, the session stays."""


def _decode_update(body: bytes, four_octet_as: bool) -> Update:
    if len(body) < 4:
        raise BgpError(ErrorCode.UPDATE_MESSAGE, MALFORMED_ATTRIBUTE_LIST, "short UPDATE")
    withdrawn_length = struct.unpack_from("!H", body)[0]
    if 2 + withdrawn_length + 2 > len(body):
        raise BgpError(
            ErrorCode.UPDATE_MESSAGE,
            MALFORMED_ATTRIBUTE_LIST,
            "withdrawn routes overrun the message",
        )
    withdrawn = _decode_prefixes(body[2 : 2 + withdrawn_length], 4)
    offset = 2 + withdrawn_length
    attributes_length = struct.unpack_from("!H", body, offset)[0]
    offset += 2
    if offset + attributes_length > len(body):
        raise BgpError(
            ErrorCode.UPDATE_MESSAGE,
            MALFORMED_ATTRIBUTE_LIST,
            "path attributes overrun the message",
        )
    nlri = _decode_prefixes(body[offset + attributes_length :], 4)
    if not attributes_length:
        return Update(withdrawn, None, nlri)
    attributes, mp_reach, mp_unreach, problem = _decode_attributes(
        body[offset : offset + attributes_length], four_octet_as, bool(nlri)
    )
    return Update(withdrawn, attributes, nlri, mp_reach, mp_unreach, problem)


def _decode_attributes(
    data: bytes, four_octet_as: bool, has_nlri: bool
) -> tuple[PathAttributes, MpReach | None, MpUnreach | None, str | None]:
    values: dict[str, object] = {}
    other: list[tuple[int, int, bytes]] = []
    mp_reach = mp_unreach = None
    problems: list[str] = []
    seen: set[int] = set()
    offset = 0
    while offset < len(data):
        if offset + 3 > len(data):
            raise BgpError(
                ErrorCode.UPDATE_MESSAGE, MALFORMED_ATTRIBUTE_LIST, "truncated attribute header"
            )
        flags, kind = data[offset], data[offset + 1]
        if flags & EXTENDED:
            if offset + 4 > len(data):
                raise BgpError(
                    ErrorCode.UPDATE_MESSAGE, MALFORMED_ATTRIBUTE_LIST, "truncated attribute header"
                )
            length = struct.unpack_from("!H", data, offset + 2)[0]
            start = offset + 4
        else:
            length = data[offset + 2]
            start = offset + 3
        value = data[start : start + length]
        if len(value) != length:
            raise BgpError(
                ErrorCode.UPDATE_MESSAGE,
                MALFORMED_ATTRIBUTE_LIST,
                f"attribute {kind} overruns the list",
            )
        offset = start + length
        if kind in seen:
            if kind in (MP_REACH_NLRI, MP_UNREACH_NLRI):
                raise BgpError(
                    ErrorCode.UPDATE_MESSAGE, MALFORMED_ATTRIBUTE_LIST, f"attribute {kind} repeated"
                )
            continue  # RFC 7606 3(g): all but the first are discarded
        seen.add(kind)
        try:
            if kind in EXPECTED_FLAGS and flags & (OPTIONAL | TRANSITIVE) != EXPECTED_FLAGS[kind]:
                raise _Withdraw(f"attribute {kind} has flags {flags:#x}")
            if kind == MP_REACH_NLRI:
                mp_reach = _decode_mp_reach(value)  # errors here reset the session
            elif kind == MP_UNREACH_NLRI:
                mp_unreach = _decode_mp_unreach(value)
            elif kind in _DECODERS:
                name, decoder = _DECODERS[kind]
                values[name] = decoder(value, four_octet_as)
            elif not flags & OPTIONAL:
                if kind == 6:  # ATOMIC_AGGREGATE: informational
                    continue
                raise _Withdraw(f"unrecognized well-known attribute {kind}")
            else:
                other.append((flags, kind, bytes(value)))
        except _Withdraw as problem:
            problems.append(str(problem))
    announces = has_nlri or mp_reach is not None
    if announces and not problems:
        required = {"origin": ORIGIN, "as_path": AS_PATH}
        if has_nlri:
            required["next_hop"] = NEXT_HOP
        missing = [kind for name, kind in required.items() if name not in values]
        if missing:
            problems.append(f"missing well-known attribute {missing[0]}")
    attributes = PathAttributes(other=tuple(other), **values)  # type: ignore[arg-type]
    return attributes, mp_reach, mp_unreach, "; ".join(problems) or None


def _origin(value: bytes, _four: bool) -> int:
    if len(value) != 1:
        raise _Withdraw("ORIGIN length")
    if value[0] > 2:
        raise _Withdraw(f"invalid ORIGIN {value[0]}")
    return value[0]


def _as_path(value: bytes, four_octet_as: bool) -> tuple[tuple[int, tuple[int, ...]], ...]:
    width = 4 if four_octet_as else 2
    segments = []
    offset = 0
    while offset < len(value):
        if offset + 2 > len(value):
            raise _Withdraw("malformed AS_PATH")
        kind, count = value[offset], value[offset + 1]
        end = offset + 2 + count * width
        if kind not in (1, 2, 3, 4) or count == 0 or end > len(value):
            raise _Withdraw("malformed AS_PATH")
        fmt = "!" + ("I" if width == 4 else "H") * count
        segments.append((kind, struct.unpack_from(fmt, value, offset + 2)))
        offset = end
    return tuple(segments)


def _next_hop(value: bytes, _four: bool) -> str:
    if len(value) != 4:
        raise _Withdraw("NEXT_HOP length")
    return str(ipaddress.IPv4Address(value))


def _u32(name: str):
    def decode_u32(value: bytes, _four: bool) -> int:
        if len(value) != 4:
            raise _Withdraw(f"{name} length")
        return struct.unpack("!I", value)[0]

    return decode_u32


def _communities(value: bytes, _four: bool) -> tuple[int, ...]:
    if len(value) % 4 or not value:
        raise _Withdraw("COMMUNITIES length")
    return struct.unpack(f"!{len(value) // 4}I", value)


def _large_communities(value: bytes, _four: bool) -> tuple[tuple[int, int, int], ...]:
    if len(value) % 12 or not value:
        raise _Withdraw("LARGE_COMMUNITY length")
    return tuple(struct.unpack_from("!III", value, i) for i in range(0, len(value), 12))


_DECODERS = {
    ORIGIN: ("origin", _origin),
    AS_PATH: ("as_path", _as_path),
    NEXT_HOP: ("next_hop", _next_hop),
    MED: ("med", _u32("MED")),
    LOCAL_PREF: ("local_pref", _u32("LOCAL_PREF")),
    COMMUNITIES: ("communities", _communities),
    LARGE_COMMUNITY: ("large_communities", _large_communities),
}


def _family_version(afi: int) -> int:
    if afi == AFI_IPV4:
        return 4
    if afi == AFI_IPV6:
        return 6
    raise BgpError(ErrorCode.UPDATE_MESSAGE, OPTIONAL_ATTRIBUTE_ERROR, f"unsupported AFI {afi}")


def _decode_mp_reach(value: bytes) -> MpReach:
    if len(value) < 5:
        raise BgpError(ErrorCode.UPDATE_MESSAGE, OPTIONAL_ATTRIBUTE_ERROR, "short MP_REACH_NLRI")
    afi, safi, hop_length = struct.unpack_from("!HBB", value)
    version = _family_version(afi)
    hops_raw = value[4 : 4 + hop_length]
    if len(hops_raw) != hop_length or 4 + hop_length + 1 > len(value):
        raise BgpError(
            ErrorCode.UPDATE_MESSAGE, OPTIONAL_ATTRIBUTE_ERROR, "MP_REACH_NLRI next hop overruns"
        )
    # IPv6 next hops (16 or 32 octets) also come with IPv4 prefixes (RFC 8950).
    size = 16 if version == 6 or hop_length % 16 == 0 else 4
    if hop_length == 0 or hop_length % size:
        raise BgpError(
            ErrorCode.UPDATE_MESSAGE, OPTIONAL_ATTRIBUTE_ERROR, f"next hop length {hop_length}"
        )
    hops = tuple(
        str(ipaddress.ip_address(hops_raw[i : i + size])) for i in range(0, hop_length, size)
    )
    prefixes = _decode_prefixes(value[4 + hop_length + 1 :], version)  # skip the reserved octet
    return MpReach(afi, safi, hops, prefixes)


def _decode_mp_unreach(value: bytes) -> MpUnreach:
    if len(value) < 3:
        raise BgpError(ErrorCode.UPDATE_MESSAGE, OPTIONAL_ATTRIBUTE_ERROR, "short MP_UNREACH_NLRI")
    afi, safi = struct.unpack_from("!HB", value)
    return MpUnreach(afi, safi, _decode_prefixes(value[3:], _family_version(afi)))


def _attribute(flags: int, kind: int, value: bytes) -> bytes:
    if len(value) > 255:
        return struct.pack("!BBH", flags | EXTENDED, kind, len(value)) + value
    return struct.pack("!BBB", flags, kind, len(value)) + value


def _encode_as_path(segments: Sequence[tuple[int, Sequence[int]]], four_octet_as: bool) -> bytes:
    out = b""
    for kind, numbers in segments:
        if four_octet_as:
            out += struct.pack(f"!BB{len(numbers)}I", kind, len(numbers), *numbers)
        else:
            narrow = [n if n <= 0xFFFF else AS_TRANS for n in numbers]
            out += struct.pack(f"!BB{len(narrow)}H", kind, len(narrow), *narrow)
    return out


def _encode_attributes(update: Update, four_octet_as: bool) -> bytes:
    a = update.attributes
    out = b""
    if a is not None:
        out += _attribute(TRANSITIVE, ORIGIN, bytes([a.origin]))
        out += _attribute(TRANSITIVE, AS_PATH, _encode_as_path(a.as_path, four_octet_as))
        wide = any(n > 0xFFFF for _kind, numbers in a.as_path for n in numbers)
        if wide and not four_octet_as:  # RFC 6793: the real path for new speakers beyond
            as4 = _encode_as_path(a.as_path, True)
            out += _attribute(OPTIONAL | TRANSITIVE, AS4_PATH, as4)
        if a.next_hop is not None:
            out += _attribute(TRANSITIVE, NEXT_HOP, ipaddress.IPv4Address(a.next_hop).packed)
        if a.med is not None:
            out += _attribute(OPTIONAL, MED, struct.pack("!I", a.med))
        if a.local_pref is not None:
            out += _attribute(TRANSITIVE, LOCAL_PREF, struct.pack("!I", a.local_pref))
        if a.communities:
            value = struct.pack(f"!{len(a.communities)}I", *a.communities)
            out += _attribute(OPTIONAL | TRANSITIVE, COMMUNITIES, value)
        if a.large_communities:
            value = b"".join(struct.pack("!III", *c) for c in a.large_communities)
            out += _attribute(OPTIONAL | TRANSITIVE, LARGE_COMMUNITY, value)
        for flags, kind, value in a.other:
            out += _attribute(flags & ~EXTENDED, kind, value)
    if update.mp_reach is not None:
        r = update.mp_reach
        hops = b"".join(ipaddress.ip_address(h).packed for h in r.next_hops)
        value = struct.pack("!HBB", r.afi, r.safi, len(hops)) + hops + b"\x00"
        out += _attribute(OPTIONAL, MP_REACH_NLRI, value + _encode_prefixes(r.prefixes))
    if update.mp_unreach is not None:
        u = update.mp_unreach
        value = struct.pack("!HB", u.afi, u.safi) + _encode_prefixes(u.prefixes)
        out += _attribute(OPTIONAL, MP_UNREACH_NLRI, value)
    return out


def _encode_update(update: Update, four_octet_as: bool) -> bytes:
    withdrawn = _encode_prefixes(update.withdrawn)
    attributes = _encode_attributes(update, four_octet_as)
    nlri = _encode_prefixes(update.nlri)
    return (
        struct.pack("!H", len(withdrawn))
        + withdrawn
        + struct.pack("!H", len(attributes))
        + attributes
        + nlri
    )
