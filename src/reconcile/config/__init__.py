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

* a v1beta1 BGPPeer without timers gets the default 90 s hold time (MetalLB's
  conversion turns it into an explicit hold time of 0);
* pools are considered in name order wherever MetalLB iterates a Go map.
"""

from __future__ import annotations

from .advertisements import (
    parse_bgp_advertisements,
    parse_communities,
    parse_l2_advertisements,
)
from .model import (
    BFD,
    BGP_ADV,
    COMMUNITY,
    CONFIG_KINDS,
    EMPTY_CONFIG,
    L2_ADV,
    METALLB_GROUP,
    PEER,
    POOL,
    BFDProfileValue,
    BGPAdvertisement,
    BGPPeer,
    CommunityValue,
    Config,
    ConfigError,
    ConfigInputs,
    L2Advertisement,
    Pool,
    PreferredNode,
    gather_config_inputs,
)
from .peers import NOT_HONOURED_PEER_FIELDS, parse_bfd_profiles, parse_peers
from .pools import ParseCache, parse_pools
from .primitives import CommunityError, Errors, parse_community, parse_duration
from .rules import (
    check_bfd_echo_ipv6,
    check_local_prefs,
    local_prefs_compatible,
    namespace_error,
)

__all__ = [
    "BFD",
    "BGP_ADV",
    "COMMUNITY",
    "CONFIG_KINDS",
    "EMPTY_CONFIG",
    "L2_ADV",
    "METALLB_GROUP",
    "NOT_HONOURED_PEER_FIELDS",
    "PEER",
    "POOL",
    "BFDProfileValue",
    "BGPAdvertisement",
    "BGPPeer",
    "CommunityError",
    "CommunityValue",
    "Config",
    "ConfigError",
    "ConfigInputs",
    "L2Advertisement",
    "ParseCache",
    "Pool",
    "PreferredNode",
    "gather_config_inputs",
    "local_prefs_compatible",
    "namespace_error",
    "parse_bfd_profiles",
    "parse_bgp_advertisements",
    "parse_communities",
    "parse_community",
    "parse_config",
    "parse_duration",
    "parse_l2_advertisements",
    "parse_peers",
    "parse_pools",
]


def parse_config(inputs: ConfigInputs, cache: ParseCache | None = None) -> Config:
    """Parse and validate every configuration object; see the module doc for scopes.

    ``cache`` (one per fold) makes re-parsing after one changed object cost little.
    """
    errors = Errors()
    pools = parse_pools(inputs, errors, cache)
    aliases = parse_communities(inputs, errors)
    allocation_errors = tuple(errors.items)
    bfd = parse_bfd_profiles(inputs, errors)
    l2 = parse_l2_advertisements(inputs, errors, pools)
    bgp = parse_bgp_advertisements(inputs, errors, pools, aliases)
    check_local_prefs(inputs, errors, bgp, pools)
    peers = parse_peers(inputs, errors, bfd)
    check_bfd_echo_ipv6(inputs, errors, pools, bgp, peers, bfd)
    return Config(
        tuple(pools),
        tuple(l2),
        tuple(bgp),
        tuple(peers),
        aliases,
        bfd,
        tuple(errors.items),
        allocation_errors,
        tuple(errors.warnings),
    )
