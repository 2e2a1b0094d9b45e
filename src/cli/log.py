"""``ironlb log ...``: import manifests into a log, and look at, measure and copy logs."""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

from ..events.record import Record
from ._common import check_from, one_line, plural
from .output import dump_json, json_line, render_table, timestamp

if TYPE_CHECKING:
    from ..store import Store

COPY_BATCH = 1000


def add_parsers(commands: argparse._SubParsersAction) -> None:
    log = commands.add_parser("log", help="import, show, measure and copy event logs")
    sub = log.add_subparsers(dest="log_command", metavar="COMMAND", required=True)

    p = sub.add_parser("import", help="append the objects of manifest files to a log")
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="YAML, JSON, kubectl List output or JSON lines of watch events; - is stdin",
    )
    p.add_argument("--to", required=True, metavar="URL", help="the log to append to")
    p.add_argument(
        "--replace",
        action="store_true",
        help="wrap the import in SYNC markers: objects of the imported kinds that "
        "the files do not contain are deleted",
    )
    p.add_argument(
        "--default-namespace",
        default="default",
        metavar="NS",
        help="namespace for namespaced objects that name none (default: default)",
    )
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser("show", help="print the records of a log")
    p.add_argument("url", metavar="URL")
    p.add_argument("--from", dest="start", type=int, metavar="SEQ", help="first seq (inclusive)")
    p.add_argument("--until", type=int, metavar="SEQ", help="last seq (inclusive)")
    p.add_argument(
        "--kind",
        action="append",
        metavar="K",
        help="only this kind: Kind (Service), or apiVersion/Kind; repeatable",
    )
    p.add_argument(
        "-o",
        "--output",
        choices=("table", "json"),
        default="table",
        help="table for people, json for one event per line (default: table)",
    )
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("stats", help="count events and kinds, bytes and segments of a log")
    p.add_argument("url", metavar="URL")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p.set_defaults(handler=cmd_stats)

    p = sub.add_parser("copy", help="copy a log into an empty log, keeping seqs and snapshot")
    p.add_argument("source", metavar="SRC_URL")
    p.add_argument("destination", metavar="DST_URL")
    p.set_defaults(handler=cmd_copy)


def cmd_import(args: argparse.Namespace, out: TextIO) -> int:
    from ..events.importer import import_files
    from ..events.record import EventType
    from ..store import open_store
    from ..tools.progress import reading
    from ..tools.strict import schema_errors

    origins: list = []
    records = import_files(
        args.files,
        replace=args.replace,
        default_namespace=args.default_namespace,
        origins=origins,
        reading=reading,
    )
    objects = [r for r in records if r.type not in (EventType.SYNC_START, EventType.SYNC_END)]
    for error in schema_errors(objects, origins):  # imported all the same: a log keeps all
        print(f"ironlb: warning: {one_line(str(error))} (the API server would refuse it)",
              file=sys.stderr)  # fmt: skip
    with open_store(args.to) as store:
        seqs = store.append(records)
    if seqs:
        events = plural(len(seqs), "event")
        out.write(f"imported {len(seqs)} {events} into {args.to} (seqs {seqs.start}-{seqs[-1]})\n")
    else:
        out.write(f"nothing to import into {args.to}\n")
    return 0


def _matches(record: Record, kinds: list[str] | None) -> bool:
    if not kinds:
        return True
    name = record.kind.rsplit("/", 1)[-1].lower()
    return any(k == record.kind or k.lower() == name for k in kinds)


def record_to_json(record: Record) -> dict:
    return record.to_json()


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    from ..store import open_store

    with open_store(args.url, readonly=True) as store:
        check_from(args.start, store.last_seq)
        records = (r for r in store.read(args.start, args.until) if _matches(r, args.kind))
        if args.output == "json":
            for record in records:
                out.write(json_line(record_to_json(record)) + "\n")
            return 0
        rows = [
            [
                str(r.seq),
                timestamp(r.observed_at),
                r.source,
                r.type.value,
                r.kind,
                r.key,
                r.resource_version or "",
            ]
            for r in records
        ]
    render_table(["SEQ", "OBSERVED", "SOURCE", "TYPE", "KIND", "KEY", "RV"], rows, out)
    return 0


def cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    from ..store import open_store

    with open_store(args.url, readonly=True) as store:
        stats = store.stats()
        kinds: collections.Counter[str] = collections.Counter()
        types: collections.Counter[str] = collections.Counter()
        for record in store.read():
            kinds[record.kind] += 1
            types[record.type.value] += 1
    summary = {
        "events": sum(kinds.values()),
        "first_seq": stats.first_seq,
        "last_seq": stats.last_seq,
        "bytes": stats.bytes,
        "segments": stats.segments,
        "kinds": dict(sorted(kinds.items())),
        "types": dict(sorted(types.items())),
    }
    if args.output == "json":
        dump_json(summary, out)
        return 0
    seq_range = f"{stats.first_seq}-{stats.last_seq}" if summary["events"] else "empty"
    out.write(f"events:   {summary['events']}\n")
    out.write(f"seqs:     {seq_range}\n")
    out.write(f"bytes:    {stats.bytes if stats.bytes is not None else 'n/a'}\n")
    out.write(f"segments: {stats.segments}\n")
    if kinds:
        out.write("\n")
        render_table(["KIND", "EVENTS"], [[k, str(n)] for k, n in sorted(kinds.items())], out)
    return 0


def _batches(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def copy_log(source: Store, destination: Store) -> int:
    """Copy every record (seqs kept) and the newest snapshot; the destination must be empty."""
    from ..store import StoreError

    if destination.last_seq != 0:
        raise StoreError(
            f"{destination.url} already holds events (up to seq {destination.last_seq}); "
            "copy into an empty log"
        )
    copied = 0
    for batch in _batches(source.read(), COPY_BATCH):
        destination.append_keeping_seqs(batch)
        copied += len(batch)
    snapshot = source.load_snapshot()
    if snapshot is not None and snapshot.seq <= destination.last_seq:
        destination.save_snapshot(snapshot)
    return copied


def cmd_copy(args: argparse.Namespace, out: TextIO) -> int:
    from ..store import open_store

    with open_store(args.source, readonly=True) as source, open_store(args.destination) as dest:
        copied = copy_log(source, dest)
    out.write(
        f"copied {copied} {plural(copied, 'event')} from {args.source} to {args.destination}\n"
    )
    return 0
