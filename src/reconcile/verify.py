"""Plan digests: how a live process proves a replay decides exactly as it did (DESIGN.md rule 4).

A live process appends ``ironlb.io/v1/PlanDigest`` records from time to time. The
record's key is its scope (``controller``, or ``speaker/NODE``) and its object holds
``digest``: the SHA-256 of the canonical JSON of the plan within that scope, for
the records *before* the digest record. Verification folds the log again and
recomputes each digest; the first that differs names where replay diverged.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ironlb.events.record import EventType, Record

from .controller import ControllerFold, Overrides
from .plan import ControllerPlan, digest

DIGEST_KIND = "ironlb.io/v1/PlanDigest"
CONTROLLER_SCOPE = "controller"


def controller_digest(plan: ControllerPlan) -> str:
    return digest(plan.to_json())


def digest_record(plan: ControllerPlan, *, source: str, observed_at: float) -> Record:
    """The record a controller appends to vouch for its current plan."""
    return Record(
        0,
        observed_at,
        source,
        EventType.ADDED,
        DIGEST_KIND,
        CONTROLLER_SCOPE,
        None,
        {"scope": CONTROLLER_SCOPE, "digest": controller_digest(plan)},
    )


@attrs.frozen
class Mismatch:
    seq: int
    recorded: str
    recomputed: str


@attrs.frozen
class VerifyReport:
    checked: int
    skipped: int  # digests of scopes this build does not recompute
    mismatch: Mismatch | None

    def describe(self) -> str:
        if self.mismatch is None:
            return f"verified {self.checked} plan digests"
        m = self.mismatch
        return (
            f"plan digest at seq {m.seq} differs: recorded {m.recorded[:16]}..., "
            f"replay computed {m.recomputed[:16]}... (after {self.checked} matching)"
        )


def verify_digests(records: Iterable[Record], overrides: Overrides | None = None) -> VerifyReport:
    fold = ControllerFold(overrides)
    checked = skipped = 0
    for record in records:
        if record.kind == DIGEST_KIND and record.type is not EventType.DELETED:
            recorded = record.object.get("digest")
            if record.key != CONTROLLER_SCOPE:
                skipped += 1
            else:
                recomputed = controller_digest(fold.plan())
                if recorded != recomputed:
                    return VerifyReport(
                        checked, skipped, Mismatch(record.seq, str(recorded), recomputed)
                    )
                checked += 1
        fold.apply(record)
    return VerifyReport(checked, skipped, None)
