"""The configuration's values: what parsing produces and the folds read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..addresses import AddressRange, family_of
from ..frozen import freeze
from ..selectors import Selector, any_matches

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
    # Where the object was written, when it came from a file (validate, plan).
    file: str | None = attrs.field(default=None, kw_only=True, order=False)
    document: int | None = attrs.field(default=None, kw_only=True, order=False)

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "object": self.object,
            "field": self.field,
            "message": self.message,
        }
        if self.file is not None:
            shown["file"], shown["document"] = self.file, self.document
        return shown

    def __str__(self) -> str:
        """The one way an error is shown: ``validate``, ``plan``, the webhook's
        refusal and ConfigurationState's summary all print this."""
        where = f"{self.file}: document {self.document}: " if self.file is not None else ""
        if self.field:
            return f"{where}{self.object}: {self.field}: {self.message}"
        return f"{where}{self.object}: {self.message}"


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
    labels: Mapping[str, str] = attrs.field(factory=dict, eq=False, converter=freeze)
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
    hold_time: float  # seconds; defaults decided by parsing (config/peers.py)
    keepalive_time: float
    connect_time: float | None
    node_selectors: tuple[Selector, ...]
    password: str | None  # inline password (not from a Secret)
    password_secret: str | None  # Secret name in the configuration namespace
    bfd_profile: str | None
    ebgp_multihop: bool
    graceful_restart: bool
    vrf: str
    local_asn: int  # 0: none, or not applicable (a warning says why; config/peers.py)
    dual_stack_address_family: bool

    @property
    def ibgp(self) -> bool:
        if self.dynamic_asn is not None:
            return self.dynamic_asn == "internal"
        return self.my_asn == self.peer_asn

    @property
    def session_asn(self) -> int:
        """The AS the peer sees: ``localASN`` replaces ``myASN`` on this session (FRR's
        ``local-as N no-prepend replace-as``, as MetalLB's FRR modes configure it)."""
        return self.local_asn or self.my_asn

    @property
    def families(self) -> frozenset[int]:
        """The address families this session carries, as MetalLB's FRR modes activate
        them: both with ``dualStackAddressFamily`` or over an interface (unnumbered),
        else only the family of the peer's address."""
        if self.dual_stack_address_family or self.address is None:
            return frozenset((4, 6))
        return frozenset((family_of(self.address),))


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
    communities: Mapping[str, CommunityValue] = attrs.field(factory=dict, converter=freeze)
    bfd_profiles: Mapping[str, BFDProfileValue] = attrs.field(factory=dict, converter=freeze)
    errors: tuple[ConfigError, ...] = ()
    allocation_errors: tuple[ConfigError, ...] = ()
    # Accepted, but deprecated or not honoured (DESIGN: config.warnings): nothing
    # MetalLB honours is ignored without a word.
    warnings: tuple[ConfigError, ...] = ()

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


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    metadata = obj.get("metadata") or {}
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    if not isinstance(labels, Mapping):
        return {}
    return {str(k): str(v) for k, v in labels.items()}
