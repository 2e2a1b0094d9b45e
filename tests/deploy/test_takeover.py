"""A MetalLB installed from its own manifests (native and FRR-K8s), with users' objects and Services
holding addresses, taken over by ironlb on a real API server by running the
commands of docs/installation.md as they stand; then given back to MetalLB the
same way. Nothing a user made is lost, and no Service changes address."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.kube_cluster import KubeCluster
from tests.processes import ControllerProcess

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs" / "installation.md"
METALLB = ROOT.parent / "shared" / "metallb-data" / "manifests"
NS = "metallb-system"

# Users' objects, and Services whose addresses MetalLB gave (not the ones a fresh
# allocation would give: ironlb must keep them, not re-derive them).
USER_OBJECTS = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec:
  addresses: [192.0.2.0/28]
  avoidBuggyIPs: true
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec:
  ipAddressPools: [lan]
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: communities, namespace: metallb-system}
spec:
  communities:
  - {name: no-export, value: "65535:65281"}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 10.0.0.1, holdTime: 90s}
"""
HELD = {"web": "192.0.2.7", "api": "192.0.2.3", "db": "192.0.2.12"}
USER_KINDS = ["ipaddresspools", "l2advertisements", "communities", "bgppeers"]


def documented_block(after: str) -> str:
    """The ```sh block of docs/installation.md under the heading ``after``, which
    the docs mark as run by this test."""
    text = DOCS.read_text()
    section = text[text.index(after) :]
    match = re.search(r"<!-- tested: tests/deploy/test_takeover.py[^>]*-->\s*```sh\n(.*?)```",
                      section, re.S)  # fmt: skip
    assert match, f"no tested block under {after!r} in {DOCS}"
    return "\n".join(line[3:] if line.startswith("   ") else line
                     for line in match.group(1).splitlines())  # fmt: skip


def service(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
    }


class Cluster:
    def __init__(self, kube: KubeCluster) -> None:
        self.kube = kube
        self.env = {
            **os.environ,
            "PATH": f"{kube.bin}:{os.environ['PATH']}",
            "KUBECONFIG": str(kube.admin_kubeconfig),
            "HELM_CACHE_HOME": str(kube.dir / "helm-cache"),
            "HELM_CONFIG_HOME": str(kube.dir / "helm-config"),
            "HELM_DATA_HOME": str(kube.dir / "helm-data"),
            "METALLB_MANIFEST": str(METALLB / "metallb-native.yaml"),
        }

    def run(self, script: str) -> str:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, f"{script}\n--- failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def user_objects(self) -> dict:
        found = {}
        for kind in USER_KINDS:
            for obj in self.kube.get(kind, "-n", NS)["items"]:
                found[(kind, obj["metadata"]["name"])] = obj["spec"]
        return found

    def addresses(self) -> dict[str, list[str]]:
        return {
            s["metadata"]["name"]: [i["ip"] for i in s["status"]["loadBalancer"].get("ingress", [])]
            for s in self.kube.get("services", "-n", "default")["items"]
            if s["spec"]["type"] == "LoadBalancer"
        }

    def crd_names(self) -> set[str]:
        return {c["metadata"]["name"] for c in self.kube.get("crd")["items"]}


