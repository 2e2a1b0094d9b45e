"""Points of a log named by seq, by time or by a duration before its end."""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable

import pytest

from ironlb.cli._common import point, seq_at
from ironlb.events.record import EventType, Record

T0 = 1_796_000_000.0  # 2026-11-30


def log(*offsets: float) -> Callable[[], list[tuple[int, float]]]:
    """A log's timeline, as seq_at asks for it."""
    records = [
        Record(seq, T0 + offset, "t", EventType.ADDED, "v1/Service", f"d/s{seq}", None, {})
        for seq, offset in enumerate(offsets, start=1)
    ]
    return lambda: [(r.seq, r.observed_at) for r in records]


def never() -> list[tuple[int, float]]:
    raise AssertionError("a seq needs no timeline")


def test_a_seq_is_itself():
    assert seq_at("7", never) == 7 and seq_at(None, never) is None


def test_a_time_is_the_log_as_it_stood_then():
    records = log(0, 60, 120, 180)
    at = datetime.datetime.fromtimestamp(T0 + 90, datetime.UTC).isoformat().replace("+00:00", "Z")
    assert seq_at(at, records) == 2
    assert seq_at("1970-01-01T00:00:00Z", records) == 0  # before the first record


def test_a_duration_counts_back_from_the_newest_record():
    records = log(0, 60, 120, 180)
    assert seq_at("1m", records) == 3  # 60 s before the newest: records up to 120 s
    assert seq_at("1h", records) == 0


@pytest.mark.parametrize("text", ["yesterday", "-1", "10 minutes", ""])
def test_what_is_no_point_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        point(text)
