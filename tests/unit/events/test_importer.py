import json
import textwrap

import pytest

from ironlb.events import EventType, ManifestError
from ironlb.events.importer import import_files


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_multi_document_yaml_with_empty_documents(tmp_path):
    path = write(
        tmp_path,
        "m.yaml",
        """
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec: {type: LoadBalancer}
        ---
        ---
        apiVersion: metallb.io/v1beta1
        kind: IPAddressPool
        metadata: {name: pool, namespace: metallb-system}
        spec: {addresses: [192.0.2.0/24]}
        ---
        apiVersion: v1
        kind: Node
        metadata: {name: n1, namespace: ignored-for-cluster-scope}
        """,
    )
    records = import_files([path])
    assert [(r.kind, r.key, r.type) for r in records] == [
        ("v1/Service", "default/web", EventType.ADDED),
        ("metallb.io/v1beta1/IPAddressPool", "metallb-system/pool", EventType.ADDED),
        ("v1/Node", "n1", EventType.ADDED),
    ]
    assert records[0].object["metadata"]["namespace"] == "default"
    assert all(r.source == "import" and r.seq == 0 for r in records)


def test_default_namespace_is_configurable(tmp_path):
    path = write(tmp_path, "s.yaml", "{apiVersion: v1, kind: Service, metadata: {name: a}}")
    assert import_files([path], default_namespace="shop")[0].key == "shop/a"


def test_kubectl_list_output_and_raw_api_lists(tmp_path):
    kubectl = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": "a",
                    "namespace": "x",
                    "resourceVersion": "41",
                    "managedFields": [{"manager": "kubectl"}],
                },
            },
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}},
        ],
    }
    raw = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSliceList",
        "metadata": {"resourceVersion": "99"},
        "items": [{"metadata": {"name": "e", "namespace": "x"}, "endpoints": []}],
    }
    records = import_files(
        [write(tmp_path, "a.json", json.dumps(kubectl)), write(tmp_path, "b.json", json.dumps(raw))]
    )
    assert [(r.kind, r.key, r.resource_version) for r in records] == [
        ("v1/Service", "x/a", "41"),
        ("v1/Node", "n", None),
        ("discovery.k8s.io/v1/EndpointSlice", "x/e", None),
    ]
    assert "managedFields" not in records[0].object["metadata"]


