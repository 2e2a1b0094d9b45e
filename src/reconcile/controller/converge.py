"""Converging one Service (MetalLB's convergeBalancer): keep its current addresses,
or allocate new ones from the pools that admit it, or say why not."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import attrs

from ..addresses import parse_ip, to_text
from ..config import (
    Pool,
)
from ..objects import DEPRECATED_PREFIX, DUAL, Service
from ..plan.controller import (
    NORMAL,
    WARNING,
    Outcome,
    ServiceEvent,
)
from .allocator import Address, go_quote_list


@attrs.frozen
class Decision:
    addresses: tuple[Address, ...]
    pool: str | None
    error: str | None
    warnings: tuple[str, ...]
    events: tuple[ServiceEvent, ...]

    @functools.cached_property
    def ips(self) -> tuple[str, ...]:
        """The addresses as text (kept: every plan of every Service asks)."""
        return tuple(to_text(a) for a in self.addresses)


def _versions(family: int | None) -> frozenset[int]:
    if family == DUAL:
        return frozenset({4, 6})
    return frozenset({family}) if family else frozenset()


class Converging:
    """ControllerFold's per-Service methods (a mixin: they share the fold's state)."""

    def _converge(self, key: str) -> None:
        """Converge one Service, then any Service its status claim displaced."""
        self._converge_one(key)
        while self._displaced:
            self._converge_one(self._displaced.pop(0))

    def _converge_one(self, key: str) -> None:
        service = self.services.get(key)
        if service is None or not self._handles(service):
            self._freed |= self.index.release(key)
            self.decisions.pop(key, None)
            self.pending.pop(key, None)
            return
        warnings = tuple(
            f'service uses deprecated annotation "{a}"; use '
            f'"metallb.io/{a[len(DEPRECATED_PREFIX) :]}"'
            for a in service.deprecated_annotations
        )
        if not self.active.pools:
            self._clear(
                key,
                f"no IPAddressPool is configured in namespace {self.settings.namespace}",
                warnings,
                (),
                pending=True,
            )
            return
        if service.family is None:
            malformed = service.cluster_ips_malformed
            events = (
                (ServiceEvent(WARNING, Outcome.NO_CLUSTER_IPS_FAMILY,
                              "Failed to retrieve clusterIPs family"),)  # MetalLB's words
                if malformed
                else ()
            )  # fmt: skip
            self._clear(
                key,
                "the service's clusterIPs give no IP family"
                if malformed
                else "service has no clusterIPs, so its IP family is unknown",
                warnings,
                events,
                pending=False,
            )
            return
        if service.ip_family_policy == "RequireDualStack" and service.family != DUAL:
            event = ServiceEvent(
                WARNING,
                Outcome.NOT_ENOUGH_CLUSTER_IPS,
                "RequireDualStack needs a clusterIP of each family",
            )
            self._clear(
                key,
                "ipFamilyPolicy RequireDualStack but the service has one clusterIP",
                warnings,
                (event,),
                pending=False,
            )
            return
        current, from_status = self._current(key)
        events: list[ServiceEvent] = []
        if not current and service.status_ips and key not in self._addressed:
            # Addresses in status that are not addresses: MetalLB's Warning; ironlb
            # then allocates anew rather than leave the Service as it is.
            events.append(
                ServiceEvent(WARNING, Outcome.NO_LB_IPS_FAMILY, "Failed to retrieve lbIPs family")
            )
        if current:
            claim = from_status and key not in self._addressed
            outcome = self._keep_current(service, current, claim=claim)
            if isinstance(outcome, Decision):
                if outcome.warnings != warnings:
                    outcome = attrs.evolve(outcome, warnings=warnings)
                self._decide(key, outcome, pending=self._half_served(service, outcome.addresses))
                return
            if outcome is not None:
                events.append(outcome)
        self._allocate(service, warnings, events)

    def _keep_current(
        self, service: Service, current: tuple[Address, ...], *, claim: bool
    ) -> Decision | ServiceEvent | None:
        """Keep the current addresses if still valid (a Decision), else why not (or None)."""
        key = service.key
        versions = frozenset(a[0] for a in current)
        wanted = _versions(service.family)
        single_in_dual = (
            service.family == DUAL
            and service.ip_family_policy == "PreferDualStack"
            and len(current) == 1
        )
        if versions != wanted and not single_in_dual:
            return None
        pool = self.index.pool_of(current[0])
        if not service.requested_error:
            if service.requested and set(service.requested) != {to_text(a) for a in current}:
                return None
            if service.address_pool and pool != service.address_pool:
                return None
        error = self._assign_error(service, current)
        if error is not None and claim:
            self._displace_unconfirmed(service, current)
            error = self._assign_error(service, current)
        if error is not None:
            return ServiceEvent(
                NORMAL,
                Outcome.CLEAR_ASSIGNMENT,
                f'current IP for "{key}" not allowed by config, will attempt '
                f"for new IP assignment: {error}",
            )
        if service.requested_error:
            # MetalLB stops here: the addresses stay, the request is reported.
            self._freed |= self.index.assign(service, current)
            event = ServiceEvent(WARNING, Outcome.LOAD_BALANCER_FAILED, service.requested_error)
            return Decision(current, pool, service.requested_error, (), (event,))
        self._freed |= self.index.assign(service, current)
        if single_in_dual and pool is not None:
            return self._add_missing_family(service, current, pool)
        return Decision(current, pool, None, (), self._same_events(key, current))

    def _same_events(self, key: str, addresses: tuple[Address, ...]) -> tuple[ServiceEvent, ...]:
        previous = self.decisions.get(key)
        if previous is not None and previous.addresses == addresses:
            return previous.events
        return ()

    def _add_missing_family(
        self, service: Service, current: tuple[Address, ...], pool: str
    ) -> Decision:
        missing = 6 if current[0][0] == 4 else 4
        found = self.index.find(pool, missing, service)
        if found is None:
            event = ServiceEvent(
                NORMAL,
                Outcome.ADDITIONAL_ASSIGN_FAILED,
                f'failed to assign an IPv{missing} address to "{service.key}": '
                f'no available IPs in pool "{pool}"',
            )
            previous = self.decisions.get(service.key)
            events = previous.events if previous and previous.addresses == current else (event,)
            return Decision(current, pool, None, (), events)
        addresses = tuple(sorted((*current, found)))
        self.index.assign(service, addresses)
        event = ServiceEvent(
            NORMAL, Outcome.IP_ALLOCATED, f'Assigned additional IP "{to_text(found)}"'
        )
        return Decision(addresses, pool, None, (), (event,))

    def _displace_unconfirmed(self, service: Service, claimed: tuple[Address, ...]) -> None:
        """Take back addresses this fold gave to Services whose status does not show them."""
        displaced = []
        for address in claimed:
            for holder in self.index.holders(address):
                holder_service = self.services.get(holder)
                ip = to_text(address)
                if holder_service is not None and ip not in holder_service.status_ips:
                    displaced.append(holder)
        for holder in sorted(set(displaced)):
            self._freed |= self.index.release(holder)
            self.decisions.pop(holder, None)
        for holder in sorted(set(displaced)):
            self.pending.setdefault(holder, self.seq)
            self._displaced.append(holder)

    def _assign_error(self, service: Service, addresses: Sequence[Address]) -> str | None:
        pools = {self.index.pool_of(a) for a in addresses}
        if None in pools or len(pools) != 1:
            ips = [to_text(a) for a in addresses]
            return f"{go_quote_list(ips)} is not allowed in config"
        name = next(iter(pools))
        pool = self.index.pool(name) if name else None
        if pool is None or not pool.admits(service.namespace, service.labels):
            return f"pool {name} not compatible for ip assignment"
        for address in addresses:
            error = self.index.sharing_error(service, address)
            if error is not None:
                return error
        return None

    def _allocate(
        self, service: Service, warnings: tuple[str, ...], events: list[ServiceEvent]
    ) -> None:
        key = service.key
        if service.requested_error:
            self._fail(key, service.requested_error, warnings, events, pending=False)
            return
        if service.requested:
            addresses = tuple(parse_ip(ip) for ip in service.requested)
            quoted = go_quote_list(service.requested)
            if frozenset(a[0] for a in addresses) != _versions(service.family):  # type: ignore[index]
                self._fail(
                    key,
                    f"requested loadBalancer IP(s) {quoted} does not match the "
                    "ipFamily of the service",
                    warnings,
                    events,
                    pending=False,
                )
                return
            error = self._assign_error(service, addresses)  # type: ignore[arg-type]
            pool = self.index.pool_of(addresses[0])  # type: ignore[arg-type]
            if error is None and service.address_pool and pool != service.address_pool:
                error = (
                    f"requested loadBalancer IP(s) {quoted} is not compatible with "
                    f"requested address pool {service.address_pool}"
                )
            if error is not None:
                self._fail(key, error, warnings, events, pending=True)
                return
            self._succeed(service, addresses, pool, warnings, events)  # type: ignore[arg-type]
            return
        if service.address_pool:
            pool = self.active.pool(service.address_pool)
            if pool is None:
                self._fail(
                    key, f'unknown pool "{service.address_pool}"', warnings, events, pending=True
                )
                return
            if not pool.admits(service.namespace, service.labels):
                self._fail(
                    key,
                    f"pool {pool.name} not compatible for ip assignment",
                    warnings,
                    events,
                    pending=True,
                )
                return
            chosen = self._select(service, [pool])
            if chosen is None:
                self._fail(
                    key, f'no available IPs in pool "{pool.name}"', warnings, events, pending=True
                )
                return
            self._succeed(service, chosen[0], chosen[1], warnings, events)
            return
        chosen = self._select(service, self._pinned_pools(service)) or self._select(
            service, self._fallback_pools()
        )
        if chosen is None:
            self._fail(key, "no available IPs", warnings, events, pending=True)
            return
        self._succeed(service, chosen[0], chosen[1], warnings, events)

    def _pinned_pools(self, service: Service) -> list[Pool]:
        chosen = []
        for pool in self.active.pools:
            if not pool.has_service_allocation or not pool.auto_assign:
                continue
            if pool.namespaces:
                candidate = service.namespace in pool.namespaces
            else:
                candidate = bool(pool.service_selectors) or not pool.namespace_constrained
            if candidate and pool.admits(service.namespace, service.labels):
                chosen.append(pool)
        chosen.sort(key=lambda p: (p.priority == 0, p.priority, p.name))
        return chosen

    def _fallback_pools(self) -> list[Pool]:
        return [p for p in self.active.pools if p.auto_assign and not p.has_service_allocation]

    def _select(
        self, service: Service, pools: Sequence[Pool]
    ) -> tuple[tuple[Address, ...], str] | None:
        """MetalLB's family rules over pools in order: the first pool that can serve wins."""

        def find(pool: Pool, version: int) -> Address | None:
            return self.index.find(pool.name, version, service)

        if service.family != DUAL:
            for pool in pools:
                found = find(pool, service.family)  # type: ignore[arg-type]
                if found is not None:
                    return (found,), pool.name
            return None
        for pool in pools:
            v4, v6 = find(pool, 4), find(pool, 6)
            if v4 is not None and v6 is not None:
                return (v4, v6), pool.name
        if service.ip_family_policy != "PreferDualStack":
            return None
        primary = service.primary_family or 4
        for version in (primary, 10 - primary):
            for pool in pools:
                found = find(pool, version)
                if found is not None:
                    return (found,), pool.name
        return None

    def _succeed(
        self,
        service: Service,
        addresses: tuple[Address, ...],
        pool: str | None,
        warnings: tuple[str, ...],
        events: list[ServiceEvent],
    ) -> None:
        self._freed |= self.index.assign(service, addresses)
        ips = [to_text(a) for a in addresses]
        events.append(
            ServiceEvent(NORMAL, Outcome.IP_ALLOCATED, f"Assigned IP {go_quote_list(ips)}")
        )
        self._decide(
            service.key,
            Decision(addresses, pool, None, warnings, tuple(events)),
            pending=self._half_served(service, addresses),
        )

    @staticmethod
    def _half_served(service: Service, addresses: tuple[Address, ...]) -> bool:
        """A PreferDualStack Service with one family still waits for the other."""
        return (
            service.family == DUAL
            and service.ip_family_policy == "PreferDualStack"
            and len(addresses) == 1
        )

    def _fail(
        self,
        key: str,
        error: str,
        warnings: tuple[str, ...],
        events: list[ServiceEvent],
        *,
        pending: bool,
    ) -> None:
        events.append(
            ServiceEvent(
                WARNING, Outcome.ALLOCATION_FAILED, f'Failed to allocate IP for "{key}": {error}'
            )
        )
        self._clear(key, error, warnings, tuple(events), pending=pending)

    def _clear(
        self,
        key: str,
        error: str,
        warnings: tuple[str, ...],
        events: tuple[ServiceEvent, ...],
        *,
        pending: bool,
    ) -> None:
        self._freed |= self.index.release(key)
        previous = self.decisions.get(key)
        if previous is not None and not previous.addresses and previous.error == error:
            events = previous.events  # nothing new happened: do not repeat the Event
        self._decide(key, Decision((), None, error, warnings, events), pending=pending)

    def _decide(self, key: str, decision: Decision, *, pending: bool) -> None:
        service = self.services.get(key)
        if service is not None and service.deprecated_annotations:
            # MetalLB's Warning, once per annotation (carried by every later decision,
            # so the status writer, which posts what is new, does not repeat it).
            deprecated = tuple(
                ServiceEvent(WARNING, Outcome.DEPRECATED_ANNOTATION, text)
                for text in decision.warnings
                if text.startswith("service uses deprecated annotation")
            )
            missing = tuple(e for e in deprecated if e not in decision.events)
            if missing:
                decision = attrs.evolve(decision, events=decision.events + missing)
        self.decisions[key] = decision
        self.touched.add(key)
        if decision.addresses:
            self._addressed.add(key)
        if pending:
            self.pending.setdefault(key, self.seq)
        else:
            self.pending.pop(key, None)
