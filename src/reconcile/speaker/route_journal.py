"""The speaker process's own routes, counted, and how they changed since the last plan.

A node sends a peer the union of its Services' routes. The fold refreshes one
Service at a time, so it knows exactly which routes a change adds or removes; the
journal keeps that knowledge as a ``RouteDelta`` beside the plan, so the BGP
effector with 100,000 prefixes held spends what changed on a change, not a pass
over everything held (see ``announce.bgp.speaker``).

Two Services may make the same route (an aggregated prefix, a shared address):
the journal counts each route's makers, and a route comes or goes only when its
count leaves or reaches zero, as the union does.

It also keeps each peer's routes in route order, so the plan's sorted tuple is a
copy, not a sort of everything held: a route changed is put in (or taken out of)
its place; many at once (a cold start, a new configuration) are sorted anew.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, insort
from collections.abc import Mapping

from ..plan.speaker import BGPRoute, RouteDelta, route_order

_lineages = itertools.count(1)  # each journal its own: a restored fold starts a new one
REORDER_LIMIT = 256  # routes changed since the last plan beyond which a sort is cheaper

RoutesByPeer = Mapping[str, tuple[BGPRoute, ...]]


class RouteJournal:
    def __init__(self) -> None:
        self.lineage = next(_lineages)
        self.version = 0
        self._makers: dict[str, dict[BGPRoute, int]] = {}  # peer -> route -> Services
        self._net: dict[str, dict[BGPRoute, bool]] = {}  # peer -> route -> added since
        self._ordered: dict[str, list[BGPRoute]] = {}  # peer -> routes in route order

    def replace(self, before: RoutesByPeer, after: RoutesByPeer) -> None:
        """One Service's routes went from ``before`` to ``after``."""
        for peer in before.keys() | after.keys():
            old, new = before.get(peer, ()), after.get(peer, ())
            if old == new:
                continue
            kept = set(old) & set(new)
            makers = self._makers.setdefault(peer, {})
            for route in old:
                if route not in kept:
                    self._count(peer, makers, route, -1)
            for route in new:
                if route not in kept:
                    self._count(peer, makers, route, +1)
            if not makers:
                del self._makers[peer]
                self._ordered.pop(peer, None)

    def _count(self, peer: str, makers: dict[BGPRoute, int], route: BGPRoute, step: int) -> None:
        count = makers.get(route, 0) + step
        if count:
            makers[route] = count
        else:
            del makers[route]
        if count == (1 if step > 0 else 0):  # the union gained or lost the route
            self._reorder(peer, route, step > 0)
            net = self._net.setdefault(peer, {})
            if net.get(route) is (step < 0):  # the opposite change is pending: undone
                del net[route]
            else:
                net[route] = step > 0

    def _reorder(self, peer: str, route: BGPRoute, gained: bool) -> None:
        ordered = self._ordered.get(peer)
        if ordered is None:
            return  # sorted anew when asked for
        net = self._net.get(peer, {})
        if len(net) > REORDER_LIMIT:  # a bulk change: one sort beats placing each
            del self._ordered[peer]
        elif gained:
            insort(ordered, route, key=route_order)
        else:
            del ordered[bisect_left(ordered, route.order, key=route_order)]

    def ordered(self, peer: str) -> tuple[BGPRoute, ...]:
        """What the union holds for ``peer``, in route order (the plan's tuple)."""
        ordered = self._ordered.get(peer)
        if ordered is None:
            if peer not in self._makers:
                return ()
            ordered = self._ordered[peer] = sorted(self._makers[peer], key=route_order)
        return tuple(ordered)

    def take(self) -> RouteDelta:
        """The changes since the last ``take`` (a new version if there are any)."""
        since = self.version
        added: dict[str, frozenset[BGPRoute]] = {}
        removed: dict[str, frozenset[BGPRoute]] = {}
        for peer, net in self._net.items():
            if gained := frozenset(r for r, came in net.items() if came):
                added[peer] = gained
            if lost := frozenset(r for r, came in net.items() if not came):
                removed[peer] = lost
        self._net.clear()
        if added or removed:
            self.version += 1
        return RouteDelta(self.lineage, since, self.version, added, removed)
