"""JSON output: orjson's bytes are the standard library's for what ironlb prints."""

from __future__ import annotations

import io
import json

from hypothesis import given
from hypothesis import strategies as st

from ironlb.cli.output import dump_json

# What plans and reports hold: text keys; strings, integers, booleans, null, and the
# observed times of records (floats of a few decimals).
leaves = (
    st.text()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.booleans()
    | st.none()
    | st.integers(0, 2_000_000_000_000).map(lambda n: n / 1000)
)
values = st.recursive(
    leaves, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=40
)


@given(values)
def test_dump_json_writes_what_the_standard_library_would(value):
    out = io.StringIO()
    dump_json(value, out)
    assert out.getvalue() == json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_what_orjson_refuses_is_written_as_the_standard_library_writes_it():
    value = {"big": 2**70, "nested": {1: "int key"}, "deep": {"a": {"b": [2**65]}}}
    out = io.StringIO()
    dump_json(value, out)
    assert out.getvalue() == json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_a_real_file_gets_the_same_bytes_through_its_buffer():
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    out.write("before ")
    dump_json({"é": [1, {"x": None}]}, out)
    out.flush()
    expected = "before " + json.dumps({"é": [1, {"x": None}]}, indent=2, ensure_ascii=False)
    assert raw.getvalue().decode() == expected + "\n"


def test_big_maps_deep_down_are_written_entry_by_entry_with_the_same_bytes():
    routes = [{"prefix": f"10.0.0.{i}/32", "local_pref": None} for i in range(3)]
    value = {
        "bgp": {f"node-{n}": {f"tor-{p}": routes for p in range(3)} for n in range(12)},
        "services": {f"ns/svc-{i}": {"ips": [f"10.0.0.{i}"], "error": None} for i in range(30)},
        "deep": {"a": {"b": {f"k{i}": [i, {"x": 2**70 if i == 7 else i}] for i in range(20)}}},
        "empty": {"a": {}, "b": {"c": {}}},
    }
    out = io.StringIO()
    dump_json(value, out)
    assert out.getvalue() == json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
