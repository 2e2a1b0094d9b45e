"""What only the file store promises: the lock, recovery, corruption reports, other readers."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import pytest

from ironlb.store import CorruptLog, InvalidStoreURL, Snapshot, StoreError, StoreLocked, open_store
from ironlb.store.file import FRAME_HEADER, LENGTH_MASK, SEGMENT_HEADER, FileStore
from tests.helpers import record


def fill(store, n, per_batch=10):
    for start in range(0, n, per_batch):
        store.append([record(f"default/s{i}") for i in range(start, min(n, start + per_batch))])


def segment_files(path):
    return sorted(p for p in path.iterdir() if p.suffix == ".log")


def frame_offsets(segment):
    """Offsets of the frames in a segment, from their headers."""
    data = segment.read_bytes()
    offsets, pos = [], SEGMENT_HEADER.size
    while pos + FRAME_HEADER.size <= len(data):
        length = FRAME_HEADER.unpack_from(data, pos)[0] & LENGTH_MASK
        offsets.append(pos)
        pos += FRAME_HEADER.size + length
    return offsets


def test_a_second_writer_gets_a_clear_error(tmp_path):
    with FileStore(tmp_path):
        with pytest.raises(StoreLocked, match=f"pid {os.getpid()}.*one writer"):
            FileStore(tmp_path)
        reader = FileStore(tmp_path, readonly=True)  # readers need no lock
        assert reader.last_seq == 0
    with FileStore(tmp_path) as again:
        assert again.last_seq == 0


def test_segments_roll_by_size_and_reads_cross_them(tmp_path):
    with FileStore(tmp_path, segment_mb=0.001) as store:
        fill(store, 100)
        assert store.stats().segments > 3
    names = [p.name for p in segment_files(tmp_path)]
    assert names[0] == f"{1:020d}.log"
    with FileStore(tmp_path, readonly=True) as reader:
        assert [r.seq for r in reader.read()] == list(range(1, 101))
        assert [r.seq for r in reader.read(57, 64)] == list(range(57, 65))


def test_recovery_cuts_a_torn_tail_and_reports_it(tmp_path):
    with FileStore(tmp_path) as store:
        fill(store, 5, per_batch=1)
    segment = segment_files(tmp_path)[-1]
    size = segment.stat().st_size
    last_frame = frame_offsets(segment)[-1]
    with open(segment, "r+b") as fh:
        fh.truncate(size - 7)
    with FileStore(tmp_path) as store:
        assert store.recovered is not None
        assert store.recovered.segment == segment.name
        assert store.recovered.offset == last_frame
        assert store.recovered.dropped_bytes == size - 7 - last_frame
        assert store.last_seq == 4
        assert store.append([record()]) == range(5, 6)
        assert [r.seq for r in store.read()] == [1, 2, 3, 4, 5]


def test_a_batch_cut_anywhere_is_recovered_whole_or_not_at_all(tmp_path):
    """A relist's SYNC_START without its SYNC_END must never be visible."""
    with FileStore(tmp_path) as store:
        fill(store, 3, per_batch=3)
        fill(store, 7, per_batch=7)
    segment = segment_files(tmp_path)[-1]
    offsets = frame_offsets(segment)
    whole = segment.read_bytes()
    second_batch = offsets[3]
    for cut in range(second_batch + 1, len(whole)):
        segment.write_bytes(whole[:cut])
        with FileStore(tmp_path, readonly=True) as reader:  # a reader during the write
            assert [r.seq for r in reader.read()] == [1, 2, 3], cut
        with FileStore(tmp_path) as store:  # recovery after a crash
            assert store.last_seq == 3, cut
            assert store.recovered.offset == second_batch
    segment.write_bytes(whole)
    with FileStore(tmp_path) as store:
        assert store.last_seq == 10


