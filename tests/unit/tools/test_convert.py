"""``ironlb convert`` on a legacy MetalLB ConfigMap with known results."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from ironlb.cli import main

LEGACY = Path(__file__).parents[1] / "data" / "legacy" / "configmap.yaml"


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(args), out), out.getvalue()


def converted() -> dict[tuple[str, str], dict]:
    code, text = run("convert", str(LEGACY))
    assert code == 0
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(text)}


def test_every_legacy_section_becomes_its_objects():
    objects = converted()
    assert set(objects) == {
        ("Community", "communities"),
        ("BFDProfile", "fast"),
        ("BGPPeer", "peer1"),
        ("BGPPeer", "peer2"),
        ("IPAddressPool", "lan"),
        ("L2Advertisement", "l2advertisement1"),
        ("IPAddressPool", "routed"),
        ("BGPAdvertisement", "bgpadvertisement1"),
        ("BGPAdvertisement", "bgpadvertisement2"),
    }
    assert all(o["metadata"]["namespace"] == "metallb-system" for o in objects.values())
    assert objects[("BGPPeer", "peer1")]["apiVersion"] == "metallb.io/v1beta2"
    assert objects[("BGPPeer", "peer1")]["spec"] == {
        "peerAddress": "10.0.0.1",
        "peerASN": 64501,
        "myASN": 64500,
        "holdTime": "2m0s",
        "nodeSelectors": [
            {
                "matchLabels": {"rack": "frontend"},
                "matchExpressions": [
                    {"key": "network-speed", "operator": "NotIn", "values": ["slow"]}
                ],
            }
        ],
    }
    assert objects[("BGPPeer", "peer2")]["spec"]["bfdProfile"] == "fast"
    assert objects[("IPAddressPool", "lan")]["spec"] == {
        "addresses": ["192.168.10.0/24", "192.168.9.1-192.168.9.5"],
        "avoidBuggyIPs": True,
    }
    assert objects[("L2Advertisement", "l2advertisement1")]["spec"] == {"ipAddressPools": ["lan"]}
    assert objects[("IPAddressPool", "routed")]["spec"]["autoAssign"] is False
    assert objects[("BGPAdvertisement", "bgpadvertisement1")]["spec"] == {
        "aggregationLength": 32,
        "localPref": 100,
        "communities": ["no-advertise"],
        "ipAddressPools": ["routed"],
    }
    assert objects[("BGPAdvertisement", "bgpadvertisement2")]["spec"]["aggregationLength"] == 24


def test_the_result_is_a_valid_configuration(tmp_path):
    _code, text = run("convert", str(LEGACY))
    (tmp_path / "converted.yaml").write_text(text)
    code, report = run("validate", str(tmp_path / "converted.yaml"))
    # Every field converted is honoured (the BFD profile too): nothing to warn about.
    assert (code, report) == (0, "configuration is valid\n")


@pytest.mark.parametrize(
    "config,message",
    [
        ("peers: [{peer-address: 10.0.0.1, peer-asn: 1}]", "peers[0]: my-asn is required"),
        (
            "address-pools: [{name: a, protocol: layer2, addresses: [10.0.0.0/24],"
            " bgp-advertisements: [{localpref: 1}]}]",
            "address-pools[0].bgp-advertisements: only a bgp pool has them, not 'layer2'",
        ),
        (
            "address-pools: [{name: a_1, protocol: bgp, addresses: [10.0.0.0/24]},"
            " {name: A-1, protocol: bgp, addresses: [10.1.0.0/24]}]",
            "address-pools[1].name: 'A-1' becomes 'a-1', as 'a_1' does",
        ),
        ("bfd-profiles: [{name: '0_1'}]", "bfd-profiles[0].name: '0_1' has no letter"),
        (
            "peers: [{peer-address: 10.0.0.1, my-asn: 1, peer-asn: 2, hold-time: 2s}]",
            "peers[0].hold-time: '2s' must be 0 or at least 3s",
        ),
        (
            "peers: [{peer-address: 10.0.0.1, my-asn: 1, peer-asn: 2, hold-time: soon}]",
            "peers[0].hold-time: 'soon' is not a duration",
        ),
        (
            "address-pools: [{name: a, protocol: bgp, adresses: [10.0.0.0/24]}]",
            "address-pools[0]: addresses is required",
        ),
        (
            "peers: [{peer-address: 10.0.0.1, my-asn: 1, hold: 3s}]",
            "peers[0]: unknown keys ['hold']",
        ),
    ],
)
def test_bad_input_names_the_entry_and_the_field(tmp_path, capsys, config, message):
    (tmp_path / "config.yaml").write_text(config)
    code, _ = run("convert", str(tmp_path / "config.yaml"))
    assert code != 0
    assert message in capsys.readouterr().err


def test_an_unquoted_community_stays_a_community_not_a_base_60_number(tmp_path):
    """PyYAML's YAML 1.1 read 64512:1 as 3870721; kubectl reads a string."""
    legacy = tmp_path / "cm.yaml"
    legacy.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: metallb-system}\n"
        "data:\n  config: |\n    bgp-communities:\n      no-advertise: 65535:65282\n"
        "    address-pools:\n    - name: lan\n      protocol: bgp\n"
        "      addresses: [192.0.2.0/24]\n"
        "      bgp-advertisements:\n      - communities: [64512:1, no-advertise]\n"
    )
    code, text = run("convert", str(legacy))
    assert code == 0, text
    documents = list(yaml.safe_load_all(text))
    advertisement = next(d for d in documents if d["kind"] == "BGPAdvertisement")
    assert "64512:1" in advertisement["spec"]["communities"]
    assert "3870721" not in text


def test_convert_finds_the_configmap_in_a_multi_document_file_or_a_list(tmp_path):
    import io
    import json

    from ironlb.cli import main

    config = "address-pools:\n- name: lan\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n"
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "config", "namespace": "metallb-system"},
        "data": {"config": config},
    }
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}
    multi = tmp_path / "multi.yaml"
    multi.write_text(json.dumps(other) + "\n---\n" + json.dumps(configmap) + "\n")
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [other, configmap]}))
    for path in (multi, listed):
        out = io.StringIO()
        assert main(["convert", str(path)], out) == 0
        assert "kind: IPAddressPool" in out.getvalue() and "192.0.2.0/28" in out.getvalue()
