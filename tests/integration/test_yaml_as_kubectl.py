"""ironlb reads YAML as kubectl does: the same file through ``kubectl create
--dry-run=client -o json`` (sigs.k8s.io/yaml, against a real API server for the
kinds) and through ironlb's loader gives the same JSON, for every plain-scalar
form where PyYAML's YAML 1.1 rules differ."""

from __future__ import annotations

import json

from ironlb.events import yaml_loader

PROBE = """\
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: probe, namespace: metallb-system}
spec:
  communities:
  - {name: a, value: 64512:1}
  - {name: b, value: 65000:100:200}
  x:
    sexagesimal: 1234:1
    three: 190:20:30
    float60: 1:30.5
    yes: yes
    y: y
    n: n
    on: on
    off: off
    no: no
    True: True
    tilde: ~
    empty:
    null1: Null
    octal: 0755
    octal2: 0o17
    hex: 0x1F
    negative-hex: -0x1F
    bin: 0b101
    float: 1.5e3
    half: .5
    dot: 1.
    exponent: 1e3
    underscore: 1_000
    plus: +12
    date: 2024-01-01
    datetime: 2001-12-14t21:59:43.10-05:00
    merge: {<<: {a: 1}, b: 2}
    1: one
    quoted: "64512:1"
    version: 1.20
"""


def test_every_probe_reads_the_same_as_with_kubectl(kube, tmp_path):
    path = tmp_path / "probe.yaml"
    path.write_text(PROBE)
    printed = kube.kubectl(
        "create", "--dry-run=client", "-o", "json", "--validate=false", "-f", str(path)
    )
    theirs = json.loads(printed)
    ours = yaml_loader.load(PROBE)
    assert ours["spec"] == theirs["spec"]


def test_kubectls_watch_output_imports(kube, tmp_path):
    """``kubectl get -w -o json --output-watch-events`` output, as this kubectl prints
    it (one event per line; older ones indent: tests/unit/events/test_importer.py)."""
    import subprocess

    from ironlb.events.importer import import_files
    from ironlb.events.record import EventType

    kube.kubectl("create", "service", "clusterip", "watched", "--tcp=80:80")
    kube.kubectl("label", "service", "watched", "tier=web")
    done = subprocess.run(
        [str(kube.bin / "kubectl"), f"--kubeconfig={kube.admin_kubeconfig}", "get", "services",
         "-w", "-o", "json", "--output-watch-events", "--request-timeout=2s"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    path = tmp_path / "watch.json"
    path.write_text(done.stdout)
    records = [r for r in import_files([str(path)]) if r.key == "default/watched"]
    assert [r.type for r in records] == [EventType.ADDED]
    assert records[0].object["metadata"]["labels"]["tier"] == "web"
