"""charts/ironlb: lints, renders what the Kustomize base renders for the same
settings, validates against Kubernetes' schemas for every documented combination of
values, refuses bad values with a message, and installs, upgrades and uninstalls on a
real API server keeping the CRDs and every metallb.io object."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.deploy.manifests import render
from tests.kube_cluster import KubeCluster, KubeUnavailable, kube_binaries

CHART = Path(__file__).parents[2] / "charts" / "ironlb"
KUBERNETES = "1.30"  # the newest schemas kubernetes_validate holds
KUBE_VERSION = "1.37.2"  # helm template assumes 1.20 when built from source
HELM_ONLY_LABELS = {
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
}


@pytest.fixture(scope="module")
def helm_env(tmp_path_factory) -> dict[str, str]:
    try:
        binaries = kube_binaries()
    except KubeUnavailable as exc:
        pytest.skip(f"needs helm: {exc}")
    home = tmp_path_factory.mktemp("helm")
    return {
        **os.environ,
        "HELM": str(binaries / "helm"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def helm(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [env["HELM"], *args], env=env, capture_output=True, text=True, timeout=300
    )
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stderr}")
    return done


def template(env: dict[str, str], *sets: str, namespace: str = "metallb-system") -> list[dict]:
    args = ["template", "ironlb", str(CHART), "-n", namespace, "--kube-version", KUBE_VERSION]
    for item in sets:
        args += ["--set", item]
    return [o for o in yaml.safe_load_all(helm(env, *args).stdout) if o]


def without_helm_labels(obj: dict) -> dict:
    labels = {
        k: v for k, v in obj["metadata"].get("labels", {}).items() if k not in HELM_ONLY_LABELS
    }
    metadata = {k: v for k, v in obj["metadata"].items() if k not in ("labels", "annotations")}
    annotations = {
        k: v
        for k, v in obj["metadata"].get("annotations", {}).items()
        if k != "helm.sh/resource-policy"
    }
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    return {**obj, "metadata": metadata}


def find_namespace(overlay: str) -> dict:
    (namespace,) = [
        o
        for o in render(overlay)
        if o["kind"] == "Namespace" and o["metadata"]["name"] == "metallb-system"
    ]
    return namespace


def by_identity(objects: list[dict]) -> dict[tuple, dict]:
    return {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}


def test_the_chart_lints_strictly(helm_env):
    done = helm(helm_env, "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION)
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize(
    ("overlay", "sets"),
    [
        pytest.param("base", [], id="default"),
        pytest.param("overlays/layer2", ["speaker.bgp=false"], id="layer2"),
        pytest.param("overlays/bgp", ["speaker.layer2=false"], id="bgp"),
    ],
)
def test_the_chart_renders_what_kustomize_renders_for_the_same_settings(helm_env, overlay, sets):
    # One installation whichever tool renders it: the Kustomize overlays' objects
    # (but the release's Namespace, which Helm users create with the release) are
    # the chart's, Helm's bookkeeping labels aside.
    chart = by_identity([without_helm_labels(o) for o in template(helm_env, *sets)])
    kustomize = by_identity([o for o in render(overlay) if o != find_namespace(overlay)])
    assert sorted(chart) == sorted(kustomize)
    for identity, obj in kustomize.items():
        assert chart[identity] == obj, identity


def test_the_crds_are_kept_on_uninstall_and_switchable(helm_env):
    crds = [o for o in template(helm_env) if o["kind"] == "CustomResourceDefinition"]
    assert len(crds) == 9
    for crd in crds:
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert not [
        o
        for o in template(helm_env, "crds.enabled=false")
        if o["kind"] == "CustomResourceDefinition"
    ]


def pod_spec(objects: list[dict], kind: str, name: str) -> dict:
    found = by_identity(objects)
    (obj,) = [o for (k, _ns, n), o in found.items() if k == kind and n == name]
    return obj["spec"]["template"]["spec"]


TOLERATION = {"key": "dedicated", "operator": "Equal", "value": "lb", "effect": "NoSchedule"}
AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "lb", "operator": "In", "values": ["yes"]}]}
            ]
        }
    }
}


def test_metallbs_values_land_where_metallbs_chart_puts_them(helm_env, tmp_path):
    values = {
        "imagePullSecrets": [{"name": "registry"}],
        "loadBalancerClass": "ironlb.io/lb",
        "controller": {
            "logLevel": "debug",
            "image": {
                "repository": "example.com/ironlb",
                "tag": "9.9",
                "pullPolicy": "Always",
            },
            "tolerations": [TOLERATION],
            "nodeSelector": {"lb": "yes"},
            "affinity": AFFINITY,
            "priorityClassName": "system-cluster-critical",
            "runtimeClassName": "runc",
            "resources": {"limits": {"memory": "1Gi"}},
            "podAnnotations": {"example.com/a": "b"},
            "labels": {"team": "net"},
            "serviceAccount": {"create": False, "name": "mine"},
        },
        "speaker": {
            "logLevel": "none",
            "tolerateMaster": False,
            "ignoreExcludeLB": True,
            "tolerations": [TOLERATION],
            "priorityClassName": "system-node-critical",
            "serviceAccount": {"name": "speaker-sa", "annotations": {"a": "b"}},
            "memberlist": {"mlBindPort": 7947, "mlBindAddrOverride": "0.0.0.0"},
        },
        "prometheus": {"metricsPort": 9443, "serviceAccount": "prom", "namespace": "mon"},
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    args = ["template", "ironlb", str(CHART), "-n", "lb", "--kube-version", KUBE_VERSION]
    objects = [o for o in yaml.safe_load_all(helm(helm_env, *args, "-f", str(path)).stdout) if o]
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)

    controller = pod_spec(objects, "Deployment", "ironlb-controller")
    (container,) = controller["containers"]
    assert container["image"] == "example.com/ironlb:9.9"
    assert container["imagePullPolicy"] == "Always"
    assert "--log-level=debug" in container["args"]
    assert "--lb-class=ironlb.io/lb" in container["args"]
    assert "--secure-metrics-address=0.0.0.0:9443" in container["args"]
    assert "--metrics-address=127.0.0.1:7472" in container["args"]  # loopback only
    # Helm merges maps: the default requests stay unless set to null.
    assert container["resources"] == {
        "limits": {"memory": "1Gi"},
        "requests": {"cpu": "100m", "memory": "128Mi"},
    }
    assert controller["nodeSelector"] == {"kubernetes.io/os": "linux", "lb": "yes"}
    assert controller["tolerations"] == [TOLERATION]
    assert controller["affinity"] == AFFINITY
    assert controller["priorityClassName"] == "system-cluster-critical"
    assert controller["runtimeClassName"] == "runc"
    assert controller["imagePullSecrets"] == [{"name": "registry"}]
    assert controller["serviceAccountName"] == "mine"
    identities = by_identity(objects)
    assert ("ServiceAccount", "lb", "mine") not in identities  # the user's own
    binding = identities[("ClusterRoleBinding", None, "ironlb-controller")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mine", "namespace": "lb"}]

    speaker = pod_spec(objects, "DaemonSet", "ironlb-speaker")
    (container,) = speaker["containers"]
    assert "--log-level=error" in container["args"]  # MetalLB's none: errors only
    assert "--ignore-exclude-lb" in container["args"]
    assert speaker["tolerations"] == [TOLERATION]  # no control-plane tolerations
    # memberlist's port and address are the heartbeats'.
    assert {"--membership-port=7947", "--membership-bind=0.0.0.0"} <= set(container["args"])
    assert {"name": "memberlist-udp", "containerPort": 7947, "protocol": "UDP"} in container[
        "ports"
    ]
    assert speaker["serviceAccountName"] == "speaker-sa"
    account = identities[("ServiceAccount", "lb", "speaker-sa")]
    assert account["metadata"]["annotations"] == {"a": "b"}
    # The release's namespace everywhere, not MetalLB's fixed one.
    hook = identities[("ValidatingWebhookConfiguration", None, "ironlb-webhook")]
    assert hook["webhooks"][0]["clientConfig"]["service"]["namespace"] == "lb"
    reader = identities[("ClusterRoleBinding", None, "ironlb-metrics-reader")]
    assert reader["subjects"] == [{"kind": "ServiceAccount", "name": "prom", "namespace": "mon"}]
    namespaced = [o for o in objects if "namespace" in o["metadata"]]
    assert {o["metadata"]["namespace"] for o in namespaced} == {"lb", "ironlb-webhook-cert"}
    # But the webhook's key: its own namespace, where only the webhook may read.
    apart = [o for o in namespaced if o["metadata"]["namespace"] == "ironlb-webhook-cert"]
    assert sorted(o["kind"] for o in apart) == ["Role", "RoleBinding"]
    # Every flag the values turned on is one the command line knows.
    from ironlb.cli import build_parser

    for obj in objects:
        if obj["kind"] in ("Deployment", "DaemonSet"):
            (container,) = obj["spec"]["template"]["spec"]["containers"]
            build_parser().parse_args(container["args"])  # exits on an unknown flag


def test_the_webhooks_key_may_stay_in_the_release_namespace(helm_env):
    objects = template(helm_env, "webhook.certNamespace=", namespace="lb")
    assert not [o for o in objects if o["kind"] == "Namespace"]
    role = by_identity(objects)[("Role", "lb", "ironlb-webhook-cert")]
    assert role["rules"][0]["resources"] == ["secrets"]
    deployment = by_identity(objects)[("Deployment", "lb", "ironlb-webhook")]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--secret-namespace=lb" in container["args"]


@pytest.mark.parametrize(
    "sets",
    [
        pytest.param(["controller.webhookMode=disabled"], id="no-webhook"),
        pytest.param(["crds.enabled=false", "rbac.create=false"], id="no-crds-no-rbac"),
        pytest.param(["speaker.enabled=false"], id="controller-only"),
        pytest.param(["controller.enabled=false"], id="speaker-only"),
        pytest.param(["speaker.memberlist.enabled=false"], id="no-heartbeats"),
        pytest.param(["crds.validationFailurePolicy=Ignore"], id="webhook-ignore"),
    ],
)
def test_every_documented_switch_renders_valid_objects(helm_env, sets):
    objects = template(helm_env, *sets)
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    if "controller.webhookMode=disabled" in sets or "controller.enabled=false" in sets:
        assert ("ValidatingWebhookConfiguration", "ironlb-webhook") not in kinds
        assert ("Deployment", "ironlb-webhook") not in kinds
    if "speaker.enabled=false" in sets:
        assert ("DaemonSet", "ironlb-speaker") not in kinds
    if "speaker.memberlist.enabled=false" in sets:  # the Leases alone judge the speakers
        (container,) = pod_spec(objects, "DaemonSet", "ironlb-speaker")["containers"]
        assert "--membership-port=0" in container["args"]
        assert all(p["name"] != "memberlist-udp" for p in container["ports"])
    if "rbac.create=false" in sets:
        assert not {k for k, _ in kinds if k in ("Role", "ClusterRole", "RoleBinding")}
    if "crds.validationFailurePolicy=Ignore" in sets:
        (hook,) = [o for o in objects if o["kind"] == "ValidatingWebhookConfiguration"]
        assert hook["webhooks"][0]["failurePolicy"] == "Ignore"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["speaker.logLevel=verbose"], "/speaker/logLevel': value must be one of"),
        (["controller.webhookMode=certmanager"], "/controller/webhookMode': value must be one"),
        (["speaker.layer2=false", "speaker.bgp=false"], "would announce nothing"),
        (["controller.serviceAccount.create=false"], "controller.serviceAccount.name is required"),
        (["speaker.tolerateMastr=true"], "additional properties 'tolerateMastr' not allowed"),
        (["speaker.memberlist.mlSecretKeyPath=/k"], "/speaker/memberlist/mlSecretKeyPath'"),
    ],
)
def test_bad_values_are_refused_with_a_message_naming_them(helm_env, sets, message):
    args = ["template", "ironlb", str(CHART), "--kube-version", KUBE_VERSION]
    for item in sets:
        args += ["--set", item]
    done = helm(helm_env, *args, check=False)
    assert done.returncode != 0
    assert message in done.stderr


def test_install_upgrade_and_uninstall_on_a_real_api_server(helm_env):
    kube = KubeCluster(Path(helm_env["HELM"]).parent)
    env = {**helm_env, "KUBECONFIG": str(kube.admin_kubeconfig)}
    try:
        # No kubelet runs here, so the webhook has no pods: let writes through.
        helm(env, "install", "ironlb", str(CHART), "-n", "lb", "--create-namespace",
             "--set", "crds.validationFailurePolicy=Ignore")  # fmt: skip
        assert kube.get("deployment", "-n", "lb", "ironlb-controller")["spec"]["replicas"] == 2
        for crd in kube.get("crd")["items"]:
            if crd["spec"]["group"] == "metallb.io":
                conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
                assert conditions.get("Established") == "True", crd["metadata"]["name"]
        kube.kubectl("apply", "-f", "-", stdin=POOL)

        helm(env, "upgrade", "ironlb", str(CHART), "-n", "lb", "--reuse-values",
             "--set", "speaker.logLevel=debug", "--set", "crds.enabled=false")  # fmt: skip
        speaker = kube.get("daemonset", "-n", "lb", "ironlb-speaker")
        assert "--log-level=debug" in speaker["spec"]["template"]["spec"]["containers"][0]["args"]
        assert kube.get("crd", "ipaddresspools.metallb.io")  # kept though no longer rendered

        helm(env, "uninstall", "ironlb", "-n", "lb")
        gone = kube.kubectl("get", "deployment", "-n", "lb", "ironlb-controller", check=False)
        assert "NotFound" in gone
        crds = {c["metadata"]["name"] for c in kube.get("crd")["items"]}
        assert len({c for c in crds if c.endswith(".metallb.io")}) == 9
        pool = kube.get("ipaddresspool", "-n", "lb", "lan")
        assert pool["spec"]["addresses"] == ["192.168.10.240-192.168.10.250"]
    finally:
        kube.stop()


POOL = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: lb}
spec:
  addresses: [192.168.10.240-192.168.10.250]
"""
