"""``ironlb diff``: what changed between two points of a log."""

from __future__ import annotations

import argparse
import functools
from typing import TextIO

from ..events.errors import LbError
from ._common import EXIT_OK, add_fold_options, planner_from, plural, point, seq_at
from .output import dump_json


def add_parsers(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "diff",
        help="what changed in addresses and announcements between two points of a log",
        description="Fold LOG up to --from and up to --to (seqs, inclusive) and print what "
        "changed: Service addresses, layer-2 announcers, BGP routes, pool counters, "
        "configuration validity.",
    )
    p.add_argument("url", metavar="LOG")
    p.add_argument(
        "--from",
        "--since",
        dest="start",
        type=point,
        metavar="SEQ|TIME",
        help="the point to compare from: a seq, an RFC 3339 time or a duration before the "
        "log's end (10m)",
    )
    p.add_argument(
        "--to", "--at", dest="end", type=point, metavar="SEQ|TIME", help="default: the end"
    )
    add_fold_options(p)
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p.set_defaults(handler=cmd_diff)


def cmd_diff(args: argparse.Namespace, out: TextIO) -> int:
    from ..reconcile.plan.diff import describe, diff_plans
    from ..tools import inputs

    if args.start is None:
        raise LbError("give the point to compare from: --from SEQ or --since TIME")
    timeline = functools.cache(lambda: inputs.timeline([args.url]))
    args.start = seq_at(args.start, timeline)
    end = seq_at(args.end, timeline)
    planner = planner_from(args)
    before = None
    last = 0
    for record, _origin in inputs.stream_inputs([args.url]):
        if end is not None and record.seq > end:
            break
        if before is None and record.seq > args.start:
            before = planner.to_json()
        planner.apply(record)
        last = record.seq
    if before is None:  # --from at or past the end: nothing after it
        before = planner.to_json()
    end = end if end is not None else last
    if args.start > end:
        raise LbError(f"--from {args.start} is after --to {end}")
    diff = diff_plans(before, planner.to_json())
    if args.output == "json":
        dump_json({"from": args.start, "to": end, **diff}, out)
        return EXIT_OK
    lines = describe(diff)
    out.write(f"from seq {args.start} to seq {end}: ")
    out.write(f"{len(lines)} {plural(len(lines), 'change')}\n" if lines else "nothing changed\n")
    for line in lines:
        out.write(f"  {line}\n")
    return EXIT_OK
