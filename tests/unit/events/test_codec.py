import msgpack
import pytest

from ironlb.events import InvalidRecord, SchemaTooNew, codec
from tests.helpers import record


def test_round_trip_keeps_every_field():
    original = record(seq=7, rv="123", obj={"spec": {"ports": [{"port": 80}]}, "n": None})
    assert codec.decode(codec.encode(original)) == original


def test_integers_beyond_64_bits_round_trip():
    original = record(obj={"huge": 2**100, "negative": -(2**90), "edge": 2**64 - 1})
    assert codec.decode(codec.encode(original)).object == original.object


def test_encode_many_assigns_seqs_from_first_seq():
    decoded = [codec.decode(b) for b in codec.encode_many([record(), record()], first_seq=41)]
    assert [r.seq for r in decoded] == [41, 42]


def test_a_newer_format_version_is_refused_by_name():
    fields = msgpack.unpackb(codec.encode(record()))
    fields[0] = codec.FORMAT_VERSION + 1
    with pytest.raises(SchemaTooNew, match=f"version {codec.FORMAT_VERSION + 1}"):
        codec.decode(msgpack.packb(fields))


def test_older_versions_are_upgraded_through_explicit_steps(monkeypatch):
    old = codec.encode(record(source="controller"))
    # Pretend the format moved on to version 2, whose step renames a source.
    monkeypatch.setattr(codec, "FORMAT_VERSION", codec.FORMAT_VERSION + 1)

    def rename_source(fields):
        return [*fields[:3], f"{fields[3]}/watch", *fields[4:]]

    monkeypatch.setitem(codec.UPCASTERS, codec.FORMAT_VERSION - 1, rename_source)
    assert codec.decode(old).source == "controller/watch"


def test_a_missing_upgrade_step_is_an_error(monkeypatch):
    old = codec.encode(record())
    monkeypatch.setattr(codec, "FORMAT_VERSION", codec.FORMAT_VERSION + 1)
    with pytest.raises(InvalidRecord, match="no upgrade step"):
        codec.decode(old)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        msgpack.packb({"not": "an array"}),
        msgpack.packb([1, 2, 3]),
        msgpack.packb([1, "seq", 0.0, "s", "ADDED", "v1/Service", "k", None, {}]),
        msgpack.packb([1, 1, 0.0, "s", "UPSERT", "v1/Service", "k", None, {}]),
        msgpack.packb([1, 1, 0.0, "s", "ADDED", "Service", "k", None, {}]),
        msgpack.packb([0, 1, 0.0, "s", "ADDED", "v1/Service", "k", None, {}]),
        msgpack.packb([1, 1, 0.0, "s", "ADDED", "v1/Service", "k", None, {}]) + b"\x00",
        msgpack.packb([1, 1, 0.0, "s", "ADDED", "v1/Service", "k", None, msgpack.ExtType(9, b"")]),
    ],
)
def test_malformed_bytes_raise_invalid_record(data):
    with pytest.raises(InvalidRecord):
        codec.decode(data)
