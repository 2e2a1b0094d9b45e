"""MetalLB's configuration resources -> one immutable, validated configuration.

The single translation step from ``metallb.io`` objects (plain dicts, as recorded)
to domain values, like MetalLB's ``config.For``. Each error names the object
(``Kind/namespace/name``) and the field, and keeps MetalLB's wording where users
may grep for it.

Scopes (who judges what, as MetalLB does it): the controller's allocation reads
pools and Community aliases only, so only errors there freeze allocation
(``Config.allocation_errors``); everything else is judged by the speakers, each
on its own node's view.

Rules MetalLB adds only because its native BGP speaker lacks a feature (IPv6,
large communities, graceful restart, dynamic ASN, keepalive and connect times,
...) do not apply: ironlb's speaker has those features. Where MetalLB behaves by
accident, ironlb decides and says so here:

* a v1beta1 BGPPeer without timers means "unset" (MetalLB's conversion turns it
  into an explicit hold time of 0);
* pools are considered in name order wherever MetalLB iterates a Go map.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from .addresses import AddressError, AddressRange, parse_address_range
from .selectors import Selector, SelectorError, any_matches, parse_selector

POOL = "IPAddressPool"
L2_ADV = "L2Advertisement"
BGP_ADV = "BGPAdvertisement"
PEER = "BGPPeer"
COMMUNITY = "Community"
BFD = "BFDProfile"
CONFIG_KINDS = (POOL, L2_ADV, BGP_ADV, PEER, COMMUNITY, BFD)
METALLB_GROUP = "metallb.io"


@attrs.frozen(order=True)
class ConfigError:
    object: str  # Kind/namespace/name
    field: str  # spec.path, "" for the object as a whole
    message: str
    # A reference that may legitimately arrive later (an alias, a profile, a Secret):
    # admission does not reject it, but the configuration is not applied meanwhile.
    transient: bool = attrs.field(default=False, eq=False, order=False)

    def to_json(self) -> dict[str, str]:
        return {"object": self.object, "field": self.field, "message": self.message}


@attrs.frozen
class Pool:
    name: str
    ranges: tuple[AddressRange, ...]  # in spec.addresses order
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    priority: int = 0  # 0: unset, tried after every prioritised pool
    has_service_allocation: bool = False
    namespaces: frozenset[str] = frozenset()  # resolved: listed plus selected by labels
    namespace_constrained: bool = False  # namespaces or namespaceSelectors were given
    service_selectors: tuple[Selector, ...] = ()
    labels: Mapping[str, str] = attrs.field(factory=dict, eq=False)
    labels_key: tuple[tuple[str, str], ...] = ()

    @property
    def families(self) -> frozenset[int]:
        return frozenset(r.version for r in self.ranges)

    def admits(self, namespace: str, service_labels: Mapping[str, str]) -> bool:
        """serviceAllocation constraints (namespaces AND service selectors)."""
        if self.namespaces and namespace not in self.namespaces:
            return False
        return not self.service_selectors or any_matches(self.service_selectors, service_labels)

    def capacity(self, version: int) -> int:
        total = 0
        for r in self.ranges:
            if r.version == version:
                total += r.size - (r.buggy_count() if self.avoid_buggy_ips else 0)
        return total


@attrs.frozen
class PreferredNode:
    weight: int
    selector: Selector


@attrs.frozen
class L2Advertisement:
    name: str
    pools: frozenset[str]
    node_selectors: tuple[Selector, ...]
    interfaces: tuple[str, ...]
    service_selectors: tuple[Selector, ...]
    preferred: tuple[PreferredNode, ...]


@attrs.frozen(order=True)
class CommunityValue:
    """A BGP community: two 16-bit halves (legacy) or three 32-bit parts (large)."""

    parts: tuple[int, ...]

    @property
    def large(self) -> bool:
        return len(self.parts) == 3

    def __str__(self) -> str:
        return ":".join(str(p) for p in self.parts)


@attrs.frozen
class BGPAdvertisement:
    name: str
    pools: frozenset[str]
    aggregation_length: int
    aggregation_length_v6: int
    local_pref: int  # 0: not set
    communities: tuple[CommunityValue, ...]
    peers: tuple[str, ...]
    node_selectors: tuple[Selector, ...]
    service_selectors: tuple[Selector, ...]


@attrs.frozen
class BGPPeer:
    name: str
    my_asn: int
    peer_asn: int  # 0 with dynamic_asn
    dynamic_asn: str | None
    address: str | None
    interface: str | None
    port: int
    source_address: str | None
    router_id: str | None
    hold_time: float | None  # seconds; None: the speaker's default
    keepalive_time: float | None
    connect_time: float | None
    node_selectors: tuple[Selector, ...]
    password: str | None  # inline password (not from a Secret)
    password_secret: str | None  # Secret name in the configuration namespace
    bfd_profile: str | None
    ebgp_multihop: bool
    graceful_restart: bool
    vrf: str
    local_asn: int
    dual_stack_address_family: bool

    @property
    def ibgp(self) -> bool:
        if self.dynamic_asn is not None:
            return self.dynamic_asn == "internal"
        return self.my_asn == self.peer_asn


@attrs.frozen
class BFDProfileValue:
    name: str
    receive_interval: int | None
    transmit_interval: int | None
    detect_multiplier: int | None
    echo_interval: int | None
    echo_mode: bool
    passive_mode: bool
    minimum_ttl: int | None


@attrs.frozen
class Config:
    """One configuration; ``errors`` empty means MetalLB would apply it."""

    pools: tuple[Pool, ...] = ()  # sorted by name
    l2_advertisements: tuple[L2Advertisement, ...] = ()
    bgp_advertisements: tuple[BGPAdvertisement, ...] = ()
    peers: tuple[BGPPeer, ...] = ()
    communities: Mapping[str, CommunityValue] = attrs.field(factory=dict)
    bfd_profiles: Mapping[str, BFDProfileValue] = attrs.field(factory=dict)
    errors: tuple[ConfigError, ...] = ()
    allocation_errors: tuple[ConfigError, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.errors

    def pool(self, name: str) -> Pool | None:
        for pool in self.pools:
            if pool.name == name:
                return pool
        return None


EMPTY_CONFIG = Config()


@attrs.frozen
class ConfigInputs:
    """The observed objects configuration parsing reads (plain dicts keyed by name)."""

    namespace: str
    objects: Mapping[str, Mapping[str, Mapping[str, Any]]]  # Kind -> name -> object
    namespaces: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)  # name -> labels
    nodes: Mapping[str, Mapping[str, str]] | None = None  # name -> labels; None: unknown
    secrets: Mapping[str, Mapping[str, Any]] | None = None  # name -> Secret; None: unknown


def gather_config_inputs(
    namespace: str, of_kind: Callable[[str, str], Mapping[str, Mapping[str, Any]]]
) -> ConfigInputs:
    """Pick what configuration parsing reads out of the observed world.

    ``of_kind(group, Kind)`` returns the objects of a kind by key (World.of_kind).
    """
    prefix = namespace + "/"

    def in_namespace(group: str, kind: str) -> dict[str, Mapping[str, Any]]:
        return {
            key[len(prefix) :]: obj
            for key, obj in of_kind(group, kind).items()
            if key.startswith(prefix)
        }

    objects = {kind: in_namespace(METALLB_GROUP, kind) for kind in CONFIG_KINDS}
    namespaces = {key: _labels(obj) for key, obj in of_kind("", "Namespace").items()}
    nodes = {key: _labels(obj) for key, obj in of_kind("", "Node").items()} or None
    return ConfigInputs(namespace, objects, namespaces, nodes, in_namespace("", "Secret"))


class _Errors:
    def __init__(self) -> None:
        self.items: list[ConfigError] = []

    def add(self, obj: str, field: str, message: str, *, transient: bool = False) -> None:
        self.items.append(ConfigError(obj, field, message, transient))


def _spec(obj: Mapping[str, Any], ref: str, errors: _Errors) -> Mapping[str, Any] | None:
    spec = obj.get("spec", {})
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        errors.add(ref, "spec", "must be an object")
        return None
    return spec


def _specs(
    inputs: ConfigInputs, kind: str, errors: _Errors
) -> Iterable[tuple[str, str, Mapping[str, Any]]]:
    """``(name, reference, spec)`` of every object of a kind, in name order; bad specs reported."""
    for name, obj in _sorted_objects(inputs, kind):
        ref = _ref(kind, inputs.namespace, name)
        spec = _spec(obj, ref, errors)
        if spec is not None:
            yield name, ref, spec


def _ref(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def _sorted_objects(inputs: ConfigInputs, kind: str) -> list[tuple[str, Mapping[str, Any]]]:
    return sorted(inputs.objects.get(kind, {}).items())


# --- pools ------------------------------------------------------------------


def _selectors(raw: Any, ref: str, field: str, errors: _Errors) -> tuple[Selector, ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.add(ref, field, "must be a list of label selectors")
        return None
    parsed: list[Selector] = []
    ok = True
    for index, item in enumerate(raw):
        try:
            selector = parse_selector(item)
        except SelectorError as exc:
            errors.add(ref, f"{field}[{index}]", str(exc))
            ok = False
            continue
        if any(s.requirements == selector.requirements for s in parsed):
            errors.add(
                ref,
                f"{field}[{index}]",
                f'duplicate definition of {field.rsplit(".", 1)[-1]} "{selector.text}"',
            )
            ok = False
        parsed.append(selector)
    return tuple(parsed) if ok else None


def _string_list(raw: Any, ref: str, field: str, errors: _Errors) -> tuple[str, ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        errors.add(ref, field, "must be a list of strings")
        return None
    seen: set[str] = set()
    for index, item in enumerate(raw):
        if item in seen:
            errors.add(
                ref,
                f"{field}[{index}]",
                f'duplicate definition of {field.rsplit(".", 1)[-1]} "{item}"',
            )
            return None
        seen.add(item)
    return tuple(raw)


def _bool(spec: Mapping[str, Any], key: str, default: bool, ref: str, errors: _Errors) -> bool:
    value = spec.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        errors.add(ref, f"spec.{key}", f"must be true or false, not {value!r}")
        return default
    return value


def _int(
    spec: Mapping[str, Any],
    key: str,
    ref: str,
    errors: _Errors,
    *,
    field: str | None = None,
    low: int | None = None,
    high: int | None = None,
) -> int | None:
    value = spec.get(key)
    field = field or f"spec.{key}"
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(ref, field, f"must be an integer, not {value!r}")
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        errors.add(ref, field, f"invalid value {value}, must be in {low}-{high} range")
        return None
    return value


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
    errors = _Errors()
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
    inputs: ConfigInputs, errors: _Errors, cache: ParseCache | None = None
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


def _overlapping(namespace: str, drafts: Sequence[_PoolDraft], errors: _Errors) -> set[str]:
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


def _cidr_text(address_range: AddressRange) -> str:
    cidrs = address_range.cidrs()
    return cidrs[0] if len(cidrs) == 1 else address_range.text


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    metadata = obj.get("metadata") or {}
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    if not isinstance(labels, Mapping):
        return {}
    return {str(k): str(v) for k, v in labels.items()}


# --- communities ------------------------------------------------------------


class CommunityError(ValueError):
    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def parse_community(text: str) -> CommunityValue:
    """``N:M`` (16-bit each) or ``large:A:B:C`` (32-bit each), MetalLB's wording on errors."""
    parts = text.split(":")
    if len(parts) == 2:
        return CommunityValue(tuple(_section(p, 16, text) for p in parts))
    if len(parts) == 4:
        if parts[0] != "large":
            raise CommunityError(f'invalid marker for large community "{text}"')
        return CommunityValue(tuple(_section(p, 32, text) for p in parts[1:]))
    raise CommunityError(f'invalid community format "{text}"', transient=True)


