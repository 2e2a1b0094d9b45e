"""Big inputs for the offline tools: a cluster's log of 100,000 events and a 14 MB List.

    python benchmarks/big_inputs.py log DIR [--services 20000] [--nodes 50]
    python benchmarks/big_inputs.py list FILE [--services 20000]

The log is what ``ironlb record`` would hold after a busy day of a cluster with
20,000 LoadBalancer Services on 50 nodes: the configuration (pools for layer 2 and
BGP, peers, advertisements), Namespaces, Nodes, every Service and its
EndpointSlice, then the churn a cluster makes (the controller's status writes
seen back, pods moving between nodes, Services edited, nodes relabelled). The List
is ``kubectl get svc,endpointslices -A -o yaml`` of the same cluster: 40,000
objects. Both are deterministic (no randomness), so runs compare.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from typing import Any

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from benchmarks.service_objects import service as full_service

from ironlb.events.record import EventType, Record

NAMESPACES = 20
POOLS = 20  # a /20 each: 81,920 addresses for 20,000 Services
EPOCH = 1_790_000_000.0
SYSTEM = "metallb-system"


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **extra}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def configuration(nodes: int) -> list[dict[str, Any]]:
    """Pools (even: layer 2, odd: BGP), two peers, one advertisement of each kind."""
    objects: list[dict[str, Any]] = []
    for p in range(POOLS):
        objects.append({
            "apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
            "metadata": _meta(f"pool-{p}", SYSTEM, labels={"mode": "l2" if p % 2 == 0 else "bgp"}),
            "spec": {"addresses": [f"10.{64 + p // 16}.{(p % 16) * 16}.0/20"]},
        })  # fmt: skip
    for mode, kind in (("l2", "L2Advertisement"), ("bgp", "BGPAdvertisement")):
        objects.append({
            "apiVersion": "metallb.io/v1beta1", "kind": kind, "metadata": _meta(mode, SYSTEM),
            "spec": {"ipAddressPoolSelectors": [{"matchLabels": {"mode": mode}}]},
        })  # fmt: skip
    for r in range(3):  # tor-2 peers with the nodes of zone 0 only
        spec = {"myASN": 64512, "peerASN": 64500, "peerAddress": f"172.16.0.{r + 1}"}
        if r == 2:
            spec["nodeSelectors"] = [{"matchLabels": {"topology.kubernetes.io/zone": "zone-0"}}]
        objects.append({
            "apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
            "metadata": _meta(f"tor-{r}", SYSTEM), "spec": spec,
        })  # fmt: skip
    return objects


def node(n: int, *, zone_shift: int = 0) -> dict[str, Any]:
    """Node 7 is excluded from load balancers (node.kubernetes.io/...)."""
    labels = {
        "kubernetes.io/hostname": f"node-{n:02d}",
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": f"zone-{(n + zone_shift) % 3}",
    }
    if n == 7:
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta(f"node-{n:02d}", labels=labels),
        "status": {
            "addresses": [{"type": "InternalIP", "address": f"172.16.{n // 250}.{10 + n % 250}"}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def namespace_of(i: int) -> str:
    return f"team-{i % NAMESPACES:02d}"


def service(i: int, *, with_status: bool, port_shift: int = 0) -> dict[str, Any]:
    obj = full_service(i, namespace=namespace_of(i))
    obj["metadata"]["annotations"]["metallb.io/address-pool"] = f"pool-{i % POOLS}"
    obj["spec"]["ports"][0]["port"] = 80 + port_shift
    if i % 7 == 0:  # announced only from the nodes with an endpoint
        obj["spec"]["externalTrafficPolicy"] = "Local"
    if with_status:
        p = i % POOLS
        offset = i // POOLS  # the controller's first free address in its pool
        obj["status"] = {"loadBalancer": {"ingress": [{
            "ip": f"10.{64 + p // 16}.{(p % 16) * 16 + offset // 256}.{offset % 256}",
            "ipMode": "VIP"}]}}  # fmt: skip
    else:
        obj["status"] = {"loadBalancer": {}}
    return obj


def endpoint_slice(i: int, nodes: int, move: int = 0, *, endpoints: int = 3) -> dict[str, Any]:
    name = f"svc-{i:06d}"
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": _meta(
            f"{name}-{move:05x}",
            namespace_of(i),
            labels={"kubernetes.io/service-name": name},
        ),
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [f"10.244.{(i + k) % 250}.{(i * 3 + k + move) % 250}"],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": f"node-{(i + k * 7 + move) % nodes:02d}",
            }
            for k in range(endpoints)
        ],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def _kind(obj: dict[str, Any]) -> str:
    return f"{obj['apiVersion']}/{obj['kind']}"


def _key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if "namespace" in meta else meta["name"]


def events(services: int, nodes: int, total: int) -> Iterator[Record]:
    """The log's records in order: setup, then churn until ``total``."""
    count = 0

    def rec(kind: EventType, obj: dict[str, Any]) -> Record:
        nonlocal count
        count += 1
        at = EPOCH + count * 0.5
        return Record(0, at, "record", kind, _kind(obj), _key(obj), str(count), obj)

    for obj in configuration(nodes):
        yield rec(EventType.ADDED, obj)
    for ns in range(NAMESPACES):
        yield rec(EventType.ADDED, {"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": _meta(f"team-{ns:02d}")})  # fmt: skip
    for n in range(nodes):
        yield rec(EventType.ADDED, node(n))
    for i in range(services):
        yield rec(EventType.ADDED, service(i, with_status=False))
        yield rec(EventType.ADDED, endpoint_slice(i, nodes))
    for i in range(services):  # the controller's status writes, seen back by the watch
        yield rec(EventType.MODIFIED, service(i, with_status=True))
    moves = [0] * services  # the current EndpointSlice of each Service
    step = 0
    while count < total:  # churn: pods move, Services are edited, nodes relabelled
        step += 1
        i = (step * 7919) % services
        if step % 50 == 0:
            yield rec(EventType.MODIFIED, node(step % nodes, zone_shift=step))
        elif step % 5 == 0:
            yield rec(EventType.MODIFIED, service(i, with_status=True, port_shift=step % 3))
        else:
            yield rec(EventType.DELETED, endpoint_slice(i, nodes, moves[i]))
            moves[i] += 1
            yield rec(EventType.ADDED, endpoint_slice(i, nodes, moves[i]))


