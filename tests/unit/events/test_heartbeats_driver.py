"""The UDP driver's bookkeeping, without sockets: verdicts become records once, and a
failover's detection time (last beat heard to the verdict) is measured, a handover's
is not."""

from __future__ import annotations

from ironlb.announce.metrics import Counters
from ironlb.events.sources.heartbeat_core import HeartbeatMembership
from ironlb.events.sources.heartbeats import HeartbeatSource
from tests.unit.events.test_heartbeat_core import WALL, beat


def driver(clock: list[float]) -> tuple[HeartbeatSource, list, Counters]:
    core = HeartbeatMembership("a", incarnation=1, started_at=0.0)
    core.set_addresses({"b": "10.0.0.2"})
    records: list = []
    counters = Counters()
    source = HeartbeatSource(core, records.append, key_of=lambda: b"k", counters=counters,
                             monotonic=lambda: clock[0], clock=lambda: WALL)  # fmt: skip
    return source, records, counters


def test_a_failover_is_recorded_once_with_its_detection_time():
    clock = [0.0]
    source, records, counters = driver(clock)
    source.core.receive(beat("b", 1), 0.0, WALL)
    source._judge()
    clock[0] = 0.45
    source._judge()
    source._judge()
    assert [(r.key, r.object["alive"]) for r in records] == [("a", True), ("b", True), ("b", False)]
    assert counters.registry.get_sample_value("ironlb_membership_failover_seconds_count") == 1
    assert counters.registry.get_sample_value("ironlb_membership_failover_seconds_sum") == 0.45


def test_a_handover_is_not_a_failover():
    clock = [0.0]
    source, records, counters = driver(clock)
    source.core.receive(beat("b", 1), 0.0, WALL)
    source._judge()
    source.core.receive(beat("b", 2, leaving=True), 0.1, WALL)
    clock[0] = 0.1
    source._judge()
    assert records[-1].object["reason"].startswith("leaving")
    assert counters.registry.get_sample_value("ironlb_membership_failover_seconds_count") == 0