def _section(part: str, bits: int, text: str) -> int:
    if not re.fullmatch(r"[0-9]+", part) or int(part) >= 1 << bits:
        raise CommunityError(
            f'invalid community value: invalid section "{part}" of "{text}": '
            f"must be a {bits}-bit unsigned number"
        )
    return int(part)


def parse_communities(inputs: ConfigInputs, errors: _Errors) -> dict[str, CommunityValue]:
    aliases: dict[str, CommunityValue] = {}
    for name, obj in _sorted_objects(inputs, COMMUNITY):
        ref = _ref(COMMUNITY, inputs.namespace, name)
        spec = _spec(obj, ref, errors)
        if spec is None:
            continue
        entries = spec.get("communities") or []
        if not isinstance(entries, list):
            errors.add(ref, "spec.communities", "must be a list")
            continue
        for index, entry in enumerate(entries):
            field = f"spec.communities[{index}]"
            if (
                not isinstance(entry, Mapping)
                or not isinstance(entry.get("name"), str)
                or not isinstance(entry.get("value"), str)
            ):
                errors.add(ref, field, "needs a name and a value")
                continue
            alias = entry["name"]
            try:
                value = parse_community(entry["value"])
            except CommunityError as exc:
                errors.add(ref, f"{field}.value", f'parsing community "{alias}": {exc}')
                continue
            if alias in aliases:
                errors.add(ref, f"{field}.name", f'duplicate definition of community "{alias}"')
                continue
            aliases[alias] = value
    return aliases


