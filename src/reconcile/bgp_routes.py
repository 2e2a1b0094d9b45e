"""What one BGP session carries: its parameters, and the routes an advertisement makes.

Pure functions of the configuration values, kept apart from the speaker fold that
decides *which* node sends *which* Service (speaker.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from .addresses import parse_ip, to_text
from .config import BGPAdvertisement, BGPPeer
from .speaker_plan import BGPRoute, BGPSessionPlan

DEFAULT_HOLD_TIME = 90.0  # seconds, BGP's customary default and MetalLB's
DEFAULT_IBGP_LOCAL_PREF = 100  # sent on iBGP when the advertisement sets none (as FRR does)


def route_for(ip: str, ad: BGPAdvertisement, peer: BGPPeer) -> BGPRoute:
    """The route ``ad`` makes of one address for one peer (LOCAL_PREF only on iBGP)."""
    value, version = parse_ip(ip) or (0, 4)
    length = ad.aggregation_length if version == 4 else ad.aggregation_length_v6
    bits = 32 if version == 4 else 128
    network = value >> (bits - length) << (bits - length)
    legacy = sorted(c for c in ad.communities if not c.large)
    large = sorted(c for c in ad.communities if c.large)
    local_pref = None
    if peer.ibgp:
        local_pref = ad.local_pref or DEFAULT_IBGP_LOCAL_PREF
    return BGPRoute(
        f"{to_text(network, version)}/{length}",
        local_pref,
        tuple(str(c) for c in legacy),
        tuple(str(c) for c in large),
    )


def local_pref_conflict(ads: Sequence[BGPAdvertisement], nodes: Sequence[set[str]]) -> bool:
    """MetalLB's checkBGPAdvConflicts over the ads matching one Service.

    Pairs without service selectors were already judged by configuration
    validation; this catches the ones service selectors brought together.
    ``nodes[i]`` is the node set ``ads[i]`` selects.
    """
    for i, first in enumerate(ads):
        for j in range(i + 1, len(ads)):
            second = ads[j]
            if first.local_pref == second.local_pref:
                continue
            if not first.service_selectors and not second.service_selectors:
                continue
            if first.peers and second.peers and not set(first.peers) & set(second.peers):
                continue
            if nodes[i].isdisjoint(nodes[j]):
                continue
            if (
                first.aggregation_length != second.aggregation_length
                and first.aggregation_length_v6 != second.aggregation_length_v6
            ):
                continue
            return True
    return False


def session_plan(peer: BGPPeer, secret_version: str | None) -> BGPSessionPlan:
    """Every parameter of the session to ``peer``, and what cannot be honoured yet.

    ``secret_version`` is the recorded keyed hash of the password Secret: the value
    itself is read live by the effector, never from a log.
    """
    hold = peer.hold_time
    keepalive = peer.keepalive_time
    if hold is None and keepalive is None:
        hold = DEFAULT_HOLD_TIME
    if hold is None:
        hold = 3 * keepalive  # type: ignore[operator]
    if keepalive is None:
        keepalive = hold / 3
    conditions = []
    if peer.bfd_profile:
        conditions.append(
            f"BFD profile {peer.bfd_profile}: BFD is not supported by ironlb's native "
            "speaker yet; the session runs without it"
        )
    if peer.vrf:
        conditions.append(
            f"VRF {peer.vrf}: sessions inside a VRF are not supported by ironlb's native "
            "speaker yet; the session is not opened"
        )
    if peer.interface:
        conditions.append(
            f"interface {peer.interface}: BGP unnumbered is not supported by ironlb's "
            "native speaker yet; the session is not opened"
        )
    return BGPSessionPlan(
        peer.name,
        peer.my_asn,
        peer.peer_asn,
        peer.dynamic_asn,
        peer.address,
        peer.interface,
        peer.port,
        peer.source_address,
        peer.router_id,
        hold,
        keepalive,
        peer.connect_time,
        peer.password,
        peer.password_secret,
        secret_version,
        peer.ebgp_multihop,
        peer.graceful_restart,
        peer.bfd_profile,
        peer.vrf,
        peer.ibgp,
        tuple(conditions),
    )