def test_json_lines_of_watch_events(tmp_path):
    lines = [
        {
            "type": "ADDED",
            "object": {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "a", "namespace": "d"},
            },
        },
        {"type": "BOOKMARK", "object": {"kind": "Service", "metadata": {"resourceVersion": "7"}}},
        {
            "type": "MODIFIED",
            "object": {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "a", "namespace": "d"},
            },
        },
        {
            "type": "DELETED",
            "object": {"kind": "Service", "metadata": {"name": "a", "namespace": "d"}},
        },
    ]
    path = write(tmp_path, "w.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    records = import_files([path])
    assert [(r.type, r.kind, r.key) for r in records] == [
        (EventType.ADDED, "v1/Service", "d/a"),
        (EventType.MODIFIED, "v1/Service", "d/a"),
        (EventType.DELETED, "v1/Service", "d/a"),
    ]


def test_unknown_kinds_are_kept(tmp_path):
    path = write(
        tmp_path,
        "u.yaml",
        """
        apiVersion: example.com/v1
        kind: Widget
        metadata: {name: w, namespace: shop}
        """,
    )
    assert import_files([path])[0].kind == "example.com/v1/Widget"


def test_replace_wraps_each_kind_in_sync_markers(tmp_path):
    path = write(
        tmp_path,
        "r.yaml",
        """
        {apiVersion: v1, kind: Service, metadata: {name: a}}
        ---
        {apiVersion: v1, kind: Node, metadata: {name: node1}}
        ---
        {apiVersion: v1, kind: Service, metadata: {name: b}}
        """,
    )
    records = import_files([path], replace=True)
    assert [(r.type.value, r.kind, r.key) for r in records] == [
        ("SYNC_START", "v1/Service", ""),
        ("SYNC_START", "v1/Node", ""),
        ("ADDED", "v1/Service", "default/a"),
        ("ADDED", "v1/Node", "node1"),
        ("ADDED", "v1/Service", "default/b"),
        ("SYNC_END", "v1/Service", ""),
        ("SYNC_END", "v1/Node", ""),
    ]


def test_secret_values_never_enter_a_record(tmp_path):
    def secret(value):
        applied = json.dumps({"stringData": {"password": value}})
        return write(
            tmp_path,
            f"s-{value}.yaml",
            f"""
            apiVersion: v1
            kind: Secret
            type: kubernetes.io/basic-auth
            metadata:
              name: bgp
              namespace: metallb-system
              annotations:
                kubectl.kubernetes.io/last-applied-configuration: '{applied}'
            stringData: {{password: {value}}}
            data: {{username: {value}-user}}
            """,
        )

    key = b"k" * 32
    first = import_files([secret("hunter2")], secret_key=key)[0]
    again = import_files([secret("hunter2")], secret_key=key)[0]
    changed = import_files([secret("s3cret")], secret_key=key)[0]
    assert "hunter2" not in json.dumps(first.object)
    assert first.object["type"] == "kubernetes.io/basic-auth"
    assert sorted(first.object["stringData"]) == ["password"]
    assert first.object["stringData"]["password"].startswith("hmac-sha256:")
    assert first.object == again.object
    assert changed.object["stringData"] != first.object["stringData"]


def test_inline_bgp_passwords_never_enter_a_record(tmp_path):
    applied = json.dumps({"spec": {"password": "hunter2"}})
    path = write(
        tmp_path,
        "peer.yaml",
        f"""
        apiVersion: metallb.io/v1beta2
        kind: BGPPeer
        metadata:
          name: tor
          namespace: metallb-system
          annotations:
            kubectl.kubernetes.io/last-applied-configuration: '{applied}'
        spec: {{myASN: 64512, peerASN: 64513, peerAddress: 10.0.0.1, password: hunter2}}
        """,
    )
    (record,) = import_files([path], secret_key=b"k" * 32)
    assert "hunter2" not in json.dumps(record.object)
    assert record.object["spec"]["password"].startswith("hmac-sha256:")
    assert record.object["spec"]["peerASN"] == 64513  # the rest as it was


def test_a_legacy_configmaps_peer_passwords_never_enter_a_record(tmp_path):
    config = (
        "peers:\n- peer-address: 10.0.0.1\n  peer-asn: 64513\n  my-asn: 64512\n"
        "  password: hunter2\n"
    )
    path = tmp_path / "cm.json"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "config", "namespace": "metallb-system"},
                "data": {"config": config},
            }
        )
    )
    (record,) = import_files([str(path)], secret_key=b"k" * 32)
    text = record.object["data"]["config"]
    assert "hunter2" not in text and "hmac-sha256:" in text and "10.0.0.1" in text


def test_log_show_prints_no_password(tmp_path):
    import io

    from ironlb.cli import main

    path = write(
        tmp_path,
        "peer.yaml",
        """
        apiVersion: metallb.io/v1beta2
        kind: BGPPeer
        metadata: {name: tor, namespace: metallb-system}
        spec: {myASN: 64512, peerASN: 64513, peerAddress: 10.0.0.1, password: hunter2}
        """,
    )
    assert main(["log", "import", path, "--to", str(tmp_path / "log")], io.StringIO()) == 0
    for output in ("table", "json"):
        out = io.StringIO()
        assert main(["log", "show", str(tmp_path / "log"), "-o", output], out) == 0
        assert "tor" in out.getvalue() and "hunter2" not in out.getvalue()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [1, 2\n", r"document 1: invalid YAML at line 2"),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n- 1\n- 2\n",
            r"document 2: expected an object, found a list",
        ),
        ("apiVersion: v1\nkind: Service\nmetadata: {}\n", r"document 1: .*metadata.name: missing"),
        ("kind: Service\napiVersion: 5\nmetadata: {name: a}\n", r"'a': apiVersion"),
        ("apiVersion: v1\nmetadata: {name: a}\n", r"document 1: .*kind: missing"),
        (
            '{"type": "ADDED", "object": {}}\n{"type": "EXPLODED", "object": {}}\n',
            r"document 1: kind: missing",
        ),
        (
            '{"type": "EXPLODED", "object": {"kind": "Service"}}\n{"a": 1}\n',
            r"document 1: type: unknown watch event type 'EXPLODED'",
        ),
        ('{"a": 1}\n{"b": \n', r"document 2: invalid JSON on line 2"),
    ],
)
def test_malformed_documents_name_file_and_document(tmp_path, text, message):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ManifestError, match=message) as caught:
        import_files([path])
    assert str(caught.value).startswith(path)


