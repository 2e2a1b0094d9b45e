"""Recorded Kubernetes objects -> domain values. The only module that knows their JSON shape.

Translation never fails on a malformed object: what cannot be read becomes a
value the allocator reports (``requested_error``, no family, ...), so one bad
Service never stops the fold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .addresses import parse_ip, to_text

ANNOTATION_PREFIX = "metallb.io/"
DEPRECATED_PREFIX = "metallb.universe.tf/"
ADDRESS_POOL = "address-pool"
LOAD_BALANCER_IPS = "loadBalancerIPs"
ALLOW_SHARED_IP = "allow-shared-ip"

DUAL = 46  # the family of a dual-stack Service (4 and 6)
FAMILY_NAMES = {"IPv4": 4, "IPv6": 6}


@attrs.frozen
class Service:
    key: str
    namespace: str
    name: str
    labels: Mapping[str, str] = attrs.field(eq=False)
    labels_key: tuple[tuple[str, str], ...]
    type: str
    load_balancer_class: str | None
    family: int | None  # 4, 6, DUAL, or None without clusterIPs
    primary_family: int | None
    ip_family_policy: str | None
    external_traffic_policy: str
    backend_key: str  # "" for ETP Cluster; the canonical selector for ETP Local
    ports: tuple[tuple[str, int], ...]
    requested: tuple[str, ...]  # requested IPs, normalised, annotation order
    requested_error: str | None
    address_pool: str | None
    sharing_key: str | None
    deprecated_annotations: tuple[str, ...]
    status_ips: tuple[str, ...]
    # clusterIPs present but no family can be read from them (MetalLB's
    # noclusterIPsIPFamily), as opposed to no clusterIPs at all
    cluster_ips_malformed: bool = False

    @property
    def is_load_balancer(self) -> bool:
        return self.type == "LoadBalancer"

    @classmethod
    def from_k8s(cls, key: str, obj: Mapping[str, Any]) -> Service:
        """The Service as the folds read it. The one object parsed last is kept: the
        controller and the speakers fold the same record one after the other, and
        a Service is immutable, so the second fold takes the first one's (the kept
        reference also keeps ``obj`` alive, so its identity cannot be reused)."""
        last = _last_parsed[0]
        if last is not None and last[1] is obj and last[0] == key:
            return last[2]
        service = cls._parse(key, obj)
        _last_parsed[0] = (key, obj, service)
        return service

    @classmethod
    def _parse(cls, key: str, obj: Mapping[str, Any]) -> Service:
        metadata = _mapping(obj.get("metadata"))
        spec = _mapping(obj.get("spec"))
        status = _mapping(obj.get("status"))
        annotations = {str(k): v for k, v in _mapping(metadata.get("annotations")).items()}
        labels = {str(k): str(v) for k, v in _mapping(metadata.get("labels")).items()}
        namespace, _, name = key.rpartition("/")

        def annotation(suffix: str) -> str | None:
            for prefix in (ANNOTATION_PREFIX, DEPRECATED_PREFIX):
                if prefix + suffix in annotations:
                    value = annotations[prefix + suffix]
                    return value if isinstance(value, str) else str(value)
            return None

        family, primary = _families(spec)
        etp = spec.get("externalTrafficPolicy") or "Cluster"
        etp = "Local" if etp == "Local" else "Cluster"
        requested, requested_error = _requested(spec, annotation(LOAD_BALANCER_IPS))
        sharing = annotation(ALLOW_SHARED_IP) or None
        lb_class = spec.get("loadBalancerClass")
        return cls(
            key=key,
            namespace=namespace,
            name=name,
            labels=labels,
            labels_key=tuple(sorted(labels.items())),
            type=str(spec.get("type") or "ClusterIP"),
            load_balancer_class=lb_class if isinstance(lb_class, str) and lb_class else None,
            family=family,
            primary_family=primary,
            ip_family_policy=spec.get("ipFamilyPolicy")
            if isinstance(spec.get("ipFamilyPolicy"), str)
            else None,
            external_traffic_policy=etp,
            backend_key=_selector_key(spec.get("selector")) if etp == "Local" else "",
            ports=_ports(spec.get("ports")),
            requested=requested,
            requested_error=requested_error,
            address_pool=annotation(ADDRESS_POOL) or None,
            sharing_key=sharing,
            deprecated_annotations=tuple(
                sorted(a for a in annotations if a.startswith(DEPRECATED_PREFIX))
            ),
            status_ips=_status_ips(status),
            cluster_ips_malformed=family is None and _has_cluster_ips(spec),
        )


# (key, object, Service) of the last parse; see Service.from_k8s.
_last_parsed: list[tuple[str, Mapping[str, Any], Service] | None] = [None]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _has_cluster_ips(spec: Mapping[str, Any]) -> bool:
    """Any clusterIP given at all ("None", headless, is none)."""
    cluster_ips = spec.get("clusterIPs")
    if not isinstance(cluster_ips, list) or not cluster_ips:
        cluster_ips = [spec.get("clusterIP")]
    return any(ip not in (None, "", "None") for ip in cluster_ips)


def _families(spec: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """Family from clusterIPs (MetalLB's ipfamily.ForService), primary from ipFamilies."""
    cluster_ips = spec.get("clusterIPs")
    if not isinstance(cluster_ips, list) or not cluster_ips:
        single = spec.get("clusterIP")
        cluster_ips = [single] if isinstance(single, str) else []
    versions = []
    for ip in cluster_ips:
        parsed = parse_ip(ip) if isinstance(ip, str) else None
        if parsed is None:
            return None, None  # "None" (headless) or garbage: no family
        versions.append(parsed[0])
    if not versions:
        return None, None
    if len(versions) == 2 and versions[0] != versions[1]:
        family = DUAL
    elif len(versions) == 1:
        family = versions[0]
    else:
        return None, None
    families = spec.get("ipFamilies")
    primary = versions[0]
    if isinstance(families, list) and families and families[0] in FAMILY_NAMES:
        primary = FAMILY_NAMES[families[0]]
    return family, primary


def _requested(
    spec: Mapping[str, Any], annotation: str | None
) -> tuple[tuple[str, ...], str | None]:
    spec_ip = spec.get("loadBalancerIP") or None
    if annotation is not None and annotation.strip() and spec_ip:
        return (), (
            "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP"
        )
    if annotation is not None and annotation.strip():
        texts = [part.strip() for part in annotation.split(",")]
        parsed = [parse_ip(t) for t in texts]
        if any(p is None for p in parsed):
            return (), f'invalid metallb.io/loadBalancerIPs: "{annotation}"'
        if len(parsed) > 2 or (len(parsed) == 2 and parsed[0][0] == parsed[1][0]):  # type: ignore[index]
            return (), (
                f'invalid metallb.io/loadBalancerIPs: "{annotation}": at most two '
                "addresses, one of each family"
            )
        return tuple(_normal(p) for p in parsed), None  # type: ignore[arg-type]
    if spec_ip:
        parsed_spec = parse_ip(str(spec_ip))
        if parsed_spec is None:
            return (), f'invalid spec.loadBalancerIP "{spec_ip}"'
        return (_normal(parsed_spec),), None
    return (), None


def _normal(parsed: tuple[int, int]) -> str:
    return to_text(parsed)


def _ports(raw: Any) -> tuple[tuple[str, int], ...]:
    ports = []
    for port in raw if isinstance(raw, list) else []:
        if not isinstance(port, Mapping):
            continue
        number = port.get("port")
        if isinstance(number, int) and not isinstance(number, bool):
            ports.append((str(port.get("protocol") or "TCP"), number))
    return tuple(sorted(set(ports)))


def _selector_key(selector: Any) -> str:
    if not isinstance(selector, Mapping):
        return ""
    return ",".join(f"{k}={v}" for k, v in sorted((str(k), str(v)) for k, v in selector.items()))


def _status_ips(status: Mapping[str, Any]) -> tuple[str, ...]:
    ingress = _mapping(status.get("loadBalancer")).get("ingress")
    ips = []
    for entry in ingress if isinstance(ingress, list) else []:
        if isinstance(entry, Mapping) and isinstance(entry.get("ip"), str):
            ips.append(entry["ip"])
    return tuple(ips)


def namespace_labels(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = _mapping(_mapping(obj.get("metadata")).get("labels"))
    return {str(k): str(v) for k, v in labels.items()}
