"""Bytes <-> records. The only ironlb module that imports msgpack.

Wire form of one record: a msgpack array
``[format_version, seq, observed_at, source, type, kind, key, resource_version, object]``.

Versioning rules:

* ``FORMAT_VERSION`` is bumped whenever the array's meaning changes.
* A record of a *newer* version than this code knows raises :class:`SchemaTooNew`
  naming the version. There is no best-effort mode: guessing at a newer format
  would let replay make decisions the recording process never made.
* A record of an *older* version is upgraded on read by the explicit steps in
  ``UPCASTERS`` (``UPCASTERS[n]`` turns a version-n array into a version-(n+1)
  array), applied one after another up to the current version.

Integers outside msgpack's 64-bit range (JSON allows them) travel as an ext type
holding their decimal text, so every JSON-shaped object round-trips exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from sys import intern
from typing import Any

import msgpack

from .errors import InvalidRecord, SchemaTooNew
from .record import EventType, Record, split_kind

__all__ = [
    "FORMAT_VERSION",
    "UPCASTERS",
    "BoundedUnpacker",
    "decode",
    "decode_fields",
    "encode",
    "encode_many",
    "pack_value",
]

FORMAT_VERSION = 1
_FIELD_COUNT = 9

# UPCASTERS[n]: upgrade a decoded version-n array to version n+1 (see module doc).
UPCASTERS: dict[int, Callable[[list[Any]], list[Any]]] = {}

_EXT_BIGINT = 1
_EVENT_TYPES = {t.value: t for t in EventType}


def _default(value: Any) -> Any:
    if isinstance(value, int):  # only reached when the int does not fit 64 bits
        return msgpack.ExtType(_EXT_BIGINT, str(value).encode("ascii"))
    if isinstance(value, tuple | frozenset):
        return list(value)
    raise TypeError(f"cannot encode a value of type {type(value).__name__} in a record")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_BIGINT:
        try:
            return int(data.decode("ascii"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidRecord(f"malformed big integer in record: {data[:32]!r}") from exc
    raise InvalidRecord(f"unknown msgpack extension type {code} in record")


def _packer() -> msgpack.Packer:
    return msgpack.Packer(default=_default, use_bin_type=True, datetime=False)


def _fields(record: Record, seq: int) -> list[Any]:
    problem = _not_json(record.object)
    if problem:  # never write what reading refuses: nothing written is lost
        raise InvalidRecord(f"cannot encode {record.kind} {record.key}: its object holds {problem}")
    return [
        FORMAT_VERSION,
        seq,
        record.observed_at,
        record.source,
        record.type.value,
        record.kind,
        record.key,
        record.resource_version,
        record.object,
    ]


def encode(record: Record) -> bytes:
    """The bytes of one record (format version included)."""
    return _packer().pack(_fields(record, record.seq))


def encode_many(records: Iterable[Record], first_seq: int | None = None) -> list[bytes]:
    """Encode a batch with one packer (faster than calling encode per record).

    With ``first_seq`` the records are encoded at seqs ``first_seq, first_seq+1, ...``
    instead of their own (the store assigns seqs on append this way).
    """
    pack = _packer().pack
    if first_seq is None:
        return [pack(_fields(r, r.seq)) for r in records]
    return [pack(_fields(r, first_seq + i)) for i, r in enumerate(records)]


def pack_value(value: Any) -> bytes:
    """Bytes of a plain value (maps, lists, strings, numbers, bytes, None) as records
    carry their objects: what snapshots are written with."""
    return _packer().pack(value)


class BoundedUnpacker:
    """Unpacks plain values (maps, lists, strings, bytes, numbers, booleans, None),
    with at most ``containers`` maps and lists over all its calls.

    msgpack bounds every length by the bytes present; the container budget bounds
    what those bytes may become (an empty map is one byte on the wire and some 64 in
    memory), so untrusted input of a known size needs memory in proportion to it.
    Raises InvalidRecord on bad input.
    """

    def __init__(self, containers: int) -> None:
        self.left = containers

    def _count(self, value: Any) -> Any:
        self.left -= 1
        if self.left < 0:
            raise InvalidRecord("more maps and lists than the input's size allows")
        return value

    def unpack(self, data: bytes | memoryview) -> Any:
        try:
            return msgpack.unpackb(
                data,
                raw=False,
                strict_map_key=False,
                object_hook=self._count,
                list_hook=self._count,
                ext_hook=_ext_hook,
            )
        except InvalidRecord:
            raise
        except Exception as exc:  # msgpack raises a zoo of types for garbage input
            raise InvalidRecord(f"not valid msgpack: {exc}") from exc


def decode(data: bytes | memoryview) -> Record:
    """Decode one record; raises InvalidRecord (or SchemaTooNew) on bad input."""
    try:
        fields = msgpack.unpackb(
            data, raw=False, strict_map_key=False, ext_hook=_ext_hook, use_list=True
        )
    except InvalidRecord:
        raise
    except Exception as exc:  # msgpack raises a zoo of types for garbage input
        raise InvalidRecord(f"record bytes are not valid msgpack: {exc}") from exc
    return decode_fields(fields)


def decode_fields(fields: Any) -> Record:
    """Turn an unpacked wire array into a Record, upgrading old versions."""
    if not isinstance(fields, list) or not fields or not isinstance(fields[0], int):
        raise InvalidRecord("record is not an array that starts with its format version")
    version = fields[0]
    if version > FORMAT_VERSION:
        raise SchemaTooNew(version, FORMAT_VERSION)
    if version < 1:
        raise InvalidRecord(f"record format version {version} is not valid")
    while version < FORMAT_VERSION:
        step = UPCASTERS.get(version)
        if step is None:
            raise InvalidRecord(f"no upgrade step from record format version {version}")
        fields = step(fields)
        version += 1
        fields[0] = version
    if len(fields) != _FIELD_COUNT:
        raise InvalidRecord(
            f"record has {len(fields)} fields, format version {version} has {_FIELD_COUNT}"
        )
    _, seq, observed_at, source, type_, kind, key, rv, obj = fields
    event_type = _EVENT_TYPES.get(type_) if type_.__class__ is str else None
    if observed_at.__class__ is int and abs(observed_at) > _LATEST:
        observed_at = math.inf  # a big integer: refused as not finite below
    if (
        seq.__class__ is not int
        or not isinstance(observed_at, float | int)
        or source.__class__ is not str
        or event_type is None
        or kind.__class__ is not str
        or (kind not in _VALID_KINDS and not _valid_kind(kind))
        or key.__class__ is not str
        or not (rv is None or rv.__class__ is str)
        or obj.__class__ is not dict
    ):
        raise InvalidRecord(f"record fields have the wrong types: {_describe(fields)}")
    if seq < 0 or not math.isfinite(observed_at):
        raise InvalidRecord(f"record seq {seq} or observed_at {observed_at} out of range")
    problem = _not_json(obj, share_strings=True)
    if problem:
        raise InvalidRecord(f"record object is not JSON data: {problem}")
    # Every field is checked above, so build the value without running the
    # validators again: this is the hot path of every log read.
    record = _new(Record)
    _set(record, "seq", seq)
    _set(record, "observed_at", float(observed_at))
    _set(record, "source", source)
    _set(record, "type", event_type)
    _set(record, "kind", kind)
    _set(record, "key", key)
    _set(record, "resource_version", rv)
    _set(record, "object", obj)
    return record


_new = object.__new__
_set = object.__setattr__
_VALID_KINDS: set[str] = set()


_LATEST = 1e300  # seconds: beyond this an observed_at is damage, not a time


# Decoded strings up to this length are interned: a Service's "TCP", "Cluster",
# "IPv4" and label values repeat in every object a fold holds (48 of 313 MB on a log
# of 20,000 Services, for ~3 µs a record). Longer ones (descriptions, applied
# configurations) rarely repeat and cost more to hash.
_SHARED_LENGTH = 40


def _not_json(value: Any, *, share_strings: bool = False) -> str | None:
    """Why ``value`` is not JSON data (string keys; None, booleans, integers, finite
    floats, strings, lists, maps), or None when it is. Iterative: no recursion limit
    for damaged or crafted nesting to hit, and every printer can rely on the shape.

    ``share_strings`` (objects just decoded, that nobody else holds yet): short
    string values are replaced by their interned equal while walking."""
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = item.__class__
        if kind is dict:
            for key, member in item.items():
                if key.__class__ is not str:
                    return f"a {type(key).__name__} key {key!r:.40}"
                if member.__class__ is not str:
                    push(member)
                elif share_strings and len(member) <= _SHARED_LENGTH:
                    item[key] = intern(member)
        elif kind is list:
            for index, member in enumerate(item):
                if member.__class__ is not str:
                    push(member)
                elif share_strings and len(member) <= _SHARED_LENGTH:
                    item[index] = intern(member)
        elif kind is tuple:  # tuples are written as lists
            extend(item)
        elif kind is float:
            if not math.isfinite(item):
                return f"the number {item}"
        elif not (kind is int or kind is bool or item is None):
            return f"a {type(item).__name__} value"
    return None


def _valid_kind(kind: object) -> bool:
    if kind.__class__ is not str:
        return False
    try:
        split_kind(kind)  # type: ignore[arg-type]
    except InvalidRecord:
        return False
    if len(_VALID_KINDS) < 4096:  # a log holds a few dozen kinds; bound the cache anyway
        _VALID_KINDS.add(kind)  # type: ignore[arg-type]
    return True


def _describe(fields: list[Any]) -> str:
    names = ("version", "seq", "observed_at", "source", "type", "kind", "key", "rv", "object")
    return ", ".join(f"{n}={type(v).__name__}" for n, v in zip(names, fields, strict=False))
