"""The speaker fold: from the log, which node announces what, and how.

Every speaker folds the same cluster events (plus its own links and the recorded
membership verdicts) and must reach the same answer as every other speaker, so
everything here is a function of the records alone. MetalLB's rules, from its
``speaker/layer2_controller.go`` and ``bgp_controller.go``:

* A Service is considered when it is a LoadBalancer of the class served, has
  addresses in its status, and they all lie in one pool of the configuration.
* Layer 2: one node per Service, elected among the live speakers' nodes that an
  L2Advertisement matching the Service selects, minus NetworkUnavailable and
  excluded nodes; for ``externalTrafficPolicy: Local`` only nodes hosting an
  endpoint that can serve. Nothing is announced while no endpoint can serve.
* BGP: every node a matching BGPAdvertisement selects announces (ETP Local: only
  nodes hosting a serving endpoint) to each BGPPeer selecting the node and named
  by the advertisement.

Incremental where the cluster is big: a Service or EndpointSlice change
recomputes that Service alone; a node joining or leaving re-runs an election only
where that node wins or won (see ``election``). The layer-2 part is computed for
every Service (every speaker needs the winner); the BGP part is computed per node,
continuously for the node this fold belongs to and on demand for others.

The fold is one class in four modules: this one (changes, configuration,
refresh, plans), ``liveness``, ``layer2`` and ``bgp``, mixins sharing its state.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import immutables

from ...events.own_kinds import IDENTITY, LINKS, MEMBERSHIP, own_kind
from ..addresses import parse_ip
from ..config import (
    CONFIG_KINDS,
    METALLB_GROUP,
    BGPPeer,
)
from ..fold_base import FoldBase
from ..fold_state import SpeakerState, restore_configs
from ..identity import DEFAULT_NAMESPACE, UNSET, Overrides
from ..objects import Service
from ..plan.speaker import (
    BGPRoute,
    L2Announcement,
    NodePlan,
    Reason,
    SpeakerPlan,
    route_order,
)
from ..pool_lookup import PoolLookup
from ..selectors import any_matches
from ..world import Change, World
from .bgp import BGPAnnouncements, _BGPService
from .bgp_routes import peer_conditions
from .cluster import (
    EXCLUDE_L2_CONFIGMAP,
    ExcludeRules,
    Link,
    NodeInfo,
    SliceServing,
    links_from_record,
    parse_exclude_rules,
)
from .election import Candidates
from .layer2 import Layer2Elections, _L2State
from .liveness import NodeLiveness
from .route_journal import RouteJournal

DISCOVERY_GROUP = "discovery.k8s.io"
Routes = tuple[BGPRoute, ...]


@attrs.frozen
class SpeakerSettings:
    """What the process was told that changes decisions (recorded as ProcessIdentity)."""

    namespace: str = DEFAULT_NAMESPACE
    load_balancer_class: str | None = None
    ignore_exclude_lb: bool = False


@attrs.frozen
class SpeakerOverrides:
    """Command-line overrides of what the log recorded (``plan --speakers`` and friends)."""

    namespace: str | None = None
    load_balancer_class: Any = UNSET  # UNSET: take the log's; None: no class
    ignore_exclude_lb: bool | None = None
    speakers: frozenset[str] | None = None  # nodes with a live speaker, over membership records

    def apply(self, identity: Mapping[str, Any]) -> SpeakerSettings:
        base = Overrides(self.namespace, self.load_balancer_class).apply(identity)
        ignore = self.ignore_exclude_lb
        if ignore is None:
            ignore = bool(identity.get("ignoreExcludeLB"))
        return SpeakerSettings(base.namespace, base.load_balancer_class, ignore)


def _alive(membership: Mapping[str, Any] | None) -> bool:
    return isinstance(membership, Mapping) and membership.get("alive") is True


class SpeakerFold(NodeLiveness, BGPAnnouncements, Layer2Elections, FoldBase):
    """Fold records into the speakers' state; ``node_plan``/``plan`` give desired state.

    ``node`` is the node this fold runs for (a speaker process); its BGP routes are
    kept up to date after every record. Tools leave it None and ask for any node.
    """

    relist_defers = (("", "Node"), *((METALLB_GROUP, kind) for kind in CONFIG_KINDS))

    def __init__(self, overrides: SpeakerOverrides | None = None, node: str | None = None) -> None:
        super().__init__()
        self.overrides = overrides or SpeakerOverrides()
        self.node = node
        self.identity: dict[str, Any] = {}
        self.settings = self.overrides.apply({})
        self.services: dict[str, Service] = {}
        self.slices: dict[str, SliceServing] = {}
        self.slices_of: dict[str, set[str]] = {}  # Service -> its EndpointSlice keys
        self.nodes: dict[str, NodeInfo] = {}
        self.membership: dict[str, bool] = {}
        self.links: dict[str, tuple[Link, ...]] = {}
        self.exclude = ExcludeRules()
        self._pools = PoolLookup(())
        # Derived state, refreshed lazily (see refresh):
        self._l2: dict[str, dict[str, L2Announcement]] = {}
        self._l2_state: dict[str, _L2State] = {}
        self._bgp: dict[str, _BGPService] = {}
        self._l2_ad_nodes: list[set[str]] = []
        self._bgp_ad_nodes: list[set[str]] = []
        self._peer_nodes: list[set[str]] = []
        self._usable: set[str] = set()  # nodes with a live, available, not excluded speaker
        self._dirty: set[str] = set()
        self._all_dirty = True
        self._nodes_changed: set[str] = set()
        self._reelect: set[str] = set()  # Services whose election a node change may alter
        self._candidate_cache: dict[tuple[int, ...], Candidates] = {}
        self._own_routes: dict[str, dict[str, tuple[BGPRoute, ...]]] = {}
        self._own_reasons: immutables.Map[str, Reason] = immutables.Map()
        self._own_status: immutables.Map[str, tuple[str, ...]] = immutables.Map()  # -> peers
        self._journal = RouteJournal()  # the own routes, counted: each plan's RouteDelta
        self._changed: set[str] = set()  # Services whose announcement changed, for effectors
        self._untaken: set[str] = set()  # ... since the last take_changed

    # --- folding ------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    def _on_change(self, change: Change) -> None:
        group, kind, key, after = change.group, change.kind, change.key, change.after
        if group == "" and kind == "Service":
            if after is None:
                self.services.pop(key, None)
            else:
                self.services[key] = Service.from_k8s(key, after)
            self._dirty.add(key)
        elif group == DISCOVERY_GROUP and kind == "EndpointSlice":
            self._slice_changed(key, after)
        elif group == "" and kind == "Node":
            self._node_changed(key, after)
        elif (group == METALLB_GROUP and kind in CONFIG_KINDS) or (group, kind) == ("", "Secret"):
            if key.startswith(self.settings.namespace + "/"):
                self._reload_config()
        elif group == "" and kind == "ConfigMap":
            if key == f"{self.settings.namespace}/{EXCLUDE_L2_CONFIGMAP}":
                self.exclude = parse_exclude_rules(after)
                self._all_dirty = True
        elif own_kind(group, kind) is MEMBERSHIP:
            alive = _alive(after)
            had_membership = bool(self.membership)
            if after is None:
                self.membership.pop(key, None)
            else:
                self.membership[key] = alive
            if had_membership != bool(self.membership) or self.overrides.speakers is not None:
                self._recompute_usable()  # switched between verdicts and "every Node"
            else:
                self._update_usable(key)
        elif own_kind(group, kind) is LINKS:
            self.links[key] = links_from_record(after) if isinstance(after, Mapping) else ()
            self._interfaces_changed(key)
        elif own_kind(group, kind) is IDENTITY:
            self._identity_changed(key, after)

    def _recorded_identity(self) -> Mapping[str, Any]:
        # A speaker's own identity outranks a controller's recorded in the same log.
        identities = self.world.of_kind(IDENTITY.group, IDENTITY.name)
        speaker = [identities[k] for k in sorted(identities) if k.startswith("speaker/")]
        return speaker[0] if speaker else identities.get("controller", {})

    def _identity_changed(self, key: str, after: Mapping[str, Any] | None) -> None:
        chosen = self._recorded_identity()
        self.identity = dict(chosen)
        settings = self.overrides.apply(chosen)
        if settings != self.settings:
            self.settings = settings
            self.exclude = parse_exclude_rules(
                self.world.get("", "ConfigMap", f"{settings.namespace}/{EXCLUDE_L2_CONFIGMAP}")
            )
            self._reload_config()
            self._recompute_usable()
            self._all_dirty = True

    def _slice_changed(self, key: str, after: Mapping[str, Any] | None) -> None:
        before = self.slices.pop(key, None)
        if before is not None and before.service is not None:
            self.slices_of.get(before.service, set()).discard(key)
            self._dirty.add(before.service)
        if after is not None:
            serving = SliceServing.from_k8s(key, after)
            self.slices[key] = serving
            if serving.service is not None:
                self.slices_of.setdefault(serving.service, set()).add(key)
                self._dirty.add(serving.service)

    def _node_changed(self, name: str, after: Mapping[str, Any] | None) -> None:
        before = self.nodes.get(name)
        if after is None:
            self.nodes.pop(name, None)
        else:
            self.nodes[name] = NodeInfo.from_k8s(name, after)
        now = self.nodes.get(name)
        if before == now:
            return  # a heartbeat or a Ready flip: nothing MetalLB decides from
        if name == self.node:
            self._all_dirty = True  # our own routes and reasons all depend on it
        if before is None or now is None or before.labels_key != now.labels_key:
            # Node labels resolve nodeSelectors (and existence counts for "all nodes").
            self._reload_config()
            if not self._all_dirty:
                self._place_node(name)
            if before is None or now is None:
                self._nodes_changed.add(name)  # the candidates themselves changed
        self._update_usable(name)  # whatever decides liveness, only this node's may change

    def _interfaces_changed(self, node: str) -> None:
        for key, by_ip in self._l2.items():
            if any(a.node == node for a in by_ip.values()):
                self._dirty.add(key)

    # --- snapshots --------------------------------------------------------------

    def export_state(self) -> SpeakerState:
        """What a snapshot must hold to continue exactly (see fold_state)."""
        return SpeakerState(
            self.world.export(), self._config_inputs_used, self._active_inputs, self._config_waiting
        )

    @classmethod
    def restore(
        cls,
        state: SpeakerState,
        overrides: SpeakerOverrides | None = None,
        node: str | None = None,
    ) -> SpeakerFold:
        """A fold that continues exactly like the one ``state`` was exported from.

        Everything but the world and the configurations is derived, so it is rebuilt
        from them; the first ``refresh`` recomputes every announcement.
        """
        fold = cls(overrides, node)
        world = fold.world = World.restore(state.world)
        chosen = fold._recorded_identity()
        fold.identity = dict(chosen)
        fold.settings = fold.overrides.apply(chosen)
        fold.services = {k: Service.from_k8s(k, o) for k, o in world.of_kind("", "Service").items()}
        for key, obj in sorted(world.of_kind(DISCOVERY_GROUP, "EndpointSlice").items()):
            fold._slice_changed(key, obj)
        fold.nodes = {k: NodeInfo.from_k8s(k, o) for k, o in world.of_kind("", "Node").items()}
        members = world.of_kind(MEMBERSHIP.group, MEMBERSHIP.name)
        fold.membership = {key: _alive(obj) for key, obj in members.items()}
        fold.links = {
            key: links_from_record(obj) if isinstance(obj, Mapping) else ()
            for key, obj in world.of_kind(LINKS.group, LINKS.name).items()
        }
        excluded = f"{fold.settings.namespace}/{EXCLUDE_L2_CONFIGMAP}"
        fold.exclude = parse_exclude_rules(world.get("", "ConfigMap", excluded))
        fold.config, fold.active = restore_configs(state.config, state.active, fold._parse_cache)
        fold._config_inputs_used, fold._active_inputs = state.config, state.active
        fold._config_waiting = state.config_waiting
        fold._dirty = set(fold.services)
        fold._all_dirty = True
        return fold

    # --- configuration --------------------------------------------------------

    def _reload_config(self) -> None:
        """Parse now (validity has history: the last valid one stays); derive at refresh."""
        parsed = self._parse_config()
        if parsed is None or parsed.errors or parsed == self.active:
            return  # deferred; or the last valid configuration stays in force (MetalLB's)
        self._put_in_force(parsed)
        self._all_dirty = True  # node sets, pools and every announcement: see refresh

    def _derive_from_config(self) -> None:
        """Pool index and each selector's node set, from the configuration in force."""
        self._pools = PoolLookup(self.active.pools)
        self._l2_ad_nodes = [
            self._selected(a.node_selectors) for a in self.active.l2_advertisements
        ]
        self._bgp_ad_nodes = [
            self._selected(a.node_selectors) for a in self.active.bgp_advertisements
        ]
        self._peer_nodes = [self._selected(peer.node_selectors) for peer in self.active.peers]

    def _selected(self, selectors: Sequence[Any]) -> set[str]:
        if not selectors:
            return set(self.nodes)
        return {n for n, info in self.nodes.items() if any_matches(selectors, info.labels)}

    def _place_node(self, name: str) -> None:
        """Put one node into (or out of) every selector's node set after its labels changed."""
        info = self.nodes.get(name)
        pairs = (
            (self.active.l2_advertisements, self._l2_ad_nodes),
            (self.active.bgp_advertisements, self._bgp_ad_nodes),
            (self.active.peers, self._peer_nodes),
        )
        in_l2_before = [name in nodes for nodes in self._l2_ad_nodes]
        for items, sets in pairs:
            for item, nodes in zip(items, sets, strict=True):
                if info is not None and (
                    not item.node_selectors or any_matches(item.node_selectors, info.labels)
                ):
                    nodes.add(name)
                else:
                    nodes.discard(name)
        # Layer-2 elections see a node's labels only through the advertisements'
        # node sets and their preferences: a relabelling that moves neither (a zone
        # label only BGP peers select on) re-runs no election. Checking every
        # Service's election after each such Node update made explain 7x slower
        # than reading the log.
        if [name in nodes for nodes in self._l2_ad_nodes] != in_l2_before or any(
            ad.preferred for ad in self.active.l2_advertisements
        ):
            self._nodes_changed.add(name)
        if self.node is not None and name == self.node:
            self._all_dirty = True  # this node's peers and advertisements may all differ

    # --- who runs a usable speaker -------------------------------------------

    # --- refreshing derived state ----------------------------------------------

    def refresh(self) -> set[str]:
        """Bring derived state up to date; the Services whose announcement changed.

        Effectors call this after each batch of records and re-apply only those
        Services (the whole plan is ``node_plan``, for digests and tools).
        """
        if self._all_dirty:
            self._all_dirty = False
            self._nodes_changed.clear()
            self._candidate_cache.clear()
            keys = set(self.services) | set(self._l2) | set(self._bgp) | self._dirty
            self._dirty.clear()
            self._reelect = keys
            self._derive_from_config()
            self._usable = self._usable_now()  # everything is recomputed: no change to note
        else:
            if self._nodes_changed:
                self._candidate_cache.clear()
                self._elections_after_node_changes(self._nodes_changed)
                self._nodes_changed = set()
            keys, self._dirty = self._dirty, set()
        for key in sorted(keys):
            self._refresh_service(key)
        self._reelect = set()
        changed, self._changed = self._changed, set()
        self._untaken |= changed
        return changed

    def take_changed(self) -> set[str]:
        """The Services whose announcement changed since the last call (whoever
        refreshed meanwhile): what a consumer of whole plans need look at again."""
        self.refresh()
        changed, self._untaken = self._untaken, set()
        return changed

    def _serving(self, key: str) -> tuple[set[str], bool]:
        """Nodes hosting an endpoint of the Service that can serve; whether any can."""
        nodes: set[str] = set()
        anywhere = False
        for slice_key in self.slices_of.get(key, ()):
            serving = self.slices[slice_key]
            nodes |= serving.nodes
            anywhere = anywhere or serving.anywhere
        return nodes, anywhere

    def _handled(self, service: Service | None) -> bool:
        return (
            service is not None
            and service.is_load_balancer
            and service.load_balancer_class == self.settings.load_balancer_class
            and bool(service.status_ips)
        )

    def _pool_of(self, ips: Sequence[str]) -> str | None:
        """The one pool every address lies in, or None (MetalLB's ipNotAllowed)."""
        pools = set()
        for ip in ips:
            parsed = parse_ip(ip)
            if parsed is None:
                return None
            pools.add(self._pools.pool_of(parsed))
        return pools.pop() if len(pools) == 1 else None

    def _refresh_service(self, key: str) -> None:
        service = self.services.get(key)
        old_l2, old_bgp = self._l2.get(key), self._bgp.get(key)
        old_own = self._own_routes.get(key), self._own_reasons.get(key)
        self._l2.pop(key, None)
        previous = self._l2_state.pop(key, None)
        self._bgp.pop(key, None)
        if self._handled(service):
            assert service is not None
            pool = self._pool_of(service.status_ips)
            self._refresh_l2(service, pool, previous)
            self._refresh_bgp(service, pool)
        if self.node is not None:
            self._refresh_own_routes(key)
        new_own = self._own_routes.get(key), self._own_reasons.get(key)
        if old_l2 != self._l2.get(key) or old_bgp != self._bgp.get(key) or old_own != new_own:
            self._changed.add(key)

    # --- layer 2 --------------------------------------------------------------

    # --- BGP -------------------------------------------------------------------

    # --- plans -----------------------------------------------------------------

    @property
    def assigns_addresses(self) -> bool:
        """The recorded speaker works without a controller: it plans statuses itself
        (``ironlb speaker --assign-addresses``, for hosts fed plain manifests)."""
        return self.identity.get("assignAddresses") is True

    def node_names(self) -> list[str]:
        return sorted(self.nodes)

    def service_ips(self, key: str) -> tuple[str, ...]:
        """The addresses the Service's status holds (or was assumed to hold)."""
        service = self.services.get(key)
        return service.status_ips if service is not None else ()

    def assume_statuses(self, statuses: Mapping[str, Sequence[str]]) -> None:
        """Fold as if the controller's planned statuses had been written and observed."""
        for key, ips in statuses.items():
            service = self.services.get(key)
            if service is not None and service.status_ips != tuple(ips):
                self.services[key] = attrs.evolve(service, status_ips=tuple(ips))
                self._dirty.add(key)

    def node_plan(self, node: str) -> NodePlan:
        self.refresh()
        l2 = {
            key: {ip: a for ip, a in by_ip.items() if a.node == node and a.announced}
            for key, by_ip in self._l2.items()
        }
        l2 = {k: v for k, v in l2.items() if v}
        peers = self._peers_of(node)
        routes, status, reasons = self._bgp_of_node(node, peers)
        l2_reasons = {
            key: self._l2_reason(key, by_ip, node)
            for key, by_ip in self._l2.items()
            if key not in l2 and key not in reasons and key not in status
        }
        if l2_reasons:
            reasons = (
                reasons.update(l2_reasons)
                if isinstance(reasons, immutables.Map)
                else {**reasons, **l2_reasons}
            )
        return NodePlan(
            node,
            l2,
            routes,
            {p.name: self._session(p) for p in peers},
            {v: self._eligible_interfaces(node, v) for v in (4, 6)},
            status,
            reasons,
            self._journal.take() if node == self.node else None,
        )

    def bgp_of(self, key: str, node: str) -> tuple[dict[str, tuple[BGPRoute, ...]], Reason | None]:
        """One Service's routes from one node, by peer, and why the node announces
        nothing of it (None when it does): what ``node_plan`` says of that Service,
        without planning every other one (``explain``)."""
        self.refresh()
        if node == self.node:
            routes, reason = dict(self._own_routes.get(key, {})), self._own_reasons.get(key)
        elif key in self._bgp:
            routes, reason = self._bgp_for(key, node)
        else:
            routes, reason = {}, None
        by_ip = self._l2.get(key)
        if by_ip is not None and not routes and reason is None:
            announced = any(a.node == node and a.announced for a in by_ip.values())
            if not announced:
                reason = self._l2_reason(key, by_ip, node)
        return routes, reason

    def session_conditions(self, nodes: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Peer -> what the speakers cannot do for its sessions, for the peers that
        select any of ``nodes`` (``explain``)."""
        self.refresh()
        nodes = set(nodes)
        return {
            peer.name: conditions
            for peer, selected in zip(self.active.peers, self._peer_nodes, strict=True)
            if not nodes.isdisjoint(selected) and (conditions := peer_conditions(peer))
        }

    def _bgp_of_node(
        self, node: str, peers: list[BGPPeer]
    ) -> tuple[
        dict[str, tuple[BGPRoute, ...]], Mapping[str, tuple[str, ...]], Mapping[str, Reason]
    ]:
        """A node's BGP part: routes by peer, Service -> peers, and why it sends none.

        The process's own node has all three kept up to date Service by Service: its
        plan copies them (a speaker with 100,000 Services plans each change)."""
        if node == self.node:
            routes = {p.name: self._journal.ordered(p.name) for p in peers}
            return routes, self._own_status, self._own_reasons
        by_peer: dict[str, set[BGPRoute]] = {p.name: set() for p in peers}
        status: dict[str, tuple[str, ...]] = {}
        reasons: dict[str, Reason] = {}
        for key in sorted(self._bgp):
            routes, reason = self._bgp_for(key, node, peers)
            for peer, items in routes.items():
                by_peer[peer].update(items)
            if routes:
                status[key] = tuple(sorted(routes))
            if reason is not None:
                reasons[key] = reason
        return {p: tuple(sorted(r, key=route_order)) for p, r in by_peer.items()}, status, reasons

    def plan(self, nodes: Iterable[str] | None = None) -> SpeakerPlan:
        """Every node's plan (or those named): the ``l2`` and ``bgp`` sections."""
        self.refresh()
        chosen = sorted(set(nodes) if nodes is not None else set(self.nodes))
        if nodes is not None:
            wanted = set(chosen)
            l2 = {
                key: {ip: a for ip, a in by_ip.items() if a.node in wanted and a.announced}
                for key, by_ip in self._l2.items()
            }
            l2 = {k: v for k, v in l2.items() if v}
        else:
            l2 = {k: dict(v) for k, v in self._l2.items()}
        return SpeakerPlan(l2, self._routes_of_nodes(chosen))

    def _routes_of_nodes(self, nodes: Sequence[str]) -> dict[str, dict[str, tuple[BGPRoute, ...]]]:
        """Every node's routes by peer (not its reasons and sessions: ``node_plan``).

        Nodes alike to BGP (the same advertisements and peers select them, the same
        exclusion and network state) send the same routes for every Service but
        those with ``externalTrafficPolicy: Local``: those are computed once per
        group of alike nodes, the Local ones per node. 50 nodes and 10,000 BGP
        Services took 3.4 s node by node.
        """
        groups: dict[tuple, list[str]] = {}
        for node in nodes:
            groups.setdefault(self._bgp_likeness(node), []).append(node)
        local = [key for key in sorted(self._bgp) if self._bgp[key].local]
        shared = [key for key in sorted(self._bgp) if not self._bgp[key].local]
        result: dict[str, dict[str, tuple[BGPRoute, ...]]] = {}
        for alike in groups.values():
            peers = self._peers_of(alike[0])
            common: dict[str, set[BGPRoute]] = {p.name: set() for p in peers}
            for key in shared:
                for peer, items in self._bgp_for(key, alike[0], peers)[0].items():
                    common[peer].update(items)
            sorted_common = {p: tuple(sorted(r, key=route_order)) for p, r in common.items()}
            for node in alike:
                if node == self.node:  # its own routes are kept apart
                    routes = self._bgp_of_node(node, peers)[0]
                else:
                    routes = self._with_local_routes(node, peers, local, common, sorted_common)
                if routes:
                    result[node] = routes
        return result

    def _with_local_routes(
        self,
        node: str,
        peers: list[BGPPeer],
        local: Sequence[str],
        common: Mapping[str, set[BGPRoute]],
        sorted_common: dict[str, tuple[BGPRoute, ...]],
    ) -> dict[str, tuple[BGPRoute, ...]]:
        """A node's routes: its group's, with those of the Local Services it serves."""
        extra: dict[str, set[BGPRoute]] = {}
        for key in local:
            for peer, items in self._bgp_for(key, node, peers)[0].items():
                extra.setdefault(peer, set()).update(items)
        if not extra:
            return sorted_common
        routes = dict(sorted_common)
        for peer, items in extra.items():
            shared_routes = common[peer]
            own = [route for route in items if route not in shared_routes]
            if own:
                routes[peer] = _merged(sorted_common[peer], own)
        return routes

    def _bgp_likeness(self, node: str) -> tuple:
        """What the BGP announcements of a node depend on, but for Local Services'
        endpoints: nodes with equal likeness send the same routes of other Services."""
        info = self.nodes.get(node)
        return (
            tuple(i for i, nodes in enumerate(self._bgp_ad_nodes) if node in nodes),
            tuple(i for i, nodes in enumerate(self._peer_nodes) if node in nodes),
            info is not None and info.network_unavailable,
            info is not None and info.excluded,
        )


def _merged(ordered: tuple[BGPRoute, ...], more: list[BGPRoute]) -> tuple[BGPRoute, ...]:
    """``ordered`` with a few more routes put in their places: a node's Local
    routes go into its group's thousands without sorting those again."""
    result: list[BGPRoute] = []
    start = 0
    for route in sorted(more, key=route_order):
        at = bisect_right(ordered, route.order, lo=start, key=route_order)
        result.extend(ordered[start:at])
        result.append(route)
        start = at
    result.extend(ordered[start:])
    return tuple(result)