def test_segments_of_format_1_read_every_frame_as_its_own_batch(tmp_path):
    """Logs written before batch ends were marked stay readable."""
    with FileStore(tmp_path) as store:
        fill(store, 4, per_batch=4)
    segment = segment_files(tmp_path)[-1]
    data = bytearray(segment.read_bytes())
    data[:8] = b"IRONLOG\x01"  # the old magic; the length bits of a format-1 frame:
    for pos in frame_offsets(segment):
        length = FRAME_HEADER.unpack_from(data, pos)[0] & LENGTH_MASK
        prefix = struct.pack(">II", length, FRAME_HEADER.unpack_from(data, pos)[1])
        data[pos : pos + FRAME_HEADER.size] = prefix + struct.pack(">I", zlib.crc32(prefix))
    segment.write_bytes(bytes(data[: frame_offsets(segment)[-1] + 5]))  # a torn last record
    with FileStore(tmp_path) as store:
        assert [r.seq for r in store.read()] == [1, 2, 3]  # per record, as format 1 was
        assert store.append([record()]) == range(4, 5)


def test_a_zero_filled_tail_after_a_crash_is_a_torn_tail(tmp_path):
    with FileStore(tmp_path) as store:
        fill(store, 3)
    segment = segment_files(tmp_path)[-1]
    with open(segment, "ab") as fh:
        fh.write(b"\0" * 4096)
    with FileStore(tmp_path) as store:
        assert store.recovered.dropped_bytes == 4096
        assert store.recovered.reason == "zero-filled tail"
        assert store.last_seq == 3


def test_damage_in_the_middle_names_segment_and_offset(tmp_path):
    with FileStore(tmp_path) as store:
        fill(store, 5)
    segment = segment_files(tmp_path)[-1]
    third = frame_offsets(segment)[2]
    data = bytearray(segment.read_bytes())
    data[third + FRAME_HEADER.size + 3] ^= 0xFF
    segment.write_bytes(bytes(data))
    with pytest.raises(CorruptLog) as caught:
        FileStore(tmp_path)
    assert caught.value.segment == segment.name
    assert caught.value.offset == third
    assert f"{segment.name} at offset {third}" in str(caught.value)
    with pytest.raises(CorruptLog, match="record checksum"):
        list(FileStore(tmp_path, readonly=True).read())


def test_a_damaged_length_is_corruption_not_a_torn_tail(tmp_path):
    with FileStore(tmp_path) as store:
        fill(store, 5)
    segment = segment_files(tmp_path)[-1]
    second = frame_offsets(segment)[1]
    data = bytearray(segment.read_bytes())
    data[second + 1] ^= 0x40  # the length grows past the end of the file
    segment.write_bytes(bytes(data))
    with pytest.raises(CorruptLog, match="header checksum") as caught:
        FileStore(tmp_path)
    assert caught.value.offset == second


def test_damage_in_a_sealed_segment_is_found_on_read(tmp_path):
    with FileStore(tmp_path, segment_mb=0.001) as store:
        fill(store, 60)
    sealed = segment_files(tmp_path)[0]
    data = bytearray(sealed.read_bytes())
    data[-1] ^= 0x01  # the last record of a sealed segment is never a torn tail
    sealed.write_bytes(bytes(data))
    with FileStore(tmp_path) as store, pytest.raises(CorruptLog) as caught:
        list(store.read())
    assert caught.value.segment == sealed.name


def test_a_failed_write_leaves_no_half_batch(tmp_path, monkeypatch):
    store = FileStore(tmp_path)
    fill(store, 3)
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.write", half_then_full)
    with pytest.raises(StoreError, match="No space left"):
        store.append([record(), record()])
    monkeypatch.undo()
    assert store.append([record("default/after")]) == range(4, 5)
    store.close()
    with FileStore(tmp_path) as again:
        assert again.recovered is None
        assert [r.key for r in again.read(4)] == ["default/after"]