# --- advertisements ---------------------------------------------------------


def _pool_selection(
    spec: Mapping[str, Any], ref: str, errors: _Errors, pools: Sequence[Pool]
) -> frozenset[str] | None:
    names = _string_list(spec.get("ipAddressPools"), ref, "spec.ipAddressPools", errors)
    selectors = _selectors(
        spec.get("ipAddressPoolSelectors"), ref, "spec.ipAddressPoolSelectors", errors
    )
    if names is None or selectors is None:
        return None
    if not names and not selectors:
        return frozenset(p.name for p in pools)  # only a fully empty selection means all
    chosen = {p.name for p in pools if p.name in names}
    chosen |= {p.name for p in pools if selectors and any_matches(selectors, p.labels)}
    return frozenset(chosen)


def _selections(
    spec: Mapping[str, Any], ref: str, errors: _Errors, pools: Sequence[Pool]
) -> tuple[frozenset[str] | None, tuple[Selector, ...] | None, tuple[Selector, ...] | None]:
    """What every advertisement selects: pools, nodes and Services."""
    return (
        _pool_selection(spec, ref, errors, pools),
        _selectors(spec.get("nodeSelectors"), ref, "spec.nodeSelectors", errors),
        _selectors(spec.get("serviceSelectors"), ref, "spec.serviceSelectors", errors),
    )


