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
