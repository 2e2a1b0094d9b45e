"""The record: the one type every ironlb log holds.

A record is what a source *observed* (a Kubernetes object as the watch delivered
it, a speaker's liveness verdict, the node's links), never what ironlb concluded
from it. Translating observations into domain values is the reconciler's first
pure step, so a fixed reconciler replays an old recording correctly.

This module is a leaf: attrs and the standard library only, because the pure
reconciler imports it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from .errors import InvalidRecord

__all__ = [
    "EventType",
    "Identity",
    "Record",
    "identity_of",
    "split_kind",
]


class EventType(enum.StrEnum):
    """What happened to the object; SYNC markers bracket a relist of one kind."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    # Around a relist of one kind by one source: objects of that kind (from that
    # source) not seen between the two markers are gone.
    SYNC_START = "SYNC_START"
    SYNC_END = "SYNC_END"


OBJECT_EVENTS = frozenset({EventType.ADDED, EventType.MODIFIED, EventType.DELETED})
SYNC_EVENTS = frozenset({EventType.SYNC_START, EventType.SYNC_END})


def split_kind(kind: str) -> tuple[str, str, str]:
    """Split ``apiVersion/Kind`` into ``(group, version, Kind)``.

    ``v1/Service`` is the core group (``""``); ``metallb.io/v1beta2/BGPPeer`` is
    group ``metallb.io``. Raises InvalidRecord for anything else.
    """
    parts = kind.split("/")
    if len(parts) == 2 and all(parts):
        return "", parts[0], parts[1]
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2]
    raise InvalidRecord(f"kind {kind!r} is not of the form [group/]version/Kind")


@attrs.frozen
class Identity:
    """Which object a record is about: group + Kind + key, version left out.

    BGPPeer v1beta1 and v1beta2 with the same key are one object.
    """

    group: str
    kind: str
    key: str


def identity_of(kind: str, key: str) -> Identity:
    group, _version, name = split_kind(kind)
    return Identity(group, name, key)


def _check_kind(_instance: object, _attribute: object, value: str) -> None:
    split_kind(value)


# The fields of a record in its JSON form (``Record.to_json``).
JSON_FIELDS = frozenset({"seq", "observed_at", "source", "type", "kind", "key", "object"})


@attrs.frozen
class Record:
    """One observation in a log (fields as DESIGN.md defines them).

    ``seq`` is 0 until the store assigns it on append; from then on it is the
    record's dense, increasing position in its log, starting at 1.
    ``object`` is a plain dict (JSON-shaped) and must not be mutated.
    """

    seq: int = attrs.field(validator=attrs.validators.instance_of(int))
    observed_at: float = attrs.field(converter=float)
    source: str = attrs.field(validator=attrs.validators.instance_of(str))
    type: EventType = attrs.field(converter=EventType)
    kind: str = attrs.field(validator=[attrs.validators.instance_of(str), _check_kind])
    key: str = attrs.field(validator=attrs.validators.instance_of(str))
    resource_version: str | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.instance_of(str)),
    )
    object: Mapping[str, Any] = attrs.field(
        factory=dict, validator=attrs.validators.instance_of(Mapping)
    )

    @property
    def identity(self) -> Identity:
        return identity_of(self.kind, self.key)

    def to_json(self) -> dict[str, Any]:
        """The record as ``ironlb log show -o json`` prints it (one line each)."""
        return {
            "seq": self.seq,
            "observed_at": self.observed_at,
            "source": self.source,
            "type": self.type.value,
            "kind": self.kind,
            "key": self.key,
            "resource_version": self.resource_version,
            "object": self.object,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Record:
        """The inverse of ``to_json``; InvalidRecord names the field that is wrong."""
        missing = sorted(JSON_FIELDS - set(value))
        if missing:
            raise InvalidRecord(f"not a log record: no {', '.join(missing)}")
        try:
            return cls(
                value["seq"],
                value["observed_at"],
                value["source"],
                value["type"],
                value["kind"],
                value["key"],
                value.get("resource_version"),
                value["object"],
            )
        except (TypeError, ValueError) as exc:
            raise InvalidRecord(f"not a log record: {exc}") from None

    def with_seq(self, seq: int) -> Record:
        """This record at position ``seq`` of a log (the store calls this on append)."""
        return attrs.evolve(self, seq=seq)
