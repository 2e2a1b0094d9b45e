"""One contract, every backend (eventsourcing's recorder test-case pattern)."""

from __future__ import annotations

import threading
import uuid

import pytest

from ironlb.store import HistoryDropped, Snapshot, StoreError, open_store
from tests.helpers import record


@pytest.fixture(params=["memory", "file", "redis"])
def store(request, tmp_path):
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        url = f"{server.url}?key=contract-{uuid.uuid4().hex}"
    elif request.param == "memory":
        url = "memory://"
    else:
        url = f"file://{tmp_path}/log?segment_mb=0.002"
    with open_store(url) as s:
        yield s


def batch(n, start=0):
    return [record(f"default/svc{i}") for i in range(start, start + n)]


def test_a_new_log_is_empty(store):
    assert store.last_seq == 0
    assert store.first_seq == 1
    assert list(store.read()) == []
    assert store.load_snapshot() is None


def test_append_assigns_dense_seqs_from_one(store):
    assert store.append(batch(3)) == range(1, 4)
    assert store.append(batch(2, 3)) == range(4, 6)
    assert store.append([]) == range(6, 6)
    got = list(store.read())
    assert [r.seq for r in got] == [1, 2, 3, 4, 5]
    assert [r.key for r in got] == [f"default/svc{i}" for i in range(5)]


def test_read_bounds_are_inclusive(store):
    store.append(batch(40))
    assert [r.seq for r in store.read(10, 12)] == [10, 11, 12]
    assert [r.seq for r in store.read(39)] == [39, 40]
    assert list(store.read(41)) == []
    assert [r.seq for r in store.read(None, 2)] == [1, 2]


def test_follow_sees_appends_from_another_thread(store):
    store.append(batch(2))
    stop = threading.Event()
    seen = []

    def follower():
        for r in store.follow(2, stop=stop, poll=0.01):
            seen.append(r.seq)
            if r.seq == 30:
                stop.set()

    thread = threading.Thread(target=follower)
    thread.start()
    for i in range(7):
        store.append(batch(4, i * 4))
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert seen == list(range(2, 31))


def test_follow_ends_after_idle_timeout(store):
    store.append(batch(3))
    assert [r.seq for r in store.follow(None, idle_timeout=0, poll=0.001)] == [1, 2, 3]


def test_snapshots_newest_wins_and_must_be_inside_the_log(store):
    store.append(batch(10))
    store.save_snapshot(Snapshot(4, b"four"))
    store.save_snapshot(Snapshot(9, b"nine"))
    assert store.load_snapshot() == Snapshot(9, b"nine")
    with pytest.raises(StoreError, match="outside the log"):
        store.save_snapshot(Snapshot(11, b"x"))


def test_drop_history_never_passes_the_newest_snapshot(store):
    for i in range(10):  # several batches, so the file store has several segments
        store.append(batch(20, i * 20))
    assert store.drop_history(150) == 1  # no snapshot: nothing may go
    store.save_snapshot(Snapshot(120, b"s"))
    first = store.drop_history(150)
    assert 1 < first <= 121
    assert [r.seq for r in store.read(121, 123)] == [121, 122, 123]
    assert store.last_seq == 200
    with pytest.raises(HistoryDropped, match="dropped by retention"):
        list(store.read(1))


def test_append_keeping_seqs_into_an_empty_log(store):
    kept = [record(f"default/s{i}", seq=s) for i, s in enumerate(range(42, 45))]
    assert store.append_keeping_seqs(kept) == range(42, 45)
    assert store.first_seq == 42
    assert [r.seq for r in store.read()] == [42, 43, 44]
    with pytest.raises(StoreError, match="expects seq 45"):
        store.append_keeping_seqs([record(seq=47)])
    assert store.append(batch(1)) == range(45, 46)
