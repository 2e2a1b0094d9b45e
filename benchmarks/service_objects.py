"""Realistic Service objects (~1.5 KB encoded) and records carrying them, for benchmarks."""

from __future__ import annotations

from ironlb.events.record import EventType, Record


def service(i: int, *, namespace: str = "default") -> dict:
    """A LoadBalancer Service as a watch delivers it: labels, annotations, ports, status."""
    name = f"svc-{i:06d}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"6c8e0d4a-{i:04x}-4a11-9b7e-3f2a1c0b{i % 10000:04d}",
            "resourceVersion": str(100000 + i),
            "creationTimestamp": "2026-11-01T12:00:00Z",
            "labels": {
                "app.kubernetes.io/name": name,
                "app.kubernetes.io/instance": f"{name}-prod",
                "app.kubernetes.io/component": "frontend",
                "app.kubernetes.io/part-of": "storefront",
                "app.kubernetes.io/managed-by": "helm",
                "helm.sh/chart": "storefront-4.2.1",
            },
            "annotations": {
                "metallb.io/address-pool": f"pool-{i % 200}",
                "meta.helm.sh/release-name": f"{name}-prod",
                "meta.helm.sh/release-namespace": namespace,
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9102",
                "external-dns.alpha.kubernetes.io/hostname": f"{name}.shop.example.com",
                "team.example.com/owner": "storefront-platform@example.com",
                "team.example.com/runbook": f"https://runbooks.example.com/storefront/{name}",
                "service.beta.kubernetes.io/description": "public entry point of the storefront "
                "service, terminates TLS and forwards to the pods of the deployment",
            },
        },
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": f"10.96.{i // 256 % 256}.{i % 256}",
            "clusterIPs": [f"10.96.{i // 256 % 256}.{i % 256}"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "externalTrafficPolicy": "Cluster",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "allocateLoadBalancerNodePorts": True,
            "selector": {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": "prod"},
            "ports": [
                {
                    "name": "http",
                    "protocol": "TCP",
                    "port": 80,
                    "targetPort": 8080,
                    "nodePort": 30000 + i % 2000,
                },
                {
                    "name": "https",
                    "protocol": "TCP",
                    "port": 443,
                    "targetPort": 8443,
                    "nodePort": 32000 + i % 700,
                },
                {
                    "name": "metrics",
                    "protocol": "TCP",
                    "port": 9102,
                    "targetPort": 9102,
                    "nodePort": 31000 + i % 900,
                },
            ],
        },
        "status": {
            "loadBalancer": {
                "ingress": [{"ip": f"192.0.{i // 256 % 256}.{i % 256}", "ipMode": "VIP"}]
            }
        },
    }


def service_records(count: int, start: int = 0) -> list[Record]:
    return [
        Record(
            0,
            1_790_000_000.0 + i,
            "controller/watch",
            EventType.MODIFIED,
            "v1/Service",
            f"default/svc-{i:06d}",
            str(100000 + i),
            service(i),
        )
        for i in range(start, start + count)
    ]
