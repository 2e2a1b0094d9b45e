"""Builders for the Kubernetes and metallb.io objects tests fold, and a one-call fold."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ironlb.events.record import EventType, Record
from ironlb.reconcile.controller.fold import ControllerFold, Overrides

NS = "metallb-system"


def pool(
    name: str, *addresses: str, namespace: str = NS, labels: dict | None = None, **spec: Any
) -> dict:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"addresses": list(addresses), **spec},
    }


def metallb(
    kind: str, name: str, spec: dict, *, version: str = "v1beta1", namespace: str = NS
) -> dict:
    return {
        "apiVersion": f"metallb.io/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def namespace(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def service(
    name: str,
    *,
    ns: str = "default",
    ip: str = "10.96.0.1",
    ips: list | None = None,
    annotations: dict | None = None,
    labels: dict | None = None,
    ports: Iterable[tuple[str, int]] = (("TCP", 80),),
    status: list | None = None,
    **spec: Any,
) -> dict:
    cluster_ips = ips or [ip]
    body = {
        "type": "LoadBalancer",
        "clusterIP": cluster_ips[0],
        "clusterIPs": cluster_ips,
        "ports": [{"protocol": p, "port": n} for p, n in ports],
        **spec,
    }
    obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": ns,
            "annotations": annotations or {},
            "labels": labels or {},
        },
        "spec": body,
    }
    if status:
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": a} for a in status]}}
    return obj


def key_of(obj: dict) -> str:
    metadata = obj["metadata"]
    return (
        f"{metadata['namespace']}/{metadata['name']}"
        if "namespace" in metadata
        else metadata["name"]
    )


def kind_of(obj: dict) -> str:
    return f"{obj['apiVersion']}/{obj['kind']}"


def records(*objects: dict | tuple[str, dict], start: int = 1) -> list[Record]:
    """ADDED records for objects; ``("DELETED", obj)`` for a deletion."""
    result = []
    for offset, item in enumerate(objects):
        event, obj = item if isinstance(item, tuple) else (EventType.ADDED, item)
        result.append(
            Record(start + offset, 0.0, "test", event, kind_of(obj), key_of(obj), None, obj)
        )
    return result


def fold(*objects: dict | tuple[str, dict], overrides: Overrides | None = None) -> ControllerFold:
    return ControllerFold(overrides).apply_all(records(*objects))


def plan(*objects: dict | tuple[str, dict], **kwargs: Any) -> dict:
    return fold(*objects, **kwargs).plan().to_json()


def ips(*objects: dict | tuple[str, dict], **kwargs: Any) -> dict[str, list[str]]:
    """Service key -> assigned addresses, the most common thing a test asserts."""
    return {k: v["ips"] for k, v in plan(*objects, **kwargs)["services"].items()}


# --- what the speakers read ---------------------------------------------------


def node(name: str, *, unavailable: bool = False, ready: bool = True, **labels: str) -> dict:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    if unavailable:
        conditions.append({"type": "NetworkUnavailable", "status": "True"})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"conditions": conditions},
    }


def endpoints(
    service_name: str, *nodes: str, ns: str = "default", name: str | None = None, **conditions: Any
) -> dict:
    """An EndpointSlice with one endpoint per node; ``conditions`` apply to all of them."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name or f"{service_name}-slice",
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [f"10.244.{i}.{i + 10}"],
                "nodeName": n,
                "conditions": conditions or {"ready": True},
            }
            for i, n in enumerate(nodes)
        ],
    }


def l2(name: str, **spec: Any) -> dict:
    return metallb("L2Advertisement", name, spec)


def bgp(name: str, **spec: Any) -> dict:
    return metallb("BGPAdvertisement", name, spec)


def peer(name: str, my_asn: int = 64512, peer_asn: int = 64512, **spec: Any) -> dict:
    spec = {"myASN": my_asn, "peerASN": peer_asn, "peerAddress": "10.0.0.1", **spec}
    return metallb("BGPPeer", name, spec, version="v1beta2")


def membership(node_name: str, alive: bool) -> dict:
    return {
        "apiVersion": "ironlb.io/v1",
        "kind": "SpeakerMembership",
        "metadata": {"name": node_name},
        "node": node_name,
        "alive": alive,
    }


def node_links(node_name: str, *links: dict) -> dict:
    return {
        "apiVersion": "ironlb.io/v1",
        "kind": "NodeLinks",
        "metadata": {"name": node_name},
        "links": list(links),
    }


def link(name: str, *flags: str, master: str | None = None, addresses: tuple = ()) -> dict:
    return {
        "name": name,
        "index": 1,
        "mac": "02:00:00:00:00:01",
        "flags": list(flags or ("UP", "BROADCAST", "MULTICAST")),
        "master": master,
        "addresses": list(addresses),
    }


def speakers_fold(*objects: dict | tuple[str, dict], **overrides: Any) -> Any:
    """Controller and speakers folded together, statuses as the controller plans them."""
    from ironlb.reconcile.speaker.fold import SpeakerFold, SpeakerOverrides

    recorded = records(*objects)
    controller = ControllerFold().apply_all(recorded)
    fold = SpeakerFold(SpeakerOverrides(**overrides)).apply_all(recorded)
    fold.assume_statuses({k: s.ips for k, s in controller.plan().services.items()})
    return fold


def announcers(*objects: dict | tuple[str, dict], **overrides: Any) -> dict[str, Any]:
    """Service key -> the node announcing its first address in layer 2, or the reason."""
    result = {}
    for key, by_ip in speakers_fold(*objects, **overrides).l2().items():
        first = by_ip[min(by_ip)]
        result[key] = first.node if first.reason is None else str(first.reason)
    return result


def routes(*objects: dict | tuple[str, dict], node: str, **overrides: Any) -> dict[str, list]:
    """Peer -> [(prefix, local_pref, communities + large)] one node sends."""
    plan = speakers_fold(*objects, **overrides).node_plan(node)
    return {
        p: [(r.prefix, r.local_pref, [*r.communities, *r.large_communities]) for r in rs]
        for p, rs in plan.bgp.items()
    }


def session_plan(peer: str, address: str, port: int = 179, **overrides: Any) -> Any:
    """A BGPSessionPlan as the speaker fold makes it for a plain eBGP peer (64512 to
    64513, hold 90 s), for driving the BGP effector without a fold."""
    from ironlb.reconcile.plan.speaker import BGPSessionPlan

    fields = {
        "peer": peer,
        "my_asn": 64512,
        "peer_asn": 64513,
        "dynamic_asn": None,
        "address": address,
        "interface": None,
        "port": port,
        "source_address": None,
        "router_id": None,
        "hold_time": 90,
        "keepalive_time": 30,
        "connect_time": None,
        "password": None,
        "password_secret": None,
        "password_version": None,
        "ebgp_multihop": False,
        "graceful_restart": False,
        "bfd_profile": None,
        "vrf": "",
        "ibgp": False,
        "conditions": (),
    }
    return BGPSessionPlan(**{**fields, **overrides})
