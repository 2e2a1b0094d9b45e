import contextlib

from hypothesis import given
from hypothesis import strategies as st

from ironlb.events import InvalidRecord, codec
from tests.property.strategies import records


@given(records())
def test_decode_inverts_encode(record):
    assert codec.decode(codec.encode(record)) == record


@given(st.lists(records(), max_size=5), st.integers(min_value=1, max_value=2**40))
def test_encode_many_matches_encode_at_assigned_seqs(batch, first):
    encoded = codec.encode_many(batch, first_seq=first)
    assert [codec.decode(b) for b in encoded] == [
        r.with_seq(first + i) for i, r in enumerate(batch)
    ]


@given(st.binary(max_size=512))
def test_arbitrary_bytes_decode_or_raise_invalid_record(data):
    with contextlib.suppress(InvalidRecord):  # anything else fails the test
        codec.decode(data)


def _fields_with(**changes):
    fields = [1, 1, 1.0, "s", "ADDED", "v1/Service", "default/a", None, {"a": 1}]
    names = ["version", "seq", "observed_at", "source", "type", "kind", "key", "rv", "obj"]
    for name, value in changes.items():
        fields[names.index(name)] = value
    return fields


odd_values = st.one_of(
    st.binary(max_size=8),
    st.floats(allow_nan=True, allow_infinity=True).filter(
        lambda f: f != f or f in (float("inf"), float("-inf"))
    ),
    st.dictionaries(
        st.integers(-(2**63), 2**63 - 1) | st.binary(max_size=4),
        st.integers(0, 9),
        min_size=1,
        max_size=3,
    ),
)


@given(
    st.sampled_from(["observed_at", "obj", "seq"]),
    st.data(),
)
def test_records_that_are_not_json_data_raise_only_invalid_record(field, data):
    """Big integers or NaN as observed_at, non-string keys, bytes: refused, and only
    with the documented error, so every printer can trust what decodes."""
    import msgpack

    if field == "observed_at":
        value = data.draw(st.sampled_from([float("nan"), float("inf"), 2**64 - 1, -(2**63)]))
    elif field == "seq":
        value = data.draw(st.integers(min_value=-(2**63), max_value=-1))
    else:
        value = {"spec": data.draw(odd_values)}
    packed = msgpack.packb(_fields_with(**{field: value}), use_bin_type=True)
    try:
        decoded = codec.decode(packed)
    except InvalidRecord:
        return
    # What decodes is printable as JSON (an integer observed_at of 2**64 - 1 is a time).
    import json

    json.dumps({"t": decoded.observed_at, "o": decoded.object}, allow_nan=False)
