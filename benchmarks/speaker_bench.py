"""The speaker fold at cluster scale (speaker core).

    python benchmarks/speaker_bench.py              # 5,000 nodes, 10,000 Services, 50,000 endpoints
    python benchmarks/speaker_bench.py --nodes 500  # smaller, for a quick look

Half the Services are announced in layer 2 (one L2Advertisement over every node:
the worst case for elections, 5,000 candidates each), half over BGP (a peer per
rack of 100 nodes); a fifth use externalTrafficPolicy Local. The fold runs as a
speaker process does (``SpeakerFold(node=...)``): the cold fold is every record
applied and the derived state refreshed; an EndpointSlice change is one record
applied and ``refresh()`` (what a live speaker does per event); the node plan is
what digests and ``plan --node`` assemble.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import time

from ironlb.events.record import EventType, Record
from ironlb.reconcile.speaker.fold import SpeakerFold

NS = "metallb-system"


def metallb(kind: str, name: str, spec: dict) -> dict:
    version = "v1beta2" if kind == "BGPPeer" else "v1beta1"
    return {
        "apiVersion": f"metallb.io/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def node(i: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": f"node-{i:05d}", "labels": {"rack": f"r{i // 100}"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def service(i: int, local: bool) -> dict:
    pool_octet = 0 if i % 2 == 0 else 128  # even: layer 2 pool, odd: BGP pool
    ip = f"10.{pool_octet + i // 65536 % 128}.{i // 256 % 256}.{i % 256}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"svc-{i}", "namespace": "default", "labels": {"app": f"a{i}"}},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.0.1",
            "clusterIPs": ["10.96.0.1"],
            "ports": [{"protocol": "TCP", "port": 80}],
            "externalTrafficPolicy": "Local" if local else "Cluster",
        },
        "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
    }


def endpoint_slice(i: int, nodes: list[str], revision: int = 0) -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"svc-{i}-abcde",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": f"svc-{i}"},
            "annotations": {"revision": str(revision)},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [f"10.244.{k}.{i % 250}"], "nodeName": n, "conditions": {"ready": True}}
            for k, n in enumerate(nodes)
        ],
    }


class Feeder:
    def __init__(self, fold: SpeakerFold) -> None:
        self.fold = fold
        self.seq = 0

    def record(self, obj: dict, event: EventType = EventType.ADDED) -> Record:
        self.seq += 1
        namespace = obj["metadata"].get("namespace")
        name = obj["metadata"]["name"]
        key = f"{namespace}/{name}" if namespace else name
        return Record(
            self.seq, 0.0, "bench", event, f"{obj['apiVersion']}/{obj['kind']}", key, None, obj
        )


def initial_list(feeder: Feeder, objects: list[dict]) -> list[Record]:
    """Each kind between SYNC markers, as the watch source records a list."""
    kinds: dict[str, list[dict]] = {}
    for obj in objects:
        kinds.setdefault(f"{obj['apiVersion']}/{obj['kind']}", []).append(obj)
    records = []
    for kind, items in kinds.items():
        feeder.seq += 1
        records.append(Record(feeder.seq, 0.0, "bench", EventType.SYNC_START, kind, "", None, {}))
        records += [feeder.record(obj) for obj in items]
        feeder.seq += 1
        records.append(Record(feeder.seq, 0.0, "bench", EventType.SYNC_END, kind, "", None, {}))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--endpoints-per-service", type=int, default=5)
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument(
        "--write-log",
        metavar="DIR",
        help="write the cluster's records to a new file store and stop (to run a standalone "
        "speaker process on it: benchmarks/process_memory.py)",
    )
    args = parser.parse_args()
    rng = random.Random(11)
    node_names = [f"node-{i:05d}" for i in range(args.nodes)]
    me = node_names[1]
    fold = SpeakerFold(node=me)
    feeder = Feeder(fold)

    objects: list[dict] = [node(i) for i in range(args.nodes)]
    objects += [
        metallb("IPAddressPool", "l2", {"addresses": ["10.0.0.0/9"]}),
        metallb("IPAddressPool", "bgp", {"addresses": ["10.128.0.0/9"]}),
        metallb("L2Advertisement", "l2", {"ipAddressPools": ["l2"]}),
        metallb("BGPAdvertisement", "bgp", {"ipAddressPools": ["bgp"]}),
    ]
    racks = (args.nodes + 99) // 100
    objects += [
        metallb(
            "BGPPeer",
            f"tor-r{r}",
            {
                "myASN": 64512,
                "peerASN": 65000,
                "peerAddress": f"172.16.{r // 256}.{r % 256}",
                "nodeSelectors": [{"matchLabels": {"rack": f"r{r}"}}],
            },
        )
        for r in range(racks)
    ]
    homes = {}
    for i in range(args.services):
        objects.append(service(i, local=i % 5 == 0))
        homes[i] = rng.sample(node_names, args.endpoints_per_service)
        objects.append(endpoint_slice(i, homes[i]))
    records = initial_list(feeder, objects)
    if args.write_log:
        from ironlb.store import open_store

        with open_store(args.write_log) as store:
            store.append(records)
        print(f"{args.write_log}: {len(records)} records")
        return

    started = time.perf_counter()
    fold.apply_all(records)
    fold.refresh()
    cold = time.perf_counter() - started
    started = time.perf_counter()
    plan = fold.node_plan(me)
    plan_time = time.perf_counter() - started
    l2_count = sum(1 for by_ip in fold.l2().values() for a in by_ip.values() if a.announced)

    costs = []
    for c in range(args.changes):
        i = rng.randrange(args.services)
        homes[i] = rng.sample(node_names, args.endpoints_per_service)
        record = feeder.record(endpoint_slice(i, homes[i], c), EventType.MODIFIED)
        began = time.perf_counter_ns()
        fold.apply(record)
        fold.refresh()
        costs.append(time.perf_counter_ns() - began)

    dead = []
    for name in rng.sample(node_names, 20):
        gone = node(int(name.split("-")[1]))
        gone["status"]["conditions"].append({"type": "NetworkUnavailable", "status": "True"})
        began = time.perf_counter_ns()
        fold.apply(feeder.record(gone, EventType.MODIFIED))
        fold.refresh()
        dead.append(time.perf_counter_ns() - began)

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    costs.sort()
    dead.sort()
    print(
        f"speaker fold: {args.nodes:,} nodes, {args.services:,} Services, "
        f"{args.services * args.endpoints_per_service:,} endpoints ({len(records):,} records)"
    )
    print(f"  cold fold (apply + refresh): {cold:.2f} s; {l2_count:,} layer-2 addresses elected")
    print(
        f"  node plan for {me}: {plan_time * 1000:.0f} ms "
        f"({sum(len(r) for r in plan.bgp.values())} BGP routes, "
        f"{len(plan.l2)} layer-2 Services)"
    )
    print(
        f"  EndpointSlice change (apply + refresh), n={len(costs)}: "
        f"p50 {statistics.median(costs) / 1e6:.3f} ms, "
        f"p99 {costs[int(len(costs) * 0.99) - 1] / 1e6:.3f} ms, max {costs[-1] / 1e6:.2f} ms"
    )
    print(
        f"  node becomes NetworkUnavailable, n={len(dead)}: "
        f"p50 {statistics.median(dead) / 1e6:.1f} ms, max {dead[-1] / 1e6:.1f} ms"
    )
    print(f"  peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