def parse_l2_advertisements(
    inputs: ConfigInputs, errors: _Errors, pools: Sequence[Pool]
) -> list[L2Advertisement]:
    result = []
    for name, ref, spec in _specs(inputs, L2_ADV, errors):
        before = len(errors.items)
        selected, nodes, services = _selections(spec, ref, errors, pools)
        interfaces = _string_list(spec.get("interfaces"), ref, "spec.interfaces", errors)
        preferred: list[PreferredNode] = []
        raw_preferred = spec.get("preferredNodeSelectors") or []
        if not isinstance(raw_preferred, list):
            errors.add(ref, "spec.preferredNodeSelectors", "must be a list")
        else:
            for index, term in enumerate(raw_preferred):
                field = f"spec.preferredNodeSelectors[{index}]"
                if not isinstance(term, Mapping):
                    errors.add(ref, field, "must be an object")
                    continue
                weight = _int(term, "weight", ref, errors, field=f"{field}.weight", low=1, high=100)
                if weight is None:
                    if "weight" not in term:
                        errors.add(ref, f"{field}.weight", "is required")
                    continue
                try:
                    preference = parse_selector(term.get("preference"))
                except SelectorError as exc:
                    errors.add(ref, f"{field}.preference", str(exc))
                    continue
                preferred.append(PreferredNode(weight, preference))
        if len(errors.items) != before:
            continue
        assert selected is not None and nodes is not None and services is not None
        result.append(
            L2Advertisement(name, selected, nodes, interfaces or (), services, tuple(preferred))
        )
    return result


