"""IPAddressPools: parsing, cached per object, and the overlap rule between pools."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from ..addresses import AddressError, AddressRange, parse_address_range
from ..selectors import Selector, any_matches
from .model import (
    POOL,
    ConfigError,
    ConfigInputs,
    Pool,
    _labels,
)
from .primitives import (
    Errors,
    _bool,
    _cidr_text,
    _int,
    _ref,
    _selectors,
    _spec,
)


@attrs.frozen
class _PoolDraft:
    """One pool parsed on its own; the cross-pool rules come after (see parse_pools)."""

    pool: Pool
    listed_namespaces: frozenset[str]
    namespace_selectors: tuple[Selector, ...]
    errors: tuple[ConfigError, ...]


class ParseCache:
    """Per-object parse results, reused while the recorded object is the same object.

    Objects in a fold are never mutated, so identity is a safe key; the cache holds
    the object itself, so its id cannot be reused while cached.
    """

    def __init__(self) -> None:
        self._pools: dict[str, tuple[Mapping[str, Any], _PoolDraft | None]] = {}
        self._namespace_labels: tuple = ()
        self._resolved: dict[tuple[Selector, ...], frozenset[str]] = {}

    def use_namespaces(self, namespaces: Mapping[str, Mapping[str, str]]) -> None:
        """Forget resolved selectors when any Namespace's labels changed."""
        labels = tuple(
            sorted((name, tuple(sorted(values.items()))) for name, values in namespaces.items())
        )
        if labels != self._namespace_labels:
            self._namespace_labels = labels
            self._resolved = {}

    def namespaces_matching(
        self, selectors: tuple[Selector, ...], namespaces: Mapping[str, Mapping[str, str]]
    ) -> frozenset[str]:
        """Namespaces any selector matches (call use_namespaces first)."""
        found = self._resolved.get(selectors)
        if found is None:
            found = frozenset(
                n for n, values in namespaces.items() if any_matches(selectors, values)
            )
            self._resolved[selectors] = found
        return found

    def pool(self, name: str, obj: Mapping[str, Any], namespace: str) -> _PoolDraft | None:
        cached = self._pools.get(name)
        if cached is not None and cached[0] is obj:
            return cached[1]
        draft = _parse_pool(name, obj, namespace)
        self._pools[name] = (obj, draft)
        return draft

    def forget_missing(self, names: Iterable[str]) -> None:
        keep = set(names)
        for name in [n for n in self._pools if n not in keep]:
            del self._pools[name]


def _parse_pool(name: str, obj: Mapping[str, Any], namespace: str) -> _PoolDraft | None:
    errors = Errors()
    ref = _ref(POOL, namespace, name)
    spec = _spec(obj, ref, errors)
    if spec is None:
        return _PoolDraft(Pool(name, ()), frozenset(), (), tuple(errors.items))
    addresses = spec.get("addresses")
    ranges: list[AddressRange] = []
    if not addresses:
        errors.add(ref, "spec.addresses", "pool has no prefixes defined")
    elif not isinstance(addresses, list):
        errors.add(ref, "spec.addresses", "must be a list of CIDRs or ranges")
    else:
        for index, text in enumerate(addresses):
            if not isinstance(text, str):
                errors.add(ref, f"spec.addresses[{index}]", f"must be a string, not {text!r}")
                continue
            try:
                ranges.append(parse_address_range(text))
            except AddressError as exc:
                errors.add(
                    ref,
                    f"spec.addresses[{index}]",
                    f'invalid CIDR "{text}" in pool "{name}": {exc}',
                )
    allocation = spec.get("serviceAllocation")
    listed: tuple[str, ...] = ()
    ns_selectors: tuple[Selector, ...] = ()
    service_selectors: tuple[Selector, ...] = ()
    priority = 0
    if allocation is not None:
        if not isinstance(allocation, Mapping):
            errors.add(ref, "spec.serviceAllocation", "must be an object")
        else:
            priority = (
                _int(allocation, "priority", ref, errors, field="spec.serviceAllocation.priority")
                or 0
            )
            raw_listed = allocation.get("namespaces")
            if raw_listed is not None and (
                not isinstance(raw_listed, list) or not all(isinstance(x, str) for x in raw_listed)
            ):
                errors.add(ref, "spec.serviceAllocation.namespaces", "must be a list of strings")
            elif raw_listed:
                if len(set(raw_listed)) != len(raw_listed):
                    errors.add(
                        ref,
                        "spec.serviceAllocation.namespaces",
                        "duplicate definition in namespaces field",
                    )
                listed = tuple(raw_listed)
            ns_selectors = (
                _selectors(
                    allocation.get("namespaceSelectors"),
                    ref,
                    "spec.serviceAllocation.namespaceSelectors",
                    errors,
                )
                or ()
            )
            service_selectors = (
                _selectors(
                    allocation.get("serviceSelectors"),
                    ref,
                    "spec.serviceAllocation.serviceSelectors",
                    errors,
                )
                or ()
            )
    auto_assign = _bool(spec, "autoAssign", True, ref, errors)
    avoid_buggy = _bool(spec, "avoidBuggyIPs", False, ref, errors)
    labels = _labels(obj)
    pool = Pool(
        name,
        tuple(ranges),
        auto_assign,
        avoid_buggy,
        priority,
        allocation is not None,
        frozenset(),
        bool(listed) or bool(ns_selectors),
        service_selectors,
        labels,
        tuple(sorted(labels.items())),
    )
    return _PoolDraft(pool, frozenset(listed), ns_selectors, tuple(errors.items))


