"""``ironlb speaker`` against a real kube-apiserver, as the ServiceAccount deploy/
gives it: watches, membership Leases, takeover, ServiceL2Status and ConfigurationState."""

from __future__ import annotations

import hashlib
import signal

import pytest
from kubernetes import client

from tests.apiserver import create_web
from tests.kube_cluster import NAMESPACE as NS
from tests.kube_cluster import KubeCluster
from tests.processes import Speaker

VIP = "192.0.2.5"


@pytest.fixture
def cluster(kube: KubeCluster) -> KubeCluster:
    api = kube.client()
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
    create_web(kube, ["n1", "n2"], ingress=VIP)
    return kube


def items(kube: KubeCluster, resource: str) -> list[dict]:
    return (kube.get(resource, "-n", NS) or {}).get("items", [])


def l2_statuses(kube: KubeCluster) -> dict[str, dict]:
    """ServiceL2Status objects by the node that published them."""
    found = {}
    for obj in items(kube, "servicel2statuses.metallb.io"):
        assert obj["metadata"]["labels"]["metallb.io/service-name"] == "web"
        if obj.get("status"):
            found[obj["metadata"]["labels"]["metallb.io/node"]] = obj["status"]
    return found


def speakers_for(kube: KubeCluster, tmp_path) -> dict[str, Speaker]:
    kubeconfig = kube.service_account_kubeconfig("ironlb-speaker")
    return {
        node: Speaker(
            "--node",
            node,
            "--kubeconfig",
            kubeconfig,
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


def winner_and_other() -> tuple[str, str]:
    winner = min(("n1", "n2"), key=lambda n: hashlib.sha256(f"{n}#{VIP}".encode()).digest())
    return winner, "n2" if winner == "n1" else "n1"


def lease_names(kube: KubeCluster) -> set[str]:
    return {lease["metadata"]["name"] for lease in items(kube, "leases.coordination.k8s.io")}


def test_speakers_renew_leases_and_take_over_when_one_stops(cluster, tmp_path):
    kube = cluster
    speakers = speakers_for(kube, tmp_path)
    try:
        winner, other = winner_and_other()
        speakers[winner].next_plan(announces)
        wanted = {f"ironlb-speaker-{n}" for n in ("n1", "n2")}
        kube.wait_for(lambda: wanted <= lease_names(kube), f"Leases {wanted}")
        speakers[winner].process.send_signal(signal.SIGTERM)
        assert speakers[winner].terminate() == 0
        assert f"ironlb-speaker-{winner}" not in lease_names(kube)
        plan = speakers[other].next_plan(announces)  # the released Lease moves it at once
        assert plan["l2"]["default/web"][VIP]["node"] == other
    finally:
        for speaker in speakers.values():
            speaker.terminate()


def test_the_announcing_node_publishes_its_status_objects(cluster, tmp_path):
    kube = cluster
    speakers = speakers_for(kube, tmp_path)
    try:
        winner, other = winner_and_other()
        kube.wait_for(lambda: set(l2_statuses(kube)) == {winner}, f"only {winner}'s status")
        assert l2_statuses(kube)[winner] == {
            "node": winner,
            "serviceName": "web",
            "serviceNamespace": "default",
            "interfaces": [],
            "conflicts": [],
        }

        def states() -> dict[str, dict]:
            return {o["metadata"]["name"]: o for o in items(kube, "configurationstates.metallb.io")}

        kube.wait_for(
            lambda: (
                {"speaker-n1", "speaker-n2"} <= set(states())
                and states()[f"speaker-{winner}"].get("status", {}).get("result") == "Valid"
            ),
            "both speakers' ConfigurationStates, Valid",
        )
        assert states()[f"speaker-{winner}"]["metadata"]["labels"] == {
            "metallb.io/component-type": "speaker",
            "metallb.io/node-name": winner,
        }

        # MetalLB's Event, where `kubectl describe service` finds it (by uid).
        uid = kube.get("service", "web", "-n", "default")["metadata"]["uid"]

        # Both speakers start together: one may stand in for the other while it is
        # still starting (docs/speaker.md), and say so; the winner's Event must be there.
        def assigned() -> list[dict]:
            events = (kube.get("events", "-n", "default") or {}).get("items", [])
            return [
                e for e in events
                if e.get("reason") == "nodeAssigned" and e["involvedObject"].get("uid") == uid
                and e["message"] == f'announcing from node "{winner}" with protocol "layer2"'
            ]  # fmt: skip

        kube.wait_for(assigned, f"a nodeAssigned Event on the Service from {winner}")
        assert {event["type"] for event in assigned()} == {"Normal"}

        # The winner dies without a word: the new holder deletes its stale status.
        speakers[winner].process.send_signal(signal.SIGKILL)
        speakers[winner].terminate()
        speakers[other].next_plan(announces)
        kube.wait_for(lambda: set(l2_statuses(kube)) == {other}, f"only {other}'s status")

        # The Service goes: the holder withdraws its status.
        client.CoreV1Api(kube.client()).delete_namespaced_service("web", "default")
        kube.wait_for(
            lambda: not items(kube, "servicel2statuses.metallb.io"), "no ServiceL2Status left"
        )
    finally:
        for speaker in speakers.values():
            speaker.terminate()


def test_a_restarted_speaker_deletes_what_it_left_behind(cluster, tmp_path):
    kube = cluster
    stale = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceL2Status",
        "metadata": {
            "name": "l2-left-behind",
            "namespace": NS,
            "labels": {
                "metallb.io/node": "n1",
                "metallb.io/service-name": "gone",
                "metallb.io/service-namespace": "default",
            },
        },
    }
    kube.apply([stale])
    speakers = speakers_for(kube, tmp_path)
    try:
        kube.wait_for(
            lambda: kube.get("servicel2statuses.metallb.io", "l2-left-behind", "-n", NS) is None,
            "the left-behind status deleted",
        )
    finally:
        for speaker in speakers.values():
            speaker.terminate()


def test_a_claim_deletes_only_the_statuses_of_dead_speakers(kube: KubeCluster):
    # A node stood in for a starting peer, then gave the Service back; its claim
    # (delete the other nodes' ServiceL2Status) runs late, on a loaded machine. It
    # must not delete the status the peer wrote meanwhile, nor one a live peer holds.
    from ironlb.announce.k8s.speaker_status import SpeakerStatusPublisher
    from ironlb.reconcile.plan.speaker import L2Announcement, NodePlan

    theirs = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ServiceL2Status",
        "metadata": {
            "name": "l2-from-n2",
            "namespace": NS,
            "labels": {
                "metallb.io/node": "n2",
                "metallb.io/service-name": "web",
                "metallb.io/service-namespace": "default",
            },
        },
    }
    kube.apply([theirs])
    publisher = SpeakerStatusPublisher(kube.client(), "n1", NS)
    try:
        publisher._claim("default/web")  # queued when n1 announced it; run after it stopped
        assert kube.get("servicel2statuses.metallb.io", "l2-from-n2", "-n", NS) is not None
        # n1 announces it while n2's speaker is not judged down (n1 stands in, n2 is
        # the winner about to take over): n2's status is n2's to delete, not n1's.
        plan = NodePlan(
            "n1", {"default/web": {VIP: L2Announcement("n1", None, None)}}, {}, {}, {}, {}, {}
        )
        publisher.publish(plan, (), ready=True, plan_changed=True, dead=())
        publisher._claim("default/web")  # as the queued claim runs, here in this thread
        assert kube.get("servicel2statuses.metallb.io", "l2-from-n2", "-n", NS) is not None
        # n1 gives it back, then takes it over from a dead n2: the claim goes through.
        empty = NodePlan("n1", {}, {}, {}, {}, {}, {})
        publisher.publish(empty, (), ready=True, plan_changed=True, dead=())
        publisher.publish(plan, (), ready=True, plan_changed=True, dead=("n2",))
        kube.wait_for(
            lambda: kube.get("servicel2statuses.metallb.io", "l2-from-n2", "-n", NS) is None,
            "n2's status deleted by n1's claim",
        )
    finally:
        publisher.close(withdraw=False)
