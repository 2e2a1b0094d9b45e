"""``ironlb record``: record what ironlb reads from a cluster into a log, for a bug report."""

from __future__ import annotations

import argparse
import queue
import sys
import threading
from typing import TextIO

from ..events.record import Record
from ..store import open_store
from ._common import EXIT_FAILED, EXIT_OK, add_client_options, client_from, plural


def add_parsers(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "record",
        help="record every object ironlb reads from a cluster, then its changes, into a log",
        description="List every resource the controller and the speakers read (Secret values "
        "replaced by keyed hashes), then keep recording their changes until interrupted or "
        "--duration passes. The log replays with `ironlb replay` and attaches to bug reports.",
    )
    p.add_argument("--to", required=True, metavar="URL", help="the log to write")
    add_client_options(p)
    p.add_argument("--namespace", default="metallb-system", metavar="NS")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    p.set_defaults(handler=cmd_record)


def cmd_record(args: argparse.Namespace, out: TextIO) -> int:
    # The watches' modules (the Kubernetes client), only to run: not to build the CLI.
    from ..app.loop import Supervisor, install_signal_handlers, join_within, next_batch
    from ..events.sources.watch import (
        CONFIGMAPS,
        CONTROLLER_RESOURCES,
        SECRETS,
        SPEAKER_RESOURCES,
        WatchSource,
    )

    client = client_from(args)
    stop = threading.Event()
    install_signal_handlers(stop)
    incoming: queue.Queue[Record] = queue.Queue()

    def put(records: list[Record]) -> None:
        for record in records:
            incoming.put(record)

    resources = {
        r: (args.namespace if r.group == "metallb.io" else None)
        for r in (*CONTROLLER_RESOURCES, *SPEAKER_RESOURCES)
    }
    resources[SECRETS] = resources[CONFIGMAPS] = args.namespace
    sources = [
        WatchSource(client, r, put, source="record", stop=stop, namespace=ns)
        for r, ns in resources.items()
    ]
    supervisor = Supervisor(stop)
    threads = [supervisor.watch(s) for s in sources]
    written = 0
    with open_store(args.to) as store:  # a bad --to fails before any watch starts
        for thread in threads:
            thread.start()
        if args.duration is not None:
            threading.Timer(args.duration, stop.set).start()
        while not stop.is_set() or not incoming.empty():
            batch = next_batch(incoming, timeout=0.2)
            if batch:
                store.append(batch)
                written += len(batch)
        join_within(threads)
        last = store.last_seq
    out.write(f"recorded {written} {plural(written, 'event')} into {args.to} (last seq {last})\n")
    supervisor.check()
    unlisted = [s for s in sources if not s.listed]
    if unlisted:
        # Recording nothing of a kind is not a recording: say so, and fail.
        names = ", ".join(s.resource.plural for s in unlisted)
        reason = next((s.last_error for s in unlisted if s.last_error), "no answer")
        print(f"ironlb: error: never listed {names} from the API server: {reason}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