def parse_pools(
    inputs: ConfigInputs, errors: Errors, cache: ParseCache | None = None
) -> list[Pool]:
    cache = cache or ParseCache()
    objects = inputs.objects.get(POOL, {})
    cache.forget_missing(objects)
    drafts = []
    for name, obj in sorted(objects.items()):
        draft = cache.pool(name, obj, inputs.namespace)
        assert draft is not None
        errors.items.extend(draft.errors)
        if not draft.errors:
            drafts.append(draft)
    bad = _overlapping(inputs.namespace, drafts, errors)
    cache.use_namespaces(inputs.namespaces)
    pools = []
    for draft in drafts:
        if draft.pool.name in bad:
            continue
        resolved = set(draft.listed_namespaces)
        if draft.namespace_selectors:
            resolved |= cache.namespaces_matching(draft.namespace_selectors, inputs.namespaces)
        if resolved == draft.pool.namespaces:
            pools.append(draft.pool)  # most pools admit every namespace: no copy needed
        else:
            pools.append(attrs.evolve(draft.pool, namespaces=frozenset(resolved)))
    return pools


def _overlapping(namespace: str, drafts: Sequence[_PoolDraft], errors: Errors) -> set[str]:
    """MetalLB's rule: no address range may overlap an earlier one (pools in name order).

    A sweep over the ranges sorted by start finds every overlap in O(n log n); the
    error goes to the later of the two (in pool name, then entry order).
    """
    entries = []
    for order, draft in enumerate(drafts):
        for position, address_range in enumerate(draft.pool.ranges):
            entries.append(
                (
                    address_range.version,
                    address_range.first,
                    order,
                    position,
                    address_range,
                    draft.pool.name,
                )
            )
    entries.sort(key=lambda e: (e[0], e[1], e[2], e[3]))
    bad: set[str] = set()
    reaching: tuple | None = None  # the entry whose range reaches furthest so far
    for entry in entries:
        version, _first, order, position, address_range, _name = entry
        if (
            reaching is not None
            and reaching[0] == version
            and reaching[4].last >= address_range.first
        ):
            earlier, later = sorted([reaching, entry], key=lambda e: (e[2], e[3]))
            ref = _ref(POOL, namespace, later[5])
            errors.add(
                ref,
                f"spec.addresses[{later[3]}]",
                f'CIDR "{_cidr_text(later[4])}" in pool "{later[5]}" overlaps with '
                f'already defined CIDR "{_cidr_text(earlier[4])}"'
                + (f' (pool "{earlier[5]}")' if earlier[5] != later[5] else ""),
            )
            bad.add(later[5])
            if later is reaching:
                reaching = entry if entry[4].last > reaching[4].last else reaching
            continue
        if reaching is None or reaching[0] != version or address_range.last > reaching[4].last:
            reaching = entry
    return bad
