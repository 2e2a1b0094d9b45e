"""``ironlb speaker`` against the test API server: watches, membership Leases, takeover."""

from __future__ import annotations

import hashlib
import signal

import pytest
from kubernetes import client

from tests.apiserver import ApiServer, create_web
from tests.processes import Speaker

NS = "metallb-system"
VIP = "192.0.2.5"


@pytest.fixture
def cluster():
    server = ApiServer(bookmark_every=0.2)
    api = server.client()
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    for name in ("n1", "n2"):
        core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    custom.create_namespaced_custom_object(
        "metallb.io",
        "v1beta1",
        NS,
        "ipaddresspools",
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": "lan"},
            "spec": {"addresses": ["192.0.2.0/28"]},
        },
    )
    custom.create_namespaced_custom_object(
        "metallb.io",
        "v1beta1",
        NS,
        "l2advertisements",
        {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement", "metadata": {"name": "l2"}},
    )
    create_web(server, ["n1", "n2"], ingress=VIP)
    yield server
    server.stop()


def l2_statuses(server: ApiServer) -> dict[str, dict]:
    """ServiceL2Status objects by the node that published them."""
    found = {}
    for obj in server.state.objects["servicel2statuses"].values():
        assert obj["metadata"]["labels"]["metallb.io/service-name"] == "web"
        if obj.get("status"):
            found[obj["metadata"]["labels"]["metallb.io/node"]] = obj["status"]
    return found


def speakers_for(server: ApiServer, tmp_path) -> dict[str, Speaker]:
    return {
        node: Speaker(
            "--node",
            node,
            "--api-server",
            server.url,
            "--store",
            tmp_path / node,
            "--no-layer2",
            "--no-links",
            "--lease-interval",
            "0.1",
            "--lease-duration",
            "0.5",
        )
        for node in ("n1", "n2")
    }


def announces(plan: dict) -> bool:
    return plan["l2"].get("default/web", {}).get(VIP, {}).get("node") == plan["node"]


def test_speakers_renew_leases_and_take_over_when_one_stops(cluster, tmp_path):
    server = cluster
    speakers = speakers_for(server, tmp_path)
    try:
        winner = min(("n1", "n2"), key=lambda n: hashlib.sha256(f"{n}#{VIP}".encode()).digest())
        other = "n2" if winner == "n1" else "n1"
        speakers[winner].next_plan(announces)
        with server.state.lock:
            assert server.state.lock.wait_for(
                lambda: (
                    {("metallb-system", f"ironlb-speaker-{n}") for n in ("n1", "n2")}
                    <= set(server.state.objects["leases"])
                ),
                30,
            )
        speakers[winner].process.send_signal(signal.SIGTERM)
        assert speakers[winner].terminate() == 0
        assert ("metallb-system", f"ironlb-speaker-{winner}") not in server.objects("leases")
        plan = speakers[other].next_plan(announces)  # the released Lease moves it at once
        assert plan["l2"]["default/web"][VIP]["node"] == other
    finally:
        for speaker in speakers.values():
            speaker.terminate()


def test_the_announcing_node_publishes_its_status_objects(cluster, tmp_path):
    server = cluster
    speakers = speakers_for(server, tmp_path)
    try:
        winner = min(("n1", "n2"), key=lambda n: hashlib.sha256(f"{n}#{VIP}".encode()).digest())
        other = "n2" if winner == "n1" else "n1"
        assert server.wait_for(lambda s: set(l2_statuses(s)) == {winner})
        assert l2_statuses(server)[winner] == {
            "node": winner,
            "serviceName": "web",
            "serviceNamespace": "default",
            "interfaces": [],
            "conflicts": [],
        }
        states = server.objects("configurationstates")
        assert server.wait_for(
            lambda s: (
                {(NS, "speaker-n1"), (NS, "speaker-n2")}
                <= set(s.state.objects["configurationstates"])
            )
        )
        states = server.objects("configurationstates")
        assert states[(NS, f"speaker-{winner}")]["status"]["result"] == "Valid"
        assert states[(NS, f"speaker-{winner}")]["metadata"]["labels"] == {
            "metallb.io/component-type": "speaker",
            "metallb.io/node-name": winner,
        }

        # The winner dies without a word: the new holder deletes its stale status.
        speakers[winner].process.send_signal(signal.SIGKILL)
        speakers[winner].terminate()
        speakers[other].next_plan(announces)
        assert server.wait_for(lambda s: set(l2_statuses(s)) == {other})

        # The Service goes: the holder withdraws its status.
        client.CoreV1Api(server.client()).delete_namespaced_service("web", "default")
        assert server.wait_for(lambda s: not s.state.objects["servicel2statuses"])
    finally:
        for speaker in speakers.values():
            speaker.terminate()


def test_a_restarted_speaker_deletes_what_it_left_behind(cluster, tmp_path):
    server = cluster
    stale = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceL2Status",
        "metadata": {
            "name": "l2-left-behind",
            "labels": {
                "metallb.io/node": "n1",
                "metallb.io/service-name": "gone",
                "metallb.io/service-namespace": "default",
            },
        },
    }
    server.create("servicel2statuses", NS, stale)
    speakers = speakers_for(server, tmp_path)
    try:
        assert server.wait_for(
            lambda s: (NS, "l2-left-behind") not in s.state.objects["servicel2statuses"]
        )
    finally:
        for speaker in speakers.values():
            speaker.terminate()
