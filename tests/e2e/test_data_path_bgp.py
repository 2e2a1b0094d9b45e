"""The data path in the BGP lab: a client behind a BIRD router reaches a Service at
the address ironlb's controller gave it, through the route ironlb's speaker
announced and kube-proxy's rules on the node, all fed from a real kube-apiserver.

Namespaces: ``node`` (10.30.0.1; ironlb speaker, kube-proxy, a backend "pod" on
10.244.1.10) -- ``router`` (10.30.0.2 and 10.40.0.1; BIRD, exporting what it learns
into its kernel table, forwarding) -- ``client`` (10.40.0.2, default route via the
router). The node reaches the API server over an uplink from the test's namespace.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest
from kubernetes import client

from tests.e2e.capabilities import as_in_the_manifest
from tests.e2e.routers import Bird, Neighbor, linked_namespaces, run
from tests.e2e.test_data_path import BACKEND, FETCH, kube_proxy, service
from tests.e2e.test_layer2 import pytestmark as layer2_requirements
from tests.kube_cluster import NAMESPACE, KubeCluster
from tests.processes import DEADLINE, Speaker

pytestmark = [
    layer2_requirements,
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("bird", "birdc", "iptables-restore")),
        reason="needs bird2 and iptables (apt install bird2 iptables)",
    ),
]

NODE, ROUTER, ROUTER_SOUTH, CLIENT = "10.30.0.1", "10.30.0.2", "10.40.0.1", "10.40.0.2"
UPLINK_HOST, UPLINK_NODE = "10.50.0.254", "10.50.0.1"
POD = "10.244.1.10"


class BgpLab:
    def __init__(self, tmp, binaries) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.ns = {name: f"ilbd-{name[0]}-{suffix}" for name in ("node", "router", "client")}
        self.uplink = f"ilbu{suffix}"
        self.tmp = tmp
        self.binaries = binaries
        self.processes: list[subprocess.Popen] = []
        self.kube: KubeCluster | None = None
        self.router = Bird(self.ns["router"], tmp / "bird", ROUTER)
        self.speaker: Speaker | None = None

    def build(self) -> None:
        node, router, client_ns = self.ns["node"], self.ns["router"], self.ns["client"]
        linked_namespaces(node, router, [f"{NODE}/24"], [f"{ROUTER}/24"])
        run("ip", "netns", "add", client_ns)
        run("ip", "-n", client_ns, "link", "set", "lo", "up")
        run("ip", "-n", router, "link", "add", "south", "type", "veth", "peer", "name",
            "eth0", "netns", client_ns)  # fmt: skip
        run("ip", "-n", router, "addr", "add", f"{ROUTER_SOUTH}/24", "dev", "south")
        run("ip", "-n", router, "link", "set", "south", "up")
        run("ip", "-n", client_ns, "addr", "add", f"{CLIENT}/24", "dev", "eth0")
        run("ip", "-n", client_ns, "link", "set", "eth0", "up")
        run("ip", "-n", client_ns, "route", "add", "default", "via", ROUTER_SOUTH)
        run("ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        run("ip", "-n", node, "route", "add", "10.40.0.0/24", "via", ROUTER)
        run("ip", "-n", node, "addr", "add", f"{POD}/32", "dev", "lo")
        # The uplink that carries the node's watches to the API server.
        run("ip", "link", "add", self.uplink, "type", "veth", "peer", "name", "up0",
            "netns", node)  # fmt: skip
        run("ip", "addr", "add", f"{UPLINK_HOST}/24", "dev", self.uplink)
        run("ip", "link", "set", self.uplink, "up")
        run("ip", "-n", node, "addr", "add", f"{UPLINK_NODE}/24", "dev", "up0")
        run("ip", "-n", node, "link", "set", "up0", "up")
        self.kube = KubeCluster(self.binaries, host=UPLINK_HOST)
        self.kube.install_ironlb_access()

    def spawn(self, ns: str | None, *command: str) -> None:
        log = open(self.tmp / f"process-{len(self.processes)}.log", "w")  # noqa: SIM115
        prefix = ["ip", "netns", "exec", ns] if ns else []
        self.processes.append(subprocess.Popen([*prefix, *command], stdout=log, stderr=log))
        log.close()

    def destroy(self) -> None:
        if self.speaker is not None:
            self.speaker.terminate()
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                process.kill()
        self.router.stop()
        if self.kube is not None:
            self.kube.stop()
        for ns in self.ns.values():
            run("ip", "netns", "del", ns, check=False)
        run("ip", "link", "del", self.uplink, check=False)

    def fetch(self, url: str) -> str:
        done = run("ip", "netns", "exec", self.ns["client"], sys.executable, "-c", FETCH, url)
        return done.stdout.strip()


@pytest.fixture
def lab(tmp_path, kube_binaries_dir):
    laboratory = BgpLab(tmp_path, kube_binaries_dir)
    try:
        laboratory.build()
        yield laboratory
    finally:
        laboratory.destroy()


def metallb(kind: str, name: str, spec: dict, version: str = "v1beta1") -> dict:
    return {
        "apiVersion": f"metallb.io/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


def test_a_client_behind_the_router_reaches_the_service(lab):
    kube = lab.kube
    assert kube is not None
    lab.router.extra_config = ["protocol kernel { ipv4 { export all; }; }"]
    lab.router.start([Neighbor(NODE, ROUTER, 64512, 64513)])
    api = kube.client()
    core = client.CoreV1Api(api)
    core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"}})
    kube.apply(
        [
            metallb("IPAddressPool", "bgp", {"addresses": ["198.51.100.0/24"]}),
            metallb("BGPAdvertisement", "all", {}),
            metallb(
                "BGPPeer",
                "router",
                {"myASN": 64512, "peerASN": 64513, "peerAddress": ROUTER},
                "v1beta2",
            ),
        ]
    )
    core.create_namespaced_service("default", service("web", {80: 8080}))
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "p80", "protocol": "TCP", "port": 8080}],
        "endpoints": [{"addresses": [POD], "nodeName": "node1", "conditions": {"ready": True}}],
    }
    client.DiscoveryV1Api(api).create_namespaced_endpoint_slice("default", endpoints)
    controller = kube.service_account_kubeconfig("ironlb-controller")
    controller_log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
    lab.processes.append(
        subprocess.Popen(
            [sys.executable, "-m", "ironlb", "controller", "--kubeconfig", str(controller),
             "--store", str(lab.tmp / "controller"), "--digest-interval", "0"],
            stderr=controller_log,
        )
    )  # fmt: skip
    node = lab.ns["node"]
    lab.spawn(node, sys.executable, "-c", BACKEND, "node1", POD, "8080")
    lab.spawn(node, *kube_proxy(kube, "node1"))
    lab.speaker = Speaker(
        "--node", "node1", "--kubeconfig", kube.service_account_kubeconfig("ironlb-speaker"),
        "--store", lab.tmp / "speaker", "--no-layer2", "--no-links",
        prefix=as_in_the_manifest(("ip", "netns", "exec", node)),
    )  # fmt: skip

    def address() -> str | None:
        ingress = core.read_namespaced_service("web", "default").status.load_balancer.ingress
        return ingress[0].ip if ingress else None

    vip = kube.wait_for(address, "web gets an address")
    lab.router.wait_for_routes(4, lambda routes: f"{vip}/32" in routes, f"{vip}/32 at the router")
    kube.wait_for(lambda: lab.fetch(f"http://{vip}/") == "node1:8080", f"http://{vip}/ answers")
