"""plan, validate and replay through the real entry point, checked against DESIGN.md's contract."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from ironlb.cli import main
from ironlb.events.record import EventType, Record
from ironlb.reconcile.controller.fold import ControllerFold
from ironlb.reconcile.plan.verify import digest_record
from ironlb.store import open_store
from tests.k8s import pool as pool_obj
from tests.k8s import records
from tests.k8s import service as service_obj
from tests.unit.cli.test_cli_log import EXAMPLE, ironlb


def test_plan_without_input_folds_the_bundled_example():
    plan = json.loads(ironlb("plan", "-o", "json").stdout)
    assert set(plan) >= {"services", "pools", "config"}
    assert plan["services"]["default/web"] == {
        "ips": ["192.0.2.1"],
        "pool": "general",
        "sharing_key": None,
        "error": None,
        "warnings": [],
    }
    assert plan["services"]["default/dns-tcp"]["ips"] == plan["services"]["default/dns-udp"]["ips"]
    assert plan["services"]["default/portal"]["ips"] == ["192.0.2.3", "2001:db8:100::"]
    assert "default/internal" not in plan["services"]  # not a LoadBalancer
    assert plan["pools"]["general"] == {
        "assignedIPv4": 3,
        "availableIPv4": 12,
        "assignedIPv6": 1,
        "availableIPv6": 15,
    }
    assert plan["config"] == {"valid": True, "errors": [], "warnings": []}


def test_json_output_is_sorted_and_stable():
    first = ironlb("plan", EXAMPLE, "-o", "json").stdout
    assert first == ironlb("plan", EXAMPLE, "-o", "json").stdout
    assert json.dumps(json.loads(first), sort_keys=True, indent=2) + "\n" == first


def test_yaml_and_table_outputs():
    as_yaml = yaml.safe_load(ironlb("plan", "-o", "yaml").stdout)
    assert as_yaml == json.loads(ironlb("plan", "-o", "json").stdout)
    table = ironlb("plan").stdout
    assert "default/stray" in table and "<pending>" in table
    assert "is not allowed in config" in table
    assert "\x1b[" not in table  # no colour when not on a terminal


def test_what_if_marks_what_would_change(tmp_path):
    change = tmp_path / "change.yaml"
    change.write_text(
        textwrap.dedent("""
        apiVersion: metallb.io/v1beta1
        kind: IPAddressPool
        metadata: {name: general, namespace: metallb-system}
        spec: {addresses: [192.0.2.64/28, "2001:db8:100::/124"]}
        """)
    )
    what_if = json.loads(ironlb("plan", "--with", change, "-o", "json").stdout)
    assert set(what_if) == {"before", "after", "changes"}
    assert what_if["before"]["services"]["default/web"]["ips"] == ["192.0.2.1"]
    web = what_if["after"]["services"]["default/web"]["ips"][0]
    assert web.startswith("192.0.2.6")
    assert {"service": "default/web", "field": "addresses", "before": ["192.0.2.1"],
            "after": [web]} in what_if["changes"]  # fmt: skip
    moved = [c for c in what_if["changes"] if c["field"] == "node"]
    assert {c["service"] for c in moved} >= {"default/web"}
    assert not [c for c in what_if["changes"] if c["service"] == "shop/checkout"]
    table = ironlb("plan", EXAMPLE, "--with", change).stdout
    assert "~  default/web" in table
    assert "shop/checkout" in table and "~  shop/checkout" not in table
    assert f"default/web: addresses 192.0.2.1 -> {web}" in table
    assert "4 services would change" in table


def test_lb_class_and_namespace_overrides(tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        yaml.safe_dump_all(
            [
                pool_obj("p", "192.0.2.0/30", namespace="lb"),
                service_obj("plain"),
                service_obj("classy", loadBalancerClass="example.com/lb"),
            ]
        )
    )
    plan = json.loads(ironlb("plan", manifest, "--namespace", "lb", "-o", "json").stdout)
    assert list(plan["services"]) == ["default/plain"]
    classy = json.loads(
        ironlb(
            "plan", manifest, "--namespace", "lb", "--lb-class", "example.com/lb", "-o", "json"
        ).stdout
    )
    assert list(classy["services"]) == ["default/classy"]


def test_validate_exit_codes_and_json(tmp_path):
    assert ironlb("validate", EXAMPLE).stdout == "configuration is valid\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump_all(
            [
                pool_obj("a", "192.0.2.0/24"),
                pool_obj("b", "192.0.2.7"),
                pool_obj("elsewhere", "198.51.100.0/24", namespace="default"),
            ]
        )
    )
    result = ironlb("validate", bad, check=False)
    assert result.returncode == 1
    # The reconciler's errors, like the schema's, name the file and the document.
    assert f"{bad}: document 2: IPAddressPool/metallb-system/b: spec.addresses[0]:" in (
        result.stdout
    )
    report = json.loads(ironlb("validate", bad, "-o", "json", check=False).stdout)
    assert report["valid"] is False
    assert {
        "object": "IPAddressPool/default/elsewhere",
        "field": "metadata.namespace",
        "message": "resource must be created in metallb-system namespace",
        "file": str(bad),
        "document": 3,
    } in report["errors"]
    missing = ironlb("validate", tmp_path / "missing.yaml", check=False)
    assert missing.returncode == 2


def test_replay_prints_the_plan_at_a_point_of_a_log(tmp_path):
    log = f"file://{tmp_path}/log"
    ironlb("log", "import", EXAMPLE, "--to", log)
    full = json.loads(ironlb("replay", log, "-o", "json").stdout)
    assert full == json.loads(ironlb("plan", log, "-o", "json").stdout)
    early = json.loads(ironlb("replay", log, "--until", 16, "-o", "json").stdout)
    assert set(early["services"]) == {"default/web", "default/dns-tcp"}


def _log_with_digests(path):
    objects = [pool_obj("p", "192.0.2.0/30"), service_obj("a"), service_obj("b")]
    fold = ControllerFold()
    with open_store(str(path)) as store:
        for record in records(*objects):
            fold.apply(record.with_seq(store.last_seq + 1))
            store.append([record])
            store.append([digest_record(fold.plan(), source="controller", observed_at=1.0)])
    return path


def test_replay_verify_accepts_a_faithful_log_and_names_the_first_divergence(tmp_path):
    path = _log_with_digests(tmp_path / "good")
    assert ironlb("replay", path, "--verify").stdout == "verified 3 plan digests up to seq 6\n"
    with open_store(str(path), readonly=True) as store:
        tampered = list(store.read())
    forged = tampered[3].object | {"digest": "0" * 64}
    tampered[3] = Record(
        4, 1.0, "controller", EventType.ADDED, tampered[3].kind, tampered[3].key, None, forged
    )
    with open_store(str(tmp_path / "bad")) as bad:
        bad.append_keeping_seqs(tampered)
    result = ironlb("replay", tmp_path / "bad", "--verify", check=False)
    assert result.returncode == 1
    assert result.stdout.startswith("plan digest of controller at seq 4 differs")


def test_a_directory_of_manifests_is_read_like_kubectl_apply_f_dir(tmp_path):
    example = Path(__file__).parents[3] / "examples" / "cluster.yaml"
    (tmp_path / "cluster.yaml").write_text(example.read_text())
    (tmp_path / "notes.txt").write_text("not a manifest")
    from_dir = io.StringIO()
    from_file = io.StringIO()
    assert main(["plan", str(tmp_path), "-o", "json"], from_dir) == 0
    assert main(["plan", str(example), "-o", "json"], from_file) == 0
    assert json.loads(from_dir.getvalue()) == json.loads(from_file.getvalue())


@pytest.mark.parametrize("command", ["plan", "validate"])
def test_nothing_to_check_is_an_error_not_valid(tmp_path, capsys, command):
    """A directory where a file belongs, or an empty file: exit 2 naming it."""
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    empty_file = tmp_path / "empty.yaml"
    empty_file.write_text("---\n")
    for target, message in (
        (empty_dir, "neither a log nor a directory of manifests"),
        (empty_file, "holds no objects"),
    ):
        assert main([command, str(target)], io.StringIO()) == 2
        assert message in capsys.readouterr().err


def validate_errors(path) -> list[dict]:
    """``ironlb validate PATH -o json`` through the real entry point: it must fail."""
    done = subprocess.run(
        [sys.executable, "-m", "ironlb", "validate", str(path), "-o", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1
    return json.loads(done.stdout)["errors"]


def test_validate_is_strict_and_names_file_document_object_and_field(tmp_path):
    path = tmp_path / "pools.yaml"
    path.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
        "metadata: {name: lan, namespace: metallb-system}\n"
        "spec: {addresses: [192.0.2.0/24], autoassign: false}\n"
        "---\napiVersion: metallb.io/v1beta1\nkind: IPAdressPool\n"
        "metadata: {name: typo, namespace: metallb-system}\nspec: {addresses: [10.0.0.0/24]}\n"
        "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {any: thing}\n"
    )
    errors = validate_errors(path)
    assert {(e["document"], e["field"]) for e in errors} == {(1, "spec.autoassign"), (2, "kind")}
    assert all(e["file"] == str(path) for e in errors)
    assert "did you mean 'autoAssign'" in errors[0]["message"] + errors[1]["message"]


def test_a_value_out_of_range_is_one_error_in_metallbs_words(tmp_path):
    """The schema (what the API server refuses) and the reconciler both judge a
    BFDProfile's ranges: one error per field, not one from each."""
    path = tmp_path / "bfd.yaml"
    path.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\n"
        "metadata: {name: fast, namespace: metallb-system}\n"
        "spec: {receiveInterval: 5, detectMultiplier: 300, passiveMode: sometimes}\n"
    )
    errors = validate_errors(path)
    fields = sorted(e["field"] for e in errors)
    assert fields == ["spec.detectMultiplier", "spec.passiveMode", "spec.receiveInterval"]
    by_field = {e["field"]: e["message"] for e in errors}
    assert by_field["spec.receiveInterval"] == "invalid value 5, must be in 10-60000 range"


def test_plan_for_a_node_not_in_the_inputs_says_so_instead_of_an_empty_plan():
    done = ironlb("plan", EXAMPLE, "--node", "workr1", check=False)
    assert done.returncode == 1
    assert "no node workr1 in the inputs; did you mean 'worker1'?" in done.stderr
    assert "worker1" in ironlb("plan", EXAMPLE, "--node", "worker1").stdout
