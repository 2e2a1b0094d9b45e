"""``ironlb controller`` against a real kube-apiserver and etcd, running as the
ServiceAccount deploy/ gives it (so deploy/'s RBAC is what is enforced).

Faults are made for real: etcd compaction with an API server restart (watches
resume into 410 Gone), the same with the watch cache off, kube-apiserver restarted
mid-watch, etcd stopped and started, the API unreachable for longer than the
Lease. Injected 500/429 answers cannot be produced on demand by a real API server;
that one test stays on tests/apiserver.py (tests/integration/test_controller_faults.py).
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request

import pytest
from kubernetes import client

from tests.kube_cluster import NAMESPACE as NS
from tests.kube_cluster import KubeCluster, free_port
from tests.processes import ControllerProcess, ironlb

DEADLINE = 60.0


class Controller(ControllerProcess):
    """The controller as deploy/'s ServiceAccount."""

    def __init__(self, kube: KubeCluster, store, *extra: str) -> None:
        kubeconfig = kube.service_account_kubeconfig("ironlb-controller")
        super().__init__(["--kubeconfig", str(kubeconfig)], store, *extra)


class Api:
    """The admin's view of the cluster, through the official client."""

    def __init__(self, kube: KubeCluster) -> None:
        api = kube.client()
        self.kube = kube
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.coordination = client.CoordinationV1Api(api)

    def create_pool(self, name: str, *addresses: str) -> None:
        body = {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": name},
            "spec": {"addresses": list(addresses)},
        }
        self.custom.create_namespaced_custom_object(
            "metallb.io", "v1beta1", NS, "ipaddresspools", body
        )

    def create_service(self, name: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "ports": [{"protocol": "TCP", "port": 80}]},
        }
        self.core.create_namespaced_service("default", body)

    def statuses(self) -> dict[str, list[str]]:
        found = self.core.list_namespaced_service("default").items
        return {
            s.metadata.name: [i.ip for i in (s.status.load_balancer.ingress or [])]
            for s in found
            if s.spec.type == "LoadBalancer"
        }

    def lease_holder(self) -> str | None:
        try:
            lease = self.coordination.read_namespaced_lease("ironlb-controller", NS)
        except client.ApiException:
            return None
        return lease.spec.holder_identity or None

    def events(self) -> list:
        return self.core.list_namespaced_event("default").items

    def wait(self, predicate, what: str, *controllers: Controller) -> None:
        try:
            self.kube.wait_for(predicate, what)
        except AssertionError as exc:
            logs = "\n".join(c.log() for c in controllers)
            raise AssertionError(f"{exc}\nstatuses: {self.statuses()}\n{logs}") from None


@pytest.fixture
def api(kube):
    return Api(kube)


def test_assigns_addresses_posts_events_and_replays_exactly(kube, api, tmp_path):
    api.create_pool("lan", "192.0.2.0/29")
    api.create_service("a")
    controller = Controller(kube, tmp_path / "log")
    try:
        api.wait(lambda: api.statuses().get("a") == ["192.0.2.0"], "a gets .0", controller)
        api.create_service("b")
        api.wait(lambda: api.statuses().get("b") == ["192.0.2.1"], "b gets .1", controller)
        api.wait(
            lambda: any(
                e.reason == "IPAllocated" and e.involved_object.name == "b" for e in api.events()
            ),
            "an IPAllocated Event on b",
            controller,
        )
    finally:
        assert controller.stop() == 0
    verified = ironlb("replay", tmp_path / "log", "--verify").stdout
    assert verified.startswith("verified ") and not verified.startswith("verified 0 ")


