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