def test_a_damaged_snapshot_falls_back_to_an_older_one(tmp_path):
    with FileStore(tmp_path) as store:
        fill(store, 10)
        store.save_snapshot(Snapshot(5, b"five"))
        store.save_snapshot(Snapshot(8, b"eight"))
    newest = tmp_path / "snapshots" / f"{8:020d}.snap"
    newest.write_bytes(newest.read_bytes()[:-1] + b"X")
    with FileStore(tmp_path) as store:
        assert store.load_snapshot() == Snapshot(5, b"five")


def test_retain_option_drops_old_segments_on_snapshot(tmp_path):
    with open_store(f"file://{tmp_path}?segment_mb=0.001&retain=10") as store:
        fill(store, 100)
        store.save_snapshot(Snapshot(90, b"s"))
        assert 1 < store.first_seq <= 81
        assert [r.seq for r in store.read(81, 82)] == [81, 82]


def test_readonly_store_refuses_writes(tmp_path):
    with FileStore(tmp_path) as store:
        fill(store, 1)
    reader = FileStore(tmp_path, readonly=True)
    with pytest.raises(StoreError, match="read-only"):
        reader.append([record()])
    with pytest.raises(StoreError, match="no log at"):
        FileStore(tmp_path / "missing", readonly=True)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///tmp/x?fsync=sometimes", "fsync='sometimes'"),
        ("file:///tmp/x?segment_mb=big", "segment_mb='big' is not a number"),
        ("file:///tmp/x?colour=red", "unknown option 'colour'"),
        ("file://relative/x", "absolute path"),
        ("ftp://host/x", "unknown store scheme 'ftp'"),
        ("memory://?fsync=batch", "unknown option 'fsync'"),
    ],
)
def test_bad_urls_name_the_problem(url, message):
    with pytest.raises((InvalidStoreURL, StoreError), match=message.replace("?", r"\?")):
        open_store(url)


def test_a_reader_in_another_process_sees_appends(tmp_path):
    """The follower is a separate interpreter; it prints seqs as they arrive."""
    with FileStore(tmp_path, segment_mb=0.001) as store:
        fill(store, 5)
        follower = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(f"""
                from ironlb.store import open_store
                store = open_store({str(tmp_path)!r}, readonly=True)
                for r in store.follow(1, idle_timeout=60, poll=0.01):
                    print(r.seq, r.key, flush=True)
                    if r.seq == 80:
                        break
            """),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert follower.stdout.readline().split() == ["1", "default/s0"]
        fill(store, 75)  # crosses several segment rolls while the follower reads
        rest = follower.stdout.read()  # the same buffered reader as readline above
        follower.wait(timeout=60)
    lines = ["1 default/s0", *rest.splitlines()]
    assert [int(line.split()[0]) for line in lines] == list(range(1, 81))
    assert follower.returncode == 0


@pytest.mark.parametrize("which", ["first", "newest", "middle"])
def test_a_deleted_segment_is_reported_not_a_shorter_log(tmp_path, which):
    with FileStore(tmp_path, segment_mb=0.001) as store:
        fill(store, 60)
    segments = segment_files(tmp_path)
    assert len(segments) > 3
    victim = {"first": segments[0], "newest": segments[-1], "middle": segments[2]}[which]
    victim.unlink()
    message = "missing" if which != "middle" else "expected"
    with pytest.raises(CorruptLog, match=message), FileStore(tmp_path, readonly=True) as reader:
        list(reader.read())
    with pytest.raises(CorruptLog), FileStore(tmp_path) as writer:
        list(writer.read())


def test_retention_moves_the_manifest_so_dropped_history_is_no_damage(tmp_path):
    with FileStore(tmp_path, segment_mb=0.001) as store:
        fill(store, 60)
        store.save_snapshot(Snapshot(40, b"state"))
        first = store.drop_history(41)
        assert first > 1
    with FileStore(tmp_path) as store:
        assert store.first_seq == first and store.last_seq == 60