def parse_bgp_advertisements(
    inputs: ConfigInputs,
    errors: _Errors,
    pools: Sequence[Pool],
    aliases: Mapping[str, CommunityValue],
) -> list[BGPAdvertisement]:
    result = []
    for name, ref, spec in _specs(inputs, BGP_ADV, errors):
        before = len(errors.items)
        selected, nodes, services = _selections(spec, ref, errors, pools)
        peers = _string_list(spec.get("peers"), ref, "spec.peers", errors)
        length = _int(spec, "aggregationLength", ref, errors)
        length_v6 = _int(spec, "aggregationLengthV6", ref, errors)
        length = 32 if length is None else length
        length_v6 = 128 if length_v6 is None else length_v6
        if not 1 <= length <= 32:
            errors.add(
                ref, "spec.aggregationLength", f"invalid aggregation length {length} for IPv4"
            )
        if not 1 <= length_v6 <= 128:
            errors.add(
                ref, "spec.aggregationLengthV6", f"invalid aggregation length {length_v6} for IPv6"
            )
        if services and (length != 32 or length_v6 != 128):
            errors.add(
                ref,
                "spec.serviceSelectors",
                "serviceSelectors and aggregationLength(V6) are mutually exclusive, "
                f"both cannot be set in {name}",
            )
        local_pref = _int(spec, "localPref", ref, errors, low=0, high=2**32 - 1) or 0
        communities: list[CommunityValue] = []
        raw_communities = _string_list(spec.get("communities"), ref, "spec.communities", errors)
        for index, text in enumerate(raw_communities or ()):
            if text in aliases:
                communities.append(aliases[text])
                continue
            try:
                communities.append(parse_community(text))
            except CommunityError as exc:
                message = str(exc)
                if exc.transient:
                    message = (
                        f'community "{text}" is neither a known Community alias nor '
                        "a community value (N:M or large:A:B:C)"
                    )
                errors.add(ref, f"spec.communities[{index}]", message, transient=exc.transient)
        if selected is not None and len(errors.items) == before:
            _check_aggregation(ref, errors, pools, selected, length, length_v6)
        if len(errors.items) != before:
            continue
        assert selected is not None and nodes is not None and services is not None
        result.append(
            BGPAdvertisement(
                name,
                selected,
                length,
                length_v6,
                local_pref,
                tuple(sorted(set(communities))),
                peers or (),
                nodes,
                services,
            )
        )
    return result


def _check_aggregation(
    ref: str,
    errors: _Errors,
    pools: Sequence[Pool],
    selected: frozenset[str],
    length: int,
    length_v6: int,
) -> None:
    for pool in pools:
        if pool.name not in selected:
            continue
        for address_range in pool.ranges:
            wanted = length if address_range.version == 4 else length_v6
            shortest = min(int(c.split("/")[1]) for c in address_range.cidrs())
            if wanted < shortest:
                field = "spec.aggregationLength" + ("" if address_range.version == 4 else "V6")
                errors.add(
                    ref,
                    field,
                    f"invalid aggregation length {wanted}: prefix {shortest} "
                    "in this pool is more specific than the aggregation length for "
                    f"addresses {address_range.text}",
                )
                return


def _node_set(
    selectors: Sequence[Selector], nodes: Mapping[str, Mapping[str, str]] | None
) -> frozenset[str]:
    if nodes is None:
        return frozenset()
    if not selectors:
        return frozenset(nodes)
    return frozenset(n for n, labels in nodes.items() if any_matches(selectors, labels))


