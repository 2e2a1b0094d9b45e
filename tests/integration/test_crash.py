"""A writer killed with SIGKILL mid-append loses no event whose append had returned."""

from __future__ import annotations

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
