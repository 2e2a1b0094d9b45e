"""Render deploy/ with ``kubectl kustomize`` (the renderer users run)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.kube_cluster import KubeUnavailable, kube_binaries

DEPLOY = Path(__file__).parents[2] / "deploy"
OVERLAYS = ["base", "overlays/layer2", "overlays/bgp", "overlays/redis"]


@functools.cache
def kubectl() -> str:
    """The kubectl scripts/kube-binaries builds, else one on PATH."""
    try:
        return str(kube_binaries() / "kubectl")
    except KubeUnavailable as exc:
        found = shutil.which("kubectl")
        if found is None:
            pytest.skip(f"needs kubectl: {exc}")
        return found


@functools.cache
def _rendered(target: str) -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(DEPLOY / target)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(target: str) -> list[dict]:
    return [o for o in yaml.safe_load_all(_rendered(target)) if o]


def find(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)
