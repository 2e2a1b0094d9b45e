"""Which pool an address belongs to: all the speakers need of the pools, and a
part of the controller's allocation index (no free lists, no holders)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from .addresses import Address, is_buggy
from .config import Pool


class PoolLookup:
    """Pools' ranges sorted per family; a lookup is one binary search.

    Pools do not overlap (validation refuses it), so at most one range holds an
    address.
    """

    def __init__(self, pools: Sequence[Pool]) -> None:
        self._pools = {pool.name: pool for pool in pools}
        bounds: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
        for pool in pools:
            for r in pool.ranges:
                bounds[r.version].append((r.first, r.last, pool.name))
        for items in bounds.values():
            items.sort()
        self._firsts = {v: [b[0] for b in items] for v, items in bounds.items()}
        self._bounds = bounds

    def pool(self, name: str) -> Pool | None:
        """The pool by that name (a dict lookup: Config.pool walks the list)."""
        return self._pools.get(name)

    def pool_of(self, address: Address) -> str | None:
        """The pool whose addresses include this one, skipping its .0/.255 if it avoids them."""
        version, value = address
        index = bisect.bisect_right(self._firsts[version], value) - 1
        if index < 0:
            return None
        _first, last, name = self._bounds[version][index]
        if value > last:
            return None
        if self._pools[name].avoid_buggy_ips and is_buggy(value, version):
            return None
        return name