def _check_local_prefs(
    inputs: ConfigInputs,
    errors: _Errors,
    ads: Sequence[BGPAdvertisement],
    pools: Sequence[Pool],
) -> None:
    """Two advertisements of one pool may not send different LOCAL_PREFs to the same routes."""
    plain = [a for a in ads if not a.service_selectors]
    for index, second in enumerate(plain):
        for first in plain[:index]:
            if first.local_pref == second.local_pref:
                continue
            for pool in pools:
                if pool.name not in first.pools or pool.name not in second.pools:
                    continue
                if _local_prefs_compatible(first, second, pool, inputs.nodes):
                    continue
                errors.add(
                    _ref(BGP_ADV, inputs.namespace, second.name),
                    "spec.localPref",
                    f"invalid local preference {second.local_pref}: local preference "
                    f"{first.local_pref} was already set for the same type of BGP "
                    f'update by BGPAdvertisement "{first.name}" for pool "{pool.name}"',
                )
                break


def _local_prefs_compatible(
    a: BGPAdvertisement,
    b: BGPAdvertisement,
    pool: Pool,
    nodes: Mapping[str, Mapping[str, str]] | None,
) -> bool:
    families = pool.families
    lengths_differ = all(
        (a.aggregation_length != b.aggregation_length)
        if f == 4
        else (a.aggregation_length_v6 != b.aggregation_length_v6)
        for f in families
    )
    if lengths_differ:
        return True
    if a.peers and b.peers and not set(a.peers) & set(b.peers):
        return True
    if nodes is None:
        return False  # no Node is known: the node sets cannot be shown to be disjoint
    return _node_set(a.node_selectors, nodes).isdisjoint(_node_set(b.node_selectors, nodes))


# --- peers and BFD ----------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration string ("90s", "1m30s", "500ms") in seconds; ValueError otherwise."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"invalid duration {text!r}")
    if text == "0":
        return 0.0
    position, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ValueError(f"invalid duration {text!r}")
    return total


def _duration(spec: Mapping[str, Any], key: str, ref: str, errors: _Errors) -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError:
        errors.add(ref, f"spec.{key}", f'invalid duration "{value}" (use Go syntax such as 90s)')
        return None


def _ip(spec: Mapping[str, Any], key: str, what: str, ref: str, errors: _Errors) -> str | None:
    value = spec.get(key)
    if value in (None, ""):
        return None
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        errors.add(ref, f"spec.{key}", f'invalid {what} "{value}"')
        return None


