"""``ironlb convert`` makes what MetalLB's own converter makes, on MetalLB's test data
and its expected outputs (read from ../shared/metallb-data/convert-testdata/), but
for the differences src/tools/convert.py lists."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from ironlb.cli import main

TESTDATA = Path(__file__).parents[4] / "shared" / "metallb-data" / "convert-testdata"
CASES = sorted(TESTDATA.glob("*/*.yaml"))


def without_intended_differences(obj: dict) -> dict:
    """MetalLB writes an empty ``passwordSecret: {}`` on every peer and zero
    counters as the status of every pool it creates; neither means anything."""
    obj = {k: v for k, v in obj.items() if k != "status"}
    if obj["kind"] == "BGPPeer" and obj["spec"].get("passwordSecret") == {}:
        obj["spec"] = {k: v for k, v in obj["spec"].items() if k != "passwordSecret"}
    return obj


def test_metallbs_test_data_is_there():
    if not TESTDATA.exists():
        pytest.skip(f"needs MetalLB's converter test data in {TESTDATA}")
    assert len(CASES) >= 12


@pytest.mark.parametrize("source", CASES, ids=[p.name for p in CASES])
def test_convert_makes_the_objects_metallbs_converter_makes(source, tmp_path, capsys):
    out = io.StringIO()
    assert main(["convert", str(source)], out) == 0, capsys.readouterr().err
    ours = [without_intended_differences(o) for o in yaml.safe_load_all(out.getvalue()) if o]
    golden = source.with_suffix(".golden").read_text()
    theirs = [without_intended_differences(o) for o in yaml.safe_load_all(golden) if o]
    # The same objects, in MetalLB's order, with the same names and specs.
    assert [(o["kind"], o["metadata"]["name"]) for o in ours] == [
        (o["kind"], o["metadata"]["name"]) for o in theirs
    ]
    assert ours == theirs
    # And what comes out is a configuration ironlb (and so MetalLB) accepts.
    converted = tmp_path / "converted.yaml"
    converted.write_text(out.getvalue())
    assert main(["validate", str(converted)], io.StringIO()) == 0, capsys.readouterr().err


def test_renamed_objects_and_unannounced_pools_are_reported(capsys):
    source = TESTDATA / "configmap-yaml" / "config-yaml-convert-names.yaml"
    if not source.exists():
        pytest.skip(f"needs {source}")
    assert main(["convert", str(source)], io.StringIO()) == 0
    err = capsys.readouterr().err
    assert "'01-numbered-addresspool' renamed 'numbered-addresspool'" in err
    assert "'underscored_bfd_profile' renamed 'underscored-bfd-profile'" in err
    full = TESTDATA / "configmap-data" / "config-data-full.yaml"
    assert main(["convert", str(full)], io.StringIO()) == 0
    err = capsys.readouterr().err
    assert "address-pools[1].protocol: 'l2' is neither layer2 nor bgp" in err
    assert "will not be announced" in err
