"""A Service as the folds read it: families, requested addresses, annotations, status."""

from __future__ import annotations

from ironlb.reconcile.objects import DUAL, Service
from tests.k8s import service


def read(obj: dict) -> Service:
    return Service.from_k8s(f"{obj['metadata']['namespace']}/{obj['metadata']['name']}", obj)


def test_families_come_from_the_cluster_ips_and_the_primary_from_ip_families():
    assert read(service("v4")).family == 4
    dual = read(service("d", ips=["fd00::1", "10.96.0.1"], ipFamilies=["IPv6", "IPv4"]))
    assert (dual.family, dual.primary_family) == (DUAL, 6)
    assert read(service("headless", ip="None")).family is None


def test_requested_addresses_normalised_from_either_place():
    annotated = service("a", annotations={"metallb.io/loadBalancerIPs": "192.0.2.1, 2001:DB8::1"})
    assert read(annotated).requested == ("192.0.2.1", "2001:db8::1")
    assert read(service("s", loadBalancerIP="192.0.2.9")).requested == ("192.0.2.9",)


def test_conflicting_or_malformed_requests_are_errors_not_guesses():
    both = service(
        "b", loadBalancerIP="192.0.2.9", annotations={"metallb.io/loadBalancerIPs": "192.0.2.1"}
    )
    assert "can not have both" in read(both).requested_error
    two_v4 = service("t", annotations={"metallb.io/loadBalancerIPs": "192.0.2.1,192.0.2.2"})
    assert "one of each family" in read(two_v4).requested_error
    assert "invalid" in read(service("x", loadBalancerIP="not-an-ip")).requested_error


def test_deprecated_annotations_are_read_and_noted():
    old = read(service("o", annotations={"metallb.universe.tf/address-pool": "lan"}))
    assert old.address_pool == "lan"
    assert old.deprecated_annotations == ("metallb.universe.tf/address-pool",)


def test_status_addresses_and_local_traffic_policy():
    local = read(
        service(
            "l",
            status=["192.0.2.4"],
            externalTrafficPolicy="Local",
            selector={"app": "web", "tier": "1"},
        )
    )
    assert local.status_ips == ("192.0.2.4",)
    assert local.backend_key == "app=web,tier=1"
    assert read(service("c")).backend_key == ""  # Cluster: any node may announce


def test_malformed_fields_are_read_as_absent_never_raise():
    garbage = {"metadata": {"labels": "nope", "annotations": []}, "spec": {"ports": "x"}}
    parsed = Service.from_k8s("ns/g", {**garbage, "status": {"loadBalancer": []}})
    assert (parsed.type, parsed.ports, parsed.status_ips) == ("ClusterIP", (), ())
