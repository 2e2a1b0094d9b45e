"""How plans are shown: a table for people, JSON or YAML for programs (plan, replay)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

from ._common import (
    plural,
)
from .output import dump_json, paint, render_table, use_colour


def render_plan(
    plan: dict[str, Any], output: str, out: TextIO, *, before: dict[str, Any] | None = None
) -> None:
    import yaml

    if before is not None and output != "table":
        # What-if for programs: both plans and the changes between them.
        from ..reconcile.plan.diff import service_changes

        plan = {"before": before, "after": plan, "changes": service_changes(before, plan)}
    if output == "json":
        dump_json(plan, out)
    elif output == "yaml":
        yaml.safe_dump(plan, out, sort_keys=True, default_flow_style=False)
    else:
        render_table_plan(plan, out, before=before)


def _service_change(key: str, plan: dict, before: dict | None) -> str:
    from ..reconcile.plan.diff import announcers

    if before is None:
        return ""
    old, new = before["services"].get(key), plan["services"].get(key)
    if old is None:
        return "+"
    if new is None:
        return "-"
    moved = announcers(plan, key) != announcers(before, key)
    return "~" if (old["ips"], old["error"]) != (new["ips"], new["error"]) or moved else ""


def render_table_plan(plan: dict[str, Any], out: TextIO, *, before: dict | None = None) -> None:
    from ..reconcile.config import ConfigError

    colour = use_colour(out)
    keys = sorted(set(plan["services"]) | (set(before["services"]) if before else set()))
    rows, colours = [], []
    for key in keys:
        mark = _service_change(key, plan, before)
        service = plan["services"].get(key) or {
            "ips": [],
            "pool": None,
            "error": "removed",
            "warnings": [],
        }
        problem = service["error"] or "; ".join(service["warnings"])
        row = [key, ",".join(service["ips"]) or "<pending>", service["pool"] or "-", problem]
        tone = "red" if service["error"] else ("yellow" if service["warnings"] else "green")
        if before is not None:
            row.insert(0, mark or " ")
        rows.append(row)
        colours.append(
            ([("bold" if mark else None)] if before is not None else [])
            + [None, tone, None, "red" if service["error"] else "yellow"]
        )
    headers = ["SERVICE", "ADDRESSES", "POOL", "PROBLEM"]
    if before is not None:
        headers.insert(0, "")
    if rows:
        render_table(headers, rows, out, colours=colours)
    else:
        out.write("no LoadBalancer Services\n")
    pools = plan["pools"]
    if pools:
        out.write("\n")
        render_table(
            ["POOL", "IPV4 USED", "IPV4 FREE", "IPV6 USED", "IPV6 FREE"],
            [
                [
                    name,
                    str(c["assignedIPv4"]),
                    str(c["availableIPv4"]),
                    str(c["assignedIPv6"]),
                    str(c["availableIPv6"]),
                ]
                for name, c in sorted(pools.items())
            ],
            out,
        )
    render_announcements(plan, out, colour)
    config = plan["config"]
    out.write("\n")
    if config["valid"]:
        out.write(paint("configuration is valid", "green", colour) + "\n")
    else:
        out.write(
            paint(
                f"configuration has {len(config['errors'])} "
                f"{plural(len(config['errors']), 'error')}; the last valid "
                "pools stay in force:",
                "red",
                colour,
            )
            + "\n"
        )
        for error in config["errors"]:
            out.write(f"  {ConfigError(**error)}\n")
    render_warnings(config.get("warnings", ()), out, colour)
    if before is not None:
        render_changes(before, plan, out)
        changed = sum(1 for k in keys if _service_change(k, plan, before))
        out.write(
            f"\n{changed} {plural(changed, 'service')} would change address or announcer "
            "(+ new, ~ changed, - removed)\n"
        )


def render_warnings(warnings: Iterable[dict[str, Any]], out: TextIO, colour: bool) -> None:
    """What the configuration asks for that ironlb accepts but does not honour."""
    from ..reconcile.config import ConfigError

    for warning in warnings:
        out.write(paint("warning: ", "yellow", colour) + f"{ConfigError(**warning)}\n")


def render_changes(before: dict[str, Any], after: dict[str, Any], out: TextIO) -> None:
    """What-if's old -> new, one line per Service and field that changes."""
    from ..reconcile.plan.diff import service_changes

    changes = service_changes(before, after)
    if changes:
        out.write("\nchanges:\n")
    for change in changes:
        was, now = _shown(change["before"]), _shown(change["after"])
        out.write(f"  {change['service']}: {change['field']} {was} -> {now}\n")


def _shown(value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "(none)"
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, dict):
        return ",".join(f"{k} by {v or 'nobody'}" for k, v in sorted(value.items()))
    return str(value)


def render_announcements(plan: dict[str, Any], out: TextIO, colour: bool) -> None:
    """Who answers ARP/NDP for what, and what each node tells each BGP peer."""
    rows, colours = [], []
    for service, by_ip in sorted(plan.get("l2", {}).items()):
        for ip, entry in sorted(by_ip.items()):
            where = (
                "all interfaces" if entry["interfaces"] is None else ",".join(entry["interfaces"])
            )
            announced = entry["reason"] is None
            rows.append(
                [service, ip, entry["node"] or "-", where if announced else entry["reason"]]
            )
            colours.append(
                [None, None, "green" if announced else None, None if announced else "red"]
            )
    if rows:
        out.write("\n")
        render_table(["LAYER 2", "ADDRESS", "NODE", "ON / WHY NOT"], rows, out, colours=colours)
    rows = []
    for node, by_peer in sorted(plan.get("bgp", {}).items()):
        for peer, routes in sorted(by_peer.items()):
            if not routes:
                rows.append([node, peer, "(session, nothing to announce)", ""])
            for route in routes:
                attributes = [f"local-pref {route['local_pref']}"] if route["local_pref"] else []
                attributes += route["communities"] + [
                    f"large:{c}" for c in route["large_communities"]
                ]
                rows.append([node, peer, route["prefix"], " ".join(attributes)])
    if rows:
        out.write("\n")
        render_table(["BGP NODE", "PEER", "PREFIX", "ATTRIBUTES"], rows, out)
