"""Hypothesis strategies shared by the property tests (one place, as attrs does it)."""

from __future__ import annotations

from hypothesis import strategies as st

from ironlb.events.record import EventType, Record

# Strings that look binary: control characters, NULs, surrogate-free unicode.
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
big_ints = st.integers(min_value=-(2**200), max_value=2**200)
json_scalars = (
    st.none() | st.booleans() | big_ints | st.floats(allow_nan=False, allow_infinity=False) | text
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
    max_leaves=30,
)
objects = st.dictionaries(text, json_values, max_size=6)

kind_names = st.sampled_from(
    [
        "v1/Service",
        "v1/Node",
        "discovery.k8s.io/v1/EndpointSlice",
        "metallb.io/v1beta1/IPAddressPool",
        "metallb.io/v1beta2/BGPPeer",
        "ironlb.io/v1/SpeakerMembership",
        "example.com/v1alpha1/Unknown",
    ]
)


@st.composite
def records(draw: st.DrawFn, seq: st.SearchStrategy[int] | None = None) -> Record:
    return Record(
        seq=draw(seq if seq is not None else st.integers(min_value=0, max_value=2**62)),
        observed_at=draw(st.floats(min_value=0, max_value=4e9, allow_nan=False)),
        source=draw(text),
        type=draw(st.sampled_from(list(EventType))),
        kind=draw(kind_names),
        key=draw(text),
        resource_version=draw(st.none() | text),
        object=draw(objects),
    )


def small_records() -> st.SearchStrategy[Record]:
    """Records cheap enough to append by the thousand in stateful tests."""
    return st.builds(
        Record,
        seq=st.just(0),
        observed_at=st.floats(min_value=0, max_value=4e9, allow_nan=False),
        source=st.sampled_from(["controller/watch", "import"]),
        type=st.sampled_from([EventType.ADDED, EventType.MODIFIED, EventType.DELETED]),
        kind=kind_names,
        key=st.text(min_size=1, max_size=12),
        resource_version=st.none() | st.integers(0, 10**6).map(str),
        object=st.dictionaries(st.text(max_size=8), json_scalars, max_size=3),
    )
