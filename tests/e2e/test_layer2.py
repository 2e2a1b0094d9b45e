"""Layer 2 end to end: speakers in node namespaces, a client on the same bridge, real tools.

Topology (built per test module): a bridge namespace with ``br0``; namespaces
``n1``, ``n2`` (nodes, each running ``ironlb speaker`` standalone on a shared events
log) and ``client``, each with an ``eth0`` on the bridge. The client asks with
``arping`` and ``ndisc6`` (Debian's) and watches announcements with a raw socket.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ironlb.store import open_store
from tests.e2e.capabilities import as_in_the_manifest
from tests.processes import DEADLINE, Speaker, ironlb

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "arping", "ndisc6")),
    reason="needs root, iproute2, arping and ndisc6 (apt install iproute2 arping ndisc6)",
)

FRAMES = Path(__file__).with_name("frames.py")
VIP4, VIP6 = "10.10.0.200", "fd00:10::200"
NODES = ("n1", "n2")


def cluster(
    endpoints_on: tuple[str, ...] = NODES,
    nodes_on_lan: tuple[str, ...] = NODES,
    *,
    addresses: bool = False,
) -> str:
    """The Nodes (with their LAN addresses as InternalIP when ``addresses``: the
    speakers' heartbeats go there), a pool, an L2Advertisement and Service web."""
    nodes = "".join(
        f"---\napiVersion: v1\nkind: Node\nmetadata: {{name: {n}}}\n"
        "status: {conditions: [{type: Ready, status: 'True'}]"
        + (f", addresses: [{{type: InternalIP, address: 10.10.0.{i}}}]" if addresses else "")
        + "}\n"
        for i, n in enumerate(nodes_on_lan, start=1)
    )
    endpoints = "".join(
        f"  - addresses: [10.244.{i}.5]\n    nodeName: {n}\n    conditions: {{ready: true}}\n"
        for i, n in enumerate(endpoints_on)
    )
    return f"""{nodes}---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: lan, namespace: metallb-system}}
spec:
  addresses: [10.10.0.200-10.10.0.210, "fd00:10::200-fd00:10::210"]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: lan, namespace: metallb-system}}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  annotations: {{metallb.io/loadBalancerIPs: "{VIP4},{VIP6}"}}
spec:
  type: LoadBalancer
  ipFamilyPolicy: RequireDualStack
  clusterIPs: [10.96.0.10, "fd00:96::10"]
  ports: [{{protocol: TCP, port: 80}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {{kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
{endpoints}"""


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=check)


