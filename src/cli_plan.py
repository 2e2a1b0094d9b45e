"""``ironlb plan``, ``validate`` and ``replay``: the reconciler's answers, from files or logs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, TextIO

import yaml

from .events.record import Record, split_kind
from .inputs import default_inputs, read_inputs
from .output import dump_json, paint, render_table, use_colour
from .reconcile.config import CONFIG_KINDS, ConfigError
from .reconcile.controller import ControllerFold, Overrides
from .reconcile.plan import config_json
from .reconcile.plan_diff import announcers
from .reconcile.speaker import SpeakerFold, SpeakerOverrides
from .reconcile.verify import verify_digests
from .snapshots import snapshot_to_start_from
from .store import open_store

EXIT_OK, EXIT_INVALID = 0, 1


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


def add_fold_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--node",
        metavar="NAME",
        help="limit the l2 and bgp sections to what this node announces",
    )
    p.add_argument(
        "--speakers",
        metavar="NODE,...",
        help="the nodes that run a live speaker (default: membership records in the "
        "input, else every Node)",
    )
    p.add_argument(
        "--ignore-exclude-lb",
        action="store_true",
        default=None,
        help="let nodes labelled node.kubernetes.io/exclude-from-external-load-balancers "
        "announce (default: as recorded)",
    )
    p.add_argument(
        "--lb-class",
        metavar="CLASS",
        help="serve Services of this loadBalancerClass (default: as recorded; "
        "Services without a class)",
    )
    p.add_argument(
        "--namespace",
        metavar="NS",
        help="read configuration from this namespace (default: as recorded, else metallb-system)",
    )


def overrides_from(args: argparse.Namespace) -> Overrides:
    if args.lb_class is not None:
        return Overrides(namespace=args.namespace, load_balancer_class=args.lb_class or None)
    return Overrides(namespace=args.namespace)


def speaker_overrides_from(args: argparse.Namespace) -> SpeakerOverrides:
    speakers = None
    if args.speakers is not None:
        speakers = frozenset(n.strip() for n in args.speakers.split(",") if n.strip())
    extra: dict[str, Any] = {}
    if args.lb_class is not None:
        extra["load_balancer_class"] = args.lb_class or None
    return SpeakerOverrides(
        namespace=args.namespace,
        ignore_exclude_lb=args.ignore_exclude_lb,
        speakers=speakers,
        **extra,
    )


class Planner:
    """The controller and the speakers folded side by side, as ``plan`` shows them.

    The speakers' part is computed as the speakers will compute it once the
    controller's planned statuses are written (DESIGN.md).
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.controller = ControllerFold(overrides_from(args))
        self.speakers = SpeakerFold(speaker_overrides_from(args))
        self.node: str | None = args.node

    def apply_all(self, records: Sequence[Record]) -> Planner:
        self.controller.apply_all(records)
        self.speakers.apply_all(records)
        return self

    def to_json(self) -> dict[str, Any]:
        controller = self.controller.plan()
        self.speakers.assume_statuses({k: s.ips for k, s in controller.services.items()})
        nodes = [self.node] if self.node is not None else None
        return {**controller.to_json(), **self.speakers.plan(nodes).to_json()}


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    base = read_inputs(args.inputs or default_inputs())
    planner = Planner(args).apply_all(base)
    before = planner.to_json() if args.extra else None
    if args.extra:
        planner.apply_all(read_inputs(args.extra, start_seq=len(base) + 1))
    render_plan(planner.to_json(), args.output, out, before=before)
    return EXIT_OK


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    with open_store(args.url, readonly=True) as store:
        # A log whose history retention dropped starts from its snapshot.
        snapshot = snapshot_to_start_from(store) if args.start is None else None
        start = snapshot.seq + 1 if snapshot else args.start
        records: list[Record] = list(store.read(start, args.until))
    overrides = overrides_from(args)
    planner = Planner(args)
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
            return EXIT_INVALID
        out.write(
            f"verified {report.checked} plan digests up to seq "
            f"{records[-1].seq if records else 0}\n"
        )
        return EXIT_OK
    render_plan(planner.apply_all(records).to_json(), args.output, out)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    records = read_inputs(args.inputs)
    fold = ControllerFold(Overrides(namespace=args.namespace)).apply_all(records)
    errors = list(fold.config.errors) + outside_namespace(records, fold.settings.namespace)
    report = config_json(tuple(errors))
    if args.output == "json":
        dump_json(report, out)
    elif report["valid"]:
        out.write("configuration is valid\n")
    else:
        for error in report["errors"]:
            field = f" {error['field']}:" if error["field"] else ""
            out.write(f"{error['object']}:{field} {error['message']}\n")
    return EXIT_OK if report["valid"] else EXIT_INVALID


def outside_namespace(records: Sequence[Record], namespace: str) -> list[ConfigError]:
    """metallb.io objects ironlb would never read: MetalLB's webhooks reject them too."""
    errors, seen = [], set()
    for record in records:
        group, _version, kind = split_kind(record.kind)
        if group != "metallb.io" or kind not in CONFIG_KINDS or (kind, record.key) in seen:
            continue
        seen.add((kind, record.key))
        object_namespace, _, name = record.key.rpartition("/")
        if object_namespace != namespace:
            errors.append(
                ConfigError(
                    f"{kind}/{object_namespace}/{name}",
                    "metadata.namespace",
                    f"resource must be created in {namespace} namespace",
                )
            )
    return errors


# --- rendering ----------------------------------------------------------------


def render_plan(
    plan: dict[str, Any], output: str, out: TextIO, *, before: dict[str, Any] | None = None
) -> None:
    if output == "json":
        dump_json(plan, out)
    elif output == "yaml":
        yaml.safe_dump(plan, out, sort_keys=True, default_flow_style=False)
    else:
        render_table_plan(plan, out, before=before)


def _service_change(key: str, plan: dict, before: dict | None) -> str:
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
                f"configuration has {len(config['errors'])} error(s); the last valid "
                "pools stay in force:",
                "red",
                colour,
            )
            + "\n"
        )
        for error in config["errors"]:
            out.write(f"  {error['object']}: {error['field']}: {error['message']}\n")
    if before is not None:
        changed = sum(1 for k in keys if _service_change(k, plan, before))
        out.write(
            f"\n{changed} service(s) would change address or announcer "
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
