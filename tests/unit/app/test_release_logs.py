"""Upgrades of ironlb itself: logs written by earlier releases (tests/data/logs, made
by scripts/record-release-log) still load, restore and verify in this one."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest

from ironlb.app.loop import SnapshotPolicy
from ironlb.cli import main
from ironlb.events.own_kinds import DIGEST_KIND
from ironlb.events.record import EventType, Record
from ironlb.reconcile.plan.verify import RULES_VERSION
from ironlb.store import open_store

LOGS = sorted((Path(__file__).parents[2] / "data" / "logs").glob("*-rules*"))


def rules_of(kept: Path) -> int:
    return int(re.search(r"-rules(\d+)$", kept.name).group(1))


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def test_there_is_a_log_of_the_current_rules():
    assert RULES_VERSION in {rules_of(kept) for kept in LOGS}


@pytest.mark.parametrize("kept", LOGS, ids=[p.name for p in LOGS])
def test_a_kept_log_verifies_or_names_the_rule_change(kept, tmp_path):
    log = shutil.copytree(kept / "log", tmp_path / "log")
    code, output = run("replay", str(log), "--verify")
    if rules_of(kept) == RULES_VERSION:
        assert code == 0, output
        assert re.match(r"verified [1-9]\d* plan digests", output), output
    else:  # an older release: same decisions, or a mismatch blamed on the named rule change
        assert code == 0 or "decision rules" in output, output


@pytest.mark.parametrize("kept", LOGS, ids=[p.name for p in LOGS])
def test_a_kept_snapshot_restores_to_the_plan_a_full_replay_computes(kept, tmp_path):
    log = shutil.copytree(kept / "log", tmp_path / "log")
    _code, full = run("replay", str(log), "-o", "json")
    with open_store(str(log), readonly=True) as store:
        restored = SnapshotPolicy().restore(store)
    assert restored is not None, "the kept log's snapshot no longer loads"
    controller = restored.controller_fold().plan().to_json()
    assert controller["services"] == json.loads(full)["services"]


def forge_digest(log: Path, rules: int) -> None:
    """Append a controller digest no replay can match, written under ``rules``."""
    forged = {"scope": "controller", "digest": "0" * 64, "parts": {}, "rules": rules}
    record = Record(0, 0.0, "forged", EventType.ADDED, DIGEST_KIND, "controller", None, forged)
    with open_store(str(log)) as store:
        store.append([record])


def test_a_digest_from_other_rules_is_reported_as_a_rule_change_not_nondeterminism(tmp_path):
    older = shutil.copytree(LOGS[-1] / "log", tmp_path / "older")
    forge_digest(older, rules=1)
    code, output = run("replay", str(older), "--verify")
    assert code == 1
    assert f"decision rules 1 and this ironlb applies rules {RULES_VERSION}" in output
    same = shutil.copytree(LOGS[-1] / "log", tmp_path / "same")
    forge_digest(same, rules=RULES_VERSION)
    code, output = run("replay", str(same), "--verify")
    assert code == 1 and "differs" in output and "decision rules" not in output
