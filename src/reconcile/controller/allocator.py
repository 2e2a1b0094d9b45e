"""Which addresses are in use, by whom, and which is the next free one (MetalLB's semantics).

Private, mutable index of the controller fold, rebuilt whenever the pools in force
change. Rules from MetalLB's ``internal/allocator``:

* An address may be shared by several Services only if all of them carry the same
  non-empty sharing key and the same backend key, and no (protocol, port) is
  claimed twice (``checkSharing``).
* Inside a pool the address chosen is the lowest one, walking the entries in
  ``spec.addresses`` order, that is free or already used compatibly
  (``getFreeIPsFromPool``). The walk is an index lookup here, not a scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..addresses import Address, FreeRuns, to_text
from ..config import Pool
from ..objects import Service
from ..pool_lookup import PoolLookup


def go_quote_list(ips: Iterable[str]) -> str:
    """Go's ``%q`` of a []string, as MetalLB's messages print address lists."""
    return "[" + " ".join(f'"{ip}"' for ip in ips) + "]"


class _Use:
    """The Services on one address and what they claimed there."""

    __slots__ = ("backend_key", "ports", "services", "sharing_key")

    def __init__(self, sharing_key: str | None, backend_key: str) -> None:
        self.sharing_key = sharing_key
        self.backend_key = backend_key
        self.services: dict[str, tuple[tuple[str, int], ...]] = {}
        self.ports: dict[tuple[str, int], str] = {}


class _PoolIndex:
    __slots__ = ("bounds", "pool", "runs", "used")

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.runs = [
            FreeRuns(r.first, r.last, r.version, pool.avoid_buggy_ips) for r in pool.ranges
        ]
        # Per version, each range's (first, last), or an empty range in the other
        # version: lets _mark find the run without touching the attrs values.
        self.bounds = {
            v: [(r.first, r.last) if r.version == v else (1, 0) for r in pool.ranges]
            for v in (4, 6)
        }
        self.used = {4: 0, 6: 0}


class AllocationIndex:
    def __init__(self, pools: Sequence[Pool]) -> None:
        self.pools: dict[str, _PoolIndex] = {}
        self._uses: dict[Address, _Use] = {}
        self._by_sharing_key: dict[str, set[Address]] = {}
        self._holdings: dict[str, tuple[Address, ...]] = {}
        self.replace_pools(pools)

    def replace_pools(self, pools: Sequence[Pool]) -> None:
        """Put ``pools`` in force, keeping the index of every pool that did not change.

        The caller first releases every Service holding an address in a pool that
        changes or goes (see ControllerFold._rebuild_index).
        """
        wanted = {p.name: p for p in pools}
        for name, index in list(self.pools.items()):
            pool = wanted.get(name)
            if pool is None or not self.same_addresses(index.pool, pool):
                del self.pools[name]
            else:
                index.pool = pool  # same addresses, new admission rules: keep the runs
        for pool in pools:
            if pool.name not in self.pools:
                self.pools[pool.name] = _PoolIndex(pool)
        self._lookup = PoolLookup(pools)

    @staticmethod
    def same_addresses(old: Pool | None, new: Pool) -> bool:
        """Whether two versions of a pool hand out exactly the same addresses."""
        return (
            old is not None
            and old.ranges == new.ranges
            and old.avoid_buggy_ips == new.avoid_buggy_ips
        )

    # --- questions ----------------------------------------------------------

    def pool_of(self, address: Address) -> str | None:
        """The pool whose addresses include this one, skipping its .0/.255 if it avoids them."""
        return self._lookup.pool_of(address)

    def pool(self, name: str) -> Pool | None:
        """The pool in force by that name (a dict lookup; Config.pool walks the list)."""
        index = self.pools.get(name)
        return index.pool if index is not None else None

    def holders(self, address: Address) -> list[str]:
        use = self._uses.get(address)
        return sorted(use.services) if use else []

    def sharing_error(self, service: Service, address: Address) -> str | None:
        """Why ``service`` may not use ``address`` (MetalLB's checkSharing), or None."""
        key = service.key
        use = self._uses.get(address)
        if use is None:
            return None
        others = sorted(s for s in use.services if s != key)
        if not others:
            return None
        ip = to_text(address)
        if not service.sharing_key or service.sharing_key != use.sharing_key:
            return (
                f'can\'t change sharing key for "{key}", address also in use by {",".join(others)}'
            )
        if service.backend_key != use.backend_key:
            return (
                f'can\'t change backend key for "{key}", address also in use by {",".join(others)}'
            )
        for port in service.ports:
            holder = use.ports.get(port)
            if holder is not None and holder != key:
                return f'port {port[0]}/{port[1]} is already in use on "{ip}"'
        return None

    def used(self, pool: str, version: int) -> int:
        return self.pools[pool].used[version]

    # --- finding free addresses ---------------------------------------------

    def find(self, pool_name: str, version: int, service: Service) -> Address | None:
        """The address MetalLB would pick for this Service in this pool and family."""
        index = self.pools.get(pool_name)
        if index is None:
            return None
        sharing_key = service.sharing_key
        shared = sorted(self._by_sharing_key.get(sharing_key, ())) if sharing_key else []
        for address_range, runs in zip(index.pool.ranges, index.runs, strict=True):
            if address_range.version != version:
                continue
            best = runs.lowest()
            for candidate in shared:
                if candidate[0] != version or not address_range.contains(candidate[1]):
                    continue
                if best is not None and candidate[1] > best:
                    break
                if self.sharing_error(service, candidate) is None:
                    best = candidate[1]
                    break
            if best is not None:
                return (version, best)
        return None

    # --- changing -----------------------------------------------------------

    def assign(self, service: Service, addresses: Sequence[Address]) -> bool:
        """Record that ``service`` holds exactly ``addresses`` (replacing what it held).

        The caller has checked ``sharing_error`` for each address. Returns True when
        an address the Service held before became free.
        """
        key, sharing_key, ports = service.key, service.sharing_key, service.ports
        previous = self._holdings.get(key, ())
        if previous == tuple(addresses) and all(self._sole_holder(a, key) for a in previous):
            # The common case, a Service updated without moving: no free-run churn.
            for address in previous:
                self._refresh(address, service)
            return False
        self.release(key)
        for address in addresses:
            use = self._uses.get(address)
            if use is None:
                use = self._uses[address] = _Use(sharing_key, service.backend_key)
                self._mark(address, taken=True)
                if sharing_key:
                    self._by_sharing_key.setdefault(sharing_key, set()).add(address)
            use.services[key] = tuple(ports)
            for port in ports:
                use.ports[port] = key
        self._holdings[key] = tuple(addresses)
        return any(address not in self._uses for address in previous)

    def _sole_holder(self, address: Address, key: str) -> bool:
        use = self._uses.get(address)
        return use is not None and len(use.services) == 1 and key in use.services

    def _refresh(self, address: Address, service: Service) -> None:
        """Bring the one holder's claims on ``address`` up to date, in place."""
        use = self._uses[address]
        if use.sharing_key != service.sharing_key:
            if use.sharing_key:
                keyed = self._by_sharing_key[use.sharing_key]
                keyed.discard(address)
                if not keyed:
                    del self._by_sharing_key[use.sharing_key]
            if service.sharing_key:
                self._by_sharing_key.setdefault(service.sharing_key, set()).add(address)
            use.sharing_key = service.sharing_key
        use.backend_key = service.backend_key
        use.services[service.key] = tuple(service.ports)
        use.ports = dict.fromkeys(service.ports, service.key)

    def _mark(self, address: Address, *, taken: bool) -> None:
        pool = self.pool_of(address)
        if pool is None:
            return
        index = self.pools[pool]
        version, value = address
        for runs, (first, last) in zip(index.runs, index.bounds[version], strict=True):
            if first <= value <= last:
                if taken:
                    runs.take(value)
                else:
                    runs.give_back(value)
        index.used[version] += 1 if taken else -1

    def release(self, service: str) -> bool:
        """Forget what ``service`` holds; True when an address became free."""
        freed = False
        for address in self._holdings.pop(service, ()):
            use = self._uses.get(address)
            if use is None:
                continue
            ports = use.services.pop(service, ())
            for port in ports:
                if use.ports.get(port) == service:
                    del use.ports[port]
            if use.services:
                continue
            del self._uses[address]
            if use.sharing_key:
                keyed = self._by_sharing_key.get(use.sharing_key)
                if keyed is not None:
                    keyed.discard(address)
                    if not keyed:
                        del self._by_sharing_key[use.sharing_key]
            self._mark(address, taken=False)
            freed = True
        return freed
