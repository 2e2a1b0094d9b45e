"""The controller fold: records in, desired Service statuses and pool counters out.

Theory of operation
-------------------
Each record updates the observed world; a Service change re-converges that one
Service (MetalLB's ``convergeBalancer``), so an event costs work in proportion to
what it affects. Configuration is parsed lazily: configuration records only mark
it dirty, and it is parsed before the next Service is converged or a plan is
asked for. The outcome depends only on the sequence of records, never on where a
plan was taken (configuration records do not converge Services).

Decisions are the fold's own state: once decided, a Service's addresses are its
*current* addresses, whether or not its status write came back yet, so the fold
never re-decides from a stale view. Without a decision with addresses, the
Service's observed ``status.loadBalancer.ingress`` is current (MetalLB reads the
status, which is what makes a restart keep every address).

Rules beyond MetalLB, each deterministic where MetalLB is not:

* Pools of equal priority, and the fallback pools, are tried in name order.
* When the pools in force change, only Services whose pool changed (or whose
  addresses left every pool) and pending Services are re-converged: Services
  that hold addresses first (more addresses first, then by key), so they reclaim
  them before pending ones allocate; then pending ones in the order they asked.
* A Service this fold never gave addresses to, whose observed status holds an
  address that another Service was given by this fold but has not yet confirmed
  in its own status, takes the address back (the other is re-converged). Such a
  status was written before this fold began (a previous run), and a status in the
  cluster outranks a decision nobody has seen: folding a restart's relist in any
  order keeps every address. Statuses of Services this fold did address are its
  own writes and claim nothing.
* Services left pending are retried, whenever an address frees, in the order
  they first asked (the seq that made them pending), after the Services that hold
  addresses but wait for more (PreferDualStack with one family), as after a pool
  change; so a restart, which re-converges everyone, decides the same.
* While a configuration kind (or Namespaces) is being relisted (between its SYNC
  markers) the configuration is not applied: half a list of pools would clear
  addresses the whole list keeps. It is applied at the SYNC_END.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ironlb.events.record import Record

from ...events.own_kinds import GROUP, IDENTITY
from ..addresses import parse_ip
from ..config import (
    CONFIG_KINDS,
    METALLB_GROUP,
    Pool,
)
from ..fold_base import FoldBase
from ..fold_state import ControllerState, DecisionState, restore_configs
from ..identity import Overrides
from ..objects import Service, namespace_labels
from ..plan.controller import (
    ALLOCATED_FROM_ANNOTATION,
    ControllerPlan,
    PoolCounters,
    ServiceEvent,
    ServicePlan,
    ServiceTarget,
)
from ..world import Change, World
from .allocator import Address, AllocationIndex
from .converge import Converging, Decision


class ControllerFold(Converging, FoldBase):
    """Fold records into the controller's state; ask ``plan()`` for the desired state."""

    relist_defers = (
        ("", "Node"),  # Node labels resolve nodeSelectors that validation compares
        ("", "Namespace"),  # namespace labels resolve pools' namespace selectors
        *((METALLB_GROUP, kind) for kind in CONFIG_KINDS),
    )

    def __init__(self, overrides: Overrides | None = None) -> None:
        super().__init__()
        self.overrides = overrides or Overrides()
        self.settings = self.overrides.apply({})
        self.services: dict[str, Service] = {}
        self.decisions: dict[str, Decision] = {}
        self.touched: set[str] = set()  # see changed_services
        self.pending: dict[str, int] = {}  # Service key -> seq at which it first asked
        self.index = AllocationIndex(())
        self.seq = 0
        self._addressed: set[str] = set()  # Services this fold ever gave addresses to
        self._displaced: list[str] = []  # Services a status claim took addresses from
        self._freed = False

    # --- folding ------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    def apply(self, record: Record) -> None:
        self.seq = record.seq
        super().apply(record)
        if self._freed:
            self._freed = False
            self._retry_pending()

    def _on_change(self, change: Change) -> None:
        if change.group == "" and change.kind == "Service":
            self.touched.add(change.key)
            if change.after is None:
                self.services.pop(change.key, None)
                self._addressed.discard(change.key)
            else:
                self.services[change.key] = Service.from_k8s(change.key, change.after)
            self._converge(change.key)
        elif change.group == METALLB_GROUP and change.kind in CONFIG_KINDS:
            if change.key.startswith(self.settings.namespace + "/"):
                self._reload_config()
        elif change.group == "" and change.kind in ("Namespace", "Node"):
            before = namespace_labels(change.before) if change.before else None
            after = namespace_labels(change.after) if change.after else None
            if before != after:  # only labels matter to the configuration
                self._reload_config()
        elif change.group == "" and change.kind == "Secret":
            if change.key.startswith(self.settings.namespace + "/"):
                self._reload_config()
        elif (change.group, change.kind, change.key) == (GROUP, IDENTITY.name, "controller"):
            self._identity_changed(change.after or {})

    def _identity_changed(self, identity: Mapping[str, Any]) -> None:
        settings = self.overrides.apply(identity)
        if settings == self.settings:
            return
        self.settings = settings
        self._reload_config(everything=True)

    # --- configuration ------------------------------------------------------

    def _reload_config(self, *, everything: bool = False) -> None:
        parsed = self._parse_config(now=everything)
        if parsed is None:
            return
        if parsed.allocation_errors:
            # Keep the last valid pools in force (MetalLB's stale configuration).
            if everything:
                self._reprocess(sorted(self.services))
            return
        previous = self.active
        self._put_in_force(parsed)
        if previous.pools != parsed.pools or everything:
            self._rebuild_index(previous.pools, parsed.pools, everything=everything)

    def _rebuild_index(self, old: Sequence[Pool], new: Sequence[Pool], *, everything: bool) -> None:
        """Put new pools in force; re-check only the Services of pools that changed.

        A pool whose addresses changed (or that went away) gives up every address it
        handed out and its Services are re-converged. A pool whose addresses stayed
        and whose admission changed (namespaces, selectors, priority: what a Namespace
        label change does) keeps the Services it still admits exactly where they are;
        only the ones it no longer admits are re-converged. So a Service whose address
        is still valid never moves because another Service had to.
        """
        new_by_name = {p.name: p for p in new}
        changed = {p.name for p in old if new_by_name.get(p.name) != p}
        readmitted = {
            name
            for name in changed
            if name in new_by_name
            and self.index.same_addresses(self.index.pool(name), new_by_name[name])
        }
        if everything:
            affected = sorted(self.services)
        else:
            affected = sorted(
                key
                for key, decision in self.decisions.items()
                if decision.pool in changed
                and decision.addresses
                and not (
                    decision.pool in readmitted
                    and new_by_name[decision.pool].admits(
                        self.services[key].namespace, self.services[key].labels
                    )
                )
            )
        for key in affected:
            self._freed |= self.index.release(key)
        self.index.replace_pools(new)
        self._reprocess(affected)

    def _reprocess(self, keys: Sequence[str]) -> None:
        """Re-converge these Services and every pending one, in the documented order."""
        for key in keys:
            self.index.release(key)
        candidates = set(keys) | set(self.pending)
        current = {k: len(self._current(k)[0]) for k in candidates}
        holding = sorted((k for k in candidates if current[k]), key=lambda k: (-current[k], k))
        for key in holding:
            self._converge(key)
        held = set(holding)
        waiting = sorted(
            (k for k in candidates if k not in held),
            key=lambda k: (self.pending.get(k, self.seq), k),
        )
        for key in waiting:
            self._converge(key)

    def _retry_pending(self) -> None:
        """The same order as after a pool change: holders first, then by asking order."""
        self._freed = False
        self._reprocess([])
        self._freed = False

    # --- converging one Service (MetalLB's convergeBalancer) -------------------

    def _handles(self, service: Service) -> bool:
        return (
            service.is_load_balancer
            and service.load_balancer_class == self.settings.load_balancer_class
        )

    def _current(self, key: str) -> tuple[tuple[Address, ...], bool]:
        """The Service's current addresses and whether they come from its observed status."""
        decision = self.decisions.get(key)
        if decision is not None and decision.addresses:
            return decision.addresses, False
        service = self.services.get(key)
        if service is None or not service.status_ips:
            return (), False
        addresses = tuple(parse_ip(ip) for ip in service.status_ips)
        if any(a is None for a in addresses):
            return (), False
        return addresses, True  # type: ignore[return-value]

    # --- recording outcomes -------------------------------------------------

    # --- snapshots --------------------------------------------------------------

    def export_state(self) -> ControllerState:
        """What a snapshot must hold to continue exactly (see fold_state)."""
        return ControllerState(
            seq=self.seq,
            world=self.world.export(),
            config=self._config_inputs_used,
            active=self._active_inputs,
            config_waiting=self._config_waiting,
            decisions=tuple(
                DecisionState(
                    key,
                    d.addresses,
                    d.pool,
                    d.error,
                    d.warnings,
                    tuple((e.type.value, e.reason.value, e.message) for e in d.events),
                )
                for key, d in sorted(self.decisions.items())
            ),
            pending=tuple(sorted(self.pending.items())),
            addressed=tuple(sorted(self._addressed)),
        )

    @classmethod
    def restore(cls, state: ControllerState, overrides: Overrides | None = None) -> ControllerFold:
        """A fold that continues exactly like the one ``state`` was exported from.

        Everything else is derived again: Services from the world, both
        configurations by parsing, and the allocation index by assigning every
        decision's addresses (the index holds exactly those).
        """
        fold = cls(overrides)
        fold.seq = state.seq
        fold.world = World.restore(state.world)
        identity = fold.world.get(GROUP, IDENTITY.name, "controller")
        fold.settings = fold.overrides.apply(identity or {})
        observed = fold.world.of_kind("", "Service")
        fold.services = {key: Service.from_k8s(key, obj) for key, obj in observed.items()}
        fold.config, fold.active = restore_configs(state.config, state.active, fold._parse_cache)
        fold._config_inputs_used, fold._active_inputs = state.config, state.active
        fold._config_waiting = state.config_waiting
        fold.index = AllocationIndex(fold.active.pools)
        for saved in state.decisions:
            events = tuple(ServiceEvent(*event) for event in saved.events)
            decision = Decision(saved.addresses, saved.pool, saved.error, saved.warnings, events)
            fold.decisions[saved.key] = decision
            service = fold.services.get(saved.key)
            if decision.addresses and service is not None:
                fold.index.assign(service, decision.addresses)
        fold.pending = dict(state.pending)
        fold._addressed = set(state.addressed)
        fold.touched = set(fold.services) | set(fold.decisions)  # re-plan everything once
        return fold

    # --- the plan -----------------------------------------------------------

    def plan(self, *, targets: bool = True) -> ControllerPlan:
        """The plan; ``targets=False`` leaves out what a status writer needs of each
        observed Service (not part of the plan's value: tools and verification)."""
        return ControllerPlan(
            self.plan_services(self.decisions, targets=targets),
            self.pool_counters(),
            self.config.errors,
        )

    def services_without_address(self) -> int:
        """LoadBalancer Services this controller serves that hold no address."""
        return sum(
            1
            for key, decision in self.decisions.items()
            if not decision.ips
            and (service := self.services.get(key)) is not None
            and self._handles(service)
        )

    def services_per_pool(self) -> dict[str, int]:
        """How many Services hold addresses from each pool (a metric MetalLB names)."""
        counts: dict[str, int] = {}
        for key, decision in self.decisions.items():
            service = self.services.get(key)
            if decision.ips and decision.pool and service is not None and self._handles(service):
                counts[decision.pool] = counts.get(decision.pool, 0) + 1
        return counts

    def decision(self, key: str) -> Decision | None:
        """What the fold decided for one Service (addresses, pool, error, events)."""
        return self.decisions.get(key)

    def service(self, key: str) -> Service | None:
        """One LoadBalancer Service as the fold reads it."""
        return self.services.get(key)

    def sharers(self, key: str) -> list[str]:
        """The other Services holding one of this Service's addresses, by key."""
        mine = self.decisions.get(key)
        ips = set(mine.ips) if mine is not None else set()
        return sorted(k for k, d in self.decisions.items() if k != key and ips & set(d.ips))

    def pool(self, name: str) -> Pool | None:
        """A pool in force."""
        return self.index.pool(name)

    def changed_services(self) -> set[str]:
        """Services whose decision or observed object changed since the last call:
        a live process re-plans only those (the plan of the others is unchanged)."""
        touched, self.touched = self.touched, set()
        return touched

    def plan_services(self, keys: Iterable[str], *, targets: bool = True) -> dict[str, ServicePlan]:
        services = {}
        for key in keys:
            decision = self.decisions.get(key)
            service = self.services.get(key)
            if decision is None or service is None or not self._handles(service):
                continue
            services[key] = ServicePlan(
                decision.ips,
                decision.pool,
                service.sharing_key,
                decision.error,
                decision.warnings,
                decision.events,
                target=self._target(key) if targets else None,
            )
        return services

    def _target(self, key: str) -> ServiceTarget | None:
        observed = self.world.get("", "Service", key)
        if observed is None:
            return None
        metadata = observed.get("metadata") or {}
        status = observed.get("status") or {}
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        annotations = metadata.get("annotations")
        return ServiceTarget(
            metadata.get("uid"),
            metadata.get("resourceVersion"),
            tuple(e.get("ip") if isinstance(e, Mapping) else None for e in ingress),
            annotations.get(ALLOCATED_FROM_ANNOTATION)
            if isinstance(annotations, Mapping)
            else None,
        )

    def pool_counters(self) -> dict[str, PoolCounters]:
        pools = {}
        for pool in self.active.pools:
            used4, used6 = self.index.used(pool.name, 4), self.index.used(pool.name, 6)
            pools[pool.name] = PoolCounters(
                used4, pool.capacity(4) - used4, used6, pool.capacity(6) - used6
            )
        return pools
