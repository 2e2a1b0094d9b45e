"""`ironlb log show -o json | ironlb log import -` re-imports any log: every record
comes back as it was (source, time, type, kind, key, version, object), ironlb's own
records and SYNC markers included."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ironlb.cli import main
from ironlb.events.importer import parse_documents, records_from_documents
from ironlb.events.record import Record, split_kind
from ironlb.events.sources.secrets import redact
from ironlb.examples import example_path
from ironlb.store import open_store
from tests.property.strategies import records

KEY = b"k" * 32


def as_logged(record: Record) -> Record:
    """What a log holds: passwords already hashed by the source that wrote it."""
    group, _version, kind = split_kind(record.kind)
    return Record(
        0,
        record.observed_at,
        record.source,
        record.type,
        record.kind,
        record.key,
        record.resource_version,
        dict(redact(group, kind, record.object, KEY)),
    )


def reimported(lines: str) -> list[Record]:
    documents = parse_documents(lines, "-")
    return records_from_documents(
        documents, "-", default_namespace="default", secret_key=KEY, source="import", observed_at=0
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(records(seq=st.just(0)), min_size=1, max_size=20))
def test_show_then_import_gives_the_same_records(generated):
    logged = [as_logged(r) for r in generated]
    lines = "".join(json.dumps(r.to_json()) + "\n" for r in logged)
    assert reimported(lines) == logged


def test_a_real_log_round_trips_through_the_command_line(tmp_path):
    source = tmp_path / "a"
    example = str(example_path())
    assert main(["log", "import", example, "--to", str(source)], io.StringIO()) == 0
    with open_store(str(source)) as store:
        store.append(
            [
                Record(
                    0,
                    1.0,
                    "speaker/n1",
                    "ADDED",
                    "ironlb.io/v1/PlanDigest",
                    "x",
                    None,
                    {"digest": "d"},
                )
            ]
        )
    shown = io.StringIO()
    assert main(["log", "show", str(source), "-o", "json"], shown) == 0
    copy = tmp_path / "b.jsonl"
    copy.write_text(shown.getvalue())
    assert main(["log", "import", str(copy), "--to", str(tmp_path / "b")], io.StringIO()) == 0
    with (
        open_store(str(source), readonly=True) as a,
        open_store(str(tmp_path / "b"), readonly=True) as b,
    ):
        assert list(a.read()) == list(b.read())