class Lan:
    """A bridge, node namespaces n1.. at 10.10.0.1.. and a client at 10.10.0.100."""

    def __init__(self, tmp: Path, nodes: tuple[str, ...] = NODES) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.nodes = nodes
        self.ns = {name: f"il-{name}-{suffix}" for name in ("br", *nodes, "client")}
        self.tmp = tmp
        self.events = tmp / "events"
        self.speakers: dict[str, Speaker] = {}

    def build(self) -> None:
        for ns in self.ns.values():
            run("ip", "netns", "add", ns)
            self.exec(
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            )
        bridge = self.ns["br"]
        run("ip", "-n", bridge, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", bridge, "link", "set", "br0", "up")
        for number, name in enumerate((*self.nodes, "client"), start=1):
            ns = self.ns[name]
            run(
                "ip",
                "-n",
                bridge,
                "link",
                "add",
                f"p{number}",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            )
            run("ip", "-n", bridge, "link", "set", f"p{number}", "master", "br0", "up")
            host = 100 if name == "client" else number
            run("ip", "-n", ns, "addr", "add", f"10.10.0.{host}/24", "dev", "eth0")
            run("ip", "-n", ns, "addr", "add", f"fd00:10::{host}/64", "dev", "eth0", "nodad")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
        self.exec(self.ns["client"], "sysctl", "-qw", "net.ipv4.conf.all.arp_accept=1")

    def destroy(self) -> None:
        for speaker in self.speakers.values():
            speaker.terminate()
        for ns in self.ns.values():
            run("ip", "netns", "del", ns, check=False)

    def exec(self, ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run("ip", "netns", "exec", ns, *args, check=check)

    def mac(self, name: str) -> str:
        links = json.loads(run("ip", "-n", self.ns[name], "-j", "link", "show", "eth0").stdout)
        return links[0]["address"].lower()

    def start(self, node: str, *extra: object) -> Speaker:
        speaker = Speaker(
            "--node",
            node,
            "--events",
            self.events,
            "--store",
            self.tmp / f"own-{node}",
            "--assign-addresses",
            "--digest-interval",
            "0",
            "--metrics-address",
            "127.0.0.1:7472",
            *extra,
            prefix=as_in_the_manifest(("ip", "netns", "exec", self.ns[node])),
        )
        self.speakers[node] = speaker
        return speaker

    def publish(self, text: str) -> None:
        ironlb("log", "import", "-", "--to", self.events, stdin=text)

    def arping(self, ip: str, count: int = 20) -> str | None:
        """The MAC of the first answer, or None when nobody answered."""
        result = self.exec(
            self.ns["client"], "arping", "-C", "1", "-c", str(count), "-i", "eth0", ip, check=False
        )
        for line in result.stdout.splitlines():
            if "bytes from" in line:
                return line.split()[3].lower()
        return None

    def ndisc(self, ip: str) -> str | None:
        result = self.exec(
            self.ns["client"], "ndisc6", "-r", "20", "-w", "1000", ip, "eth0", check=False
        )
        for line in result.stdout.splitlines():
            if "Target link-layer address" in line:
                return line.split(":", 1)[1].strip().lower()
        return None

    def metrics(self, node: str) -> str:
        fetch = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:7472/metrics').read().decode())"
        return self.exec(self.ns[node], sys.executable, "-c", fetch).stdout

    def frames(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            ["ip", "netns", "exec", self.ns["client"], sys.executable, str(FRAMES), "eth0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def elected(ip: str, candidates: tuple[str, ...]) -> str:
    return min(candidates, key=lambda n: hashlib.sha256(f"{n}#{ip}".encode()).digest())


def ready(plan: dict) -> bool:
    return plan["interfaces"] == {"ipv4": ["eth0"], "ipv6": ["eth0"]}


@pytest.fixture
def lan(tmp_path):
    network = Lan(tmp_path)
    try:
        network.build()
        network.publish(cluster())
        for node in NODES:
            network.start(node)
        for node in NODES:
            network.speakers[node].next_plan(ready)
        yield network
    finally:
        network.destroy()


def test_the_elected_node_answers_arp_and_ndp_and_others_do_not(lan):
    winner = elected(VIP4, NODES)
    plan = lan.speakers[winner].next_plan(lambda p: "default/web" in p["l2"] and ready(p))
    assert set(plan["l2"]["default/web"]) == {VIP4, VIP6}
    assert lan.arping(VIP4) == lan.mac(winner)
    assert lan.ndisc(VIP6) == lan.mac(winner)
    assert lan.arping("10.10.0.209", count=3) is None  # not in the plan: no answer


def test_a_moved_address_is_announced_and_then_answered_by_the_new_node(lan):
    winner = elected(VIP4, NODES)
    other = next(n for n in NODES if n != winner)
    lan.speakers[winner].next_plan(lambda p: "default/web" in p["l2"])
    assert lan.arping(VIP4) == lan.mac(winner)
    capture = lan.frames("capture-announcement", VIP4, lan.mac(other))
    assert capture.stdout.readline().strip() == "ready"
    # The winner's node loses its network: the other node takes over.
    down = (
        f"apiVersion: v1\nkind: Node\nmetadata: {{name: {winner}}}\nstatus: {{conditions: "
        "[{type: NetworkUnavailable, status: 'True'}]}\n"
    )
    lan.publish(down)
    announced_by = capture.stdout.readline().strip()
    capture.wait(timeout=DEADLINE)
    assert announced_by == lan.mac(other)
    lan.speakers[winner].next_plan(lambda p: p["l2"] == {})
    assert lan.arping(VIP4) == lan.mac(other)
    capture6 = lan.frames("capture-announcement", VIP6, lan.mac(winner))
    assert capture6.stdout.readline().strip() == "ready"
    lan.publish(down.replace(winner, other))  # now the other one goes: nobody is left
    lan.publish(  # and the first comes back: it announces its IPv6 address again
        f"apiVersion: v1\nkind: Node\nmetadata: {{name: {winner}}}\n"
        "status: {conditions: [{type: Ready, status: 'True'}]}\n"
    )
    assert capture6.stdout.readline().strip() == lan.mac(winner)
    capture6.wait(timeout=DEADLINE)


def test_survives_a_flood_of_malformed_frames_and_reports_a_duplicate(lan):
    winner = elected(VIP4, NODES)
    lan.speakers[winner].next_plan(lambda p: "default/web" in p["l2"])
    flood = lan.frames("flood", "20000", VIP4)
    assert flood.communicate(timeout=DEADLINE)[0].strip() == "sent"
    assert lan.arping(VIP4) == lan.mac(winner)
    assert lan.speakers[winner].process.poll() is None
    metrics = lan.metrics(winner)
    assert f'metallb_layer2_responses_sent{{ip="{VIP4}"}}' in metrics
    assert "ironlb_layer2_frames_dropped_total{" in metrics

    claim = lan.frames("claim", VIP4)
    assert claim.communicate(timeout=DEADLINE)[0].strip() == "sent"
    conflict = wait_for_record(lan.tmp / f"own-{winner}", "ironlb.io/v1/AddressConflict")
    assert conflict.object["ip"] == VIP4
    assert conflict.object["mac"] == lan.mac("client")
    assert conflict.object["how"] == "gratuitous arp"


def frames_received(lan: Lan, node: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in lan.metrics(node).splitlines()
        if line.startswith("ironlb_layer2_frames_received_total{")
    )


def test_requests_for_addresses_it_does_not_announce_stay_in_the_kernel(lan):
    # A flood for other addresses (a scan, a neighbour's churn) must not reach Python:
    # the responder's kernel filter lets through only frames about its addresses.
    winner = elected(VIP4, NODES)
    lan.speakers[winner].next_plan(lambda p: "default/web" in p["l2"])
    assert lan.arping(VIP4) == lan.mac(winner)
    before = frames_received(lan, winner)
    ask = lan.frames("ask", "5000", "10.10.0.209")
    assert ask.communicate(timeout=DEADLINE)[0].strip() == "sent"
    assert lan.arping(VIP4) == lan.mac(winner)  # queued behind the flood, were it read
    assert frames_received(lan, winner) - before < 100


def wait_for_record(store_path: Path, kind: str, matching=lambda record: True):
    """Block on the log until a record of ``kind`` that ``matching`` accepts is in it
    (no polling sleep: the store wakes the reader when records arrive)."""
    import time

    deadline = time.monotonic() + DEADLINE
    with open_store(str(store_path), readonly=True) as store:
        seen = 0
        while time.monotonic() < deadline:
            for record in store.read(seen + 1):
                seen = record.seq
                if record.kind == kind and matching(record):
                    return record
            store.wait(seen, 1.0)
    raise AssertionError(f"no such {kind} record before the deadline")
