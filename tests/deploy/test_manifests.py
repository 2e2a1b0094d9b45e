"""deploy/: every overlay renders with kubectl kustomize, validates against the
Kubernetes schemas offline, and runs the processes the way the docs promise."""

from __future__ import annotations

import subprocess
import sys

import kubernetes_validate
import pytest

from tests.deploy.manifests import DEPLOY, OVERLAYS, find, render

KUBERNETES = "1.30"


@pytest.mark.parametrize("target", OVERLAYS)
def test_every_overlay_renders_and_validates_strictly(target):
    objects = render(target)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_the_crds_are_what_the_generator_writes():
    check = [sys.executable, str(DEPLOY / "generate_crds.py"), "--check"]
    assert subprocess.run(check, capture_output=True, text=True).returncode == 0


def test_the_crds_cover_metallbs_kinds_with_status_subresources():
    crds = {
        o["spec"]["names"]["kind"]: o
        for o in render("base")
        if o["kind"] == "CustomResourceDefinition"
    }
    assert set(crds) == {
        "IPAddressPool",
        "L2Advertisement",
        "BGPAdvertisement",
        "BGPPeer",
        "Community",
        "BFDProfile",
        "ServiceL2Status",
        "ServiceBGPStatus",
        "ConfigurationState",
    }
    peer_versions = {v["name"]: v["storage"] for v in crds["BGPPeer"]["spec"]["versions"]}
    assert peer_versions == {"v1beta1": False, "v1beta2": True}
    for kind in ("IPAddressPool", "ServiceL2Status", "ServiceBGPStatus", "ConfigurationState"):
        (version,) = crds[kind]["spec"]["versions"]
        assert version["subresources"] == {"status": {}}


def test_the_controller_is_replicated_unprivileged_and_probed():
    deployment = find(render("base"), "Deployment", "ironlb-controller")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "controller" in container["args"]


def test_the_speaker_has_host_network_and_only_the_capabilities_it_needs():
    daemonset = find(render("base"), "DaemonSet", "ironlb-speaker")
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert any(t["key"] == "node-role.kubernetes.io/control-plane" for t in pod["tolerations"])
    (container,) = pod["containers"]
    capabilities = container["securityContext"]["capabilities"]
    # Raw sockets for ARP/NDP; tests/e2e runs every speaker with these alone.
    assert capabilities == {"drop": ["ALL"], "add": ["NET_RAW"]}
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert "--node=$(NODE_NAME)" in container["args"]
    assert pod["volumes"][0]["hostPath"]["path"] == "/var/lib/ironlb"


@pytest.mark.parametrize(
    "target,flag", [("overlays/layer2", "--no-bgp"), ("overlays/bgp", "--no-layer2")]
)
def test_mode_overlays_turn_the_other_mode_off(target, flag):
    daemonset = find(render(target), "DaemonSet", "ironlb-speaker")
    assert flag in daemonset["spec"]["template"]["spec"]["containers"][0]["args"]


def test_the_redis_overlay_gives_every_process_a_log_of_its_own_in_redis():
    objects = render("overlays/redis")
    find(objects, "Service", "ironlb-redis")
    redis = find(objects, "StatefulSet", "ironlb-redis")
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert not any(
        o["kind"] == "Deployment" and "controller" in o["metadata"]["name"] for o in objects
    )
    controller = find(objects, "StatefulSet", "ironlb-controller")
    speaker = find(objects, "DaemonSet", "ironlb-speaker")
    stores = {}
    for workload in (controller, speaker):
        args = workload["spec"]["template"]["spec"]["containers"][0]["args"]
        (store,) = [a for a in args if a.startswith("--store=redis://ironlb-redis.")]
        stores[workload["kind"]] = store
    # One writer per log: each replica's key comes from its stable pod name, each
    # speaker's from its node.
    assert stores["StatefulSet"].endswith("?key=$(POD_NAME)")
    assert stores["DaemonSet"].endswith("?key=ironlb-speaker-$(NODE_NAME)")
    env = controller["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in env
    assert speaker["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirstWithHostNet"


def test_the_redis_overlays_controller_is_the_base_deployment_but_for_its_store():
    """One pod template in two files: they may differ only in the log's place."""
    base = find(render("base"), "Deployment", "ironlb-controller")["spec"]["template"]
    ours = find(render("overlays/redis"), "StatefulSet", "ironlb-controller")["spec"]["template"]

    def without_store(template: dict) -> dict:
        spec = dict(template["spec"])
        spec.pop("volumes", None)
        container = dict(spec["containers"][0])
        for field in ("volumeMounts", "env"):
            container.pop(field, None)
        container["args"] = [a for a in container["args"] if not a.startswith("--store=")]
        spec["containers"] = [container]
        return {**template, "spec": spec}

    assert without_store(ours) == without_store(base)


def test_the_processes_accept_the_arguments_the_manifests_give_them():
    """Every flag in the manifests is one the command line knows."""
    from ironlb.cli import build_parser

    parser = build_parser()
    for target in OVERLAYS:
        for obj in render(target):
            if obj["kind"] not in ("Deployment", "DaemonSet", "StatefulSet"):
                continue
            container = obj["spec"]["template"]["spec"]["containers"][0]
            if not container["image"].startswith("ghcr.io/ironlb/"):
                continue
            args = [a.replace("$(NODE_NAME)", "node1") for a in container["args"]]
            parser.parse_args(args)  # exits (SystemExit) on an unknown flag
