"""The speakers' BGP part: which routes each node sends each peer for a Service, the
sessions it holds, and why a node announces nothing."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ..config import (
    BGPPeer,
)
from ..objects import Service
from ..plan.speaker import (
    BGPRoute,
    BGPSessionPlan,
    Reason,
)
from ..selectors import selects
from .bgp_routes import local_pref_conflict, route_for, session_plan


@attrs.frozen
class _BGPService:
    """The node-independent part of a Service's BGP announcement."""

    ips: tuple[str, ...]
    pool_ads: tuple[int, ...]  # BGPAdvertisements of the Service's pool
    ads: tuple[int, ...]  # ... that also match the Service
    conflict: bool
    local: bool


class BGPAnnouncements:
    """SpeakerFold's BGP methods (a mixin: they share the fold's state)."""

    def _refresh_bgp(self, service: Service, pool: str | None) -> None:
        if pool is None:
            return
        ads_all = self.active.bgp_advertisements
        pool_ads = tuple(i for i, ad in enumerate(ads_all) if pool in ad.pools)
        if not pool_ads:
            return
        ads = tuple(i for i in pool_ads if selects(ads_all[i].service_selectors, service.labels))
        in_force = self._pools.pool(pool)  # once per Service refresh: not Config.pool's walk
        families = in_force.families if in_force is not None else frozenset((4, 6))
        conflict = local_pref_conflict(
            [ads_all[i] for i in ads], [self._bgp_ad_nodes[i] for i in ads], families
        )
        self._bgp[service.key] = _BGPService(
            service.status_ips,
            pool_ads,
            ads,
            conflict,
            service.external_traffic_policy == "Local",
        )

    def _bgp_for(
        self, key: str, node: str
    ) -> tuple[dict[str, tuple[BGPRoute, ...]], Reason | None]:
        """One Service's routes from one node, by peer; or why it announces none."""
        info = self._bgp.get(key)
        if info is None:
            return {}, None
        reason = self._bgp_reason(key, info, node)
        if reason is not None:
            return {}, reason
        ads_all = self.active.bgp_advertisements
        here = [ads_all[i] for i in info.ads if node in self._bgp_ad_nodes[i]]
        routes: dict[str, set[BGPRoute]] = {}
        for peer in self._peers_of(node):
            for ad in here:
                if ad.peers and peer.name not in ad.peers:
                    continue
                for ip in info.ips:
                    routes.setdefault(peer.name, set()).add(route_for(ip, ad, peer))
        return {p: tuple(sorted(r, key=BGPRoute.sort_key)) for p, r in routes.items()}, None

    def _bgp_reason(self, key: str, info: _BGPService, node: str) -> Reason | None:
        node_info = self.nodes.get(node)
        if not any(node in self._bgp_ad_nodes[i] for i in info.pool_ads):
            return Reason.NOT_SELECTED
        if not any(node in self._bgp_ad_nodes[i] for i in info.ads):
            return Reason.NO_MATCHING_ADVERTISEMENT
        if info.conflict:
            return Reason.CONFLICTING_ADVERTISEMENTS
        if node_info is not None and node_info.network_unavailable:
            return Reason.NODE_NETWORK_UNAVAILABLE
        if node_info is not None and node_info.excluded and not self.settings.ignore_exclude_lb:
            return Reason.NODE_EXCLUDED
        serving_nodes, anywhere = self._serving(key)
        if info.local and node not in serving_nodes:
            return Reason.NO_LOCAL_ENDPOINTS
        if not anywhere:
            return Reason.NO_ENDPOINTS
        return None

    def _peers_of(self, node: str) -> list[BGPPeer]:
        return [
            peer
            for peer, nodes in zip(self.active.peers, self._peer_nodes, strict=True)
            if node in nodes
        ]

    def _refresh_own_routes(self, key: str) -> None:
        assert self.node is not None
        routes, reason = self._bgp_for(key, self.node)
        if routes:
            self._own_routes[key] = routes
        else:
            self._own_routes.pop(key, None)
        if reason is None:
            self._own_reasons.pop(key, None)
        else:
            self._own_reasons[key] = reason

    def _session(self, peer: BGPPeer) -> BGPSessionPlan:
        secret_version = None
        if peer.password_secret:
            secret_key = f"{self.settings.namespace}/{peer.password_secret}"
            secret = self.world.get("", "Secret", secret_key)
            data = secret.get("data") if isinstance(secret, Mapping) else None
            if isinstance(data, Mapping) and isinstance(data.get("password"), str):
                secret_version = data["password"]
        return session_plan(peer, secret_version)
