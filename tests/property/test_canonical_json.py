"""Plan digests are computed over the standard library's canonical JSON; the fast
encoder behind them must give the same bytes, or every digest in every recorded
log would stop verifying."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironlb.reconcile.plan.controller import canonical_json

leaves = (
    st.text()
    | st.integers(min_value=-(2**70), max_value=2**70)  # past 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)  # 1e+16 and 1e-05 included
    | st.booleans()
    | st.none()
)
values = st.recursive(
    leaves, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=30
)


@given(values)
def test_canonical_json_is_the_standard_librarys(value):
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    "number", [1e16, 1e-05, 5e-07, 1.2345e17, 1e22, -3e-5, 1e-4, 123456789012345.6, 0.1]
)
def test_floats_are_written_as_the_standard_library_writes_them(number):
    value = {"n": number, "list": [number], "text": "1e5 stays text"}
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected
