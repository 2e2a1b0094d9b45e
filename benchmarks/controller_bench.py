"""``ironlb controller`` against the test API server (tests/apiserver.py), not a real cluster.

    python benchmarks/controller_bench.py [--services 10000] [--pools 200]

* cold: the Services and pools exist before the controller starts; time until every
  Service has its status;
* burst: as many Services created at once while it runs (raised QPS, and the
  default QPS); time from the first create to the last status;
* single: create-to-status latency of one Service at a time (median of 30);
* the controller's peak RSS.

The test API server is Python in this process, so it shares the machine's two
cores with the controller; the figures are an upper bound on what a real API
server would allow.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.apiserver import ApiServer

NS = "metallb-system"


def service(i: int, prefix: str) -> dict:
    ip = f"10.96.{i // 256 % 256}.{i % 256}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{prefix}{i}"},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ports": [{"protocol": "TCP", "port": 80}],
        },
    }


def pools(server: ApiServer, count: int) -> None:
    for p in range(count):
        server.create(
            "ipaddresspools",
            NS,
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": f"pool{p}"},
                "spec": {"addresses": [f"10.{100 + p // 256}.{p % 256}.0/24"]},
            },
        )


def has_status(obj: dict | None) -> bool:
    return bool(((obj or {}).get("status") or {}).get("loadBalancer", {}).get("ingress"))


def with_status(server: ApiServer, prefix: str) -> int:
    return sum(
        1
        for (_ns, name), o in server.state.objects["services"].items()
        if name.startswith(prefix) and has_status(o)
    )


def wait(server: ApiServer, prefix: str, count: int, timeout: float = 900) -> float:
    """Until ``count`` Services named ``prefix...`` have a status.

    Counting scans every Service under the server's lock, so it runs at most every
    50 ms: scanning on every change notification would hold the lock the API
    server's handlers need, and measure the benchmark instead of the controller.
    """
    started = time.perf_counter()
    deadline = started + timeout
    while with_status(server, prefix) < count:
        if time.perf_counter() > deadline:
            raise SystemExit(f"only {with_status(server, prefix)} of {count} in {timeout}s")
        time.sleep(0.05)
    return time.perf_counter() - started


def wait_one(server: ApiServer, name: str, timeout: float = 60) -> None:
    """Until Service ``name`` has a status: one lookup per change, exact timing."""
    key = ("default", name)
    with server.state.lock:
        ok = server.state.lock.wait_for(
            lambda: has_status(server.state.objects["services"].get(key)), timeout
        )
    if not ok:
        raise SystemExit(f"{name} got no status in {timeout}s")


def start(server: ApiServer, store: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ironlb",
            "controller",
            "--api-server",
            server.url,
            "--store",
            store,
            "--lease-interval",
            "0.2",
            "--lease-duration",
            "2",
            *extra,
        ]
    )


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--pools", type=int, default=200)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="ironlb-ctl-bench-")
    server = ApiServer(bookmark_every=1.0)
    pools(server, args.pools)
    for i in range(args.services):
        server.create("services", "default", service(i, "cold"))
    began = time.perf_counter()
    controller = start(server, f"{tmp}/a", "--qps", "5000", "--burst", "5000")
    wait(server, "cold", args.services)
    print(
        f"cold: {args.services:,} Services, {args.pools} pools: all statuses "
        f"{time.perf_counter() - began:.1f} s after the controller started"
    )

    began = time.perf_counter()
    for i in range(args.services):
        server.create("services", "default", service(i, "burst"))
    wait(server, "burst", args.services)
    print(
        f"burst (--qps 5000): {args.services:,} Services, first create to last status "
        f"{time.perf_counter() - began:.1f} s"
    )

    latencies = []
    for i in range(30):
        began = time.perf_counter()
        server.create("services", "default", service(i, f"single{i}-"))
        wait_one(server, f"single{i}-{i}")
        latencies.append(time.perf_counter() - began)
    print(
        f"single Service create-to-status: median {statistics.median(latencies) * 1000:.0f} ms,"
        f" max {max(latencies) * 1000:.0f} ms"
    )
    print(f"controller peak RSS {peak_rss_mb(controller.pid):.0f} MB")
    controller.terminate()
    controller.wait(timeout=60)

    quiet = ApiServer(bookmark_every=1.0)
    pools(quiet, 10)
    default = start(quiet, f"{tmp}/b")
    began = time.perf_counter()
    burst = min(args.services, 2000)
    for i in range(burst):
        quiet.create("services", "default", service(i, "dq"))
    wait(quiet, "dq", burst)
    print(
        f"burst at the default --qps 20: {burst:,} Services, first create to last status "
        f"{time.perf_counter() - began:.1f} s"
    )
    default.terminate()
    default.wait(timeout=60)
    server.stop()
    quiet.stop()


if __name__ == "__main__":
    main()
