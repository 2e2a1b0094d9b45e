"""``ironlb explain``: why a Service has its addresses and its announcer, and since when."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Iterator
from typing import TextIO

from ..events.errors import LbError
from ..events.record import Record
from ._common import EXIT_OK, NotFound, add_fold_options, planner_from, point, seq_at
from .output import dump_json


def add_parsers(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "explain",
        help="why a Service has its addresses and announcer, and the history of both",
        description="Fold LOG (up to --at) and explain SERVICE (namespace/name): the rule "
        "that chose its addresses, every node's part in its layer-2 election, the BGP "
        "routes, and each record after which its addresses or announcer changed.",
    )
    p.add_argument("url", metavar="LOG")
    p.add_argument("service", metavar="NAMESPACE/NAME")
    p.add_argument(
        "--at",
        type=point,
        metavar="SEQ|TIME",
        help="explain as of this point (inclusive): a seq, an RFC 3339 time or a duration "
        "before the log's end (10m)",
    )
    add_fold_options(p)
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.set_defaults(handler=cmd_explain)


def cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    from ..tools import inputs
    from ..tools.explain import explain

    if "/" not in args.service:
        raise LbError(f"{args.service!r}: name the Service as namespace/name")
    timeline = functools.cache(lambda: inputs.timeline([args.url]))
    args.at = seq_at(args.at, timeline)
    seen = False  # a record of the Service was folded

    def records() -> Iterator[Record]:
        nonlocal seen
        for record, _origin in inputs.stream_inputs([args.url]):
            if args.at is not None and record.seq > args.at:
                return
            seen = seen or (record.key == args.service and record.kind.endswith("/Service"))
            yield record

    planner = planner_from(args)
    report = explain(records(), args.service, planner.controller, planner.speakers, node=args.node)
    if not seen:
        raise NotFound(f"no Service {args.service} in {args.url}" + _at(args.at))
    if args.node is not None and args.node not in planner.speakers.node_names():
        raise NotFound(f"no node {args.node} in {args.url}" + _at(args.at))
    if args.output == "json":
        dump_json(report, out)
    else:
        render_explanation(report, out)
    return EXIT_OK


def _at(seq: int | None) -> str:
    return f" up to seq {seq}" if seq is not None else ""


def render_explanation(report: dict, out: TextIO) -> None:
    out.write(f"{report['service']} at seq {report['at']}\n")
    addresses = report["addresses"]
    if addresses is None:
        out.write("  not a LoadBalancer Service of the class served (or not in the log)\n")
    elif addresses["ips"]:
        out.write(f"  addresses {', '.join(addresses['ips'])} from pool {addresses['pool']}\n")
        out.write(f"  because: {addresses['rule']}\n")
    else:
        out.write(f"  no address: {addresses['error']}\n")
    for ip, entry in report["layer2"].items():
        who = entry["node"] if entry["reason"] is None else f"nobody ({entry['reason']})"
        out.write(f"  layer 2 {ip}: announced by {who}\n")
        for rank, candidate in enumerate(entry["candidates"], start=1):
            if candidate["eligible"]:
                out.write(f"    {rank}. {candidate['node']}\n")
            else:
                out.write(f"    -  {candidate['node']}: {candidate['why_not']}\n")
    for node, entry in report["bgp"].items():
        if "not_announced" in entry:
            out.write(f"  bgp from {node}: not announced ({entry['not_announced']})\n")
        else:
            out.write(
                f"  bgp from {node}: {', '.join(entry['prefixes'])} to "
                f"{', '.join(entry['peers'])}\n"
            )
            for peer, session in entry.get("sessions", {}).items():
                out.write(
                    f"    session {peer}: {session['state']} since seq {session['seq']} "
                    f"({session['reason']})\n"
                )
    for peer, conditions in report["bgp_conditions"].items():
        for condition in conditions:
            out.write(f"  bgp to {peer}: {condition}\n")
    for conflict in report["conflicts"]:
        out.write(
            f"  conflict at seq {conflict['seq']}: {conflict['ip']} claimed by "
            f"{conflict['mac']} on {conflict['node']}/{conflict['interface']} "
            f"({conflict['how']})\n"
        )
    out.write("  history:\n")
    for entry in report["history"]:
        out.write(f"    seq {entry['seq']}: {entry['change']}  <- {entry['cause']}\n")