def parse_peers(
    inputs: ConfigInputs, errors: _Errors, bfd_profiles: Mapping[str, BFDProfileValue]
) -> list[BGPPeer]:
    result = []
    for name, ref, spec in _specs(inputs, PEER, errors):
        before = len(errors.items)
        my_asn = _int(spec, "myASN", ref, errors, low=0, high=2**32 - 1) or 0
        peer_asn = _int(spec, "peerASN", ref, errors, low=0, high=2**32 - 1) or 0
        dynamic = spec.get("dynamicASN") or None
        if my_asn == 0:
            errors.add(ref, "spec.myASN", "missing local ASN")
        if peer_asn == 0 and dynamic is None:
            errors.add(ref, "spec.peerASN", "missing peer ASN and dynamicASN")
        if peer_asn and dynamic is not None:
            errors.add(ref, "spec.dynamicASN", "both peer ASN and dynamicASN specified")
        if dynamic is not None and dynamic not in ("internal", "external"):
            errors.add(ref, "spec.dynamicASN", f"invalid dynamicASN {dynamic}")
        ibgp = dynamic == "internal" if dynamic else my_asn == peer_asn
        multihop = _bool(spec, "ebgpMultiHop", False, ref, errors)
        if multihop and ibgp:
            errors.add(
                ref, "spec.ebgpMultiHop", "invalid ebgp-multihop parameter set for an ibgp peer"
            )
        address = _ip(spec, "peerAddress", "BGPPeer address", ref, errors)
        interface = spec.get("interface") or None
        if spec.get("peerAddress") in (None, "") and interface is None:
            errors.add(ref, "spec.peerAddress", "peer has no Address or Interface specified")
        if spec.get("peerAddress") not in (None, "") and interface is not None:
            errors.add(ref, "spec.interface", "peer has both Address and Interface specified")
        port = _int(spec, "peerPort", ref, errors, low=0, high=16384) or 179
        source = _ip(spec, "sourceAddress", "source IP", ref, errors)
        router_id = _ip(spec, "routerID", "router ID", ref, errors)
        hold, keepalive = _timers(spec, ref, errors)
        connect = _duration(spec, "connectTime", ref, errors)
        if connect is not None and (connect != int(connect) or not 1 <= connect <= 65535):
            errors.add(
                ref,
                "spec.connectTime",
                f"invalid connectTime {spec['connectTime']}: must be whole seconds "
                "between 1s and 65535s",
            )
        password = spec.get("password") or None
        secret_ref = spec.get("passwordSecret") or None
        secret_name = secret_ref.get("name") if isinstance(secret_ref, Mapping) else None
        if password and secret_name:
            errors.add(
                ref,
                "spec.passwordSecret",
                "can not have both password and secret ref "
                f'set in peer config "{inputs.namespace}"/"{name}"',
            )
        elif secret_name and inputs.secrets is not None:
            _check_secret(inputs, ref, secret_name, errors)
        bfd = spec.get("bfdProfile") or None
        if bfd is not None and bfd not in bfd_profiles:
            errors.add(
                ref,
                "spec.bfdProfile",
                f"peer {name} referencing non existing bfd profile {bfd}",
                transient=True,
            )
        nodes = _selectors(spec.get("nodeSelectors"), ref, "spec.nodeSelectors", errors)
        graceful = _bool(spec, "enableGracefulRestart", False, ref, errors)
        dual = _bool(spec, "dualStackAddressFamily", False, ref, errors)
        local_asn = _int(spec, "localASN", ref, errors, low=0, high=2**32 - 1) or 0
        vrf = spec.get("vrf") or ""
        if len(errors.items) != before:
            continue
        assert nodes is not None
        result.append(
            BGPPeer(
                name,
                my_asn,
                peer_asn,
                dynamic,
                address,
                interface,
                port,
                source,
                router_id,
                hold,
                keepalive,
                connect,
                nodes,
                password,
                secret_name,
                bfd,
                multihop,
                graceful,
                str(vrf),
                local_asn,
                dual,
            )
        )
    _check_duplicate_peers(inputs, result, errors)
    return result


def _timers(
    spec: Mapping[str, Any], ref: str, errors: _Errors
) -> tuple[float | None, float | None]:
    hold = _duration(spec, "holdTime", ref, errors)
    keepalive = _duration(spec, "keepaliveTime", ref, errors)
    if hold is None and keepalive is None:
        return None, None
    if hold is None:
        assert keepalive is not None
        hold = keepalive * 3
    elif keepalive is None:
        keepalive = hold / 3
    whole = int(hold)
    if whole != 0 and whole < 3:
        errors.add(
            ref, "spec.holdTime", f'invalid hold time "{spec.get("holdTime")}": must be 0 or >=3s'
        )
    if keepalive > hold:
        errors.add(
            ref,
            "spec.keepaliveTime",
            f'invalid keepaliveTime "{spec.get("keepaliveTime")}"'
            f', must be lower than holdTime "{spec.get("holdTime")}"',
        )
    return float(whole), keepalive


def _check_secret(inputs: ConfigInputs, ref: str, name: str, errors: _Errors) -> None:
    assert inputs.secrets is not None
    secret = inputs.secrets.get(name)
    field = "spec.passwordSecret"
    if secret is None:
        errors.add(
            ref, field, f'secret ref not found for peer config: Secret "{name}"', transient=True
        )
        return
    if secret.get("type") != "kubernetes.io/basic-auth":
        errors.add(
            ref,
            field,
            f'secret type mismatch on "{inputs.namespace}"/"{name}", '
            'type "kubernetes.io/basic-auth" is expected',
        )
        return
    data = {**(secret.get("data") or {}), **(secret.get("stringData") or {})}
    if "password" not in data:
        errors.add(
            ref, field, f'password not specified in the secret "{inputs.namespace}"/"{name}"'
        )


