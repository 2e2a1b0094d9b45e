"""The whole data path once, end to end (layer 2; test_data_path_bgp.py has the BGP
lab): a real kube-apiserver, ironlb's controller
and speakers, kube-proxy (iptables mode, built from the same Kubernetes module) in
each node's network namespace, a backend "pod" per node, and a client on the LAN
that reaches Services at their load-balancer addresses.

* externalTrafficPolicy Cluster: the client reaches a backend through whichever node
  answers ARP for the address;
* externalTrafficPolicy Local: only the node with a local endpoint announces, and the
  traffic reaches that endpoint;
* two Services sharing one address on different ports both answer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time

import pytest
from kubernetes import client

from tests.e2e.cluster_lan import ClusterLan
from tests.e2e.test_layer2 import NODES, pytestmark, run
from tests.integration.test_controller import DEADLINE

if shutil.which("iptables-restore") is None:
    pytestmark = pytest.mark.skip(reason="needs iptables (apt install iptables) for kube-proxy")

NS = "metallb-system"
SHARED = "10.10.0.205"
BACKEND = """
import http.server, sys
node, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{node}:{port}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer((address, port), Answer).serve_forever()
"""
FETCH = """
import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())
except OSError as exc:
    print(f"error {exc}")
"""


def kube_proxy(kube, node: str) -> list[str]:
    """kube-proxy for one node's namespace: iptables mode, conntrack left as the
    namespace has it (its sysctls are not the namespace's to set)."""
    return [
        str(kube.bin / "kube-proxy"),
        f"--kubeconfig={kube.admin_kubeconfig}",
        f"--hostname-override={node}",
        "--proxy-mode=iptables",
        "--cluster-cidr=10.244.0.0/16",
        "--conntrack-max-per-core=0",
        "--conntrack-tcp-timeout-established=0",
        "--conntrack-tcp-timeout-close-wait=0",
        "--healthz-bind-address=127.0.0.1:10256",
        "--metrics-bind-address=127.0.0.1:10249",
    ]


def pod_ip(node: str) -> str:
    return f"10.244.{NODES.index(node) + 1}.10"


class DataPathLan(ClusterLan):
    """ClusterLan plus pods, kube-proxy and the controller."""

    def __init__(self, tmp, binaries) -> None:
        super().__init__(tmp, binaries)
        self.background: list[subprocess.Popen] = []

    def build(self) -> None:
        super().build()
        assert self.server is not None
        for node in NODES:
            ns = self.ns[node]
            self.exec(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            # The pod's address on the node's loopback (no dummy links in every kernel).
            run("ip", "-n", ns, "addr", "add", f"{pod_ip(node)}/32", "dev", "lo")
            for other_index, other in enumerate(NODES, start=1):
                if other != node:
                    run("ip", "-n", ns, "route", "add", f"10.244.{other_index}.0/24",
                        "via", f"10.10.0.{other_index}")  # fmt: skip
            for port in (8080, 8081):
                self._spawn(ns, sys.executable, "-c", BACKEND, node, pod_ip(node), str(port))
            self._spawn(ns, *kube_proxy(self.server, node))
        kubeconfig = self.server.service_account_kubeconfig("ironlb-controller")
        self.controller_log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self.background.append(
            subprocess.Popen(
                [sys.executable, "-m", "ironlb", "controller", "--kubeconfig", str(kubeconfig),
                 "--store", str(self.tmp / "controller"), "--digest-interval", "0"],
                stderr=self.controller_log,
            )
        )  # fmt: skip

    def _spawn(self, ns: str, *command: str) -> None:
        log = open(self.tmp / f"{ns}-{len(self.background)}.log", "w")  # noqa: SIM115
        self.background.append(
            subprocess.Popen(["ip", "netns", "exec", ns, *command], stdout=log, stderr=log)
        )
        log.close()

    def destroy(self) -> None:
        for process in self.background:
            process.terminate()
        for process in self.background:
            try:
                process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                process.kill()
        super().destroy()

    def fetch(self, url: str) -> str:
        return self.exec(self.ns["client"], sys.executable, "-c", FETCH, url).stdout.strip()

    def reaches(self, url: str, wanted) -> str:
        """Ask until an answer satisfies ``wanted`` (kube-proxy and the speakers
        converge in their own time); the answer, or a failure naming the last one."""
        deadline = time.monotonic() + DEADLINE
        answer = ""
        while time.monotonic() < deadline:
            answer = self.fetch(url)
            if wanted(answer):
                return answer
            time.sleep(0.2)  # the next try: the network has no event to wait on
        raise AssertionError(f"{url}: last answer {answer!r}")


def service(name: str, ports: dict[int, int], *, local: bool = False, **annotations) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": "Local" if local else "Cluster",
            "ports": [
                {"name": f"p{port}", "protocol": "TCP", "port": port, "targetPort": target}
                for port, target in ports.items()
            ],
        },
    }


def endpoint_slice(name: str, nodes: tuple[str, ...], ports: dict[int, int]) -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-1", "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "ports": [{"name": f"p{p}", "protocol": "TCP", "port": t} for p, t in ports.items()],
        "endpoints": [
            {"addresses": [pod_ip(n)], "nodeName": n, "conditions": {"ready": True}} for n in nodes
        ],
    }


@pytest.fixture
def lan(tmp_path, kube_binaries_dir):
    network = DataPathLan(tmp_path, kube_binaries_dir)
    try:
        network.build()
        for node in NODES:
            network.start(node)
        yield network
    finally:
        network.destroy()


def create(lan: DataPathLan, name: str, nodes, ports, **kwargs) -> str:
    """Create a Service and its endpoints; the address the controller gives it."""
    api = lan.server.client()
    core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)
    core.create_namespaced_service("default", service(name, ports, **kwargs))
    discovery.create_namespaced_endpoint_slice("default", endpoint_slice(name, nodes, ports))

    def address() -> str | None:
        ingress = core.read_namespaced_service(name, "default").status.load_balancer.ingress
        return ingress[0].ip if ingress else None

    return lan.server.wait_for(address, f"{name} gets an address")


def test_cluster_local_and_shared_services_carry_traffic(lan):
    everywhere = create(lan, "echo", NODES, {80: 8080})
    answer = lan.reaches(f"http://{everywhere}/", lambda a: a in {"n1:8080", "n2:8080"})
    assert answer.endswith(":8080")

    # Local: only n2 has an endpoint, so only n2 announces and n2's pod answers.
    local = create(lan, "local", ("n2",), {80: 8080}, local=True)
    lan.speakers["n2"].next_plan(
        lambda p: p["l2"].get("default/local", {}).get(local, {}).get("node") == "n2"
    )  # a node's plan lists what it announces: n1's never holds default/local
    assert lan.reaches(f"http://{local}/", lambda a: a == "n2:8080") == "n2:8080"
    assert lan.arping(local) == lan.mac("n2")

    # Two Services on one address, different ports: both answer.
    shared = {"metallb.io/allow-shared-ip": "web", "metallb.io/loadBalancerIPs": SHARED}
    assert create(lan, "share-a", NODES, {80: 8080}, **shared) == SHARED
    assert create(lan, "share-b", NODES, {81: 8081}, **shared) == SHARED
    assert lan.reaches(f"http://{SHARED}:80/", lambda a: a.endswith(":8080"))
    assert lan.reaches(f"http://{SHARED}:81/", lambda a: a.endswith(":8081"))
