"""Snapshots in a process's log: the disk cap drops history, restarts and replay
start from the snapshot, and a foreign or damaged snapshot is refused, not trusted."""

from __future__ import annotations

import io
import json

import pytest

from ironlb.app.loop import SnapshotPolicy
from ironlb.app.snapshots import FoldSnapshot, snapshot_to_start_from
from ironlb.cli import main
from ironlb.events.errors import LbError
from ironlb.events.record import EventType, Record
from ironlb.reconcile.controller.fold import ControllerFold
from ironlb.reconcile.plan.verify import digest_record
from ironlb.reconcile.speaker.fold import SpeakerFold
from ironlb.store import Snapshot, open_store
from tests.k8s import key_of, kind_of, node, pool, service


def records(count: int) -> list[Record]:
    """A pool, then Services coming and going, with bulky annotations (bytes on disk)."""
    made = [pool("lan", "192.0.2.0/24")]
    for i in range(count):
        svc = service(f"s{i % 300}", annotations={"padding": "x" * 900})
        made.append(svc)
    return [Record(0, 0.0, "test", EventType.ADDED, kind_of(o), key_of(o), None, o) for o in made]


def fold_into(store, fold: ControllerFold, batch: list[Record], policy: SnapshotPolicy) -> None:
    for seq, record in zip(store.append(batch), batch, strict=True):
        fold.apply(record.with_seq(seq))
    digest = digest_record(fold.plan(), source="controller", observed_at=0.0)
    (seq,) = store.append([digest])
    fold.apply(digest.with_seq(seq))
    if policy.due(store, now=0.0):
        policy.take(store, FoldSnapshot(store.last_seq, fold), now=0.0)


def test_over_the_cap_history_goes_and_replay_starts_from_the_snapshot(tmp_path):
    url = f"{tmp_path / 'log'}?segment_mb=0.25"
    policy = SnapshotPolicy(0, min_records=10**9, max_log_bytes=600_000, size_check_every=0)
    fold = ControllerFold()
    everything = records(2000)
    with open_store(url) as store:
        for start in range(0, len(everything), 100):
            fold_into(store, fold, everything[start : start + 100], policy)
        assert store.first_seq > 1  # history went
        assert store.stats().bytes < 600_000 + 300_000  # the cap plus about a segment
        assert store.load_snapshot() is not None
    out = io.StringIO()
    assert main(["replay", str(tmp_path / "log"), "--verify"], out) == 0
    assert out.getvalue().startswith("verified ")
    out = io.StringIO()
    main(["replay", str(tmp_path / "log"), "-o", "json"], out)
    assert json.loads(out.getvalue())["services"] == fold.plan().to_json()["services"]


def test_a_process_restores_its_folds_from_the_snapshot(tmp_path):
    fold = ControllerFold()
    policy = SnapshotPolicy(0, min_records=1)
    with open_store(str(tmp_path / "log")) as store:
        fold_into(store, fold, records(50), policy)
        assert store.load_snapshot().seq == store.last_seq
    with open_store(str(tmp_path / "log")) as store:
        restored = SnapshotPolicy().restore(store)
    assert restored is not None and restored.seq == 52
    assert restored.controller_fold().plan() == fold.plan()


def test_history_dropped_without_a_snapshot_is_an_error_naming_the_way_out(tmp_path):
    with open_store(f"{tmp_path / 'log'}?segment_mb=0.01") as store:
        for record in records(100):
            store.append([record])
        store.save_snapshot(Snapshot(50, b"not a snapshot"))
        store.drop_history(51)
        assert store.first_seq > 1
        with pytest.raises(LbError, match="unusable"):
            snapshot_to_start_from(store)


def speaker_history() -> list[Record]:
    made = [pool("lan", "192.0.2.0/24"), node("n1")]
    made += [service(f"s{i}", status=[f"192.0.2.{10 * i + 7}"]) for i in range(5)]
    return [Record(0, 0.0, "test", EventType.ADDED, kind_of(o), key_of(o), None, o) for o in made]


def test_a_speaker_that_does_not_assign_addresses_snapshots_no_controller(tmp_path):
    speaker = SpeakerFold(node="n1")
    with open_store(str(tmp_path / "log")) as store:
        for record, seq in zip(speaker_history(), store.append(speaker_history()), strict=True):
            speaker.apply(record.with_seq(seq))
        SnapshotPolicy(0, min_records=1).take(
            store, FoldSnapshot(store.last_seq, None, speaker), now=0.0
        )
        restored = SnapshotPolicy().restore(store)
    assert restored is not None and restored.controller is None
    assert restored.speaker_fold(node="n1").node_plan("n1") == speaker.node_plan("n1")
    # Tools still show the controller's part: rebuilt as a restarted controller would.
    rebuilt = restored.controller_fold().plan().to_json()["services"]
    assert {k: v["ips"] for k, v in rebuilt.items()} == {
        f"default/s{i}": [f"192.0.2.{10 * i + 7}"] for i in range(5)
    }
