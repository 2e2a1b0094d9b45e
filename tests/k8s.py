"""Builders for the Kubernetes and metallb.io objects tests fold, and a one-call fold."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ironlb.events.record import EventType, Record
from ironlb.reconcile.controller import ControllerFold, Overrides

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
