"""The layer-2 LAN of test_layer2.py, with speakers that take the cluster from the
test API server: a veth from the test's namespace onto the bridge carries their
watches and Lease renewals to it."""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client

from tests.apiserver import ApiServer
from tests.e2e.test_layer2 import NODES, VIP4, Lan, run
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


def populate(server: ApiServer) -> None:
    api = server.client()
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    for name in NODES:
        core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    pool = metallb_object("IPAddressPool", {"addresses": ["10.10.0.200-10.10.0.210"]})
    custom.create_namespaced_custom_object("metallb.io", "v1beta1", NS, "ipaddresspools", pool)
    advertisement = metallb_object("L2Advertisement", {})
    custom.create_namespaced_custom_object(
        "metallb.io", "v1beta1", NS, "l2advertisements", advertisement
    )
    spec = {
        "type": "LoadBalancer",
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10"],
        "ports": [{"port": 80}],
    }
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec}
    core.create_namespaced_service("default", service)
    ingress = {"status": {"loadBalancer": {"ingress": [{"ip": VIP4}]}}}
    core.patch_namespaced_service_status("web", "default", ingress)
    endpoints = [{"addresses": [f"10.244.{i}.5"], "nodeName": n} for i, n in enumerate(NODES)]
    client.DiscoveryV1Api(api).create_namespaced_endpoint_slice(
        "default",
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": endpoints,
        },
    )


class ClusterLan(Lan):
    """The e2e LAN, with speakers taking the cluster from the API server."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.uplink = f"ilh{os.getpid() % 100000}"
        self.server: ApiServer | None = None

    def build(self) -> None:
        super().build()
        bridge = self.ns["br"]
        run(
            "ip", "link", "add", self.uplink, "type", "veth", "peer", "name", "up0", "netns", bridge
        )
        run("ip", "-n", bridge, "link", "set", "up0", "master", "br0", "up")
        run("ip", "addr", "add", f"{HOST_ADDRESS}/24", "dev", self.uplink)
        run("ip", "link", "set", self.uplink, "up")
        self.server = ApiServer(host=HOST_ADDRESS)
        populate(self.server)

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
            "--api-server",
            self.server.url,
            "--store",
            self.tmp / f"own-{node}",
            prefix=("ip", "netns", "exec", self.ns[node]),
        )
        self.speakers[node] = speaker
        return speaker


def announcing(node: str):
    def check(plan: dict) -> bool:
        return plan["l2"].get("default/web", {}).get(VIP4, {}).get("node") == node

    return check
