"""On a real API server with deploy/'s RBAC and admission policy: a speaker's token,
bound to its pod on node n1, may write Lease ironlb-speaker-n1 and no other (not
n2's, not the controller's), which RBAC alone cannot say; and a real speaker with
such a token keeps its membership Lease."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.kube_cluster import DEPLOY, NAMESPACE, KubeCluster
from tests.processes import Speaker


def pod(name: str, node: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "nodeName": node,  # bound: its tokens name the node (no kubelet runs it)
            "serviceAccountName": "ironlb-speaker",
            "containers": [{"name": "speaker", "image": "ghcr.io/ironlb/ironlb:0.1.0"}],
        },
    }


def lease(name: str) -> dict:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"holderIdentity": "someone", "leaseDurationSeconds": 3},
    }


def as_user(kube: KubeCluster, kubeconfig: Path, *args: str, stdin: str | None = None):
    return subprocess.run(
        [str(kube.bin / "kubectl"), f"--kubeconfig={kubeconfig}", *args],
        input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def policy(kube: KubeCluster) -> KubeCluster:
    rendered = yaml.safe_load_all(kube.kubectl("kustomize", str(DEPLOY / "base")))
    kinds = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
    kube.apply([d for d in rendered if d and d["kind"] in kinds])
    for node in ("n1", "n2"):
        kube.apply([{"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}])
        kube.apply([pod(f"speaker-{node}", node)])
    kube.apply([lease("ironlb-speaker-n2"), lease("ironlb-controller")])
    return kube


def speaker_kubeconfig(kube: KubeCluster, node: str) -> Path:
    token = kube.kubectl(
        "create", "token", "ironlb-speaker", "-n", NAMESPACE, "--bound-object-kind=Pod",
        f"--bound-object-name=speaker-{node}", "--duration=1h",
    ).strip()  # fmt: skip
    return kube.kubeconfig(f"speaker-{node}", {"token": token})


def test_a_speaker_writes_only_its_own_nodes_lease(policy):
    kube = policy
    n1 = speaker_kubeconfig(kube, "n1")
    own = as_user(kube, n1, "create", "-f", "-", stdin=json.dumps(lease("ironlb-speaker-n1")))
    # The policy takes a moment to be in force after it is created: retry the first
    # denial it must give until it gives it.
    kube.wait_for(
        lambda: "may write only Lease ironlb-speaker-n1" in as_user(
            kube, n1, "delete", "lease", "ironlb-speaker-n2", "-n", NAMESPACE, "--dry-run=server"
        ).stderr,
        "the policy in force",
    )  # fmt: skip
    assert own.returncode == 0 or "AlreadyExists" in own.stderr, own.stderr

    def rewritten(name: str) -> str:  # an update, the verb the speaker's RBAC grants
        return json.dumps({**lease(name), "spec": {"holderIdentity": "n1"}})

    mine = as_user(kube, n1, "replace", "-f", "-", stdin=rewritten("ironlb-speaker-n1"))
    assert mine.returncode == 0, mine.stderr
    for other in ("ironlb-speaker-n2", "ironlb-controller"):
        rewrite = as_user(kube, n1, "replace", "-f", "-", stdin=rewritten(other))
        assert rewrite.returncode != 0
        assert f"may write only Lease ironlb-speaker-n1, not {other}" in rewrite.stderr
        removal = as_user(kube, n1, "delete", "lease", other, "-n", NAMESPACE)
        assert removal.returncode != 0 and "may write only Lease" in removal.stderr
    assert kube.get("lease", "ironlb-controller", "-n", NAMESPACE)["spec"]["holderIdentity"] == (
        "someone"
    )


def test_a_real_speaker_with_a_pod_bound_token_keeps_its_lease(policy, tmp_path):
    kube = policy
    speaker = Speaker(
        "--node", "n1", "--kubeconfig", speaker_kubeconfig(kube, "n1"), "--store",
        tmp_path / "n1", "--no-layer2", "--no-bgp", "--no-links", "--quiet",
        "--lease-interval", "0.2", "--lease-duration", "1",
    )  # fmt: skip
    try:
        kube.wait_for(
            lambda: (kube.get("lease", "ironlb-speaker-n1", "-n", NAMESPACE) or {})
            .get("spec", {}).get("holderIdentity"),
            "the speaker's own Lease held",
        )  # fmt: skip
        assert speaker.process.poll() is None, speaker.errors()
    finally:
        assert speaker.terminate() == 0
