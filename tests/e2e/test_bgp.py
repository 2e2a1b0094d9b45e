"""The native BGP speaker against BIRD 2, FRR (bgpd) and GoBGP in network namespaces.

Topology per test: namespace ``node`` runs ``ironlb speaker`` standalone (a shared
events log, ``--assign-addresses``), namespace ``router`` runs the daemon, passive,
on one veth: node 10.30.0.1 (and .4) / fd00:30::1, router 10.30.0.2 (and .3) /
fd00:30::2.
What arrived is read from the daemon's own CLI.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import Iterator

import pytest

from ironlb.events.own_kinds import SESSION_KIND
from tests.e2e.capabilities import as_in_the_manifest
from tests.e2e.routers import DAEMONS, Neighbor, Router, linked_namespaces, run
from tests.e2e.test_layer2 import pytestmark as layer2_requirements
from tests.e2e.test_layer2 import wait_for_record
from tests.processes import Speaker, ironlb

pytestmark = [
    layer2_requirements,
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("bird", "birdc", "gobgpd", "gobgp", "vtysh")),
        reason="needs bird2, frr and gobgpd (apt install bird2 frr gobgpd)",
    ),
]

NODE4, NODE4_OTHER, ROUTER4, ROUTER4_OTHER = "10.30.0.1", "10.30.0.4", "10.30.0.2", "10.30.0.3"
NODE6, ROUTER6 = "fd00:30::1", "fd00:30::2"
VIP4, VIP6 = "198.51.100.10", "fd00:99::10"


def manifests(peers: list[dict], local_pref: int | None = None) -> str:
    advertisement = {"communities": ["64512:100", "large:64512:1:2"]}
    if local_pref is not None:
        advertisement["localPref"] = local_pref
    objects = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "node1"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "bgp", "namespace": "metallb-system"},
            "spec": {"addresses": ["198.51.100.0/24", "fd00:99::/120"]},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": "all", "namespace": "metallb-system"},
            "spec": advertisement,
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "annotations": {"metallb.io/loadBalancerIPs": f"{VIP4},{VIP6}"},
            },
            "spec": {
                "type": "LoadBalancer",
                "ipFamilyPolicy": "RequireDualStack",
                "clusterIPs": ["10.96.0.10", "fd00:96::10"],
                "ports": [{"port": 80}],
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "web-1",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "web"},
            },
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.244.0.5"], "nodeName": "node1", "conditions": {"ready": True}}
            ],
        },
    ]
    for spec in peers:
        name = spec.pop("name")
        objects.append(
            {
                "apiVersion": "metallb.io/v1beta2",
                "kind": "BGPPeer",
                "metadata": {"name": name, "namespace": "metallb-system"},
                "spec": spec,
            }
        )
    return "".join(json.dumps(o) + "\n" for o in objects)


class Lab:
    def __init__(self, tmp, daemon: str) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.node_ns, self.router_ns = f"ilb-n-{suffix}", f"ilb-r-{suffix}"
        self.tmp = tmp
        self.events = tmp / "events"
        self.own = tmp / "own"
        self.router: Router = DAEMONS[daemon](self.router_ns, tmp / daemon, ROUTER4)
        self.speaker: Speaker | None = None

    def build(self) -> None:
        linked_namespaces(
            self.node_ns,
            self.router_ns,
            [f"{NODE4}/24", f"{NODE4_OTHER}/24", f"{NODE6}/64"],
            [f"{ROUTER4}/24", f"{ROUTER4_OTHER}/24", f"{ROUTER6}/64"],
        )

    def destroy(self) -> None:
        if self.speaker is not None:
            self.speaker.terminate()
        self.router.stop()
        for ns in (self.node_ns, self.router_ns):
            run("ip", "netns", "del", ns, check=False)

    def publish(self, text: str) -> None:
        ironlb("log", "import", "-", "--to", self.events, stdin=text)

    def start_speaker(self, *extra: object) -> Speaker:
        self.speaker = Speaker(
            "--node",
            "node1",
            "--events",
            self.events,
            "--store",
            self.own,
            "--assign-addresses",
            "--no-layer2",
            "--no-links",
            *extra,
            prefix=as_in_the_manifest(("ip", "netns", "exec", self.node_ns)),
        )
        self.speaker.next_plan(lambda plan: True)  # printed once its own log is open
        return self.speaker

    def session_record(self, peer: str, state: str | None = None, reason: str = ""):
        def matching(record) -> bool:
            o = record.object
            return o["peer"] == peer and state in (None, o["state"]) and reason in o["reason"]

        return wait_for_record(self.own, SESSION_KIND, matching)


@contextlib.contextmanager
def built_lab(tmp_path, daemon: str) -> Iterator[Lab]:
    laboratory = Lab(tmp_path, daemon)
    try:
        laboratory.build()
        yield laboratory
    finally:
        laboratory.destroy()


@pytest.fixture(params=sorted(DAEMONS))
def lab(request, tmp_path):
    with built_lab(tmp_path, request.param) as laboratory:
        yield laboratory


def peer(name: str, address: str, my: int, their: int, **extra) -> dict:
    return {"name": name, "myASN": my, "peerASN": their, "peerAddress": address, **extra}


@pytest.mark.parametrize("mode", ["ebgp", "ibgp"])
def test_routes_arrive_with_their_attributes_and_leave_with_the_service(lab, mode):
    their = 64513 if mode == "ebgp" else 64512
    lab.router.start(
        [Neighbor(NODE4, ROUTER4, 64512, their), Neighbor(NODE6, ROUTER6, 64512, their)]
    )
    peers = [peer("r4", ROUTER4, 64512, their), peer("r6", ROUTER6, 64512, their)]
    lab.publish(manifests(peers, local_pref=250 if mode == "ibgp" else None))
    lab.start_speaker()

    v4 = lab.router.wait_for_routes(4, lambda r: f"{VIP4}/32" in r, "IPv4 route")
    v6 = lab.router.wait_for_routes(6, lambda r: f"{VIP6}/128" in r, "IPv6 route")
    for seen, hop in ((v4[f"{VIP4}/32"], NODE4), (v6[f"{VIP6}/128"], NODE6)):
        assert seen.next_hop == hop
        assert seen.communities == {"64512:100"}
        assert seen.large_communities == {"64512:1:2"}
        if mode == "ibgp":
            assert seen.local_pref == 250

    gone = {
        "type": "DELETED",
        "object": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
        },
    }
    lab.publish(json.dumps(gone) + "\n")
    lab.router.wait_for_routes(4, lambda r: f"{VIP4}/32" not in r, "IPv4 withdrawal")
    lab.router.wait_for_routes(6, lambda r: f"{VIP6}/128" not in r, "IPv6 withdrawal")


def test_md5_sessions_need_the_right_password(lab):
    lab.router.start(
        [
            Neighbor(NODE4, ROUTER4, 64512, 64513, password="s3cret"),
            Neighbor(NODE4_OTHER, ROUTER4_OTHER, 64512, 64513, password="s3cret"),
        ]
    )
    peers = [
        peer("good", ROUTER4, 64512, 64513, password="s3cret"),
        peer("bad", ROUTER4_OTHER, 64512, 64513, password="wrong", sourceAddress=NODE4_OTHER),
    ]
    lab.publish(manifests(peers))
    # The log holds only hashes of the passwords: a standalone speaker reads the
    # values from files named for the peers.
    assert b"s3cret" not in b"".join(p.read_bytes() for p in lab.events.glob("*.log"))
    passwords = lab.tmp / "passwords"
    passwords.mkdir()
    (passwords / "good").write_text("s3cret\n")
    (passwords / "bad").write_text("wrong\n")
    lab.start_speaker("--bgp-password-dir", passwords)
    routes = lab.router.wait_for_routes(4, lambda r: f"{VIP4}/32" in r, "route over MD5")
    assert routes[f"{VIP4}/32"].next_hop == NODE4
    # The router's kernel drops segments signed with the wrong key: the dial times out.
    lab.session_record("bad", state="Active", reason="no answer")
    assert "Established" not in session_states(lab, "bad")
    assert "Established" in session_states(lab, "good")


def session_states(lab: Lab, peer: str) -> list[str]:
    """Every state the speaker recorded for ``peer`` so far."""
    from ironlb.store import open_store

    with open_store(str(lab.own), readonly=True) as store:
        return [
            r.object["state"]
            for r in store.read()
            if r.kind == SESSION_KIND and r.object["peer"] == peer
        ]


def test_a_restarted_peer_gets_the_session_and_the_routes_back(lab):
    lab.router.start([Neighbor(NODE4, ROUTER4, 64512, 64513)])
    lab.publish(manifests([peer("r4", ROUTER4, 64512, 64513)]))
    lab.start_speaker()
    lab.router.wait_for_routes(4, lambda r: f"{VIP4}/32" in r, "route")
    lab.router.stop()
    lab.session_record("r4", state="Active")  # the speaker saw the session go
    lab.router.start([Neighbor(NODE4, ROUTER4, 64512, 64513)])
    lab.router.wait_for_routes(4, lambda r: f"{VIP4}/32" in r, "route after the restart")


def test_a_silent_peer_is_detected_by_the_hold_timer(lab):
    lab.router.start([Neighbor(NODE4, ROUTER4, 64512, 64513)])
    lab.publish(manifests([peer("r4", ROUTER4, 64512, 64513, holdTime="3s")]))
    lab.start_speaker()
    lab.session_record("r4", state="Established")
    lab.router.pause()
    try:
        record = lab.session_record("r4", reason="hold timer expired")
        assert record.object["previous"] == "Established"
    finally:
        lab.router.resume()


def test_a_peer_whose_password_cannot_be_found_gets_no_session(lab):
    lab.router.start([Neighbor(NODE4, ROUTER4, 64512, 64513)])  # would accept anyone
    lab.publish(manifests([peer("r4", ROUTER4, 64512, 64513, password="s3cret")]))
    lab.start_speaker()  # no --bgp-password-dir: the log has only the hash
    lab.session_record("r4", state="Idle", reason="no password")
    assert "Established" not in session_states(lab, "r4")
    assert lab.router.routes(4) == {}


def test_local_asn_is_the_as_the_router_sees(lab):
    # The router knows the node only as AS 64600 (FRR's local-as ... replace-as).
    lab.router.start([Neighbor(NODE4, ROUTER4, 64600, 64513)])
    lab.publish(manifests([peer("r4", ROUTER4, 64512, 64513, localASN=64600)]))
    lab.start_speaker()
    routes = lab.router.wait_for_routes(4, lambda r: f"{VIP4}/32" in r, "route from AS 64600")
    assert routes[f"{VIP4}/32"].as_path == (64600,)  # no-prepend: 64512 appears nowhere


def marker(name: str, address: str) -> str:
    """An IPv4-only Service served on node1, published after the others: once its
    route is in, everything sent before it on the same session has been read."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {"metallb.io/loadBalancerIPs": address},
        },
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.11"], "ports": [{"port": 80}]},
    }
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-1",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": name},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.244.0.6"], "nodeName": "node1", "conditions": {"ready": True}}
        ],
    }
    return json.dumps(service) + "\n" + json.dumps(endpoints) + "\n"


