"""What one BGP session carries: its parameters, and the routes an advertisement makes.

Pure functions of the configuration values, kept apart from the speaker fold that
decides *which* node sends *which* Service (speaker.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet

from ..addresses import parse_ip, to_text
from ..config import (
    NOT_HONOURED_PEER_FIELDS,
    BFDProfileValue,
    BGPAdvertisement,
    BGPPeer,
    local_prefs_compatible,
)
from ..plan.speaker import BFDSettings, BGPRoute, BGPSessionPlan

DEFAULT_IBGP_LOCAL_PREF = 100  # sent on iBGP when the advertisement sets none (as FRR does)


def carried_families(peer: BGPPeer) -> frozenset[int]:
    """The address families the session to ``peer`` will carry: none while the
    native speaker cannot open it (a VRF: the warning says so), else those MetalLB's
    FRR modes activate (BGPPeer.families; both over an interface)."""
    if peer.vrf:
        return frozenset()
    return peer.families


def route_for(ip: str, ad: BGPAdvertisement, peer: BGPPeer) -> BGPRoute:
    """The route ``ad`` makes of one address for one peer (LOCAL_PREF only on iBGP)."""
    version, value = parse_ip(ip) or (4, 0)
    length = ad.aggregation_length if version == 4 else ad.aggregation_length_v6
    bits = 32 if version == 4 else 128
    network = value >> (bits - length) << (bits - length)
    legacy = sorted(c for c in ad.communities if not c.large)
    large = sorted(c for c in ad.communities if c.large)
    local_pref = None
    if peer.ibgp:
        local_pref = ad.local_pref or DEFAULT_IBGP_LOCAL_PREF
    return BGPRoute(
        f"{to_text((version, network))}/{length}",
        local_pref,
        tuple(str(c) for c in legacy),
        tuple(str(c) for c in large),
    )


def local_pref_conflict(
    ads: Sequence[BGPAdvertisement], nodes: Sequence[AbstractSet[str]], families: Iterable[int]
) -> bool:
    """MetalLB's checkBGPAdvConflicts over the ads matching one Service of a pool
    holding ``families``: the configuration's rule, applied to the pairs service
    selectors brought together (pairs without any were judged by validation).
    ``nodes[i]`` is the node set ``ads[i]`` selects.
    """
    families = tuple(families)
    for i, first in enumerate(ads):
        for j in range(i + 1, len(ads)):
            second = ads[j]
            if first.local_pref == second.local_pref:
                continue
            if not first.service_selectors and not second.service_selectors:
                continue
            if not local_prefs_compatible(first, second, families, nodes[i], nodes[j]):
                return True
    return False


def peer_conditions(peer: BGPPeer) -> tuple[str, ...]:
    """What the native speaker cannot do yet for the session to ``peer``."""
    unhonoured = (("vrf", peer.vrf),)
    return tuple(
        f"{field} {value}: {NOT_HONOURED_PEER_FIELDS[field]}"
        for field, value in unhonoured
        if value
    )


def bfd_settings(profile: BFDProfileValue) -> BFDSettings:
    """A profile's values over MetalLB's defaults (its echo fields are not honoured:
    parsing warns about them)."""
    given = {
        "receive_interval": profile.receive_interval,
        "transmit_interval": profile.transmit_interval,
        "detect_multiplier": profile.detect_multiplier,
        "minimum_ttl": profile.minimum_ttl,
    }
    return BFDSettings(
        profile.name,
        passive=profile.passive_mode,
        **{field: value for field, value in given.items() if value is not None},
    )


def session_plan(
    peer: BGPPeer, secret_version: str | None, bfd_profile: BFDProfileValue | None = None
) -> BGPSessionPlan:
    """Every parameter of the session to ``peer``, and what cannot be honoured yet.

    ``secret_version`` is the recorded keyed hash of the password Secret: the value
    itself is read live by the effector, never from a log. ``bfd_profile``: the
    BFDProfile the peer names (parsing refuses a configuration naming a missing one).
    """
    return BGPSessionPlan(
        peer=peer.name,
        my_asn=peer.my_asn,
        local_asn=peer.local_asn,
        families=tuple(sorted(carried_families(peer))),
        peer_asn=peer.peer_asn,
        dynamic_asn=peer.dynamic_asn,
        address=peer.address,
        interface=peer.interface,
        port=peer.port,
        source_address=peer.source_address,
        router_id=peer.router_id,
        hold_time=peer.hold_time,
        keepalive_time=peer.keepalive_time,
        connect_time=peer.connect_time,
        password=peer.password,
        password_secret=peer.password_secret,
        password_version=secret_version,
        ebgp_multihop=peer.ebgp_multihop,
        graceful_restart=peer.graceful_restart,
        bfd_profile=peer.bfd_profile,
        vrf=peer.vrf,
        ibgp=peer.ibgp,
        conditions=peer_conditions(peer),
        bfd=bfd_settings(bfd_profile) if bfd_profile is not None else None,
    )
