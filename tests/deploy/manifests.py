"""Render deploy/ with ``kubectl kustomize`` (the renderer users run)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).parents[2] / "deploy"
OVERLAYS = ["base", "overlays/layer2", "overlays/bgp", "overlays/redis"]


@functools.cache
def _rendered(target: str) -> str:
    if shutil.which("kubectl") is None:
        pytest.skip("needs kubectl (apt install kubernetes-client)")
    result = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / target)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(target: str) -> list[dict]:
    return [o for o in yaml.safe_load_all(_rendered(target)) if o]


def find(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)