def test_a_new_controller_with_an_empty_log_keeps_every_address(kube, api, tmp_path):
    api.create_pool("lan", "192.0.2.0/29")
    for name in ("a", "b", "c"):
        api.create_service(name)
    first = Controller(kube, tmp_path / "first")
    api.wait(lambda: all(api.statuses().get(n) for n in ("a", "b", "c")), "all addressed", first)
    before = api.statuses()
    assert first.stop() == 0
    api.core.delete_namespaced_service("a", "default")  # while no controller runs
    api.create_service("d")
    second = Controller(kube, tmp_path / "second")
    try:
        api.wait(lambda: api.statuses().get("d"), "d addressed", second)
        after = api.statuses()
        assert after["b"] == before["b"] and after["c"] == before["c"]
        assert after["d"] == before["a"]  # the freed address, lowest first
    finally:
        assert second.stop() == 0


def test_only_the_leader_writes_and_a_killed_leader_is_replaced(kube, api, tmp_path):
    api.create_pool("lan", "192.0.2.0/29")
    one = Controller(kube, tmp_path / "one")
    two = Controller(kube, tmp_path / "two")
    try:
        api.wait(lambda: api.lease_holder() is not None, "a leader", one, two)
        api.create_service("a")
        api.wait(lambda: api.statuses().get("a") == ["192.0.2.0"], "a addressed", one, two)
        leader = api.lease_holder()
        dead = one if str(one.process.pid) in leader else two
        dead.stop(signal.SIGKILL)  # no release: the follower must judge it dead
        api.wait(lambda: api.lease_holder() not in (None, leader), "a new leader", one, two)
        api.create_service("b")
        api.wait(lambda: api.statuses().get("b") == ["192.0.2.1"], "b addressed", one, two)
        assert api.statuses()["a"] == ["192.0.2.0"]
    finally:
        for controller in (one, two):
            controller.stop()


def compact_etcd(kube: KubeCluster) -> None:
    """Compact etcd past every watch's resourceVersion: a write first, so the
    compacted revision is newer than the last Service event a watch has seen (without
    it, a watch whose last event is the newest write resumes fine, and no 410 comes)."""
    kube.kubectl("create", "configmap", f"churn-{time.monotonic_ns()}", "-n", "default")
    status = json.loads(kube.etcdctl("endpoint", "status", "-w", "json"))
    kube.etcdctl("compact", str(status[0]["Status"]["header"]["revision"]))


def run_through_faults(kube: KubeCluster, api: Api, tmp_path, faults) -> None:
    """Create Services between faults; statuses end as a fault-free run's would."""
    api.create_pool("lan", "192.0.2.0/28")
    one = Controller(kube, tmp_path / "one")
    two = Controller(kube, tmp_path / "two")
    try:
        api.wait(lambda: api.lease_holder() is not None, "a leader", one, two)
        for i, fault in enumerate(faults):
            api.create_service(f"s{i}")
            api.wait(lambda i=i: api.statuses().get(f"s{i}"), f"s{i} addressed", one, two)
            fault()
        api.create_service("last")
        expected = {f"s{i}": [f"192.0.2.{i}"] for i in range(len(faults))}
        expected["last"] = [f"192.0.2.{len(faults)}"]
        api.wait(lambda: api.statuses() == expected, f"statuses {expected}", one, two)
        holder = api.lease_holder()
        assert holder is not None and any(str(c.process.pid) in holder for c in (one, two))
        assert one.process.poll() is None and two.process.poll() is None
    finally:
        for controller in (one, two):
            controller.stop()


def test_compaction_and_apiserver_restarts_lose_nothing(kube, api, tmp_path):
    def compact_and_restart() -> None:
        compact_etcd(kube)
        kube.restart_apiserver()  # with the watch cache on, compaction alone gives no 410

    run_through_faults(kube, api, tmp_path, [compact_and_restart, kube.restart_apiserver])
    assert relists(tmp_path / "one", "v1/Service") >= 2  # the 410 made it list again


def relists(log, kind: str) -> int:
    shown = ironlb("log", "show", log, "--kind", kind, "-o", "json").stdout.splitlines()
    return sum(json.loads(line)["type"] == "SYNC_START" for line in shown)


