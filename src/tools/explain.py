"""``ironlb explain``: why a Service has its addresses and its announcer, and since when.

Folds the log record by record (as the processes did) with the controller and the
speakers side by side, noting every record after which the Service's addresses or
its layer-2 announcer changed; then describes the state at the end: the rule that
chose the addresses, the election with every node's eligibility, the BGP routes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import ip_address, ip_network
from typing import Any

from ..events.own_kinds import CONFLICT_KIND, SESSION_KIND
from ..events.record import EventType, Record
from ..reconcile.controller.fold import ControllerFold
from ..reconcile.objects import Service
from ..reconcile.speaker.fold import SpeakerFold


def explain(
    records: Iterable[Record],
    key: str,
    controller: ControllerFold,
    speakers: SpeakerFold,
    *,
    node: str | None = None,
) -> dict[str, Any]:
    history: list[dict[str, Any]] = []
    last_addresses: tuple | None = None
    last_announcers: dict[str, str | None] | None = None
    retained = False
    conflicts = []
    sessions: dict[tuple[str, str], dict[str, Any]] = {}  # (node, peer) -> the last state
    at = 0
    for record in records:
        at = record.seq
        # A change of another Service or its endpoints cannot move this Service's
        # announcer unless the two share an address: then the speakers are not asked
        # (a refresh per record made explain 6x slower than replay on a big log).
        other = _service_changed(record)
        unrelated = other is not None and other != key
        theirs = _addresses_of(other, controller, speakers) if unrelated else set()
        controller.apply(record)
        speakers.apply(record)
        if unrelated:
            theirs |= _addresses_of(other, controller, speakers)
            ours = set(last_announcers or ()) | set(last_addresses[0] if last_addresses else ())
            unrelated = not theirs & ours
        if record.kind == CONFLICT_KIND and isinstance(record.object, dict):
            conflicts.append({"seq": record.seq, **record.object})
        if record.kind == SESSION_KIND and isinstance(record.object, dict):
            state = record.object
            key_ = (str(state.get("node")), str(state.get("peer")))
            sessions[key_] = {
                "state": state.get("state"),
                "reason": state.get("reason"),
                "seq": record.seq,
            }
        decision = controller.decision(key)
        addresses = (decision.ips, decision.pool, decision.error) if decision else None
        if addresses == last_addresses and unrelated:
            continue
        if addresses != last_addresses:
            service = controller.service(key)
            if decision and decision.ips and not (last_addresses and last_addresses[0]):
                retained = bool(service and service.status_ips == decision.ips)
            history.append(_entry(record, _describe_addresses(addresses)))
            last_addresses = addresses
        ips = decision.ips if decision else ()
        speakers.assume_statuses({key: ips})
        by_ip = speakers.l2_of(key)
        announcers = {ip: (a.node if a.announced else None) for ip, a in (by_ip or {}).items()}
        if by_ip is not None and announcers != last_announcers:
            who = ", ".join(f"{ip} by {n or 'nobody'}" for ip, n in sorted(announcers.items()))
            history.append(_entry(record, f"layer 2: {who}"))
            last_announcers = announcers
    service = controller.service(key)
    decision = controller.decision(key)
    result: dict[str, Any] = {
        "service": key,
        "at": at,
        "addresses": None,
        "layer2": {},
        "bgp": {},
        "bgp_conditions": {},
        "conflicts": [c for c in conflicts if decision and c.get("ip") in decision.ips],
        "history": history,
    }
    if service is None or decision is None:
        return result
    result["addresses"] = {
        "ips": list(decision.ips),
        "pool": decision.pool,
        "error": decision.error,
        "rule": _rule(controller, service, decision.ips, retained),
    }
    speakers.assume_statuses({key: decision.ips})
    by_ip = speakers.l2_of(key) or {}
    candidates = [
        {"node": n, "eligible": reason is None, "why_not": None if reason is None else str(reason)}
        for n, reason in speakers.l2_candidates(key)
    ]
    for ip, announcement in sorted(by_ip.items()):
        result["layer2"][ip] = {**announcement.to_json(), "candidates": candidates}
    nodes = [node] if node else speakers.node_names()
    # Peers a speaker opens no session to, or one without a feature asked for.
    conditions = speakers.session_conditions(nodes)
    result["bgp_conditions"] = {peer: list(c) for peer, c in conditions.items()}
    for name in nodes:
        routes, reason = speakers.bgp_of(key, name)
        if routes:
            prefixes = sorted({r.prefix for by_peer in routes.values() for r in by_peer})
            peers = sorted(routes)
            result["bgp"][name] = {"peers": peers, "prefixes": prefixes}
            seen = {p: sessions[(name, p)] for p in peers if (name, p) in sessions}
            if seen:  # what the node's speaker recorded about those sessions
                result["bgp"][name]["sessions"] = seen
        elif node and reason is not None:
            result["bgp"][name] = {"not_announced": str(reason)}
    return result


def _service_changed(record: Record) -> str | None:
    """The Service an event of a Service or an EndpointSlice is about (None: another
    kind of record, a relist marker, or a slice that does not name its Service)."""
    if record.type not in (EventType.ADDED, EventType.MODIFIED, EventType.DELETED):
        return None
    if record.kind == "v1/Service":
        return record.key
    if record.kind.startswith("discovery.k8s.io/") and record.kind.endswith("/EndpointSlice"):
        metadata = record.object.get("metadata") if isinstance(record.object, dict) else None
        labels = metadata.get("labels") if isinstance(metadata, dict) else None
        name = labels.get("kubernetes.io/service-name") if isinstance(labels, dict) else None
        if isinstance(name, str) and name:
            return f"{record.key.rpartition('/')[0]}/{name}"
    return None


def _addresses_of(key: str, controller: ControllerFold, speakers: SpeakerFold) -> set[str]:
    """A Service's addresses as the controller decides them and as its status says."""
    decision = controller.decision(key)
    return set(decision.ips if decision else ()) | set(speakers.service_ips(key))


