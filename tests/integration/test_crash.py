"""A writer killed with SIGKILL mid-append loses no event whose append had returned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ironlb.store.file import FileStore

WRITER = textwrap.dedent("""
    import sys
    from ironlb.events.record import Record
    from ironlb.store.file import FileStore

    store = FileStore(sys.argv[1], fsync="batch", segment_mb=0.05)
    seq = store.last_seq
    while True:
        batch = [Record(0, 1.0, "crash", "ADDED", "v1/Service", f"default/s{seq + i + 1}",
                        str(seq + i + 1), {"pad": "p" * ((seq + i) % 700)})
                 for i in range(7)]
        seq = store.append(batch)[-1]
        print(seq, flush=True)  # acknowledged: append has returned
""")


@pytest.mark.parametrize("acknowledged_before_kill", [1, 37, 400])
def test_sigkill_mid_append_loses_nothing_acknowledged(tmp_path, acknowledged_before_kill):
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    acknowledged = 0
    for _ in range(acknowledged_before_kill):
        acknowledged = int(writer.stdout.readline())
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    # Lines the writer printed before it died were acknowledged too.
    for line in writer.stdout:
        acknowledged = max(acknowledged, int(line))

    with FileStore(tmp_path) as store:
        assert store.last_seq >= acknowledged
        records = list(store.read())
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    for r in records:
        assert r.key == f"default/s{r.seq}"
        assert r.object == {"pad": "p" * ((r.seq - 1) % 700)}


BATCH_WRITER = textwrap.dedent("""
    import sys
    from ironlb.events.record import Record
    from ironlb.store.file import FileStore

    store = FileStore(sys.argv[1], fsync=sys.argv[2], segment_mb=0.5)
    number = store.last_seq
    batch_id = 0
    while True:
        batch_id += 1
        size = 1 + (number * 7 + batch_id) % 40  # 1 to 40 records, up to ~1.6 MB a write
        batch = [
            Record(0, 1.0, "crash", "ADDED", "v1/Service", f"default/b{number}-{i}", None,
                   {"batch": f"{sys.argv[3]}-{batch_id}", "size": size, "pad": "p" * 40000})
            for i in range(size)
        ]
        number = store.append(batch)[-1]
        print(number, flush=True)
""")
KILLS = int(os.environ.get("IRONLB_KILLS", "150"))


@pytest.mark.parametrize("fsync", ["batch", "interval", "never"])
def test_every_batch_is_all_or_nothing_across_sigkills(tmp_path, fsync):
    """Large batches (a relist between its SYNC markers is one) killed mid-write."""
    acknowledged = 0
    for kill in range(KILLS // 3):
        writer = subprocess.Popen(
            [sys.executable, "-c", BATCH_WRITER, str(tmp_path), fsync, str(kill)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(1 + kill % 4):  # let a few batches land, then kill mid-stream
            line = writer.stdout.readline()
            acknowledged = max(acknowledged, int(line))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        for line in writer.stdout:
            acknowledged = max(acknowledged, int(line))
        with FileStore(tmp_path) as store:
            records = list(store.read())
        assert len(records) >= acknowledged
        counts: dict[str, int] = {}
        sizes: dict[str, int] = {}
        for r in records:
            counts[r.object["batch"]] = counts.get(r.object["batch"], 0) + 1
            sizes[r.object["batch"]] = r.object["size"]
        broken = {b: (counts[b], sizes[b]) for b in counts if counts[b] != sizes[b]}
        assert not broken, f"after kill {kill}: partial batches {broken}"
