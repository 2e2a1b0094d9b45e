"""``ironlb webhook`` called by a real kube-apiserver: deploy/'s
ValidatingWebhookConfiguration (its clientConfig pointed at the local listener),
admission denials and allowances decided by the real API server's call, and
BGPPeer v1beta1 <-> v1beta2 conversion done by the API server through the webhook.
The webhook runs as the ServiceAccount deploy/ gives it."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

import pytest
import yaml

from tests.kube_cluster import DEPLOY, KubeCluster, free_port
from tests.kube_cluster import NAMESPACE as NS


def pool(name: str, *addresses: str) -> dict:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"addresses": list(addresses)},
    }


@pytest.fixture
def webhook(kube: KubeCluster):
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    rendered = [d for d in yaml.safe_load_all(kube.kubectl("kustomize", str(DEPLOY / "base"))) if d]
    (configuration,) = [d for d in rendered if d["kind"] == "ValidatingWebhookConfiguration"]
    (deployment,) = [d for d in rendered if d["kind"] == "Deployment" and "webhook" in str(d)]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    # The manifest's arguments but where it listens and keeps the served files.
    manifest_args = [
        a.replace("$(POD_NAMESPACE)", NS)
        for a in container["args"][container["args"].index("webhook") + 1 :]
        if not a.startswith(("--listen", "--cert-dir"))
    ]
    for hook in configuration["webhooks"]:
        hook["clientConfig"] = {"url": f"{url}/validate"}
    kube.apply([configuration])
    stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - never a full pipe
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ironlb",
            "--log-level",
            "info",
            "webhook",
            *manifest_args,
            "--kubeconfig",
            str(kube.service_account_kubeconfig("ironlb-webhook")),
            "--listen",
            f"127.0.0.1:{port}",
            "--url",
            url,
        ],
        stderr=stderr,
    )

    def published() -> bool:
        assert process.poll() is None, "ironlb webhook exited"
        vwc = kube.get("validatingwebhookconfiguration", "ironlb-webhook") or {}
        crd = kube.get("crd", "bgppeers.metallb.io") or {}
        return all(h["clientConfig"].get("caBundle") for h in vwc.get("webhooks", [])) and (
            crd.get("spec", {}).get("conversion", {}).get("strategy") == "Webhook"
        )

    try:
        kube.wait_for(published, "the CA in the webhook configuration and the BGPPeer CRD")
        # The API server calls the webhook once the listener answers: a valid object
        # created through it is the proof.
        kube.wait_for(
            lambda: (
                "created"
                in kube.kubectl(
                    "apply", "-f", "-", stdin=json.dumps(pool("first", "192.0.2.0/28")), check=False
                )
            ),
            "an object admitted through the webhook",
        )
        # The webhook judges against its watch-fed cache (as controller-runtime's
        # cached client does for MetalLB): wait until it has seen "first", which a
        # server-side dry run of an overlapping pool shows.
        overlap = json.dumps(pool("probe", "192.0.2.0/29"))
        kube.wait_for(
            lambda: (
                "denied"
                in kube.kubectl("create", "--dry-run=server", "-f", "-", stdin=overlap, check=False)
            ),
            "the webhook's cache holding the first pool",
        )
        yield kube
    finally:
        process.terminate()
        process.wait(timeout=60)
        stderr.seek(0)
        print(stderr.read()[-3000:])
        stderr.close()


def create(kube: KubeCluster, obj: dict) -> str:
    """kubectl create; what it printed (errors included)."""
    return kube.kubectl("create", "-f", "-", stdin=json.dumps(obj), check=False)


def test_the_api_server_denies_what_the_webhook_denies_naming_the_field(webhook):
    answer = create(webhook, pool("overlap", "192.0.2.8/29"))
    assert 'admission webhook "validate.metallb.io" denied the request' in answer
    assert "spec.addresses" in answer and "overlap" in answer
    assert webhook.get("ipaddresspools.metallb.io", "overlap", "-n", NS) is None


def test_the_api_server_admits_a_valid_object(webhook):
    assert "created" in create(webhook, pool("second", "198.51.100.0/28"))
    assert webhook.get("ipaddresspools.metallb.io", "second", "-n", NS) is not None


def test_a_pool_outside_the_namespace_is_denied(webhook):
    webhook.kubectl("create", "namespace", "elsewhere")
    elsewhere = {**pool("far", "203.0.113.0/28")}
    elsewhere["metadata"] = {"name": "far", "namespace": "elsewhere"}
    answer = create(webhook, elsewhere)
    assert "denied the request" in answer


def test_the_api_server_converts_bgppeers_both_ways_through_the_webhook(webhook):
    old = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPPeer",
        "metadata": {"name": "tor", "namespace": NS},
        "spec": {
            "myASN": 64512,
            "peerASN": 64513,
            "peerAddress": "10.0.0.1",
            "holdTime": "90s",
            "ebgpMultiHop": True,
        },
    }
    assert "created" in create(webhook, old)
    stored = webhook.get("bgppeers.v1beta2.metallb.io", "tor", "-n", NS)
    assert stored["apiVersion"] == "metallb.io/v1beta2"
    assert stored["spec"]["peerAddress"] == "10.0.0.1" and stored["spec"]["holdTime"] == "90s"
    assert stored["spec"]["ebgpMultiHop"] is True
    # A v1beta2-only field set, then read through v1beta1 and back: nothing lost.
    webhook.kubectl(
        "patch", "bgppeers.v1beta2.metallb.io", "tor", "-n", NS, "--type=merge",
        "-p", json.dumps({"spec": {"vrf": "red"}}),
    )  # fmt: skip
    as_old = webhook.get("bgppeers.v1beta1.metallb.io", "tor", "-n", NS)
    assert as_old["apiVersion"] == "metallb.io/v1beta1" and "vrf" not in as_old["spec"]
    again = webhook.get("bgppeers.v1beta2.metallb.io", "tor", "-n", NS)
    assert again["spec"]["vrf"] == "red" and again["spec"]["myASN"] == 64512


BFD = {
    "apiVersion": "metallb.io/v1beta1",
    "kind": "BFDProfile",
    "metadata": {"name": "fast", "namespace": NS},
    "spec": {"receiveInterval": 300},
}


def test_deleting_a_bfdprofile_a_peer_uses_is_denied_and_allowed_once_unused(webhook):
    assert "created" in create(webhook, BFD)
    peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "tor", "namespace": NS},
        "spec": {"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.1",
                 "bfdProfile": "fast"},
    }  # fmt: skip
    assert "created" in create(webhook, peer)
    # The cache has to hold the peer before the webhook can see it uses the profile.
    webhook.wait_for(
        lambda: "denied" in webhook.kubectl("delete", "bfdprofile", "fast", "-n", NS,
                                            "--dry-run=server", check=False),
        "the profile's delete denied while the peer uses it",
    )  # fmt: skip
    answer = webhook.kubectl("delete", "bfdprofile", "fast", "-n", NS, check=False)
    assert 'admission webhook "bfdprofiles-in-use.metallb.io" denied' in answer
    assert "fast" in answer
    webhook.kubectl("delete", "bgppeer", "tor", "-n", NS)
    webhook.wait_for(
        lambda: "deleted" in webhook.kubectl("delete", "bfdprofile", "fast", "-n", NS,
                                             check=False),
        "the profile deleted once no peer uses it",
    )  # fmt: skip


def test_with_the_webhook_down_deletes_and_namespace_teardown_go_through(kube):
    """Writes wait for the webhook (failurePolicy Fail, as MetalLB's); deletes never
    do, so a webhook that is gone (its own namespace being deleted) blocks nothing."""
    rendered = yaml.safe_load_all(kube.kubectl("kustomize", str(DEPLOY / "base")))
    (configuration,) = [d for d in rendered if d and d["kind"] == "ValidatingWebhookConfiguration"]
    for hook in configuration["webhooks"]:
        hook["clientConfig"] = {"url": f"https://127.0.0.1:{free_port()}/validate"}  # nobody
    kube.kubectl("create", "namespace", "teardown")
    objects = [
        {**pool("lan", "192.0.2.0/28"), "metadata": {"name": "lan", "namespace": "teardown"}},
        {**BFD, "metadata": {"name": "fast", "namespace": "teardown"}},
    ]
    kube.apply(objects)  # before the webhook configuration exists
    kube.apply([configuration])
    more = {**pool("more", "198.51.100.0/28"), "metadata": {"name": "more", "namespace": NS}}
    refused = kube.kubectl("create", "-f", "-", stdin=json.dumps(more), check=False)
    assert "failed calling webhook" in refused  # writes wait for the webhook
    assert "deleted" in kube.kubectl("delete", "bfdprofile", "fast", "-n", "teardown")
    kube.kubectl("delete", "namespace", "teardown", "--wait=false")
    kube.wait_for(
        lambda: "NotFound" in kube.kubectl("get", "namespace", "teardown", check=False),
        "the namespace gone, its metallb.io objects with it",
    )


def test_the_webhooks_key_is_out_of_the_speakers_reach(webhook):
    # Speakers read the configuration namespace's Secrets (BGP passwords); the key
    # that vouches for admission decisions is kept where their RBAC does not reach.
    kube = webhook
    stored = kube.get("secrets", "-A", "--field-selector=metadata.name=ironlb-webhook-cert")
    (key_namespace,) = [s["metadata"]["namespace"] for s in stored["items"]]
    assert key_namespace != NS
    speaker = kube.service_account_kubeconfig("ironlb-speaker")

    def as_speaker(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(kube.bin / "kubectl"), f"--kubeconfig={speaker}", *args],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    denied = as_speaker("get", "secret", "ironlb-webhook-cert", "-n", key_namespace)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr, denied.stderr
    readable = as_speaker("get", "secrets", "-n", NS, "-o", "json")
    assert readable.returncode == 0, readable.stderr  # what BGP passwords need still works
    assert "ironlb-webhook-cert" not in readable.stdout


def test_a_missing_certificate_namespace_is_named_in_one_line(kube):
    done = subprocess.run(
        [sys.executable, "-m", "ironlb", "webhook", "--kubeconfig", str(kube.admin_kubeconfig),
         "--listen", f"127.0.0.1:{free_port()}", "--secret-namespace", "nowhere"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "namespace nowhere does not exist (--secret-namespace)" in done.stderr
    assert "Traceback" not in done.stderr
