"""``ironlb plan``, ``validate`` and ``replay``: the reconciler's answers, from files or logs."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from ..events.record import Record
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    NotFound,
    add_fold_options,
    check_from,
    overrides_from,
    planner_from,
    plural,
    speaker_overrides_from,
)
from .output import dump_json, paint, render_table, use_colour


def add_parsers(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "plan",
        help="fold inputs and print the plan: addresses, pools, configuration",
        description="Fold inputs (log URLs, manifest files, - for stdin; the bundled example "
        "cluster when none is given) and print the resulting plan.",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT")
    p.add_argument(
        "--with",
        dest="extra",
        action="append",
        default=[],
        metavar="INPUT",
        help="fold this on top and show what would change (what-if); repeatable",
    )
    add_fold_options(p)
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.set_defaults(handler=cmd_plan)

    p = commands.add_parser(
        "validate",
        help="check configuration objects with the rules ironlb applies",
        description="Exit 0 when the configuration is valid, 1 when not, 2 when an input "
        "cannot be read.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument(
        "--namespace",
        metavar="NS",
        help="the namespace ironlb reads its configuration from (default: metallb-system)",
    )
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p.set_defaults(handler=cmd_validate)

    p = commands.add_parser(
        "replay", help="print the plan at a point of a log, or verify its recorded digests"
    )
    p.add_argument("url", metavar="LOG_URL")
    p.add_argument(
        "--from",
        dest="start",
        type=int,
        metavar="SEQ",
        help="fold only records from this seq on (inclusive)",
    )
    p.add_argument("--until", type=int, metavar="SEQ", help="stop after this seq (inclusive)")
    p.add_argument(
        "--verify",
        action="store_true",
        help="recompute every plan-digest record and fail at the first that differs",
    )
    add_fold_options(p)
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.set_defaults(handler=cmd_replay)


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    from ..tools.inputs import default_inputs, read_inputs

    origins: list = []
    base = read_inputs(args.inputs or default_inputs(), origins=origins)
    planner = planner_from(args).apply_all(base)
    before = planner.to_json() if args.extra else None
    records = base
    if args.extra:
        extra = read_inputs(args.extra, start_seq=len(base) + 1, origins=origins)
        planner.apply_all(extra)
        records = [*base, *extra]
    after = with_schema_errors(planner.to_json(), records, origins)
    render_plan(after, args.output, out, before=before)
    return EXIT_OK


def with_schema_errors(plan: dict[str, Any], records: list, origins: list) -> dict[str, Any]:
    """The plan's ``config`` with what the API server would refuse in the inputs."""
    from ..reconcile.config import ConfigError
    from ..reconcile.plan.controller import config_json
    from ..tools.strict import schema_errors

    refused = schema_errors(records, origins)
    if not refused:
        return plan
    errors = [ConfigError(**e) for e in plan["config"]["errors"]] + refused
    return {**plan, "config": config_json(tuple(errors))}


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    from ..app.snapshots import snapshot_to_start_from
    from ..reconcile.plan.verify import verify_digests
    from ..store import open_store

    with open_store(args.url, readonly=True) as store:
        check_from(args.start, store.last_seq)
        # A log whose history retention dropped starts from its snapshot.
        snapshot = snapshot_to_start_from(store) if args.start is None else None
        start = snapshot.seq + 1 if snapshot else args.start
        records: list[Record] = list(store.read(start, args.until))
    overrides = overrides_from(args)
    planner = planner_from(args)
    if snapshot is not None:
        planner.controller = snapshot.controller_fold(overrides)
        planner.speakers = snapshot.speaker_fold(speaker_overrides_from(args))
    if args.verify:
        report = verify_digests(
            records,
            overrides,
            speaker_overrides_from(args),
            start=(planner.controller, planner.speakers),
        )
        if report.mismatch is not None:
            out.write(report.describe() + "\n")
            return EXIT_FAILED
        if report.checked == 0:
            raise NotFound(
                f"the log holds no plan digest up to seq {records[-1].seq if records else 0}: "
                "nothing to verify (live controllers and speakers append them every "
                "--digest-interval)"
            )
        out.write(
            f"verified {report.checked} {plural(report.checked, 'plan digest')} up to seq "
            f"{records[-1].seq if records else 0}\n"
        )
        return EXIT_OK
    render_plan(planner.apply_all(records).to_json(), args.output, out)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    from ..reconcile.controller.fold import ControllerFold, Overrides
    from ..reconcile.plan.controller import config_json
    from ..tools.inputs import read_inputs
    from ..tools.planner import outside_namespace
    from ..tools.strict import schema_errors

    origins: list = []
    records = read_inputs(args.inputs, origins=origins)
    fold = ControllerFold(Overrides(namespace=args.namespace)).apply_all(records)
    errors = list(fold.config_errors) + outside_namespace(records, fold.namespace)
    errors += schema_errors(records, origins)  # what the API server would refuse
    report = config_json(tuple(errors))
    if args.output == "json":
        dump_json(report, out)
    elif report["valid"]:
        out.write("configuration is valid\n")
    else:
        for error in sorted(errors):
            out.write(f"{error}\n")
    return EXIT_OK if report["valid"] else EXIT_FAILED


# --- rendering ----------------------------------------------------------------


def render_plan(
    plan: dict[str, Any], output: str, out: TextIO, *, before: dict[str, Any] | None = None
) -> None:
    import yaml

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
    if before is not None:
        changed = sum(1 for k in keys if _service_change(k, plan, before))
        out.write(
            f"\n{changed} {plural(changed, 'service')} would change address or announcer "
            "(+ new, ~ changed, - removed)\n"
        )


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
