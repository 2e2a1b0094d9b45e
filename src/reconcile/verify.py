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
from .speaker import SpeakerFold, SpeakerOverrides
from .speaker_plan import NodePlan

DIGEST_KIND = "ironlb.io/v1/PlanDigest"
CONTROLLER_SCOPE = "controller"
SPEAKER_SCOPE_PREFIX = "speaker/"


def plan_digest(plan: ControllerPlan | NodePlan) -> str:
    """The controller's services, pools and config; a speaker's l2 and bgp for its node."""
    return digest(plan.to_json())


def scope_of(plan: ControllerPlan | NodePlan) -> str:
    if isinstance(plan, NodePlan):
        return SPEAKER_SCOPE_PREFIX + plan.node
    return CONTROLLER_SCOPE


def digest_record(plan: ControllerPlan | NodePlan, *, source: str, observed_at: float) -> Record:
    """The record a live process appends to vouch for its current plan."""
    scope = scope_of(plan)
    return Record(
        0,
        observed_at,
        source,
        EventType.ADDED,
        DIGEST_KIND,
        scope,
        None,
        {"scope": scope, "digest": plan_digest(plan)},
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


def planned_statuses(controller: ControllerFold) -> dict[str, tuple[str, ...]]:
    """Service -> the addresses the controller plans (what its status writes will say)."""
    return {key: service.ips for key, service in controller.plan().services.items()}


def verify_digests(
    records: Iterable[Record],
    overrides: Overrides | None = None,
    speaker_overrides: SpeakerOverrides | None = None,
) -> VerifyReport:
    """Fold ``records`` and recompute every digest (controller and speaker scopes)."""
    controller = ControllerFold(overrides)
    speakers = SpeakerFold(speaker_overrides)
    checked = skipped = 0
    for record in records:
        if record.kind == DIGEST_KIND and record.type is not EventType.DELETED:
            recorded = record.object.get("digest")
            if record.key == CONTROLLER_SCOPE:
                recomputed = plan_digest(controller.plan())
            elif record.key.startswith(SPEAKER_SCOPE_PREFIX):
                node = record.key[len(SPEAKER_SCOPE_PREFIX) :]
                if speakers.assigns_addresses:
                    speakers.assume_statuses(planned_statuses(controller))
                recomputed = plan_digest(speakers.node_plan(node))
            else:
                skipped += 1
                recomputed = None
            if recomputed is not None:
                if recorded != recomputed:
                    return VerifyReport(
                        checked, skipped, Mismatch(record.seq, str(recorded), recomputed)
                    )
                checked += 1
        controller.apply(record)
        speakers.apply(record)
    return VerifyReport(checked, skipped, None)
