"""ironlb's CRDs against MetalLB's published ones (../shared/metallb-data/crds/),
field by field: types, formats, enums, ranges, defaults, required fields, CEL rules,
list and map types, printer columns, subresources, versions. Descriptions aside,
every difference must be on the list below, with its reason; the test fails on a
new one and on a listed one that went away."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ironlb.tools.crds import definitions

METALLB_CRDS = Path(__file__).resolve().parents[3] / "shared" / "metallb-data" / "crds"

INTENDED = {
    "ServiceL2Status/versions/v1beta1/schema/openAPIV3Schema/properties/status/properties/"
    "conflicts": "only ours: other hosts seen claiming an address this node announces "
    "(the duplicate-address detector, docs/layer2.md)",
}


def metallbs() -> dict[str, dict]:
    found = {}
    for path in sorted(METALLB_CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if crd:
                found[crd["spec"]["names"]["kind"]] = crd
    return found


def _by_name(items: list) -> dict | None:
    if items and all(isinstance(i, dict) and "name" in i for i in items):
        return {i["name"]: i for i in items}
    return None


def differences(ours: Any, theirs: Any, path: str) -> dict[str, str]:
    """path -> what differs; lists of named things (versions, columns) by name."""
    if isinstance(ours, list) and isinstance(theirs, list):
        named = _by_name(ours), _by_name(theirs)
        if named[0] is not None and named[1] is not None:
            ours, theirs = named
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = {}
        for key in sorted(set(ours) | set(theirs)):
            if key == "description":
                continue
            where = f"{path}/{key}"
            if key not in theirs:
                found[where] = f"only ours: {json.dumps(ours[key])[:120]}"
            elif key not in ours:
                found[where] = f"only MetalLB's: {json.dumps(theirs[key])[:120]}"
            else:
                found.update(differences(ours[key], theirs[key], where))
        return found
    return {} if ours == theirs else {path: f"ours {ours!r}, MetalLB's {theirs!r}"}


def test_our_crds_are_metallbs_but_for_the_listed_differences():
    if not METALLB_CRDS.is_dir():
        pytest.skip(f"MetalLB's CRDs are not at {METALLB_CRDS}")
    theirs = metallbs()
    ours = {crd["spec"]["names"]["kind"]: crd for crd in definitions()}
    assert sorted(ours) == sorted(theirs)
    found: dict[str, str] = {}
    for kind, crd in ours.items():
        spec = {k: v for k, v in crd["spec"].items() if k != "conversion"}
        their_spec = {k: v for k, v in theirs[kind]["spec"].items() if k != "conversion"}
        found.update(differences(spec, their_spec, kind))
    unexpected = {k: v for k, v in found.items() if k not in INTENDED}
    assert not unexpected, "\n".join(f"{k}: {v}" for k, v in unexpected.items())
    gone = set(INTENDED) - set(found)
    assert not gone, f"listed as different but no longer are: {sorted(gone)}"
