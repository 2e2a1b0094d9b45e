"""``ironlb replay``: the plan at a point of a log, or the proof (``--verify``) that
the log replays to the decisions it recorded."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Iterable, Iterator
from typing import TextIO

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
    point,
    seq_at,
    speaker_overrides_from,
)
from .render import render_plan


def add_parsers(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "replay", help="print the plan at a point of a log, or verify its recorded digests"
    )
    p.add_argument("url", metavar="LOG_URL")
    p.add_argument(
        "--from",
        "--since",
        dest="start",
        type=point,
        metavar="SEQ|TIME",
        help="fold only records from this point on (inclusive): a seq, an RFC 3339 time "
        "or a duration before the log's end (10m)",
    )
    p.add_argument(
        "--until",
        "--at",
        dest="until",
        type=point,
        metavar="SEQ|TIME",
        help="stop at this point (inclusive): a seq, a time or a duration",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="recompute every plan-digest record and fail at the first that differs",
    )
    add_fold_options(p)
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.set_defaults(handler=cmd_replay)


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    from ..app.snapshots import snapshot_to_start_from
    from ..reconcile.plan.verify import verify_digests
    from ..store import open_store
    from ..tools.progress import progress

    with open_store(args.url, readonly=True) as store:
        # Times resolve through the records' observed times (one pass, only for them).
        timeline = functools.cache(lambda: [(r.seq, r.observed_at) for r in store.read()])
        first, until = seq_at(args.start, timeline), seq_at(args.until, timeline)
        check_from(first, store.last_seq)
        # A log whose history retention dropped starts from its snapshot.
        snapshot = snapshot_to_start_from(store) if first is None else None
        start = snapshot.seq + 1 if snapshot else first
        last = store.last_seq if until is None else min(until, store.last_seq)
        total = last - (start if start is not None else store.first_seq) + 1
        folded = Folded(progress(store.read(start, until), total=max(total, 0), what=args.url))
        overrides = overrides_from(args)
        planner = planner_from(args)
        if snapshot is not None:
            planner.controller = snapshot.controller_fold(overrides)
            planner.speakers = snapshot.speaker_fold(speaker_overrides_from(args))
        if args.verify:
            report = verify_digests(
                folded,
                overrides,
                speaker_overrides_from(args),
                start=(planner.controller, planner.speakers),
            )
            if report.mismatch is not None:
                out.write(report.describe() + "\n")
                return EXIT_FAILED
            if report.checked == 0:
                raise NotFound(
                    f"the log holds no plan digest up to seq {folded.last_seq}: nothing to "
                    "verify (live controllers and speakers append them every "
                    "--digest-interval)"
                )
            out.write(
                f"verified {report.checked} {plural(report.checked, 'plan digest')} up to seq "
                f"{folded.last_seq}\n"
            )
            return EXIT_OK
        planner.apply_all(folded)
    render_plan(planner.to_json(), args.output, out)
    return EXIT_OK


class Folded:
    """The records a command folds, passed through one at a time, noting the last seq."""

    def __init__(self, records: Iterable[Record]) -> None:
        self._records = records
        self.last_seq = 0

    def __iter__(self) -> Iterator[Record]:
        for record in self._records:
            self.last_seq = record.seq
            yield record
