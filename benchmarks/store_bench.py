"""File-store throughput and streaming memory (issue: foundation).

    python benchmarks/store_bench.py                # append + read figures
    python benchmarks/store_bench.py --stream-gb 1  # also: RSS while reading a 1 GB log

Append: events carrying ~1.5 KB Service objects, batches of 100, per fsync policy.
Read: decoded Records per second from a file log, against the rate at which
msgpack alone unpacks the same record bytes held in memory (the ceiling for any
msgpack-based reader), measured in the same run.
Streaming: a child process reads a large log start to end while its peak RSS is
sampled; flat memory means the reader streams.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import msgpack

from ironlb.events import codec
from ironlb.store.file import FileStore

sys.path.insert(0, os.path.dirname(__file__))
from service_objects import service_records

BATCH = 100


def bench_append(directory: str, policy: str, events: int) -> float:
    records = service_records(BATCH)
    store = FileStore(os.path.join(directory, policy), fsync=policy)
    started = time.perf_counter()
    for _ in range(events // BATCH):
        store.append(records)
    elapsed = time.perf_counter() - started
    store.close()
    return events / elapsed


def bench_read(path: str, trials: int = 5) -> tuple[float, float, int]:
    """Median rates over interleaved trials, so both see the same machine state."""
    store = FileStore(path, readonly=True)
    count = store.last_seq
    payloads = codec.encode_many(service_records(count), first_seq=1)
    unpackb = msgpack.unpackb
    reads, ceilings = [], []
    for _ in range(trials):
        started = time.perf_counter()
        seen = sum(1 for _ in store.read())
        reads.append(seen / (time.perf_counter() - started))
        started = time.perf_counter()
        for payload in payloads:
            unpackb(payload, raw=False, strict_map_key=False)
        ceilings.append(count / (time.perf_counter() - started))
    return statistics.median(reads), statistics.median(ceilings), count


STREAM_READER = """
import sys
from ironlb.store.file import FileStore
count = 0
for record in FileStore(sys.argv[1], readonly=True).read():
    count += 1
print(count)
"""


def bench_stream(directory: str, gigabytes: float) -> None:
    import psutil

    path = os.path.join(directory, "big")
    store = FileStore(path, fsync="never")
    records = service_records(1000)
    target = int(gigabytes * (1 << 30))
    while store.stats().bytes < target:
        store.append(records)
    total = store.stats()
    store.close()
    child = subprocess.Popen([sys.executable, "-c", STREAM_READER, path], stdout=subprocess.PIPE)
    proc = psutil.Process(child.pid)
    samples = []
    while child.poll() is None:
        try:
            samples.append(proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    out = child.stdout.read().decode().strip()
    mib = [s / (1 << 20) for s in samples]
    quarter = len(mib) // 4 or 1
    print(
        f"stream: read {out} events, {total.bytes / (1 << 30):.2f} GiB in {total.segments} "
        f"segments; reader RSS first quarter max {max(mib[:quarter]):.1f} MiB, "
        f"overall max {max(mib):.1f} MiB ({len(mib)} samples)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--stream-gb", type=float, default=0.0)
    args = parser.parse_args()
    size = len(codec.encode(service_records(1)[0]))
    print(f"record size: {size} bytes encoded; batches of {BATCH}")
    directory = tempfile.mkdtemp(prefix="ironlb-bench-", dir=os.environ.get("BENCH_DIR"))
    try:
        for policy in ("interval", "batch", "never"):
            events = args.events if policy != "batch" else min(args.events, 50_000)
            rate = bench_append(directory, policy, events)
            print(f"append fsync={policy:<8} {rate:>10,.0f} events/s ({events:,} events)")
        read_rate, ceiling, count = bench_read(os.path.join(directory, "interval"))
        print(
            f"read (decoded Records)  {read_rate:>10,.0f} events/s ({count:,} events, "
            "median of 5 trials interleaved with the next line)"
        )
        print(
            f"msgpack.unpackb alone   {ceiling:>10,.0f} events/s "
            f"-> read is {read_rate / ceiling:.0%} of the ceiling"
        )
        if args.stream_gb:
            bench_stream(directory, args.stream_gb)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