def test_without_the_watch_cache_compaction_gives_410_and_nothing_is_lost(
    kube_binaries_dir, tmp_path
):
    kube = KubeCluster(kube_binaries_dir, watch_cache=False)
    try:
        kube.install_ironlb_access()
        api = Api(kube)

        def compact_and_restart() -> None:
            compact_etcd(kube)
            kube.restart_apiserver()  # watches resume from a compacted revision: 410

        run_through_faults(kube, api, tmp_path, [compact_and_restart])
        assert relists(tmp_path / "one", "v1/Service") >= 2
    finally:
        kube.stop()


def test_etcd_stopped_and_the_api_away_longer_than_the_lease_lose_nothing(kube, api, tmp_path):
    def etcd_down_and_up() -> None:
        kube.stop_process("etcd")
        kube.start_etcd()

    def api_away_past_the_lease() -> None:
        kube.stop_process("kube-apiserver", signal.SIGKILL)
        # The Lease lasts 2 s and the API must stay away for longer: this waits on a
        # clock because the passing of time with no API to reach is the fault itself.
        time.sleep(3)
        kube.start_apiserver()

    run_through_faults(kube, api, tmp_path, [etcd_down_and_up, api_away_past_the_lease])


def test_record_captures_what_ironlb_reads_and_replays_to_the_same_plan(kube, api, tmp_path):
    api.create_pool("lan", "192.0.2.0/29")
    api.create_service("a")
    secret = {"metadata": {"name": "pw"}, "data": {"password": "c2VjcmV0"}}
    api.core.create_namespaced_secret(NS, secret)
    out = ironlb(
        "record", "--kubeconfig", kube.admin_kubeconfig, "--to", tmp_path / "rec", "--duration", "1"
    ).stdout
    assert out.startswith("recorded ")
    shown = ironlb("log", "show", tmp_path / "rec", "-o", "json").stdout
    kinds = {json.loads(line)["kind"] for line in shown.splitlines()}
    assert {"v1/Service", "metallb.io/v1beta1/IPAddressPool", "v1/Secret"} <= kinds
    assert "c2VjcmV0" not in shown
    plan = json.loads(ironlb("plan", tmp_path / "rec", "-o", "json").stdout)
    assert plan["services"]["default/a"]["ips"] == ["192.0.2.0"]