def test_unreadable_files_name_the_file(tmp_path):
    with pytest.raises(ManifestError, match=r"missing\.yaml: cannot read"):
        import_files([str(tmp_path / "missing.yaml")])
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ManifestError, match="not UTF-8"):
        import_files([str(binary)])


SERVICE_HEAD = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: default}\n"
HOSTILE = {
    "a !!set": (
        f"{SERVICE_HEAD}spec: !!set {{a, b}}\n",
        "spec: a set is not JSON data",
    ),
    "a recursive alias": (
        "apiVersion: v1\nkind: Service\nmetadata: &m {name: a, namespace: default, self: *m}\n",
        "nested deeper than 100 levels (a recursive alias?)",
    ),
    "an alias bomb": (
        "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
        + "".join(
            f"{n}: &{n} [{','.join(['*' + p] * 10)}]\n"
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\n",
        "expands to more than 2000000 values (an alias bomb?)",
    ),
    "100k-deep JSON": ("[" * 100_000 + "]" * 100_000, "nested deeper than 100 levels"),
    "100k-deep JSON objects": ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested deeper"),
    "a YAML binary": (
        f"{SERVICE_HEAD}data: !!binary aGk=\n",
        "data: a bytes is not JSON data",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_documents_are_one_clear_error_in_bounded_time_and_memory(tmp_path, name):
    import time
    import tracemalloc

    text, message = HOSTILE[name]
    path = tmp_path / ("input.json" if "JSON" in name else "input.yaml")
    path.write_text(text)
    tracemalloc.start()
    started = time.process_time()
    try:
        with pytest.raises(ManifestError) as raised:
            import_files([str(path)])
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message in str(raised.value)
    assert str(path) in str(raised.value)
    assert peak < 512 * 2**20, f"{name}: {peak / 2**20:.0f} MiB"
    assert time.process_time() - started < 120  # a bound against a hang, not a speed figure


def test_a_kind_with_a_slash_is_a_manifest_error_not_a_crash(tmp_path):
    """Found by scripts/fuzz-decoders: the record refused it without naming the file."""
    path = tmp_path / "odd.yaml"
    path.write_text("apiVersion: metallb.io/v1beta1\nkind: IPAddressP/ol\nmetadata: {name: a}\n")
    with pytest.raises(
        ManifestError, match=r"odd.yaml: document 1: .*kind: 'IPAddressP/ol' is not a Kind"
    ):
        import_files([str(path)])
    path.write_text("apiVersion: metallb.io/\nkind: IPAddressPool\nmetadata: {name: a}\n")
    with pytest.raises(ManifestError, match="apiVersion: missing or not of the form"):
        import_files([str(path)])


def test_yaml_reads_as_kubectl_reads_it(tmp_path):
    """sigs.k8s.io/yaml's rules (checked against kubectl in
    tests/integration/test_yaml_as_kubectl.py): no base-60, y/n are booleans, dates
    stay text."""
    path = write(
        tmp_path,
        "c.yaml",
        """
        apiVersion: metallb.io/v1beta1
        kind: Community
        metadata: {name: c, namespace: metallb-system, annotations: {since: 2024-01-01}}
        spec:
          communities:
          - {name: a, value: 64512:1}
          flags: {y: y, octal: 0o17, e: 1e3}
        """,
    )
    (record,) = import_files([path])
    assert record.object["spec"]["communities"][0]["value"] == "64512:1"
    assert record.object["metadata"]["annotations"]["since"] == "2024-01-01"
    assert record.object["spec"]["flags"] == {"true": True, "octal": 15, "e": 1000}


def test_indented_watch_events_one_after_another(tmp_path):
    """How kubectl printed ``get -w -o json --output-watch-events`` before one line each."""
    events = [
        {"type": "ADDED", "object": service_object("web", "5")},
        {"type": "MODIFIED", "object": service_object("web", "6")},
    ]
    path = write(tmp_path, "w.json", "".join(json.dumps(e, indent=4) + "\n" for e in events))
    records = import_files([path])
    assert [(r.type, r.resource_version) for r in records] == [
        (EventType.ADDED, "5"),
        (EventType.MODIFIED, "6"),
    ]


def test_a_broken_object_in_a_stream_names_its_line(tmp_path):
    text = json.dumps({"type": "ADDED", "object": service_object("a", "1")}) + "\n{oops\n"
    with pytest.raises(ManifestError, match="document 2: invalid JSON on line 2"):
        import_files([write(tmp_path, "bad.json", text)])


def service_object(name: str, version: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": version},
    }
