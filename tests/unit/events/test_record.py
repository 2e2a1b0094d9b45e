import pytest

from ironlb.events import EventType, InvalidRecord, Record, identity_of, split_kind
from tests.helpers import record


def test_split_kind_core_and_grouped():
    assert split_kind("v1/Service") == ("", "v1", "Service")
    assert split_kind("metallb.io/v1beta2/BGPPeer") == ("metallb.io", "v1beta2", "BGPPeer")


@pytest.mark.parametrize("kind", ["Service", "", "a/b/c/d", "/v1/Service", "v1/"])
def test_malformed_kind_is_rejected(kind):
    with pytest.raises(InvalidRecord, match="kind"):
        record(kind=kind)


def test_identity_ignores_the_version():
    assert identity_of("metallb.io/v1beta1/BGPPeer", "ns/p") == identity_of(
        "metallb.io/v1beta2/BGPPeer", "ns/p"
    )
    assert record(kind="v1/Service").identity != record(kind="v1/Node").identity


def test_type_accepts_its_string_form_and_rejects_others():
    assert record(type="DELETED").type is EventType.DELETED
    with pytest.raises(ValueError):
        record(type="UPSERTED")


def test_records_are_values():
    assert record() == record()
    assert record().with_seq(5).seq == 5
    with pytest.raises(AttributeError):
        record().seq = 3  # type: ignore[misc]
    assert isinstance(record(), Record)