def write_log(directory: str, services: int, nodes: int, total: int, digest_every: int) -> int:
    """The records, with a controller's plan digest after every ``digest_every`` of
    them (a live controller vouches every --digest-interval), for replay --verify."""
    from ironlb.reconcile.controller.fold import ControllerFold
    from ironlb.reconcile.plan.verify import DigestChain
    from ironlb.store import open_store

    fold, chain = ControllerFold(), DigestChain()
    with open_store(directory) as store:

        def append(batch: list[Record]) -> None:
            for record, seq in zip(batch, store.append(batch), strict=True):
                fold.apply(record.with_seq(seq))

        batch: list[Record] = []
        for record in events(services, nodes, total):
            batch.append(record)
            if len(batch) == digest_every:
                append(batch)
                batch = []
                append([chain.record(fold.plan(), source="controller", observed_at=EPOCH)])
        append(batch)
        return store.last_seq


def lean_service(i: int) -> dict[str, Any]:
    """A Service as ``kubectl get -o yaml`` lists it in a smaller cluster's style."""
    obj = service(i, with_status=True)
    name = obj["metadata"]["name"]
    pool = {"metallb.io/address-pool": f"pool-{i % POOLS}"}
    obj["metadata"] = _meta(name, namespace_of(i), annotations=pool)
    for field in ("clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy",
                  "sessionAffinity", "allocateLoadBalancerNodePorts"):  # fmt: skip
        del obj["spec"][field]
    obj["spec"]["selector"] = {"app": name}
    obj["spec"]["ports"] = [{"port": 80, "targetPort": 8080}]
    return obj


def write_list(path: str, services: int, nodes: int) -> int:
    items: list[dict[str, Any]] = [*configuration(nodes), *(node(n) for n in range(nodes))]
    for i in range(services):
        items.append(lean_service(i))
        items.append(endpoint_slice(i, nodes, endpoints=1))
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with open(path, "w") as out:
        yaml.dump({"apiVersion": "v1", "kind": "List", "items": items}, out, Dumper=dumper,
                  sort_keys=False, width=1000)  # fmt: skip
    return len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    log = sub.add_parser("log", help="a log of --events records in a new directory")
    log.add_argument("path")
    log.add_argument("--events", type=int, default=100_000)
    log.add_argument("--digest-every", type=int, default=2_000, metavar="RECORDS")
    lst = sub.add_parser("list", help="a kubectl get -o yaml List")
    lst.add_argument("path")
    for p in (log, lst):
        p.add_argument("--services", type=int, default=20_000)
        p.add_argument("--nodes", type=int, default=50)
    args = parser.parse_args()
    if args.what == "log":
        last = write_log(args.path, args.services, args.nodes, args.events, args.digest_every)
        print(f"{args.path}: {last} records")
    else:
        count = write_list(args.path, args.services, args.nodes)
        print(f"{args.path}: {count} objects, {os.path.getsize(args.path) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
