"""The memory and file stores, driven side by side, always agree (Hypothesis DatabaseComparison)."""

from __future__ import annotations

import shutil
import tempfile

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ironlb.store import HistoryDropped, Snapshot
from ironlb.store.file import FileStore
from ironlb.store.memory import MemoryStore
from tests.property.strategies import small_records


class StoreAgreement(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix="ironlb-agree-")
        self.memory = MemoryStore()
        self.file = FileStore(self.directory, segment_mb=0.002, fsync="never")
        self.dropped_before = 1  # reads below this may differ (retention granularity)

    def teardown(self) -> None:
        self.file.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    @rule(batch=st.lists(small_records(), max_size=12))
    def append(self, batch):
        assert self.memory.append(batch) == self.file.append(batch)

    @rule(data=st.data())
    def read_range(self, data):
        last = self.memory.last_seq
        start = data.draw(st.integers(self.dropped_before, last + 2))
        until = data.draw(st.none() | st.integers(start - 1, last + 2))
        assert list(self.memory.read(start, until)) == list(self.file.read(start, until))

    @rule(data=st.data())
    def follow(self, data):
        start = data.draw(st.integers(self.dropped_before, self.memory.last_seq + 1))

        def tail(store):
            return list(store.follow(start, idle_timeout=0, poll=0.0005))

        assert tail(self.memory) == tail(self.file)

    @precondition(lambda self: self.memory.last_seq > 0)
    @rule(data=st.data(), payload=st.binary(max_size=64))
    def snapshot(self, data, payload):
        seq = data.draw(st.integers(1, self.memory.last_seq))
        self.memory.save_snapshot(Snapshot(seq, payload))
        self.file.save_snapshot(Snapshot(seq, payload))

    @rule(data=st.data())
    def drop_history(self, data):
        before = data.draw(st.integers(1, self.memory.last_seq + 1))
        snapshot = self.memory.load_snapshot()
        floor = min(before, snapshot.seq + 1) if snapshot else self.memory.first_seq
        expected = max(self.memory.first_seq, floor)
        memory_first = self.memory.drop_history(before)
        file_first = self.file.drop_history(before)
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
            for store in (self.memory, self.file):
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

    @invariant()
    def same_records_past_retention(self):
        start = self.dropped_before
        assert list(self.memory.read(start)) == list(self.file.read(start))


TestStoreAgreement = StoreAgreement.TestCase
TestStoreAgreement.settings = settings(
    settings.default,
    max_examples=max(60, settings.default.max_examples // 10),
    stateful_step_count=25,
    deadline=None,
)
