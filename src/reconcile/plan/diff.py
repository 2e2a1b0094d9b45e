"""What changed between two plans (their JSON form): addresses, announcers, routes.

Used by ``ironlb diff`` (two points of a log), ``plan --with`` (what-if) and the
divergence report of ``replay --verify``. Only what a user acts on is compared:
a Service's addresses and error, who announces each layer-2 address, the routes
each node sends each peer, pool counters and configuration validity.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

Plan = Mapping[str, Any]


def _service_view(plan: Plan, key: str) -> dict[str, Any] | None:
    service = plan.get("services", {}).get(key)
    if service is None:
        return None
    return {"ips": service["ips"], "pool": service["pool"], "error": service["error"]}


def announcers(plan: Plan, key: str) -> dict[str, Any] | None:
    by_ip = plan.get("l2", {}).get(key)
    if by_ip is None:
        return None
    return {ip: entry["node"] if entry["reason"] is None else None for ip, entry in by_ip.items()}


def diff_plans(before: Plan, after: Plan) -> dict[str, Any]:
    """``{"services", "l2", "bgp", "pools", "config"}``, each only with what changed."""
    result: dict[str, Any] = {"services": {}, "l2": {}, "bgp": {}, "pools": {}, "config": {}}
    keys = set(before.get("services", {})) | set(after.get("services", {}))
    for key in sorted(keys):
        old, new = _service_view(before, key), _service_view(after, key)
        if old != new:
            result["services"][key] = {"from": old, "to": new}
    keys = set(before.get("l2", {})) | set(after.get("l2", {}))
    for key in sorted(keys):
        old, new = announcers(before, key), announcers(after, key)
        if old != new:
            result["l2"][key] = {"from": old, "to": new}
    nodes = set(before.get("bgp", {})) | set(after.get("bgp", {}))
    for node in sorted(nodes):
        old_peers = before.get("bgp", {}).get(node, {})
        new_peers = after.get("bgp", {}).get(node, {})
        for peer in sorted(set(old_peers) | set(new_peers)):
            old_routes = {r["prefix"]: r for r in old_peers.get(peer, [])}
            new_routes = {r["prefix"]: r for r in new_peers.get(peer, [])}
            added = sorted(p for p in new_routes if p not in old_routes)
            withdrawn = sorted(p for p in old_routes if p not in new_routes)
            changed = sorted(
                p for p in new_routes if p in old_routes and new_routes[p] != old_routes[p]
            )
            if added or withdrawn or changed:
                result["bgp"].setdefault(node, {})[peer] = {
                    "announced": added,
                    "withdrawn": withdrawn,
                    "changed": changed,
                }
    for name in sorted(set(before.get("pools", {})) | set(after.get("pools", {}))):
        old, new = before.get("pools", {}).get(name), after.get("pools", {}).get(name)
        if old != new:
            result["pools"][name] = {"from": old, "to": new}
    old_config, new_config = before.get("config", {}), after.get("config", {})
    if old_config != new_config:
        result["config"] = {"from": old_config, "to": new_config}
    return result


def is_empty(diff: Mapping[str, Any]) -> bool:
    return not any(diff.values())


def describe(diff: Mapping[str, Any]) -> list[str]:
    """One line per change, for people."""
    lines = []

    def ips(view: Mapping[str, Any] | None) -> str:
        if view is None:
            return "(absent)"
        text = ",".join(view["ips"]) or "<pending>"
        return f"{text} ({view['error']})" if view["error"] else text

    for key, change in diff["services"].items():
        lines.append(f"service {key}: {ips(change['from'])} -> {ips(change['to'])}")
    for key, change in diff["l2"].items():
        for ip in sorted(set(change["from"] or {}) | set(change["to"] or {})):
            old = (change["from"] or {}).get(ip) or "nobody"
            new = (change["to"] or {}).get(ip) or "nobody"
            if old != new:
                lines.append(f"layer 2 {key} {ip}: announced by {old} -> {new}")
    for node, peers in diff["bgp"].items():
        for peer, change in peers.items():
            for verb in ("announced", "withdrawn", "changed"):
                for prefix in change[verb]:
                    lines.append(f"bgp {node} -> {peer}: {prefix} {verb}")
    for name, change in diff["pools"].items():
        old, new = change["from"] or {}, change["to"] or {}
        parts = [
            f"{label} {old.get(field, 0)} -> {new.get(field, 0)}"
            for label, field in (("IPv4 used", "assignedIPv4"), ("IPv6 used", "assignedIPv6"))
            if old.get(field) != new.get(field)
        ]
        lines.append(f"pool {name}: {', '.join(parts) or 'capacity changed'}")
    if diff["config"]:
        old, new = diff["config"]["from"], diff["config"]["to"]
        lines.append(
            f"configuration: {'valid' if old.get('valid') else 'invalid'} -> "
            f"{'valid' if new.get('valid') else 'invalid'} ({len(new.get('errors', []))} errors)"
        )
    return lines


def service_changes(before: Plan, after: Plan) -> list[dict[str, Any]]:
    """What a what-if changes, per Service and field, old and new side by side:
    ``addresses``, ``pool``, ``error``, ``node`` (layer-2 announcer per address) and
    ``peers`` (the node/peer sessions its prefixes go out on)."""
    changes = []
    keys = sorted(set(before.get("services", {})) | set(after.get("services", {})))
    sessions_before, sessions_after = SessionsByPrefix(before), SessionsByPrefix(after)
    for key in keys:
        old, new = _service_view(before, key), _service_view(after, key)
        fields = {
            field: (old and old[name], new and new[name])
            for field, name in (("addresses", "ips"), ("pool", "pool"), ("error", "error"))
        }
        fields["node"] = (announcers(before, key), announcers(after, key))
        fields["peers"] = (sessions_before.carrying(old), sessions_after.carrying(new))
        for field, (was, now) in fields.items():
            if was != now:
                changes.append({"service": key, "field": field, "before": was, "after": now})
    return changes


class SessionsByPrefix:
    """A plan's BGP routes indexed by prefix: which sessions carry a Service's
    addresses is a lookup per prefix length, not a walk over every route (a plan of
    50 nodes and 10,000 BGP Services holds a million)."""

    def __init__(self, plan: Plan) -> None:
        # A prefix is sent on many sessions, mostly the same ones as the next
        # prefix: each prefix gets the numbers of its sessions, and equal sets of
        # sessions are one shared frozenset (a set per prefix held 60 MB per plan).
        names: dict[str, int] = {}
        by_prefix: dict[str, list[int]] = {}
        for node, peers in plan.get("bgp", {}).items():
            for peer, routes in peers.items():
                number = names.setdefault(f"{node}/{peer}", len(names))
                for route in routes:
                    by_prefix.setdefault(route["prefix"], []).append(number)
        sessions_of = list(names)
        shared: dict[tuple[int, ...], frozenset[str]] = {}
        self._sessions: dict[tuple[int, int, int], frozenset[str]] = {}  # (version, net, len)
        self._lengths: set[tuple[int, int]] = set()  # (version, length) present
        for prefix, numbers in by_prefix.items():
            signature = tuple(dict.fromkeys(numbers))  # sessions are met in number order
            sessions = shared.get(signature)
            if sessions is None:
                sessions = shared[signature] = frozenset(sessions_of[n] for n in signature)
            network = ipaddress.ip_network(prefix, strict=False)
            where = (network.version, int(network.network_address), network.prefixlen)
            known = self._sessions.get(where)
            self._sessions[where] = sessions if known is None else known | sessions
            self._lengths.add((network.version, network.prefixlen))

    def carrying(self, service: Mapping[str, Any] | None) -> list[str] | None:
        """``node/peer`` of every session carrying a route that covers the Service."""
        if not service or not service["ips"]:
            return None
        found: set[str] = set()
        for ip in service["ips"]:
            address = ipaddress.ip_address(ip)
            bits = address.max_prefixlen
            for version, length in self._lengths:
                if version == address.version:
                    network = int(address) >> (bits - length) << (bits - length)
                    found |= self._sessions.get((version, network, length), frozenset())
        return sorted(found) or None
