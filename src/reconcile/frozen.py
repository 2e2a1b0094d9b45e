"""Mappings that behave as values: immutable and hashable, so the frozen attrs
classes that hold them (plans, configurations) are values all the way down and
can be compared, hashed, cached and shared without anyone changing them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import immutables

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V]):
    """A read-only dict that hashes by its items (its values must be hashable).

    Given an ``immutables.Map`` it keeps it rather than copying it: that map cannot
    change, and a fold that keeps a large table as one (the speaker's own Services)
    hands it to each plan at no cost."""

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._data: Mapping[K, V]
        if isinstance(items, immutables.Map):
            self._data = items
        else:
            self._data = dict(items) if items is not None else {}
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            other = other._data
        elif not isinstance(other, Mapping):
            return NotImplemented
        mine = self._data
        if mine is other:
            return True
        if type(mine) is type(other):  # dict and dict, or Map and Map: compared in C
            return mine == other
        return len(mine) == len(other) and all(
            key in other and other[key] == value for key, value in mine.items()
        )

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


EMPTY: FrozenMap[Any, Any] = FrozenMap()


def freeze(mapping: Mapping[K, V] | None) -> FrozenMap[K, V]:
    """The converter for mapping fields of frozen values (a FrozenMap stays as it is)."""
    if isinstance(mapping, FrozenMap):
        return mapping
    return FrozenMap(mapping) if mapping else EMPTY


def freeze_nested(mapping: Mapping[K, Mapping[Any, Any]] | None) -> FrozenMap[K, Any]:
    """Two levels: a mapping of mappings (a plan's Service -> address -> announcement)."""
    if isinstance(mapping, FrozenMap):
        return mapping
    return FrozenMap({key: freeze(inner) for key, inner in (mapping or {}).items()})
