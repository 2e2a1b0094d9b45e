"""The speakers' layer-2 part: one election per Service (MetalLB's order), kept up to
date incrementally when nodes come and go, and why a node does not announce."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from ..objects import Service
from ..plan.speaker import (
    L2Announcement,
    Reason,
)
from ..selectors import selects
from .cluster import (
    eligible_interfaces,
)
from .election import Candidates, ElectionKey, election_key


@attrs.frozen
class _L2State:
    """What one Service's election was decided from, kept to update it incrementally."""

    ip: str  # the key address (the first in status)
    ads: tuple[int, ...]  # indexes of the L2Advertisements matching the Service
    local: bool  # externalTrafficPolicy Local
    winner: str | None
    key: ElectionKey | None


def _nobody(ips: Sequence[str], reason: Reason) -> dict[str, L2Announcement]:
    return {ip: L2Announcement(None, None, reason) for ip in ips}


class Layer2Elections:
    """SpeakerFold's layer-2 methods (a mixin: they share the fold's state)."""

    def _elections_after_node_changes(self, nodes: set[str]) -> None:
        """Re-run only the elections a joining or leaving node can change."""
        for key, state in self._l2_state.items():
            if state.winner is None or self._election_affected(key, state, nodes):
                self._dirty.add(key)
                self._reelect.add(key)

    def _election_affected(self, key: str, state: _L2State, nodes: set[str]) -> bool:
        for node in sorted(nodes):
            if state.winner == node:
                return True  # the winner left or changed: a new election
            if not self._candidate(node, key, state):
                continue
            assert state.key is not None
            if election_key(node, state.ip, self._score(node, state.ads)) < state.key:
                return True  # a joining node that sorts first takes over
        return False

    def _candidate(self, node: str, key: str, state: _L2State) -> bool:
        return node in self._usable and self._l2_exclusion(node, key, state) is None

    def _score(self, node: str, ads: Sequence[int]) -> int:
        info = self.nodes.get(node)
        if info is None:
            return 0
        total = 0
        for index in ads:
            ad = self.active.l2_advertisements[index]
            if node not in self._l2_ad_nodes[index]:
                continue
            for term in ad.preferred:
                if term.selector.matches(info.labels):
                    total += term.weight
        return total

    def _candidates_for(self, ads: tuple[int, ...]) -> Candidates:
        """Usable nodes some of these advertisements select, prepared once per node change."""
        found = self._candidate_cache.get(ads)
        if found is None:
            advertised: set[str] = set()
            for i in ads:
                advertised |= self._l2_ad_nodes[i]
            found = self._candidate_cache[ads] = Candidates(advertised & self._usable)
        return found

    def _refresh_l2(self, service: Service, pool: str | None, previous: _L2State | None) -> None:
        key, ips = service.key, service.status_ips
        ads_all = self.active.l2_advertisements
        if pool is None:
            if ads_all:
                self._l2[key] = _nobody(ips, Reason.IP_NOT_ALLOWED)
            return
        pool_ads = [i for i, ad in enumerate(ads_all) if pool in ad.pools]
        if not pool_ads:
            return  # the pool is not announced in layer 2 at all
        ads = tuple(i for i in pool_ads if selects(ads_all[i].service_selectors, service.labels))
        if not ads:
            self._l2[key] = _nobody(ips, Reason.NO_MATCHING_ADVERTISEMENT)
            return
        if service.sharing_key and any(ads_all[i].service_selectors for i in ads):
            self._l2[key] = _nobody(ips, Reason.SHARED_IP_WITH_SERVICE_SELECTOR)
            return
        serving_nodes, anywhere = self._serving(key)
        if not anywhere:
            self._l2[key] = _nobody(ips, Reason.NO_ENDPOINTS)
            return
        local = service.external_traffic_policy == "Local"
        if (
            previous is not None
            and previous.winner is not None
            and previous.key is not None
            and not local
            and not previous.local
            and (previous.ip, previous.ads) == (ips[0], ads)
            and key not in self._reelect
        ):
            # ETP Cluster: endpoints moving do not change who may announce.
            result: tuple[str, ElectionKey] | None = (previous.winner, previous.key)
        else:
            usable = self._candidates_for(ads)
            if local:
                candidates = Candidates(n for n in serving_nodes if n in usable.members)
            else:
                candidates = usable
            has_preferences = any(ads_all[i].preferred for i in ads)
            result = candidates.elect(
                ips[0], (lambda n: self._score(n, ads)) if has_preferences else None
            )
            if result is None:
                reason = Reason.NO_LOCAL_ENDPOINTS if usable.names else Reason.NO_ELIGIBLE_NODE
                self._l2[key] = _nobody(ips, reason)
                self._l2_state[key] = _L2State(ips[0], ads, local, None, None)
                return
        winner, election = result
        self._l2_state[key] = _L2State(ips[0], ads, local, winner, election)
        interfaces = self._interfaces(winner, ads)
        reason = None
        if interfaces is not None and winner in self.links and not interfaces:
            reason = Reason.INTERFACES_NOT_FOUND
        self._l2[key] = {ip: L2Announcement(winner, interfaces, reason) for ip in ips}

    def _interfaces(self, node: str, ads: Sequence[int]) -> tuple[str, ...] | None:
        """Union of the ``interfaces`` of the ads selecting the node; None: all of them."""
        names: set[str] = set()
        for i in ads:
            if node not in self._l2_ad_nodes[i]:
                continue
            ad = self.active.l2_advertisements[i]
            if not ad.interfaces:
                return None
            names |= set(ad.interfaces)
        links = self.links.get(node)
        if links is not None:
            names &= {link.name for link in links}
        return tuple(sorted(names))

    def l2(self) -> dict[str, dict[str, L2Announcement]]:
        self.refresh()
        return {k: dict(v) for k, v in self._l2.items()}

    def l2_of(self, key: str) -> dict[str, L2Announcement] | None:
        """One Service's layer-2 announcements (None: not announced in layer 2)."""
        self.refresh()
        found = self._l2.get(key)
        return dict(found) if found is not None else None

    def _l2_reason(self, key: str, by_ip: Mapping[str, L2Announcement], node: str) -> Reason:
        first = next(iter(by_ip.values()))
        if first.reason is not None and first.node is None:
            return first.reason
        ineligible = self.ineligibility(node)
        if ineligible is not None:
            return ineligible
        state = self._l2_state.get(key)
        if state is not None and not any(node in self._l2_ad_nodes[i] for i in state.ads):
            return Reason.NOT_SELECTED
        if first.reason is not None:
            return first.reason
        return Reason.NOT_OWNER

    def l2_candidates(self, key: str) -> list[tuple[str, Reason | None]]:
        """Every known node for a Service's layer-2 election: in election order the
        eligible ones (reason None), then the others with why each is out (explain)."""
        self.refresh()
        state = self._l2_state.get(key)
        if state is None:
            return []
        eligible, others = [], []
        for node in sorted(self.nodes):
            reason = self.ineligibility(node) or self._l2_exclusion(node, key, state)
            if reason is None:
                eligible.append((election_key(node, state.ip, self._score(node, state.ads)), node))
            else:
                others.append((node, reason))
        return [(node, None) for _key, node in sorted(eligible)] + others

    def _l2_exclusion(self, node: str, key: str, state: _L2State) -> Reason | None:
        """Why an otherwise eligible node is no candidate in one Service's election."""
        if not any(node in self._l2_ad_nodes[i] for i in state.ads):
            return Reason.NOT_SELECTED
        if state.local and node not in self._serving(key)[0]:
            return Reason.NO_LOCAL_ENDPOINTS
        return None

    def _eligible_interfaces(self, node: str, version: int) -> tuple[str, ...]:
        return eligible_interfaces(self.links.get(node, ()), self.exclude, version=version)
