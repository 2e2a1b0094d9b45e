"""The RBAC in deploy/ grants exactly what the processes use: both run a full life
against the test API server, which notes every request in RBAC's terms."""

from __future__ import annotations

import pytest

from tests.apiserver import ApiServer
from tests.deploy.manifests import render
from tests.deploy.scenario import controller_life, speaker_life, webhook_life

NS = "metallb-system"
CERT_NS = "ironlb-webhook-cert"


def granted(objects: list[dict], account: str) -> set[tuple[str, str, str, str]]:
    """(verb, group, resource, scope) the ServiceAccount may use; scope "cluster" for
    ClusterRoles bound cluster-wide, the binding's namespace for Roles."""
    roles = {
        (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")): o
        for o in objects
        if o["kind"] in ("ClusterRole", "Role")
    }
    rights = set()
    for binding in objects:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if not any(s["name"] == account for s in binding["subjects"]):
            continue
        ref = binding["roleRef"]
        namespace = None if ref["kind"] == "ClusterRole" else binding["metadata"]["namespace"]
        role = roles[(ref["kind"], ref["name"], namespace)]
        if binding["kind"] == "ClusterRoleBinding":
            scope = "cluster"
        else:
            scope = binding["metadata"]["namespace"]
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    rights |= {(verb, group, resource, scope) for verb in rule["verbs"]}
    return rights


def used(access: set[tuple[str, str, str, str | None]]) -> set[tuple[str, str, str, str]]:
    """Requests in the configuration namespace or the webhook certificate's count as
    namespaced, all others (other namespaces, cluster-wide lists) need a cluster-wide
    grant."""
    return {
        (verb, group, resource, ns if ns in (NS, CERT_NS) else "cluster")
        for verb, group, resource, ns in access
    }


@pytest.fixture
def server():
    api = ApiServer(bookmark_every=0.2)
    yield api
    api.stop()


@pytest.mark.parametrize(
    "life,account",
    [
        (controller_life, "ironlb-controller"),
        (speaker_life, "ironlb-speaker"),
        (webhook_life, "ironlb-webhook"),
    ],
)
def test_rbac_grants_exactly_what_the_process_uses(server, tmp_path, life, account):
    rights = granted(render("base"), account)
    access = used(life(server, tmp_path))
    assert access - rights == set(), "used but not granted: the process fails in a cluster"
    assert rights - access == set(), "granted but never used: not least privilege"
