"""Digests v2: a chain of records that lets ``replay --verify`` name what differs."""

from __future__ import annotations

import attrs

from ironlb.app.loop import DigestSchedule
from ironlb.events.own_kinds import IDENTITY_KIND
from ironlb.events.record import EventType, Record
from ironlb.reconcile.controller.fold import ControllerFold
from ironlb.reconcile.plan.controller import digest
from ironlb.reconcile.plan.verify import (
    DigestChain,
    digest_record,
    entry_digests,
    planned_statuses,
    v1_parts,
    verify_digests,
)
from ironlb.reconcile.speaker.fold import SpeakerFold
from ironlb.tools.inputs import read_inputs
from tests.unit.cli.test_cli_log import EXAMPLE

NODE = "worker1"


def live_log(every: int = 4) -> list[Record]:
    """The example cluster as a live controller and a speaker on NODE would log it:
    a digest of each scope after every ``every`` records."""
    controller, speakers = ControllerFold(), SpeakerFold()
    chains = {"controller": DigestChain(), NODE: DigestChain()}
    log: list[Record] = []

    def append(record: Record) -> None:
        record = record.with_seq(len(log) + 1)
        controller.apply(record)
        speakers.apply(record)
        log.append(record)

    # A speaker that assigns addresses itself: its plan has layer-2 entries without
    # Service statuses in the log.
    identity = {"namespace": "metallb-system", "assignAddresses": True}
    append(Record(0, 1.0, "s", EventType.ADDED, IDENTITY_KIND, f"speaker/{NODE}", None, identity))
    records = read_inputs([str(EXAMPLE)])
    for i, record in enumerate(records):
        append(record)
        if i % every == every - 1 or i == len(records) - 1:
            append(chains["controller"].record(controller.plan(), source="c", observed_at=1.0))
            speakers.assume_statuses(planned_statuses(controller))
            append(chains[NODE].record(speakers.node_plan(NODE), source="s", observed_at=1.0))
    return log


def digests_of(log: list[Record], scope: str) -> list[Record]:
    return [r for r in log if r.kind.endswith("PlanDigest") and r.key == scope]


def forge(log: list[Record], record: Record, entry: str) -> list[Record]:
    """The log with one digest record claiming another value for ``entry``."""
    obj = dict(record.object)
    obj["digest"] = "f" * 64
    obj["entries"] = {**obj["entries"], entry: "0" * 12}
    return [attrs.evolve(r, object=obj) if r.seq == record.seq else r for r in log]


def test_a_live_chain_verifies_and_carries_only_what_changed():
    log = live_log()
    report = verify_digests(log)
    assert report.mismatch is None and report.checked == len(digests_of(log, "controller")) * 2
    first, *later = digests_of(log, "controller")
    assert first.object["base"] is True and first.object["format"] == 2
    assert all(r.object["base"] is False for r in later)
    # After the base, a record names only the entries whose value changed since the last.
    everything = set(first.object["entries"])
    for r in later:
        assert len(r.object["entries"]) < len(everything | set(r.object["entries"]))
        everything |= set(r.object["entries"])


def test_a_mismatch_names_the_entry_that_differs_deep_in_the_chain():
    log = live_log()
    last = digests_of(log, "controller")[-1]
    report = verify_digests(forge(log, last, "services/default/web"))
    assert report.mismatch is not None and report.mismatch.seq == last.seq
    text = report.describe()
    assert text.startswith(f"plan digest of controller at seq {last.seq} differs")
    named = [line.strip().split(":")[0] for line in text.splitlines()[1:] if "/" in line[:40]]
    assert named[0] == "services/default/web"
    assert not any(n.startswith(("services/", "pools/")) for n in named[1:])


def test_a_speaker_scope_names_its_node_and_the_layer2_service():
    log = live_log()
    last = digests_of(log, f"speaker/{NODE}")[-1]
    entry = next(n for n in entry_digests_of(log, NODE) if n.startswith("l2/"))
    report = verify_digests(forge(log, last, entry))
    text = report.describe()
    assert text.startswith(f"plan digest of speaker/{NODE} at seq {last.seq} differs")
    assert f"  {entry}: the live process planned otherwise; replay computed" in text


def entry_digests_of(log: list[Record], node: str) -> dict[str, str]:
    speakers = SpeakerFold().apply_all(log)
    speakers.assume_statuses(planned_statuses(ControllerFold().apply_all(log)))
    return entry_digests(speakers.node_plan(node).to_json())


def test_verification_starting_mid_chain_names_entries_after_its_first_match():
    log = live_log(every=3)
    digests = digests_of(log, "controller")
    cut = digests[1].seq - 1  # the records before the second digest are a snapshot's
    start = (ControllerFold().apply_all(log[:cut]), SpeakerFold().apply_all(log[:cut]))
    report = verify_digests(forge(log, digests[-1], "services/default/web")[cut:],
                            start=start)  # fmt: skip
    assert "services/default/web: the live process planned otherwise" in report.describe()
    # A first digest that already differs has no chain to be read against.
    start = (ControllerFold().apply_all(log[:cut]), SpeakerFold().apply_all(log[:cut]))
    report = verify_digests(forge(log, digests[1], "services/default/web")[cut:], start=start)
    assert "cannot say which entries differ" in report.describe()


def test_format_1_digests_still_verify_and_name_their_buckets():
    records = read_inputs([str(EXAMPLE)])
    plan = ControllerFold().apply_all(records).plan()
    v1 = digest_record(plan, source="c", observed_at=1.0)
    parts = {name: digest(part)[:12] for name, part in v1_parts(plan.to_json()).items()}
    honest = {"scope": "controller", "digest": v1.object["digest"], "parts": parts}
    log = [r.with_seq(i + 1) for i, r in enumerate(records)]
    good = attrs.evolve(v1, object=honest).with_seq(len(log) + 1)
    assert verify_digests([*log, good]).checked == 1
    bad = attrs.evolve(good, object=honest | {"digest": "f" * 64, "parts": {}})
    text = verify_digests([*log, bad]).describe()
    assert "format 1" in text and "services/" in text


def test_a_live_process_writes_a_base_after_each_snapshot():
    fold = ControllerFold().apply_all(read_inputs([str(EXAMPLE)]))
    schedule = DigestSchedule(interval=0.0)
    schedule.note_change()
    assert schedule.take(fold.plan(), source="c", observed_at=1.0, now=1.0).object["base"]
    schedule.note_change()
    assert schedule.take(fold.plan(), source="c", observed_at=1.0, now=2.0) is None  # unchanged
    schedule.rebase()
    schedule.note_change()
    again = schedule.take(fold.plan(), source="c", observed_at=1.0, now=3.0)
    assert again is not None and again.object["base"] is True
