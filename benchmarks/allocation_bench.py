"""Allocation cost against pool fill, and the controller fold at cluster scale (controller core).

    python benchmarks/allocation_bench.py fill    # /16 pool: cost at 0 vs 60,000 in use
    python benchmarks/allocation_bench.py fold    # 10k Services, 200 pools, 100 namespaces
    python benchmarks/allocation_bench.py huge    # /8 and /64 pools: counters are computed

Each allocation is measured end to end through the fold (a Service record in, the
decision made), with time.perf_counter_ns around ControllerFold.apply.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time

from ironlb.events.record import EventType, Record
from ironlb.reconcile.controller.fold import ControllerFold


def pool(name: str, *addresses: str, **spec: object) -> dict:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": {"addresses": list(addresses), **spec},
    }


def service(name: str, ns: str = "default", i: int = 0, **annotations: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": ns,
            "annotations": annotations,
            "labels": {"app": name},
        },
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": f"10.96.{i // 256 % 256}.{i % 256}",
            "clusterIPs": [f"10.96.{i // 256 % 256}.{i % 256}"],
            "ports": [{"protocol": "TCP", "port": 80}],
            "selector": {"app": name},
        },
    }


class Feeder:
    def __init__(self) -> None:
        self.fold = ControllerFold()
        self.seq = 0

    def apply(self, kind: str, key: str, obj: dict, event: EventType = EventType.ADDED) -> int:
        self.seq += 1
        record = Record(self.seq, 0.0, "bench", event, kind, key, None, obj)
        started = time.perf_counter_ns()
        self.fold.apply(record)
        return time.perf_counter_ns() - started


def bench_fill() -> None:
    feeder = Feeder()
    feeder.apply(
        "metallb.io/v1beta1/IPAddressPool", "metallb-system/big", pool("big", "10.20.0.0/16")
    )
    levels: dict[int, list[int]] = {0: [], 60_000: []}
    count = 0
    for target in sorted(levels):
        while count < target:  # fill up to the level, unmeasured
            feeder.apply("v1/Service", f"default/fill-{count}", service(f"fill-{count}", i=count))
            count += 1
        for j in range(1000):  # measured allocations at this level, removed again after
            name = f"probe-{target}-{j}"
            levels[target].append(feeder.apply("v1/Service", f"default/{name}", service(name, i=j)))
        for j in range(1000):
            name = f"probe-{target}-{j}"
            feeder.apply("v1/Service", f"default/{name}", service(name, i=j), EventType.DELETED)
    low, high = (statistics.median(levels[k]) / 1000 for k in sorted(levels))
    in_use = feeder.fold.index.used("big", 4)
    print(
        f"/16 pool: median allocation {low:.1f} us at 0 in use, {high:.1f} us at 60,000 in use "
        f"(ratio {high / low:.2f}; {in_use} addresses in use at the end)"
    )


def bench_huge() -> None:
    feeder = Feeder()
    started = time.perf_counter()
    feeder.apply(
        "metallb.io/v1beta1/IPAddressPool",
        "metallb-system/v4",
        pool("v4", "10.0.0.0/8", avoidBuggyIPs=True),
    )
    feeder.apply(
        "metallb.io/v1beta1/IPAddressPool", "metallb-system/v6", pool("v6", "2001:db8::/64")
    )
    for i in range(1000):
        feeder.apply("v1/Service", f"default/s{i}", service(f"s{i}", i=i))
    plan = feeder.fold.plan()
    elapsed = time.perf_counter() - started
    print(
        f"/8 + /64 pools, 1,000 allocations, plan: {elapsed * 1000:.0f} ms; counters "
        f"v4 {plan.pools['v4'].to_json()} v6 available {plan.pools['v6'].available_v6}"
    )


def bench_fold(
    services: int = 10_000, pools: int = 200, namespaces: int = 100, changes: int = 50_000
) -> None:
    rng = random.Random(7)
    feeder = Feeder()
    pool_cost, ns_cost, svc_cost = [], [], []
    started = time.perf_counter()
    for n in range(namespaces):
        ns_cost.append(
            feeder.apply(
                "v1/Namespace",
                f"ns{n}",
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": f"ns{n}", "labels": {"team": f"t{n % 10}"}},
                },
            )
        )
    for p in range(pools):
        spec = {}
        if p % 4 == 0:
            spec = {
                "serviceAllocation": {
                    "priority": p % 7 + 1,
                    "namespaceSelectors": [{"matchLabels": {"team": f"t{p % 10}"}}],
                }
            }
        pool_cost.append(
            feeder.apply(
                "metallb.io/v1beta1/IPAddressPool",
                f"metallb-system/pool{p}",
                pool(f"pool{p}", f"10.{p // 256}.{p % 256}.0/24", **spec),
            )
        )
    names = [(f"ns{rng.randrange(namespaces)}", f"svc{i}") for i in range(services)]
    for i, (ns, name) in enumerate(names):
        svc_cost.append(feeder.apply("v1/Service", f"{ns}/{name}", service(name, ns, i)))
    initial = time.perf_counter() - started
    for c in range(changes):
        roll = rng.random()
        if roll < 0.996:
            i = rng.randrange(services)
            ns, name = names[i]
            obj = service(name, ns, i)
            obj["metadata"]["labels"]["rev"] = str(c)
            if rng.random() < 0.3:
                obj["status"] = {
                    "loadBalancer": {
                        "ingress": [{"ip": ip} for ip in feeder.fold.decisions[f"{ns}/{name}"].ips]
                    }
                }
            svc_cost.append(feeder.apply("v1/Service", f"{ns}/{name}", obj, EventType.MODIFIED))
        elif roll < 0.998:
            p = rng.randrange(pools)
            pool_cost.append(
                feeder.apply(
                    "metallb.io/v1beta1/IPAddressPool",
                    f"metallb-system/pool{p}",
                    pool(f"pool{p}", f"10.{p // 256}.{p % 256}.0/24", avoidBuggyIPs=bool(c % 2)),
                    EventType.MODIFIED,
                )
            )
        else:
            n = rng.randrange(namespaces)
            ns_cost.append(
                feeder.apply(
                    "v1/Namespace",
                    f"ns{n}",
                    {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {"name": f"ns{n}", "labels": {"team": f"t{c % 10}"}},
                    },
                    EventType.MODIFIED,
                )
            )
    total = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def p(values: list[int], q: float) -> float:
        return sorted(values)[int(len(values) * q) - 1] / 1e6

    folding = (sum(svc_cost) + sum(pool_cost) + sum(ns_cost)) / 1e9
    print(
        f"fold: {services:,} Services, {pools} pools, {namespaces} namespaces, "
        f"{changes:,} changes: wall {total:.2f} s (initial list {initial:.2f} s), of which "
        f"inside ControllerFold.apply {folding:.2f} s (the rest builds the benchmark's "
        f"objects); peak RSS {rss:.0f} MB"
    )
    print(
        f"  Service events: n={len(svc_cost):,} p50 {p(svc_cost, 0.5):.3f} ms "
        f"p99 {p(svc_cost, 0.99):.3f} ms max {max(svc_cost) / 1e6:.2f} ms, "
        f"total {sum(svc_cost) / 1e9:.2f} s"
    )
    print(
        f"  pool events: n={len(pool_cost)} p50 {p(pool_cost, 0.5):.2f} ms "
        f"p99 {p(pool_cost, 0.99):.2f} ms max {max(pool_cost) / 1e6:.1f} ms, "
        f"total {sum(pool_cost) / 1e9:.2f} s"
    )
    print(
        f"  namespace events: n={len(ns_cost)} p50 {p(ns_cost, 0.5):.2f} ms "
        f"p99 {p(ns_cost, 0.99):.2f} ms max {max(ns_cost) / 1e6:.1f} ms, "
        f"total {sum(ns_cost) / 1e9:.2f} s"
    )
    held = sum(1 for d in feeder.fold.decisions.values() if d.addresses)
    print(f"  {held:,} Services hold addresses at the end")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "which", nargs="*", choices=("fill", "fold", "huge"), default=["fill", "huge", "fold"]
    )
    args = parser.parse_args()
    for which in args.which:
        {"fill": bench_fill, "fold": bench_fold, "huge": bench_huge}[which]()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
