"""Torn tails are cut exactly, a batch whole or not at all; damage anywhere else is named,
never a silently shorter log."""

from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironlb.store import CorruptLog
from ironlb.store.file import BATCH_END, FRAME_HEADER, LENGTH_MASK, SEGMENT_HEADER, FileStore
from tests.helpers import record, service_object


def build_log(directory, sizes, batch_sizes, segment_mb=64.0):
    """A log whose records have payloads of varied sizes; returns per-record frame spans."""
    with FileStore(directory, segment_mb=segment_mb, fsync="never") as store:
        records = [
            record(f"default/s{i}", obj={**service_object(f"s{i}"), "pad": "x" * size})
            for i, size in enumerate(sizes)
        ]
        position = 0
        for batch in batch_sizes:
            store.append(records[position : position + batch])
            position += batch
        store.append(records[position:])
    spans = []  # (segment, offset, end, end of the record's batch) per record, in seq order
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".log"):
            continue
        with open(os.path.join(directory, name), "rb") as fh:
            data = fh.read()
        pos = SEGMENT_HEADER.size
        batch: list[tuple[int, int]] = []
        while pos < len(data):
            raw = FRAME_HEADER.unpack_from(data, pos)[0]
            end = pos + FRAME_HEADER.size + (raw & LENGTH_MASK)
            batch.append((pos, end))
            pos = end
            if raw & BATCH_END:
                path = os.path.join(directory, name)
                spans += [(path, start, stop, pos) for start, stop in batch]
                batch = []
    return spans


sizes = st.lists(st.integers(0, 300), min_size=1, max_size=25)


@given(sizes=sizes, data=st.data())
def test_truncating_the_last_segment_anywhere_keeps_exactly_the_complete_batches(sizes, data):
    with tempfile.TemporaryDirectory() as directory:
        batches = data.draw(st.lists(st.integers(1, 5), max_size=6))
        spans = build_log(directory, sizes, batches, segment_mb=0.001)
        last_segment = spans[-1][0]
        # From the header on: the manifest names a segment only once its header is
        # on disk, so a crash never leaves a named segment shorter than that.
        cut = data.draw(st.integers(SEGMENT_HEADER.size, os.path.getsize(last_segment)))
        os.truncate(last_segment, cut)
        complete = [
            i
            for i, (path, _start, _end, batch_end) in enumerate(spans)
            if path != last_segment or batch_end <= cut
        ]
        with FileStore(directory) as store:
            got = [int(r.key.rsplit("s", 1)[1]) for r in store.read()]
            assert got == complete
            assert store.last_seq == len(complete)
            assert store.append([record("default/new")]) == range(
                len(complete) + 1, len(complete) + 2
            )


@given(sizes=st.lists(st.integers(0, 300), min_size=2, max_size=20), data=st.data())
def test_damage_to_a_record_with_records_after_it_is_reported_where_it_is(sizes, data):
    with tempfile.TemporaryDirectory() as directory:
        batches = data.draw(st.lists(st.integers(1, 5), max_size=6))
        spans = build_log(
            directory, sizes, batches, segment_mb=data.draw(st.sampled_from([0.001, 64.0]))
        )
        victim = data.draw(st.integers(0, len(spans) - 2))
        path, start, end, _batch_end = spans[victim]
        byte = data.draw(st.integers(start, end - 1))
        flip = data.draw(st.integers(1, 255))
        with open(path, "r+b") as fh:
            fh.seek(byte)
            original = fh.read(1)[0]
            fh.seek(byte)
            fh.write(bytes([original ^ flip]))
        with pytest.raises(CorruptLog) as caught, FileStore(directory, readonly=True) as reader:
            list(reader.read())
        assert caught.value.segment == os.path.basename(path)
        assert caught.value.offset == start
