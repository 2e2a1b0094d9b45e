"""Shared test setup: Hypothesis profiles and small helpers.

Profiles: ``ci`` (derandomized, a few hundred examples per property, the default)
and ``hunt`` (random and deep, on demand: ``HYPOTHESIS_PROFILE=hunt pytest tests/property``).
Whatever ``hunt`` finds becomes a fixed ``@example`` or a unit test.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests.kube_cluster import KubeCluster, KubeUnavailable, kube_binaries
from tests.redis_server import redis_server  # noqa: F401 - a fixture for every test module

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "hunt",
    max_examples=5000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def kube_binaries_dir():
    """Kubernetes' programs (scripts/kube-binaries); skip where they cannot be built."""
    try:
        return kube_binaries()
    except KubeUnavailable as exc:
        pytest.skip(f"needs a real API server: {exc}")


@pytest.fixture
def kube(kube_binaries_dir):
    """A fresh real control plane with deploy/'s CRDs, ServiceAccounts and RBAC."""
    cluster = KubeCluster(kube_binaries_dir)
    try:
        cluster.install_ironlb_access()
        yield cluster
    finally:
        cluster.stop()