def _entry(record: Record, change: str) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "observed_at": record.observed_at,
        "change": change,
        "cause": f"{record.type.value} {record.kind} {record.key}".rstrip(),
    }


def _describe_addresses(addresses: tuple | None) -> str:
    if addresses is None:
        return "not handled (no LoadBalancer Service of the class served)"
    ips, pool, error = addresses
    if ips:
        return f"addresses {', '.join(ips)} from pool {pool}"
    return f"no address: {error}"


def _rule(controller: ControllerFold, service: Service, ips: Sequence[str], retained: bool) -> str:
    """Which of MetalLB's rules chose these addresses, in words."""
    if not ips:
        return "none assigned"
    sharers = controller.sharers(service.key)
    if service.requested:
        rule = "requested (metallb.io/loadBalancerIPs or spec.loadBalancerIP)"
    elif service.address_pool:
        rule = f"pinned to pool {service.address_pool} (metallb.io/address-pool)"
    elif retained:
        rule = "retained: the Service's status already held them when ironlb first saw it"
    else:
        decision = controller.decision(service.key)
        assert decision is not None  # ips came from it
        pool = controller.pool(decision.pool) if decision.pool else None
        priority = f"priority {pool.priority}" if pool and pool.priority else "no priority"
        rule = (
            f"first free address of pool {decision.pool} ({priority}): pools are tried by "
            "priority, then name, and the lowest free address of the first that admits "
            "the Service wins"
        )
    if sharers:
        rule += f"; shared with {', '.join(sharers)} (metallb.io/allow-shared-ip "
        rule += f'"{service.sharing_key}")'
    return rule


def _covers(prefix: str, ips: Sequence[str]) -> bool:
    network = ip_network(prefix, strict=False)
    return any(ip_address(ip) in network for ip in ips)
