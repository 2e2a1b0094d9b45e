"""The speakers' BGP part: which routes each node sends each peer for a Service, the
sessions it holds, and why a node announces nothing."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ..addresses import family_of
from ..config import BGPAdvertisement, BGPPeer
from ..objects import Service
from ..plan.speaker import (
    BGPRoute,
    BGPSessionPlan,
    Reason,
    route_order,
)
from ..selectors import selects
from .bgp_routes import carried_families, local_pref_conflict, route_for, session_plan

_MadeRoutes = tuple[tuple[BGPAdvertisement, ...], BGPPeer, tuple[BGPRoute, ...]]


@attrs.frozen
class _BGPService:
    """The node-independent part of a Service's BGP announcement.

    Rebuilt whenever the Service, its EndpointSlices or the configuration change,
    so what is derived from it may be kept on it: the routes each set of
    advertisements makes for each peer are the same from every node, and a plan of
    50 nodes would otherwise build (and sort) each route 50 times.
    """

    ips: tuple[str, ...]
    pool_ads: tuple[int, ...]  # BGPAdvertisements of the Service's pool
    ads: tuple[int, ...]  # ... that also match the Service
    conflict: bool
    local: bool
    serving: frozenset[str]  # nodes hosting an endpoint that can serve
    anywhere: bool  # some endpoint can serve
    # (advertisement indices, peer name) -> (those advertisements, the peer, routes)
    routes: dict[tuple[tuple[int, ...], str], _MadeRoutes] = attrs.field(
        factory=dict, eq=False, repr=False
    )

    def routes_for(
        self, here: tuple[int, ...], ads: tuple[BGPAdvertisement, ...], peer: BGPPeer
    ) -> tuple[BGPRoute, ...]:
        """The routes ``ads`` (at indices ``here``) make for ``peer``, in route order."""
        memo_key = (here, peer.name)
        kept = self.routes.get(memo_key)
        if (
            kept is not None
            and kept[1] is peer
            and all(a is b for a, b in zip(kept[0], ads, strict=True))
        ):
            return kept[2]
        families = carried_families(peer)  # only what the session will carry
        made = {
            route_for(ip, ad, peer)
            for ad in ads
            if not ad.peers or peer.name in ad.peers
            for ip in self.ips
            if family_of(ip) in families
        }
        routes = tuple(sorted(made, key=route_order))
        self.routes[memo_key] = (ads, peer, routes)
        return routes


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
        serving, anywhere = self._serving(service.key)
        self._bgp[service.key] = _BGPService(
            service.status_ips,
            pool_ads,
            ads,
            conflict,
            service.external_traffic_policy == "Local",
            frozenset(serving),
            anywhere,
        )

    def _bgp_for(
        self, key: str, node: str, peers: list[BGPPeer] | None = None
    ) -> tuple[dict[str, tuple[BGPRoute, ...]], Reason | None]:
        """One Service's routes from one node, by peer (in route order); or why it
        announces none. ``peers``: the node's peers, when the caller has them."""
        info = self._bgp.get(key)
        if info is None:
            return {}, None
        reason = self._bgp_reason(info, node)
        if reason is not None:
            return {}, reason
        ads_all = self.active.bgp_advertisements
        here = tuple(i for i in info.ads if node in self._bgp_ad_nodes[i])
        ads = tuple(ads_all[i] for i in here)
        routes: dict[str, tuple[BGPRoute, ...]] = {}
        for peer in self._peers_of(node) if peers is None else peers:
            made = info.routes_for(here, ads, peer)
            if made:
                routes[peer.name] = made
        return routes, None

    def _bgp_reason(self, info: _BGPService, node: str) -> Reason | None:
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
        if info.local and node not in info.serving:
            return Reason.NO_LOCAL_ENDPOINTS
        if not info.anywhere:
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
        self._journal.replace(self._own_routes.get(key, {}), routes)
        # The status and reasons are persistent maps: each plan shares them as they
        # stand (FrozenMap keeps one uncopied), each change makes a new one in O(log n).
        if routes:
            self._own_routes[key] = routes
            self._own_status = self._own_status.set(key, tuple(sorted(routes)))
        else:
            self._own_routes.pop(key, None)
            if key in self._own_status:
                self._own_status = self._own_status.delete(key)
        if reason is None:
            if key in self._own_reasons:
                self._own_reasons = self._own_reasons.delete(key)
        else:
            self._own_reasons = self._own_reasons.set(key, reason)

    def _session(self, peer: BGPPeer) -> BGPSessionPlan:
        secret_version = None
        if peer.password_secret:
            secret_key = f"{self.settings.namespace}/{peer.password_secret}"
            secret = self.world.get("", "Secret", secret_key)
            data = secret.get("data") if isinstance(secret, Mapping) else None
            if isinstance(data, Mapping) and isinstance(data.get("password"), str):
                secret_version = data["password"]
        profile = self.active.bfd_profiles.get(peer.bfd_profile or "")
        return session_plan(peer, secret_version, profile)