def _check_duplicate_peers(inputs: ConfigInputs, peers: Sequence[BGPPeer], errors: _Errors) -> None:
    """Two peers to the same address (in the same VRF) may not select the same node."""
    for index, second in enumerate(peers):
        for first in peers[:index]:
            if (first.address, first.interface, first.vrf) != (
                second.address,
                second.interface,
                second.vrf,
            ):
                continue
            first_nodes = _node_set(first.node_selectors, inputs.nodes)
            second_nodes = _node_set(second.node_selectors, inputs.nodes)
            if inputs.nodes and first_nodes.isdisjoint(second_nodes):
                continue
            errors.add(
                _ref(PEER, inputs.namespace, second.name),
                "spec.peerAddress",
                f'peer "{second.name}" has the same address as peer "{first.name}" and '
                "both select the same node: duplicate BGP sessions are not allowed",
            )
            break


def parse_bfd_profiles(inputs: ConfigInputs, errors: _Errors) -> dict[str, BFDProfileValue]:
    profiles = {}
    for name, ref, spec in _specs(inputs, BFD, errors):
        before = len(errors.items)
        values = {
            "receiveInterval": _int(spec, "receiveInterval", ref, errors, low=10, high=60000),
            "transmitInterval": _int(spec, "transmitInterval", ref, errors, low=10, high=60000),
            "detectMultiplier": _int(spec, "detectMultiplier", ref, errors, low=2, high=255),
            "echoInterval": _int(spec, "echoInterval", ref, errors, low=10, high=60000),
            "minimumTtl": _int(spec, "minimumTtl", ref, errors, low=1, high=254),
        }
        echo = _bool(spec, "echoMode", False, ref, errors)
        passive = _bool(spec, "passiveMode", False, ref, errors)
        if len(errors.items) != before:
            continue
        profiles[name] = BFDProfileValue(
            name,
            values["receiveInterval"],
            values["transmitInterval"],
            values["detectMultiplier"],
            values["echoInterval"],
            echo,
            passive,
            values["minimumTtl"],
        )
    return profiles


def _check_bfd_echo_ipv6(
    inputs: ConfigInputs,
    errors: _Errors,
    pools: Sequence[Pool],
    ads: Sequence[BGPAdvertisement],
    peers: Sequence[BGPPeer],
    profiles: Mapping[str, BFDProfileValue],
) -> None:
    for ad in ads:
        for pool in pools:
            if pool.name not in ad.pools or 6 not in pool.families:
                continue
            for peer in peers:
                if ad.peers and peer.name not in ad.peers:
                    continue
                profile = profiles.get(peer.bfd_profile or "")
                if profile is not None and profile.echo_mode:
                    errors.add(
                        _ref(PEER, inputs.namespace, peer.name),
                        "spec.bfdProfile",
                        f"pool {pool.name} has bgpadvertisement {ad.name} which "
                        f"references peer {peer.name} which has bfd echo enabled, "
                        "which is not possible",
                    )


def parse_config(inputs: ConfigInputs, cache: ParseCache | None = None) -> Config:
    """Parse and validate every configuration object; see the module doc for scopes.

    ``cache`` (one per fold) makes re-parsing after one changed object cost little.
    """
    errors = _Errors()
    pools = parse_pools(inputs, errors, cache)
    aliases = parse_communities(inputs, errors)
    allocation_errors = tuple(errors.items)
    bfd = parse_bfd_profiles(inputs, errors)
    l2 = parse_l2_advertisements(inputs, errors, pools)
    bgp = parse_bgp_advertisements(inputs, errors, pools, aliases)
    _check_local_prefs(inputs, errors, bgp, pools)
    peers = parse_peers(inputs, errors, bfd)
    _check_bfd_echo_ipv6(inputs, errors, pools, bgp, peers, bfd)
    return Config(
        tuple(pools),
        tuple(l2),
        tuple(bgp),
        tuple(peers),
        aliases,
        bfd,
        tuple(errors.items),
        allocation_errors,
    )
