"""Community aliases, L2Advertisements and BGPAdvertisements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..selectors import Selector, SelectorError, any_matches, parse_selector
from .model import (
    BGP_ADV,
    COMMUNITY,
    L2_ADV,
    BGPAdvertisement,
    CommunityValue,
    ConfigInputs,
    L2Advertisement,
    Pool,
    PreferredNode,
)
from .primitives import (
    CommunityError,
    Errors,
    _int,
    _ref,
    _selectors,
    _sorted_objects,
    _spec,
    _specs,
    _string_list,
    parse_community,
)
from .rules import (
    _check_aggregation,
)


def parse_communities(inputs: ConfigInputs, errors: Errors) -> dict[str, CommunityValue]:
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


def _pool_selection(
    spec: Mapping[str, Any], ref: str, errors: Errors, pools: Sequence[Pool]
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
    spec: Mapping[str, Any], ref: str, errors: Errors, pools: Sequence[Pool]
) -> tuple[frozenset[str] | None, tuple[Selector, ...] | None, tuple[Selector, ...] | None]:
    """What every advertisement selects: pools, nodes and Services."""
    return (
        _pool_selection(spec, ref, errors, pools),
        _selectors(spec.get("nodeSelectors"), ref, "spec.nodeSelectors", errors),
        _selectors(spec.get("serviceSelectors"), ref, "spec.serviceSelectors", errors),
    )


def parse_l2_advertisements(
    inputs: ConfigInputs, errors: Errors, pools: Sequence[Pool]
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
    errors: Errors,
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
