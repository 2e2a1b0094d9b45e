"""``ironlb controller`` under faults a real API server does not make on demand:
answers of 500 and 429 to the next requests. Everything else about the controller is
tested against a real kube-apiserver (test_controller.py); these faults stay on the
test API server (tests/apiserver.py), which can inject them."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.apiserver import ApiServer
from tests.processes import ControllerProcess

DEADLINE = 60.0
NS = "metallb-system"


class Controller(ControllerProcess):
    def __init__(self, server: ApiServer, store, *extra: str) -> None:
        super().__init__(["--api-server", server.url], store, *extra, lease=(0.1, 1))


@pytest.fixture
def cluster():
    server = ApiServer(bookmark_every=0.2)
    api = server.client()
    yield server, client.CoreV1Api(api), client.CustomObjectsApi(api)
    server.stop()


def create_pool(custom, name: str, *addresses: str) -> None:
    body = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name},
        "spec": {"addresses": list(addresses)},
    }
    custom.create_namespaced_custom_object("metallb.io", "v1beta1", NS, "ipaddresspools", body)


def create_service(core, name: str, cluster_ip: str = "10.96.0.1") -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "ports": [{"protocol": "TCP", "port": 80}],
        },
    }
    core.create_namespaced_service("default", body)


def statuses(server: ApiServer) -> dict[str, list[str]]:
    return {
        name: [
            e["ip"] for e in ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress", [])
        ]
        for (_ns, name), o in server.state.objects["services"].items()
    }


def wait_for(server: ApiServer, predicate, *controllers: Controller) -> None:
    """Block on the server's change notifications until ``predicate`` holds."""
    with server.state.lock:
        if server.state.lock.wait_for(lambda: predicate(server), DEADLINE):
            return
    logs = "\n".join(c.log() for c in controllers)
    raise AssertionError(f"{statuses(server)}\n{logs}")


def test_faults_lose_no_update(cluster, tmp_path):
    server, core, custom = cluster
    create_pool(custom, "lan", "192.0.2.0/28")
    controller = Controller(server, tmp_path / "log")
    try:
        for i in range(6):
            server.fail_next(2, 500 if i % 2 else 429)
            create_service(core, f"s{i}")
            if i % 2:
                server.cut_watches()
            if i == 3:
                server.compact()
                server.cut_watches()
        expected = {f"s{i}": [f"192.0.2.{i}"] for i in range(6)}
        wait_for(server, lambda s: statuses(s) == expected)
    finally:
        assert controller.stop() == 0
