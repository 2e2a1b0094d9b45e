"""``ironlb controller`` against the test API server, through the official client."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request

import pytest
from kubernetes import client

from tests.apiserver import ApiServer
from tests.processes import ironlb

DEADLINE = 60.0
NS = "metallb-system"


class Controller:
    def __init__(self, server: ApiServer, store, *extra: str) -> None:
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - never a full pipe
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ironlb",
                "--log-level",
                "info",
                "controller",
                "--api-server",
                server.url,
                "--store",
                str(store),
                "--lease-interval",
                "0.1",
                "--lease-duration",
                "1",
                "--digest-interval",
                "0",
                *extra,
            ],
            stderr=self.stderr,
        )

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-5000:]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=DEADLINE)
        self.stderr.close()
        return code


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def lease_holder(server: ApiServer) -> str | None:
    lease = server.state.objects["leases"].get((NS, "ironlb-controller"))
    return (lease or {}).get("spec", {}).get("holderIdentity") or None


def test_assigns_addresses_posts_events_and_replays_exactly(cluster, tmp_path):
    server, core, custom = cluster
    create_pool(custom, "lan", "192.0.2.0/29")
    create_service(core, "a")
    controller = Controller(server, tmp_path / "log")
    try:
        wait_for(server, lambda s: statuses(s).get("a") == ["192.0.2.0"], controller)
        create_service(core, "b")
        wait_for(server, lambda s: statuses(s).get("b") == ["192.0.2.1"], controller)
        wait_for(
            server,
            lambda s: any(
                e.get("reason") == "IPAllocated" and e["involvedObject"]["name"] == "b"
                for e in s.state.objects["events"].values()
            ),
        )
    finally:
        assert controller.stop() == 0
    verified = ironlb("replay", tmp_path / "log", "--verify").stdout
    assert verified.startswith("verified ") and not verified.startswith("verified 0 ")


def test_a_new_controller_with_an_empty_log_keeps_every_address(cluster, tmp_path):
    server, core, custom = cluster
    create_pool(custom, "lan", "192.0.2.0/29")
    for name in ("a", "b", "c"):
        create_service(core, name)
    first = Controller(server, tmp_path / "first")
    wait_for(server, lambda s: all(statuses(s).get(n) for n in ("a", "b", "c")))
    before = statuses(server)
    assert first.stop() == 0
    core.delete_namespaced_service("a", "default")  # while no controller runs
    create_service(core, "d")
    second = Controller(server, tmp_path / "second")
    try:
        wait_for(server, lambda s: statuses(s).get("d"))
        after = statuses(server)
        assert after["b"] == before["b"] and after["c"] == before["c"]
        assert after["d"] == before["a"]  # the freed address, lowest first
    finally:
        assert second.stop() == 0


def test_only_the_leader_writes_and_a_killed_leader_is_replaced(cluster, tmp_path):
    server, core, custom = cluster
    create_pool(custom, "lan", "192.0.2.0/29")
    one = Controller(server, tmp_path / "one")
    two = Controller(server, tmp_path / "two")
    try:
        wait_for(server, lambda s: lease_holder(s) is not None)
        create_service(core, "a")
        wait_for(server, lambda s: statuses(s).get("a") == ["192.0.2.0"])
        leader = lease_holder(server)
        dead = one if str(one.process.pid) in leader else two
        dead.stop(signal.SIGKILL)  # no release: the follower must judge it dead
        wait_for(server, lambda s: lease_holder(s) not in (None, leader))
        create_service(core, "b")
        wait_for(server, lambda s: statuses(s).get("b") == ["192.0.2.1"])
        assert statuses(server)["a"] == ["192.0.2.0"]
    finally:
        for controller in (one, two):
            controller.stop()


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


def test_record_captures_what_ironlb_reads_and_replays_to_the_same_plan(cluster, tmp_path):
    server, core, custom = cluster
    create_pool(custom, "lan", "192.0.2.0/29")
    create_service(core, "a")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "pw"},
        "data": {"password": "c2VjcmV0"},
    }
    core.create_namespaced_secret(NS, secret)
    out = ironlb(
        "record", "--api-server", server.url, "--to", tmp_path / "rec", "--duration", "1"
    ).stdout
    assert out.startswith("recorded ")
    kinds = {
        json.loads(line)["kind"]
        for line in ironlb("log", "show", tmp_path / "rec", "-o", "json").stdout.splitlines()
    }
    assert {"v1/Service", "metallb.io/v1beta1/IPAddressPool", "v1/Secret"} <= kinds
    shown = ironlb("log", "show", tmp_path / "rec", "-o", "json").stdout
    assert "c2VjcmV0" not in shown
    plan = json.loads(ironlb("plan", tmp_path / "rec", "-o", "json").stdout)
    assert plan["services"]["default/a"]["ips"] == ["192.0.2.0"]


def test_pool_status_and_configuration_state_follow_the_configuration(cluster, tmp_path):
    server, core, custom = cluster
    create_pool(custom, "lan", "192.0.2.0/29", "2001:db8::/126")
    create_service(core, "a")
    port = free_port()
    controller = Controller(server, tmp_path / "log", "--metrics-address", f"127.0.0.1:{port}")

    def pool_status(s: ApiServer) -> dict | None:
        return s.state.objects["ipaddresspools"][(NS, "lan")].get("status")

    def config_state(s: ApiServer) -> dict:
        obj = s.state.objects["configurationstates"].get((NS, "controller")) or {}
        return obj.get("status") or {}

    try:
        wait_for(server, lambda s: statuses(s).get("a") == ["192.0.2.0"], controller)
        counters = {"assignedIPv4": 1, "availableIPv4": 7, "assignedIPv6": 0, "availableIPv6": 4}
        wait_for(server, lambda s: pool_status(s) == counters, controller)
        wait_for(server, lambda s: config_state(s).get("result") == "Valid", controller)
        labels = server.objects("configurationstates")[(NS, "controller")]["metadata"]["labels"]
        assert labels == {"metallb.io/component-type": "controller"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as reply:
            metrics = reply.read().decode()
        assert 'metallb_allocator_addresses_in_use_total{pool="lan"} 1.0' in metrics
        assert 'metallb_allocator_addresses_total{pool="lan"} 12.0' in metrics
        assert "ironlb_leader 1.0" in metrics
        assert "metallb_k8s_client_config_stale_bool 0.0" in metrics
        assert "ironlb_fold_seconds_count" in metrics and "ironlb_events_appended_total" in metrics

        create_pool(custom, "overlap", "192.0.2.4/30")  # overlaps "lan": rejected
        wait_for(server, lambda s: config_state(s).get("result") == "Invalid", controller)
        summary = config_state(server)["errorSummary"]
        assert "IPAddressPool/metallb-system/overlap" in summary and "spec.addresses" in summary
        custom.delete_namespaced_custom_object(
            "metallb.io", "v1beta1", NS, "ipaddresspools", "overlap"
        )
        wait_for(server, lambda s: config_state(s).get("result") == "Valid", controller)
    finally:
        assert controller.stop() == 0
