"""Redis-store throughput beside the file store's, with redis-benchmark for scale.

    python benchmarks/redis_bench.py                 # needs redis-server and redis-benchmark

A redis-server is started on a free port per fsync policy (``appendfsync
everysec`` and ``always``, append-only file on). Append: events carrying ~1.5 KB
Service objects in batches of 500 (one Lua script call per batch). Read: decoded
Records per second through ``read()``; follow: through ``follow()`` from seq 1.
redis-benchmark then runs XADD of a 1.5 KB value, pipelined 16 deep, on the same
server: the ceiling of what Redis itself takes on this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

from ironlb.store.file import FileStore
from ironlb.store.redis import RedisStore

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from service_objects import service_records
from tests.redis_server import RedisServer

BATCH = 500
EVENTS = 100_000


def append_rate(store, records) -> float:
    started = time.perf_counter()
    for _ in range(EVENTS // BATCH):
        store.append(records)
    return EVENTS / (time.perf_counter() - started)


def read_rate(store) -> tuple[float, float]:
    started = time.perf_counter()
    count = sum(1 for _ in store.read())
    read = count / (time.perf_counter() - started)
    last = store.last_seq
    started = time.perf_counter()
    followed = 0
    for record in store.follow(1, idle_timeout=0):
        followed += 1
        if record.seq == last:
            break
    return read, followed / (time.perf_counter() - started)


def redis_benchmark(port: int) -> str:
    result = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(port),
            "-n",
            "100000",
            "-P",
            "16",
            "-q",
            "XADD",
            "rb",
            "*",
            "r",
            "x" * 1500,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    return line.rsplit(": ", 1)[-1]  # the command echo holds the whole 1.5 KB value


def main() -> None:
    if shutil.which("redis-server") is None:
        raise SystemExit("needs redis-server (apt install redis-server)")
    records = service_records(BATCH)
    for policy in ("everysec", "always"):
        server = RedisServer(fsync=policy)
        try:
            with RedisStore(f"{server.url}?key=bench") as store:
                appended = append_rate(store, records)
                read, followed = read_rate(store)
            print(
                f"redis appendfsync {policy}: append {appended:,.0f} events/s, "
                f"read {read:,.0f}/s, follow {followed:,.0f}/s"
            )
            if shutil.which("redis-benchmark"):
                print(f"  redis-benchmark XADD 1.5 KB, pipeline 16: {redis_benchmark(server.port)}")
        finally:
            server.stop()
    directory = tempfile.mkdtemp(prefix="ironlb-bench-")
    try:
        with FileStore(os.path.join(directory, "log"), fsync="interval") as store:
            appended = append_rate(store, records)
            read, followed = read_rate(store)
        print(
            f"file store fsync=interval: append {appended:,.0f} events/s, "
            f"read {read:,.0f}/s, follow {followed:,.0f}/s"
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
