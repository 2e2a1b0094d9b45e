"""The speakers' plans: who answers ARP/NDP for which address, what each node tells
each BGP peer, and the status objects a node publishes. Frozen values and their
JSON contract (the ``l2`` and ``bgp`` sections of ``ironlb plan -o json``).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from operator import attrgetter
from typing import Any

import attrs

from ..addresses import parse_ip
from ..frozen import freeze, freeze_nested


class Reason(enum.StrEnum):
    """Why an address is not announced (by anyone, or by one node). MetalLB's words
    where it has them, so logs and metrics read the same."""

    IP_NOT_ALLOWED = "ipNotAllowed"  # the address lies in no pool of the configuration
    NO_MATCHING_ADVERTISEMENT = "noMatchingAdvertisement"
    SHARED_IP_WITH_SERVICE_SELECTOR = "sharedIPWithServiceSelector"
    NO_ENDPOINTS = "noEndpoints"  # no endpoint anywhere can serve
    NO_LOCAL_ENDPOINTS = "noLocalEndpoints"  # ETP Local: no candidate hosts one
    NO_ELIGIBLE_NODE = "noEligibleNode"  # no advertised node runs a usable speaker
    INTERFACES_NOT_FOUND = "interfacesNotFound"  # the winner has none of the listed interfaces
    CONFLICTING_ADVERTISEMENTS = "conflictingAdvertisements"
    # Per node only:
    NOT_OWNER = "notOwner"  # another node was elected
    NOT_SELECTED = "nodeNotSelected"  # no advertisement selects this node
    NODE_NETWORK_UNAVAILABLE = "nodeNetworkUnavailable"
    NODE_EXCLUDED = "nodeLabeledExcludeBalancers"
    NO_LIVE_SPEAKER = "noLiveSpeaker"


@attrs.frozen
class L2Announcement:
    """One address of one Service in layer-2 mode: the elected node, or why nobody."""

    node: str | None
    interfaces: tuple[str, ...] | None  # None: every eligible interface of the node
    reason: Reason | None

    @property
    def announced(self) -> bool:
        return self.node is not None and self.reason is None

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "interfaces": None if self.interfaces is None else list(self.interfaces),
            "reason": None if self.reason is None else str(self.reason),
        }


@attrs.frozen(cache_hash=True)  # the speaker diffs plans as sets of routes
class BGPRoute:
    prefix: str  # "192.0.2.10/32"
    local_pref: int | None  # None on eBGP sessions: not sent
    communities: tuple[str, ...]  # "65000:100", numerically sorted
    large_communities: tuple[str, ...]  # "65000:1:2", numerically sorted

    @functools.cached_property
    def order(self) -> tuple:
        """Where the route sorts (by address, numerically); kept, as a node's plan
        sorts every route of every Service for each peer."""
        address, _, length = self.prefix.partition("/")
        version, value = parse_ip(address) or (0, 0)
        return (version, value, int(length or 0), self.local_pref or 0, self.communities,
                self.large_communities)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "local_pref": self.local_pref,
            "communities": list(self.communities),
            "large_communities": list(self.large_communities),
        }


route_order = attrgetter("order")  # sorted(routes, key=route_order)


@attrs.frozen
class BFDSettings:
    """The BFD session beside a BGP session: its BFDProfile's values, MetalLB's (FRR's)
    defaults where the profile says nothing; intervals in milliseconds."""

    profile: str
    receive_interval: int = 300
    transmit_interval: int = 300
    detect_multiplier: int = 3
    passive: bool = False
    minimum_ttl: int = 254  # multihop sessions only


@attrs.frozen
class BGPSessionPlan:
    """One BGP session a node should hold, with every parameter the speaker needs."""

    peer: str  # BGPPeer name
    my_asn: int
    peer_asn: int  # 0 with dynamic_asn
    dynamic_asn: str | None  # "internal" / "external"
    address: str | None
    interface: str | None  # BGP unnumbered
    port: int
    source_address: str | None
    router_id: str | None
    hold_time: float
    keepalive_time: float
    connect_time: float | None  # None: the speaker's retry backoff
    password: str | None  # inline password from the BGPPeer (already in the object)
    password_secret: str | None  # Secret name; the value is read live, never logged
    password_version: str | None  # the recorded keyed hash: changes when the Secret does
    ebgp_multihop: bool
    graceful_restart: bool
    bfd_profile: str | None
    vrf: str
    ibgp: bool
    conditions: tuple[str, ...]  # what the native speaker cannot do for this peer yet
    local_asn: int = 0  # replaces my_asn on the wire (FRR's local-as ... replace-as); 0: none
    families: tuple[int, ...] = (4, 6)  # the address families the session carries
    bfd: BFDSettings | None = None  # from bfd_profile; None: no BFD session


@attrs.frozen
class RouteDelta:
    """How a node's routes by peer changed between two versions of one fold's route
    journal (``lineage``): what lets the BGP effector spend what changed, not what is
    held. A hint beside the plan's full routes, never instead of them: an effector
    whose routes stand at another version diffs the full routes."""

    lineage: int  # the journal: versions compare only within one
    since: int
    until: int
    added: Mapping[str, frozenset[BGPRoute]] = attrs.field(converter=freeze)  # peer ->
    removed: Mapping[str, frozenset[BGPRoute]] = attrs.field(converter=freeze)


@attrs.frozen
class NodePlan:
    """Everything one speaker does: the scope of its plan digest is ``l2`` and ``bgp``."""

    node: str
    # Service -> ip -> (this node's) announcement
    l2: Mapping[str, Mapping[str, L2Announcement]] = attrs.field(converter=freeze_nested)
    # peer -> routes, sorted
    bgp: Mapping[str, tuple[BGPRoute, ...]] = attrs.field(converter=freeze)
    # peer -> session parameters
    sessions: Mapping[str, BGPSessionPlan] = attrs.field(converter=freeze)
    # family -> interfaces a responder runs on
    l2_interfaces: Mapping[int, tuple[str, ...]] = attrs.field(converter=freeze)
    # Service -> peers its prefixes go to
    bgp_status: Mapping[str, tuple[str, ...]] = attrs.field(converter=freeze)
    # Service -> why this node announces nothing of it
    not_announced: Mapping[str, Reason] = attrs.field(converter=freeze)
    # how ``bgp`` differs from an earlier plan of the same fold (not part of the plan's
    # value: two plans with equal routes are equal, whatever their history)
    route_delta: RouteDelta | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def l2_status(self) -> dict[str, tuple[str, ...]]:
        """ServiceL2Status content: Service -> interfaces (empty: all)."""
        return {service: self.l2_interfaces_of(service) for service in self.l2}

    def l2_interfaces_of(self, service: str) -> tuple[str, ...]:
        """The interfaces ``service`` is announced on here (empty: all)."""
        interfaces: set[str] = set()
        for announcement in self.l2[service].values():
            interfaces |= set(announcement.interfaces or ())
        return tuple(sorted(interfaces))

    def to_json(self) -> dict[str, Any]:
        return {
            "l2": l2_json(self.l2),
            "bgp": {self.node: bgp_json(self.bgp)},
        }


def l2_json(l2: Mapping[str, Mapping[str, L2Announcement]]) -> dict[str, Any]:
    return {
        service: {ip: by_ip[ip].to_json() for ip in sorted(by_ip)}
        for service, by_ip in sorted(l2.items())
    }


def bgp_json(
    by_peer: Mapping[str, tuple[BGPRoute, ...]], shared: dict[int, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Routes by peer. ``shared``: the JSON of routes already converted, by the route's
    identity: every node of a plan sends the same route objects, so a plan of 50
    nodes converts each once, not 50 times (the dicts are then shared in the output)."""
    if shared is None:
        return {peer: [r.to_json() for r in by_peer[peer]] for peer in sorted(by_peer)}
    result = {}
    for peer in sorted(by_peer):
        routes = []
        for route in by_peer[peer]:
            converted = shared.get(id(route))
            if converted is None:
                converted = shared[id(route)] = route.to_json()
            routes.append(converted)
        result[peer] = routes
    return result


@attrs.frozen
class SpeakerPlan:
    """Every node's plan at once (``ironlb plan`` without ``--node``)."""

    l2: Mapping[str, Mapping[str, L2Announcement]] = attrs.field(converter=freeze_nested)
    # node -> peer -> routes
    bgp: Mapping[str, Mapping[str, tuple[BGPRoute, ...]]] = attrs.field(converter=freeze_nested)

    def to_json(self) -> dict[str, Any]:
        shared: dict[int, dict[str, Any]] = {}  # routes live in self.bgp: ids stay theirs
        return {
            "l2": l2_json(self.l2),
            "bgp": {node: bgp_json(self.bgp[node], shared) for node in sorted(self.bgp)},
        }
