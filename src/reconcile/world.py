"""The observed world: the latest version of every object, folded from records.

This is the first layer of every fold. It turns records into *changes* (object
before, object after) and implements the SYNC markers: between ``SYNC_START``
and ``SYNC_END`` of one kind from one source, every object of that kind the
source delivers is noted; at ``SYNC_END`` the objects of that kind that source
had delivered before but not during the relist are deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ironlb.events.record import EventType, Record, split_kind

from .fold_state import Relist, WorldState, record_of


@attrs.frozen
class Change:
    group: str
    kind: str  # the Kind alone ("Service")
    key: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None  # None: deleted
    seq: int


class World:
    """Objects by (group, Kind) then key. Mutable, private to a fold."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
        self._sources: dict[tuple[str, str, str], str] = {}
        self._relisting: dict[tuple[str, str, str], set[str]] = {}

    def relisting(self, group: str, kind: str) -> bool:
        """Whether some source is between SYNC_START and SYNC_END of this kind."""
        return any(g == group and k == kind for _source, g, k in self._relisting)

    def as_records(self) -> list[Record]:
        """Every object as an ADDED record (seq 0): folding them into a fresh fold
        rebuilds state that is a function of the observed world alone."""
        return [
            record_of(group, kind, key, "snapshot", obj)
            for (group, kind), objects in sorted(self.objects.items())
            for key, obj in sorted(objects.items())
        ]

    def export(self) -> WorldState:
        """The world as a value: each object with its source, and the open relists."""
        records = tuple(
            record_of(group, kind, key, self._sources.get((group, kind, key), ""), obj)
            for (group, kind), objects in sorted(self.objects.items())
            for key, obj in sorted(objects.items())
        )
        relists = tuple(
            Relist(source, group, kind, tuple(sorted(seen)))
            for (source, group, kind), seen in sorted(self._relisting.items())
        )
        return WorldState(records, relists)

    @classmethod
    def restore(cls, state: WorldState) -> World:
        """The world ``export`` described (no changes are reported: nothing happened)."""
        world = cls()
        for record in state.records:
            group, _version, kind = split_kind(record.kind)
            world.objects.setdefault((group, kind), {})[record.key] = record.object
            world._sources[(group, kind, record.key)] = record.source
        for relist in state.relists:
            world._relisting[(relist.source, relist.group, relist.kind)] = set(relist.seen)
        return world

    def of_kind(self, group: str, kind: str) -> dict[str, Mapping[str, Any]]:
        return self.objects.get((group, kind), {})

    def get(self, group: str, kind: str, key: str) -> Mapping[str, Any] | None:
        return self.objects.get((group, kind), {}).get(key)

    def apply(self, record: Record) -> list[Change]:
        group, _version, kind = split_kind(record.kind)
        if record.type is EventType.SYNC_START:
            self._relisting[(record.source, group, kind)] = set()
            return []
        if record.type is EventType.SYNC_END:
            return self._end_relist(record, group, kind)
        bucket = self.objects.setdefault((group, kind), {})
        before = bucket.get(record.key)
        seen = self._relisting.get((record.source, group, kind))
        if seen is not None:
            seen.add(record.key)
        if record.type is EventType.DELETED:
            if before is None:
                return []
            del bucket[record.key]
            self._sources.pop((group, kind, record.key), None)
            return [Change(group, kind, record.key, before, None, record.seq)]
        bucket[record.key] = record.object
        self._sources[(group, kind, record.key)] = record.source
        return [Change(group, kind, record.key, before, record.object, record.seq)]

    def _end_relist(self, record: Record, group: str, kind: str) -> list[Change]:
        seen = self._relisting.pop((record.source, group, kind), None)
        if seen is None:
            return []  # an end without a start says nothing about what is gone
        bucket = self.objects.get((group, kind), {})
        gone = sorted(
            key
            for key in bucket
            if key not in seen and self._sources.get((group, kind, key)) == record.source
        )
        changes = []
        for key in gone:
            before = bucket.pop(key)
            self._sources.pop((group, kind, key), None)
            changes.append(Change(group, kind, key, before, None, record.seq))
        return changes