def test_pool_status_and_configuration_state_follow_the_configuration(kube, api, tmp_path):
    api.create_pool("lan", "192.0.2.0/29", "2001:db8::/126")
    api.create_service("a")
    port = free_port()
    controller = Controller(kube, tmp_path / "log", "--metrics-address", f"127.0.0.1:{port}")

    def pool_status() -> dict | None:
        pool = api.custom.get_namespaced_custom_object(
            "metallb.io", "v1beta1", NS, "ipaddresspools", "lan"
        )
        return pool.get("status")

    def config_state() -> dict:
        found = kube.get("configurationstates.metallb.io", "controller", "-n", NS) or {}
        return found.get("status") or {}

    try:
        api.wait(lambda: api.statuses().get("a") == ["192.0.2.0"], "a addressed", controller)
        counters = {"assignedIPv4": 1, "availableIPv4": 7, "assignedIPv6": 0, "availableIPv6": 4}
        api.wait(lambda: pool_status() == counters, f"pool status {counters}", controller)
        api.wait(lambda: config_state().get("result") == "Valid", "state Valid", controller)
        state = kube.get("configurationstates.metallb.io", "controller", "-n", NS)
        assert state["metadata"]["labels"] == {"metallb.io/component-type": "controller"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as reply:
            metrics = reply.read().decode()
        assert 'metallb_allocator_addresses_in_use_total{pool="lan"} 1.0' in metrics
        assert 'metallb_allocator_addresses_total{pool="lan"} 12.0' in metrics
        # Per family, and the Services holding addresses, as MetalLB names them.
        assert 'metallb_allocator_ipv4_addresses_total{pool="lan"} 8.0' in metrics
        assert 'metallb_allocator_ipv6_addresses_total{pool="lan"} 4.0' in metrics
        assert 'metallb_allocator_ipv4_addresses_in_use_total{pool="lan"} 1.0' in metrics
        assert 'metallb_allocator_ipv6_addresses_in_use_total{pool="lan"} 0.0' in metrics
        assert 'metallb_allocator_services_allocated_total{pool="lan"} 1.0' in metrics
        assert "ironlb_services_without_address 0.0" in metrics
        assert "# TYPE metallb_k8s_client_updates_total counter" in metrics
        updates = next(line for line in metrics.splitlines()
                       if line.startswith("metallb_k8s_client_updates_total "))  # fmt: skip
        assert float(updates.split()[1]) >= 2  # the pool and the Service at least
        assert "ironlb_leader 1.0" in metrics
        assert "metallb_k8s_client_config_stale_bool 0.0" in metrics
        assert "ironlb_fold_seconds_count" in metrics and "ironlb_events_appended_total" in metrics

        api.create_pool("overlap", "192.0.2.4/30")  # overlaps "lan": rejected
        api.wait(lambda: config_state().get("result") == "Invalid", "state Invalid", controller)
        summary = config_state()["errorSummary"]
        assert "IPAddressPool/metallb-system/overlap" in summary and "spec.addresses" in summary
        api.custom.delete_namespaced_custom_object(
            "metallb.io", "v1beta1", NS, "ipaddresspools", "overlap"
        )
        api.wait(lambda: config_state().get("result") == "Valid", "Valid again", controller)
    finally:
        assert controller.stop() == 0


def test_a_deleted_namespace_gives_its_services_addresses_back(kube, api, tmp_path):
    """kube-controller-manager's namespace controller deletes what the namespace held;
    the controller sees the Services go and hands their address on."""
    api.create_pool("lan", "192.0.2.0/31")  # two addresses
    kube.kubectl("create", "namespace", "shop")
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "till"},
        "spec": {"type": "LoadBalancer", "ports": [{"protocol": "TCP", "port": 80}]},
    }
    api.core.create_namespaced_service("shop", body)
    api.create_service("a")
    controller = Controller(kube, tmp_path / "log")
    try:
        api.wait(lambda: api.statuses().get("a") == ["192.0.2.0"], "a addressed", controller)
        till = lambda: api.core.read_namespaced_service("till", "shop").status.load_balancer.ingress  # noqa: E731
        api.wait(lambda: till() and till()[0].ip == "192.0.2.1", "shop/till addressed", controller)
        api.create_service("b")  # the pool is full: b waits
        api.wait(lambda: "b" in api.statuses(), "b exists", controller)
        assert api.statuses()["b"] == []
        kube.kubectl("delete", "namespace", "shop", "--wait=false")
        api.wait(
            lambda: api.statuses().get("b") == ["192.0.2.1"], "b gets till's address", controller
        )
    finally:
        assert controller.stop() == 0


def test_the_pool_annotation_is_written_and_cleared_as_metallb_does(kube, api, tmp_path):
    """metallb.io/ip-allocated-from-pool names the pool while the Service holds an
    address from it, and goes when it holds none (users' tooling reads it)."""

    def annotation(name: str) -> str | None:
        service = api.core.read_namespaced_service(name, "default")
        return (service.metadata.annotations or {}).get("metallb.io/ip-allocated-from-pool")

    api.create_pool("lan", "192.0.2.0/30")
    api.create_service("a")
    controller = Controller(kube, tmp_path / "log")
    try:
        api.wait(lambda: annotation("a") == "lan", "a annotated with its pool", controller)
        assert api.statuses()["a"] == ["192.0.2.0"]
        api.create_pool("dmz", "198.51.100.0/30")
        # Moved to another pool (the address-pool annotation): the annotation follows.
        api.core.patch_namespaced_service(
            "a", "default", {"metadata": {"annotations": {"metallb.io/address-pool": "dmz"}}}
        )
        api.wait(lambda: annotation("a") == "dmz", "a annotated with dmz", controller)
        assert api.statuses()["a"] == ["198.51.100.0"]
        # Its pool gone and no other it may use: no address, no annotation.
        api.custom.delete_namespaced_custom_object(
            "metallb.io", "v1beta1", NS, "ipaddresspools", "dmz"
        )
        api.wait(lambda: annotation("a") is None, "the annotation removed", controller)
        assert api.statuses()["a"] == []
    finally:
        assert controller.stop() == 0