@pytest.mark.parametrize("dual", [False, True], ids=["ipv4-session", "dual-stack-session"])
def test_a_session_carries_its_family_or_both_when_dual_stack(lab, dual):
    # The router would take IPv6 on the IPv4 session: only the speaker decides.
    lab.router.start([Neighbor(NODE4, ROUTER4, 64512, 64513, both_families=True)])
    extra = {"dualStackAddressFamily": True} if dual else {}
    lab.publish(manifests([peer("r4", ROUTER4, 64512, 64513, **extra)]))
    lab.start_speaker()
    lab.router.wait_for_routes(4, lambda r: f"{VIP4}/32" in r, "IPv4 route")
    if dual:
        v6 = lab.router.wait_for_routes(6, lambda r: f"{VIP6}/128" in r, "IPv6 over IPv4")
        assert v6[f"{VIP6}/128"].next_hop == NODE6  # the interface's IPv6 address
    else:
        lab.publish(marker("marker", "198.51.100.11"))
        lab.router.wait_for_routes(4, lambda r: "198.51.100.11/32" in r, "the marker route")
        assert lab.router.routes(6) == {}  # MetalLB's FRR modes: IPv4 only on this session


def test_two_advertisements_of_one_prefix_send_the_union_of_their_communities(lab):
    lab.router.start([Neighbor(NODE4, ROUTER4, 64512, 64513)])
    second = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": {"name": "tagged", "namespace": "metallb-system"},
        "spec": {"communities": ["64512:200", "large:64512:3:4"]},
    }
    lab.publish(manifests([peer("r4", ROUTER4, 64512, 64513)]) + json.dumps(second) + "\n")
    lab.start_speaker()

    def both(routes) -> bool:  # not the first sight: the plan may grow ad by ad
        return f"{VIP4}/32" in routes and len(routes[f"{VIP4}/32"].communities) == 2

    routes = lab.router.wait_for_routes(4, both, "route with both communities")
    assert routes[f"{VIP4}/32"].communities == {"64512:100", "64512:200"}
    assert routes[f"{VIP4}/32"].large_communities == {"64512:1:2", "64512:3:4"}
