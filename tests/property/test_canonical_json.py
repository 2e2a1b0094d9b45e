"""Plan digests are computed over the standard library's canonical JSON; the fast
encoder behind them must give the same bytes, or every digest in every recorded
log would stop verifying."""

from __future__ import annotations

import json

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


def test_exponents_are_written_as_the_standard_library_writes_them():
    value = {"big": 1e16, "small": 1e-05, "text": "1e5 stays text"}
    assert canonical_json(value) == '{"big":1e+16,"small":1e-05,"text":"1e5 stays text"}'
