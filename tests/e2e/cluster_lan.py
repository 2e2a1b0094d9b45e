"""The layer-2 LAN of test_layer2.py, with speakers that take the cluster from a real
kube-apiserver: a veth from the test's namespace onto the bridge carries their
watches and Lease renewals to it (it listens on that veth's address)."""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client

from tests.apiserver import create_web
from tests.e2e.capabilities import as_in_the_manifest
from tests.e2e.test_layer2 import NODES, VIP4, Lan, run
from tests.kube_cluster import KubeCluster, kube_binaries
from tests.processes import Speaker

NS = "metallb-system"
HOST_ADDRESS = "10.10.0.254"


def metallb_object(kind: str, spec: dict) -> dict:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": kind,
        "metadata": {"name": "lan"},
        "spec": spec,
    }


def populate(server: KubeCluster, *, heartbeats: bool = False) -> None:
    """Nodes, a pool, an L2Advertisement and Service web; with ``heartbeats`` the
    Nodes carry their LAN addresses and MetalLB's memberlist Secret exists, so the
    speakers beat to each other (without: Leases alone judge them)."""
    api = server.client()
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    for number, name in enumerate(NODES, start=1):
        core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        if heartbeats:
            address = {"type": "InternalIP", "address": f"10.10.0.{number}"}
            core.patch_node_status(name, {"status": {"addresses": [address]}})
    if heartbeats:
        key = {"secretkey": "YSBzaGFyZWQga2V5IG9mIHRoZSB0ZXN0IGNsdXN0ZXI="}
        core.create_namespaced_secret(
            NS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "memberlist"},
                 "stringData": key},
        )  # fmt: skip
    pool = metallb_object("IPAddressPool", {"addresses": ["10.10.0.200-10.10.0.210"]})
    custom.create_namespaced_custom_object("metallb.io", "v1beta1", NS, "ipaddresspools", pool)
    advertisement = metallb_object("L2Advertisement", {})
    custom.create_namespaced_custom_object(
        "metallb.io", "v1beta1", NS, "l2advertisements", advertisement
    )
    create_web(server, list(NODES), ingress=VIP4)


class ClusterLan(Lan):
    """The e2e LAN, with speakers taking the cluster from the API server."""

    def __init__(
        self, tmp: Path, binaries: Path | None = None, *, heartbeats: bool = False
    ) -> None:
        super().__init__(tmp)
        self.binaries = binaries
        self.heartbeats = heartbeats
        self.uplink = f"ilh{os.getpid() % 100000}"
        self.server: KubeCluster | None = None

    def build(self) -> None:
        super().build()
        bridge = self.ns["br"]
        run(
            "ip", "link", "add", self.uplink, "type", "veth", "peer", "name", "up0", "netns", bridge
        )
        run("ip", "-n", bridge, "link", "set", "up0", "master", "br0", "up")
        run("ip", "addr", "add", f"{HOST_ADDRESS}/24", "dev", self.uplink)
        run("ip", "link", "set", self.uplink, "up")
        self.server = KubeCluster(self.binaries or kube_binaries(), host=HOST_ADDRESS)
        self.server.install_ironlb_access()
        self.kubeconfig = self.server.service_account_kubeconfig("ironlb-speaker")
        populate(self.server, heartbeats=self.heartbeats)

    def destroy(self) -> None:
        super().destroy()
        if self.server is not None:
            self.server.stop()
        run("ip", "link", "del", self.uplink, check=False)

    def start(self, node: str) -> Speaker:
        assert self.server is not None
        speaker = Speaker(
            "--node",
            node,
            "--kubeconfig",
            self.kubeconfig,
            "--store",
            self.tmp / f"own-{node}",
            "--metrics-address",
            "127.0.0.1:7472",  # each node's own loopback (Lan.metrics)
            prefix=as_in_the_manifest(("ip", "netns", "exec", self.ns[node])),
        )
        self.speakers[node] = speaker
        return speaker

    def beats_heard(self, node: str) -> float:
        """Heartbeats ``node``'s speaker accepted from the others so far."""
        for line in self.metrics(node).splitlines():
            if line.startswith("ironlb_membership_beats_received_total"):
                return float(line.split()[-1])
        return 0.0


def announcing(node: str):
    def check(plan: dict) -> bool:
        return plan["l2"].get("default/web", {}).get(VIP4, {}).get("node") == node

    return check
