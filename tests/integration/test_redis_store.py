"""The Redis store against a real redis-server: side-by-side logs, one writer, restarts."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid

import pytest
import redis

from ironlb.store import StoreError, open_store
from tests.helpers import record
from tests.processes import ironlb
from tests.redis_server import RedisServer


def url_for(server, name: str | None = None) -> str:
    return f"{server.url}?key={name or uuid.uuid4().hex}"


def batch(n: int, tag: str = "svc") -> list:
    return [record(f"default/{tag}{i}") for i in range(n)]


def test_logs_under_different_keys_live_side_by_side(redis_server):
    with open_store(url_for(redis_server)) as a, open_store(url_for(redis_server)) as b:
        a.append(batch(3, "a"))
        b.append(batch(2, "b"))
        assert [r.key for r in a.read()] == ["default/a0", "default/a1", "default/a2"]
        assert [(r.seq, r.key) for r in b.read()] == [(1, "default/b0"), (2, "default/b1")]


def test_a_second_writer_is_refused_naming_the_holder(redis_server):
    url = url_for(redis_server)
    with open_store(url) as first:
        first.append(batch(2, "first"))
        with pytest.raises(StoreError, match=rf"being written by {socket.gethostname()} pid \d+"):
            open_store(url)
        with open_store(url, readonly=True) as reader:
            assert [r.seq for r in reader.read()] == [1, 2]
            with pytest.raises(StoreError, match="read-only"):
                reader.append(batch(1))
    with open_store(url) as second:  # closing released the lease: no wait for its TTL
        assert second.append(batch(1, "second")) == range(3, 4)


def test_a_writer_that_lost_its_lease_stops_writing(redis_server):
    """A writer paused past its TTL while another took over is fenced off."""
    url = f"{url_for(redis_server)}&writer_lease=0.5"
    first = open_store(url)
    first.append(batch(1, "first"))
    first._closed.set()  # stands for a writer paused: it renews no more
    client = redis.Redis.from_url(redis_server.url)
    key = url.split("key=")[1].split("&")[0]
    while client.exists(f"{{{key}}}:writer"):  # the condition: its lease ran out
        time.sleep(0.05)
    with open_store(url) as second:
        second.append(batch(1, "second"))
        with pytest.raises(StoreError, match=r"lost its writer lease to .* and stops writing"):
            first.append(batch(1, "late"))
        assert [r.key for r in second.read()] == ["default/first0", "default/second0"]
    first.close()


def test_redis_restarted_without_persistence_is_lost_history_not_reused_seqs():
    server = RedisServer(fsync="always", persistent=False)
    try:
        url = url_for(server)
        with open_store(url) as store:
            store.append(batch(3))
            server.kill()
            server.start()  # nothing was saved: the log is gone
            with pytest.raises(StoreError, match="Redis lost history: this log ended at seq 3"):
                store.append(batch(1))
    finally:
        server.stop()


def test_a_retried_batch_that_redis_had_applied_is_not_appended_twice(redis_server):
    with open_store(url_for(redis_server)) as store:
        records = batch(3)
        store.append(records)
        store._last = 0  # as if the reply to that append was lost and the batch is retried
        assert store.append(records) == range(1, 4)
        assert store.last_seq == 3 and len(list(store.read())) == 3


def test_nothing_acknowledged_is_lost_when_redis_is_killed_and_restarted():
    server = RedisServer(fsync="always")
    try:
        url = url_for(server, "restart")
        acknowledged: list[range] = []
        followed: list[int] = []
        stop = threading.Event()
        halfway = threading.Event()

        def writer() -> None:
            with open_store(url) as store:
                for i in range(200):
                    acknowledged.append(store.append(batch(5, f"b{i}-")))
                    if i == 50:
                        halfway.set()

        def follower() -> None:
            with open_store(url, readonly=True) as store:
                for item in store.follow(1, stop=stop):
                    followed.append(item.seq)
                    if item.seq == 1000:
                        return

        threads = [threading.Thread(target=writer), threading.Thread(target=follower)]
        for thread in threads:
            thread.start()
        assert halfway.wait(timeout=60)
        server.kill()
        server.start()
        threads[0].join(timeout=120)
        threads[1].join(timeout=120)
        stop.set()
        assert not threads[0].is_alive() and not threads[1].is_alive()
        assert [seq for r in acknowledged for seq in r] == list(range(1, 1001))
        with open_store(url, readonly=True) as store:
            stored = list(store.read())
        assert [r.seq for r in stored] == list(range(1, 1001))
        assert stored[-1].key == "default/b199-4"
        assert followed == list(range(1, 1001))
    finally:
        server.stop()


def test_log_commands_work_on_redis_and_copy_makes_a_file(redis_server, tmp_path):
    url = url_for(redis_server)
    with open_store(url) as store:
        store.append(batch(4))
    stats = json.loads(ironlb("log", "stats", url, "-o", "json").stdout)
    assert (stats["events"], stats["first_seq"], stats["last_seq"]) == (4, 1, 4)
    shown = ironlb("log", "show", url, "-o", "json").stdout.splitlines()
    assert [json.loads(line)["key"] for line in shown][-1] == "default/svc3"
    ironlb("log", "copy", url, tmp_path / "report")
    with open_store(str(tmp_path / "report"), readonly=True) as copy:
        assert [r.seq for r in copy.read()] == [1, 2, 3, 4]


def test_a_snapshot_planted_with_one_hset_runs_nothing_and_the_log_is_replayed(
    redis_server, tmp_path
):
    """The Redis overlay's Redis has no auth: anyone on the network can HSET."""

    from ironlb.app.loop import SnapshotPolicy
    from ironlb.reconcile.controller.fold import ControllerFold
    from tests.unit.app.test_hostile_snapshots import pickle_payloads, placements

    name = uuid.uuid4().hex
    url = url_for(redis_server, name)
    with open_store(url) as store:
        store.append(batch(3))
    client = redis.Redis.from_url(redis_server.url)
    marker = tmp_path / "ran"
    for payload in pickle_payloads(marker).values():
        for planted in placements(payload).values():
            client.hset(f"{{{name}}}:snapshots", "3", planted)
            with open_store(url) as store:
                assert SnapshotPolicy().restore(store) is None
                replayed = ControllerFold().apply_all(store.read())
            assert replayed.seq == 3
            assert not marker.exists()


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"x": b"1"}, "has no field 'r'"),
        ({"r": b"\xc1garbage"}, "not valid msgpack"),
        ("other seq", "holds a record of seq 7"),
    ],
)
def test_a_damaged_stream_entry_is_reported_naming_it(redis_server, fields, message):
    from ironlb.events.codec import encode
    from ironlb.store import CorruptLog

    name = uuid.uuid4().hex
    with open_store(url_for(redis_server, name)) as store:
        store.append(batch(2))
    client = redis.Redis.from_url(redis_server.url)
    if fields == "other seq":
        fields = {"r": encode(record("default/x").with_seq(7))}
    client.xadd(f"{{{name}}}:log", fields, id="3-0")
    client.set(f"{{{name}}}:seq", 3)
    store = open_store(url_for(redis_server, name), readonly=True)
    with store, pytest.raises(CorruptLog, match=message):
        list(store.read())
