"""The UDP driver's bookkeeping: verdicts become records once, a failover's detection
time (last beat heard to the verdict) is measured and a handover's is not, and the gaps
between beats are measured as they arrive."""

from __future__ import annotations

import socket

from ironlb.announce.metrics import Counters
from ironlb.events.sources.heartbeat_codec import encode
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


def test_the_gaps_between_beats_are_measured():
    clock = [0.0]
    source, _records, counters = driver(clock)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with receiver, sender:
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)
        source.sock = receiver
        for seq, at in enumerate((0.0, 0.1, 0.35), start=1):  # on time, then a late one
            clock[0] = at
            sender.sendto(encode(beat("b", seq), b"k"), receiver.getsockname())
            source._receive()
    sample = counters.registry.get_sample_value
    assert sample("ironlb_membership_beat_gap_seconds_count") == 2  # the first has no gap
    assert sample("ironlb_membership_beat_gap_seconds_bucket", {"le": "0.11"}) == 1
    assert sample("ironlb_membership_beat_gap_seconds_bucket", {"le": "0.2"}) == 1
    assert sample("ironlb_membership_beat_gap_seconds_bucket", {"le": "0.3"}) == 2  # 0.25 s
