"""The memory, file and Redis stores, driven side by side, always agree (Hypothesis
DatabaseComparison). Redis joins when redis-server is installed (CI installs it)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ironlb.store import HistoryDropped, Snapshot
from ironlb.store.file import FileStore
from ironlb.store.memory import MemoryStore
from ironlb.store.redis import RedisStore
from tests.property.strategies import small_records
from tests.redis_server import RedisServer

_SERVER: list[RedisServer] = []


def redis_url() -> str | None:
    """A log on a redis-server started once for this module, or None without one."""
    if shutil.which("redis-server") is None:
        return None
    if not _SERVER:
        _SERVER.append(RedisServer(fsync="no"))
        atexit.register(_SERVER[0].stop)
    return f"{_SERVER[0].url}?key=agree-{uuid.uuid4().hex}"


class StoreAgreement(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix="ironlb-agree-")
        self.memory = MemoryStore()
        self.file = FileStore(self.directory, segment_mb=0.002, fsync="never")
        self.dropped_before = 1  # reads below this may differ (retention granularity)
        url = redis_url()
        self.redis = RedisStore(url) if url else None
        # Stores that hold exactly what memory holds (Redis trims exactly, like memory).
        self.exact = [self.redis] if self.redis else []

    def teardown(self) -> None:
        self.file.close()
        if self.redis is not None:
            self.redis.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    @rule(batch=st.lists(small_records(), max_size=12))
    def append(self, batch):
        expected = self.memory.append(batch)
        assert self.file.append(batch) == expected
        for store in self.exact:
            assert store.append(batch) == expected

    @rule(data=st.data())
    def read_range(self, data):
        last = self.memory.last_seq
        start = data.draw(st.integers(self.dropped_before, last + 2))
        until = data.draw(st.none() | st.integers(start - 1, last + 2))
        expected = list(self.memory.read(start, until))
        assert list(self.file.read(start, until)) == expected
        for store in self.exact:
            assert list(store.read(start, until)) == expected

    @rule(data=st.data())
    def follow(self, data):
        start = data.draw(st.integers(self.dropped_before, self.memory.last_seq + 1))

        def tail(store):
            return list(store.follow(start, idle_timeout=0, poll=0.0005))

        expected = tail(self.memory)
        assert tail(self.file) == expected
        for store in self.exact:
            assert tail(store) == expected

    @precondition(lambda self: self.memory.last_seq > 0)
    @rule(data=st.data(), payload=st.binary(max_size=64))
    def snapshot(self, data, payload):
        seq = data.draw(st.integers(1, self.memory.last_seq))
        self.memory.save_snapshot(Snapshot(seq, payload))
        self.file.save_snapshot(Snapshot(seq, payload))
        for store in self.exact:
            store.save_snapshot(Snapshot(seq, payload))

    @rule(data=st.data())
    def drop_history(self, data):
        before = data.draw(st.integers(1, self.memory.last_seq + 1))
        snapshot = self.memory.load_snapshot()
        floor = min(before, snapshot.seq + 1) if snapshot else self.memory.first_seq
        expected = max(self.memory.first_seq, floor)
        memory_first = self.memory.drop_history(before)
        file_first = self.file.drop_history(before)
        for store in self.exact:
            assert store.drop_history(before) == memory_first
        assert memory_first == expected  # memory drops exactly, never past the snapshot
        assert file_first <= memory_first  # the file store drops whole segments only
        self.dropped_before = max(self.dropped_before, memory_first)

    @rule()
    def reopen_file_store(self):
        self.file.close()
        self.file = FileStore(self.directory, segment_mb=0.002, fsync="never")
        assert self.file.recovered is None

    @rule()
    def read_below_retention_fails_alike(self):
        if self.memory.first_seq > 1 and self.file.first_seq > 1:
            for store in (self.memory, self.file, *self.exact):
                try:
                    list(store.read(1, 1))
                except HistoryDropped:
                    continue
                raise AssertionError(f"{store.url} read dropped history")

    @invariant()
    def same_positions_and_snapshot(self):
        assert self.memory.last_seq == self.file.last_seq
        assert self.memory.load_snapshot() == self.file.load_snapshot()
        assert self.file.first_seq <= max(self.memory.first_seq, 1)
        for store in self.exact:
            assert (store.first_seq, store.last_seq) == (
                self.memory.first_seq,
                self.memory.last_seq,
            )
            assert store.load_snapshot() == self.memory.load_snapshot()

    @invariant()
    def same_records_past_retention(self):
        start = self.dropped_before
        expected = list(self.memory.read(start))
        assert list(self.file.read(start)) == expected
        for store in self.exact:
            assert list(store.read(self.memory.first_seq)) == list(
                self.memory.read(self.memory.first_seq)
            )


TestStoreAgreement = StoreAgreement.TestCase
TestStoreAgreement.settings = settings(
    settings.default,
    max_examples=max(60, settings.default.max_examples // 10),
    stateful_step_count=25,
    deadline=None,
)