def test_metrics_over_https_are_for_those_kubernetes_allows(kube, api, tmp_path):
    """No token: 401; a ServiceAccount without the right: 403; one bound to
    ironlb-metrics-reader (as Prometheus' would be): the metrics. Probes stay open;
    the plain endpoint is for loopback."""
    import ssl
    import urllib.error

    kube.kubectl("create", "serviceaccount", "prometheus", "-n", NS)
    kube.kubectl("create", "serviceaccount", "nosy", "-n", NS)
    reader = ("--clusterrole=ironlb-metrics-reader", f"--serviceaccount={NS}:prometheus")
    kube.kubectl("create", "clusterrolebinding", "prometheus-reads-ironlb", *reader)
    tokens = {
        name: kube.kubectl("create", "token", name, "-n", NS).strip()
        for name in ("prometheus", "nosy")
    }
    port = free_port()
    controller = Controller(kube, tmp_path / "log", "--secure-metrics-address",
                            f"127.0.0.1:{port}")  # fmt: skip
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # insecureSkipVerify

    def get(path: str, token: str | None = None) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(f"https://127.0.0.1:{port}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def serving() -> bool:
        try:
            return get("/healthz")[0] == 200
        except OSError:
            return False

    try:
        api.wait(serving, "the HTTPS endpoint up", controller)
        assert get("/metrics")[0] == 401
        assert get("/metrics", "not-a-token")[0] == 401
        status, body = get("/metrics", tokens["nosy"])
        assert status == 403 and "may not get /metrics" in body
        status, body = get("/metrics", tokens["prometheus"])
        assert status == 200 and "ironlb_events_appended_total" in body
        assert get("/readyz")[0] in (200, 503)  # open to the probes either way
    finally:
        assert controller.stop() == 0


def test_a_restart_recomputes_its_digests_and_reports_a_log_that_diverges(kube, api, tmp_path):
    from ironlb.events.own_kinds import DIGEST_KIND
    from ironlb.events.record import EventType, Record
    from ironlb.reconcile.plan.verify import RULES_VERSION
    from ironlb.store import open_store

    api.create_pool("lan", "192.0.2.0/29")
    api.create_service("a")
    first = Controller(kube, tmp_path / "log")
    api.wait(lambda: api.statuses().get("a") == ["192.0.2.0"], "a addressed", first)
    assert first.stop() == 0

    def restarted() -> tuple[str, str]:
        port = free_port()
        again = Controller(kube, tmp_path / "log", "--metrics-address", f"127.0.0.1:{port}")
        try:
            api.wait(lambda: api.lease_holder() is not None, "a leader", again)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as reply:
                return reply.read().decode(), again.log()
        finally:
            again.stop()

    metrics, _ = restarted()
    assert 'ironlb_replay_digests_checked_total{scope="controller"}' in metrics
    assert 'ironlb_replay_divergences_total{scope="controller"} 0.0' in metrics
    # A digest the log does not replay to, as a nondeterministic build would have
    # written it: the next restart counts it and says where to look.
    with open_store(str(tmp_path / "log")) as store:
        forged = {"digest": "0" * 64, "rules": RULES_VERSION, "format": 2, "base": True,
                  "entries": {}, "gone": []}  # fmt: skip
        record = Record(0, time.time(), "controller", EventType.ADDED, DIGEST_KIND,
                        "controller", None, forged)  # fmt: skip
        (seq,) = store.append([record])
    metrics, log = restarted()
    assert 'ironlb_replay_divergences_total{scope="controller"} 1.0' in metrics
    assert f"controller plan at seq {seq}" in log and "ironlb replay --verify" in log
