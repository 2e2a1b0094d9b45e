"""A restarting process recomputes the digests it wrote, and counts the ones its
log no longer replays to (the alert IronLBReplayDiverged watches that count)."""

from __future__ import annotations

import logging

import attrs

from ironlb.announce.metrics import Counters
from ironlb.app.loop import ResumeCheck
from ironlb.reconcile.controller.fold import ControllerFold
from ironlb.reconcile.plan.verify import RULES_VERSION
from tests.unit.reconcile.test_plan_verify import digests_of, live_log


def resumed(log) -> tuple[Counters, ResumeCheck]:
    counters, fold = Counters(), ControllerFold()
    check = ResumeCheck(counters, "controller")
    for record in log:
        check.before_fold(record, fold.plan)
        fold.apply(record)
    return counters, check


def with_digest(log, seq: int, **changes):
    return [attrs.evolve(r, object={**r.object, **changes}) if r.seq == seq else r for r in log]


def test_a_log_that_replays_as_it_was_lived_counts_no_divergence():
    log = live_log()
    counters, check = resumed(log)
    assert check.checked == len(digests_of(log, "controller")) > 1
    assert counters.get("ironlb_replay_digests_checked", scope="controller") == check.checked
    assert counters.total("ironlb_replay_divergences") == 0


def test_a_digest_the_log_no_longer_replays_to_is_counted_and_named(caplog):
    log = live_log()
    seq = digests_of(log, "controller")[1].seq
    with caplog.at_level(logging.ERROR, logger="ironlb"):
        counters, _ = resumed(with_digest(log, seq, digest="0" * 64))
    assert counters.get("ironlb_replay_divergences", scope="controller") == 1
    assert f"controller plan at seq {seq}" in caplog.text
    assert "ironlb replay --verify" in caplog.text


def test_a_digest_of_older_decision_rules_is_a_change_on_purpose(caplog):
    log = live_log()
    seq = digests_of(log, "controller")[1].seq
    with caplog.at_level(logging.INFO, logger="ironlb"):
        counters, _ = resumed(with_digest(log, seq, digest="0" * 64, rules=RULES_VERSION - 1))
    assert counters.total("ironlb_replay_divergences") == 0
    assert f"decision rules {RULES_VERSION - 1}" in caplog.text


def test_other_scopes_digests_are_not_this_process_s():
    log = live_log()
    counters = Counters()
    check = ResumeCheck(counters, "speaker/elsewhere")
    fold = ControllerFold()
    for record in log:
        check.before_fold(record, fold.plan)
        fold.apply(record)
    assert check.checked == 0