@pytest.mark.parametrize("manifest", ["metallb-native.yaml", "metallb-frr-k8s.yaml"])
def test_metallb_is_taken_over_and_given_back_as_the_docs_say(
    kube_binaries_dir, tmp_path, manifest
):
    if not (METALLB / manifest).exists():
        pytest.skip(f"needs MetalLB's manifests in {METALLB}")
    kube = KubeCluster(kube_binaries_dir)
    cluster = Cluster(kube)
    cluster.env["METALLB_MANIFEST"] = str(METALLB / manifest)
    controller = None
    try:
        # MetalLB as its users install it. No kubelet runs here, so its webhook has
        # no pods: let writes through as a running webhook would have.
        kube.kubectl("apply", "-f", str(METALLB / manifest))
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        hooks = kube.get("validatingwebhookconfiguration", "metallb-webhook-configuration")
        patch = [{"op": "replace", "path": f"/webhooks/{i}/failurePolicy", "value": "Ignore"}
                 for i in range(len(hooks["webhooks"]))]  # fmt: skip
        kube.kubectl("patch", "validatingwebhookconfiguration", "metallb-webhook-configuration",
                     "--type=json", "-p", yaml.safe_dump(patch))  # fmt: skip
        kube.kubectl("apply", "-f", "-", stdin=USER_OBJECTS)
        kube.apply([service(name) for name in HELD])
        for name, ip in HELD.items():
            status = {"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}}
            kube.kubectl("patch", "service", name, "-n", "default", "--subresource=status",
                         "--type=merge", "-p", yaml.safe_dump(status))  # fmt: skip
        objects_before, addresses_before = cluster.user_objects(), cluster.addresses()
        assert addresses_before == {name: [ip] for name, ip in HELD.items()}

        cluster.run(documented_block("## Moving from MetalLB"))
        assert not kube.kubectl("get", "deployment", "-n", NS, "controller", check=False
                                ).startswith("NAME")  # fmt: skip
        assert kube.get("deployment", "-n", NS, "ironlb-controller")
        crd = kube.get("crd", "ipaddresspools.metallb.io")
        assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == "ironlb"
        assert cluster.user_objects() == objects_before

        # ironlb's controller, as its pod would run it (its ServiceAccount's token).
        kubeconfig = kube.service_account_kubeconfig("ironlb-controller")
        controller = ControllerProcess(["--kubeconfig", str(kubeconfig)], tmp_path / "log")
        kube.apply([service("fresh")])
        kube.wait_for(lambda: cluster.addresses().get("fresh"), "the new Service addressed")
        after = cluster.addresses()
        assert {name: after[name] for name in HELD} == addresses_before
        assert after["fresh"][0] not in HELD.values()
        assert controller.stop() == 0
        controller = None
        assert kube.get("lease", "-n", NS, "ironlb-controller")

        cluster.run(documented_block("## Going back to MetalLB"))
        assert cluster.user_objects() == objects_before
        assert {name: cluster.addresses()[name] for name in HELD} == addresses_before
        assert kube.get("deployment", "-n", NS, "controller")  # MetalLB's, back
        leases = kube.get("lease", "-n", NS)["items"]
        assert not [x for x in leases if x["metadata"]["name"].startswith("ironlb-")]
        assert "ironlb-controller" not in kube.kubectl("get", "deploy", "-n", NS)
        metallb_crd = next(
            d for d in yaml.safe_load_all((METALLB / manifest).read_text())
            if d and d["metadata"]["name"] == "ipaddresspools.metallb.io"
        )  # fmt: skip
        crd = kube.get("crd", "ipaddresspools.metallb.io")
        assert crd["spec"]["versions"][0]["schema"] == metallb_crd["spec"]["versions"][0]["schema"]
        metallb_io = {c for c in cluster.crd_names() if c.split(".", 1)[1] == "metallb.io"}
        assert len(metallb_io) == 9
    finally:
        if controller is not None:
            controller.stop()
        kube.stop()


def test_a_kustomize_install_is_removed_by_name_as_the_docs_say(kube_binaries_dir):
    # Without Helm's bookkeeping, the docs' list of names is all there is: it must
    # name every object deploy/base made but the CRDs (and with them the users'
    # objects) and the configuration namespace.
    kube = KubeCluster(kube_binaries_dir)
    try:
        cluster = Cluster(kube)
        installed = [d for d in yaml.safe_load_all(kube.kubectl("kustomize", "deploy/base")) if d]
        kube.kubectl("apply", "--server-side", "-k", str(ROOT / "deploy" / "base"))
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        # No kubelet runs the webhook's pods: let writes through as a running one would.
        kube.kubectl("patch", "validatingwebhookconfiguration", "ironlb-webhook", "--type=json",
                     "-p", '[{"op": "replace", "path": "/webhooks/0/failurePolicy", '
                     '"value": "Ignore"}]')  # fmt: skip
        kube.apply([service("web")])
        kube.kubectl("apply", "-f", "-", stdin=USER_OBJECTS.split("---")[0])
        kube.apply([{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": "ironlb-speaker-n1", "namespace": NS,
                                  "labels": {"app.kubernetes.io/name": "ironlb"}}}])  # fmt: skip
        objects_before = cluster.user_objects()

        cluster.run(documented_block("Installed with `kubectl apply -k deploy/base`"))
        kube.wait_for(lambda: kube.get("namespace", "ironlb-webhook-cert") is None,
                      "the certificate's namespace gone")  # fmt: skip
        kept = {("CustomResourceDefinition", None), ("Namespace", NS)}
        for obj in installed:
            name, namespace = obj["metadata"]["name"], obj["metadata"].get("namespace")
            where = ["-n", namespace] if namespace else []
            found = kube.get(obj["kind"], name, *where)
            if (obj["kind"], None) in kept or (obj["kind"], name) in kept:
                assert found is not None, (obj["kind"], name)
            else:
                assert found is None, f"{obj['kind']} {name} left behind"
        assert cluster.user_objects() == objects_before
        assert not kube.get("lease", "-n", NS)["items"]
    finally:
        kube.stop()
