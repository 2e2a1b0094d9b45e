"""Rules across objects: aggregation against pools, LOCAL_PREF compatibility,
duplicate peers, password Secrets, BFD echo with IPv6."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet

from ..selectors import Selector, any_matches
from .model import (
    BGP_ADV,
    PEER,
    BFDProfileValue,
    BGPAdvertisement,
    BGPPeer,
    ConfigError,
    ConfigInputs,
    Pool,
)
from .primitives import (
    Errors,
    _ref,
)


def _check_aggregation(
    ref: str,
    errors: Errors,
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


def node_sets(
    a: BGPAdvertisement, b: BGPAdvertisement, nodes: Mapping[str, Mapping[str, str]] | None
) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    if nodes is None:
        return None, None
    return _node_set(a.node_selectors, nodes), _node_set(b.node_selectors, nodes)


def check_local_prefs(
    inputs: ConfigInputs,
    errors: Errors,
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
                if local_prefs_compatible(
                    first, second, pool.families, *node_sets(first, second, inputs.nodes)
                ):
                    continue
                errors.add(
                    _ref(BGP_ADV, inputs.namespace, second.name),
                    "spec.localPref",
                    f"invalid local preference {second.local_pref}: local preference "
                    f"{first.local_pref} was already set for the same type of BGP "
                    f'update by BGPAdvertisement "{first.name}" for pool "{pool.name}"',
                )
                break


def local_prefs_compatible(
    a: BGPAdvertisement,
    b: BGPAdvertisement,
    families: Iterable[int],
    a_nodes: AbstractSet[str] | None,
    b_nodes: AbstractSet[str] | None,
) -> bool:
    """MetalLB's ``BGPAdvertisementsHaveCompatibleLocalPref``: may ``a`` and ``b`` send
    different LOCAL_PREFs? Yes when their aggregation lengths differ for every family
    the pool holds, their peer lists share no peer, or their node sets are disjoint.

    The one rule for configuration validation and for the speaker, which judges the
    pairs service selectors bring together. ``None`` node sets: no Node is known, so
    they cannot be shown disjoint.
    """
    lengths_differ = all(
        (a.aggregation_length != b.aggregation_length)
        if family == 4
        else (a.aggregation_length_v6 != b.aggregation_length_v6)
        for family in families
    )
    if lengths_differ:
        return True
    if a.peers and b.peers and not set(a.peers) & set(b.peers):
        return True
    if a_nodes is None or b_nodes is None:
        return False
    return a_nodes.isdisjoint(b_nodes)


def _check_secret(inputs: ConfigInputs, ref: str, name: str, errors: Errors) -> None:
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


def _check_duplicate_peers(inputs: ConfigInputs, peers: Sequence[BGPPeer], errors: Errors) -> None:
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


def check_bfd_echo_ipv6(
    inputs: ConfigInputs,
    errors: Errors,
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


def namespace_error(kind: str, namespace: str, name: str, wanted: str) -> ConfigError | None:
    """A configuration object outside the namespace ironlb reads: never applied, and
    MetalLB's webhook refuses to create it (the same words here and in ours)."""
    if namespace == wanted:
        return None
    return ConfigError(
        f"{kind}/{namespace}/{name}",
        "metadata.namespace",
        f"resource must be created in {wanted} namespace",
    )
