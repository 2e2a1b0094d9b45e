"""`ironlb validate` refuses what the API server refuses: each object below is
applied with kubectl (strict field validation, its default) to a real API server
holding deploy/'s CRDs, and validated by ironlb; both refuse it, naming the field."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.kube_cluster import NAMESPACE

BAD = [
    ("IPAddressPool", {"addresses": ["192.0.2.0/24"], "autoassign": False}, "spec.autoassign"),
    ("IPAddressPool", {"addresses": ["192.0.2.0/24"], "avoidBuggyIPs": "yes"},
     "spec.avoidBuggyIPs"),
    ("BGPPeer", {"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.1", "peerPort": 70000},
     "spec.peerPort"),
    ("BGPPeer", {"myASN": 64512, "peerAddress": "10.0.0.1", "dynamicASN": "maybe"},
     "spec.dynamicASN"),
    ("BGPAdvertisement", {"aggregationLength": 24,
                          "serviceSelectors": [{"matchLabels": {"app": "web"}}]}, "spec"),
    ("L2Advertisement", {"interfaces": "eth0"}, "spec.interfaces"),
    ("BFDProfile", {"detectMultiplier": 1}, "spec.detectMultiplier"),
]  # fmt: skip
# Accepted by the API server, as MetalLB's CRDs accept them, yet wrong: validate
# still refuses them, naming the field, as the webhook and the reconciler do.
ACCEPTED_BUT_WRONG = [
    ("IPAddressPool", {"addresses": []}, "spec.addresses"),
    ("BGPPeer", {"myASN": 64512, "peerASN": 1, "peerAddress": "10.0.0.1", "holdTime": "90"},
     "spec.holdTime"),
    ("BGPAdvertisement", {"aggregationLength": 33}, "spec.aggregationLength"),
]  # fmt: skip
VERSIONS = {"BGPPeer": "v1beta2"}


def manifest(kind: str, spec: dict, name: str) -> dict:
    return {
        "apiVersion": f"metallb.io/{VERSIONS.get(kind, 'v1beta1')}",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


@pytest.mark.parametrize(("kind", "spec", "field"), BAD, ids=[f for _k, _s, f in BAD])
def test_what_the_api_server_refuses_validate_refuses(kube, tmp_path, kind, spec, field):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(manifest(kind, spec, "bad")))
    applied = subprocess.run(
        [str(kube.bin / "kubectl"), f"--kubeconfig={kube.admin_kubeconfig}", "apply", "-f",
         str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert applied.returncode != 0, "the API server accepted it"
    assert field.split(".")[-1] in applied.stderr
    validated = subprocess.run(
        ["ironlb", "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    assert validated.returncode == 1, validated.stdout + validated.stderr
    assert f"document 1: {kind}/{NAMESPACE}/bad: {field}" in validated.stdout


@pytest.mark.parametrize(
    ("kind", "spec", "field"), ACCEPTED_BUT_WRONG, ids=[f for _k, _s, f in ACCEPTED_BUT_WRONG]
)
def test_what_the_api_server_accepts_but_is_wrong_validate_refuses(
    kube, tmp_path, kind, spec, field
):
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(manifest(kind, spec, "wrong")))
    kube.kubectl("apply", "-f", str(path))  # as with MetalLB's CRDs
    validated = subprocess.run(
        ["ironlb", "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    assert validated.returncode == 1, validated.stdout + validated.stderr
    assert field in validated.stdout and f"{kind}/{NAMESPACE}/wrong" in validated.stdout


def test_what_the_api_server_accepts_validate_accepts_as_far_as_schemas_go(kube, tmp_path):
    good = [
        manifest("IPAddressPool", {"addresses": ["192.0.2.0/24"], "autoAssign": False}, "lan"),
        manifest("L2Advertisement", {"ipAddressPools": ["lan"], "interfaces": ["eth0"]}, "l2"),
    ]
    path = tmp_path / "good.yaml"
    path.write_text(yaml.safe_dump_all(good))
    kube.kubectl("apply", "-f", str(path))
    validated = subprocess.run(["ironlb", "validate", str(path)], capture_output=True, text=True)
    assert (validated.returncode, validated.stdout) == (0, "configuration is valid\n")
