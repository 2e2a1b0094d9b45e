"""Plan digests: how a live process proves a replay decides exactly as it did (DESIGN.md rule 4).

A live process appends ``ironlb.io/v1/PlanDigest`` records from time to time. The
record's key is its scope (``controller``, or ``speaker/NODE``) and its object holds
``digest``: the SHA-256 of the canonical JSON of the plan within that scope, for
the records *before* the digest record. Verification folds the log again and
recomputes each digest; the first that differs names where replay diverged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from ...events.own_kinds import DIGEST_KIND
from ...events.record import EventType, Record
from ..controller.fold import ControllerFold, Overrides
from ..speaker.fold import SpeakerFold, SpeakerOverrides
from .controller import ControllerPlan, canonical_json, digest
from .speaker import NodePlan

CONTROLLER_SCOPE = "controller"
SPEAKER_SCOPE_PREFIX = "speaker/"

# The version of the decision rules, carried by every digest record so that
# ``replay --verify`` can tell a rule changed on purpose from nondeterminism. Bump
# it whenever a change makes a plan differ on the same records:
#   1  the first wave (digest records without "rules")
#   2  the speaker judges LOCAL_PREF compatibility by the pool's families, as
#      validation does (MetalLB's BGPAdvertisementsHaveCompatibleLocalPref)
RULES_VERSION = 2


def plan_digest(plan: ControllerPlan | NodePlan) -> str:
    """The controller's services, pools and config; a speaker's l2 and bgp for its node."""
    return digest(plan.to_json())


def _bucket(key: str) -> str:
    """One of 16 groups a key falls in: parts stay small however many Services there are."""
    return hashlib.sha256(key.encode()).hexdigest()[0]


def plan_parts(plan_json: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The plan cut into named parts: per section, keyed sections in 16 buckets."""
    parts: dict[str, dict[str, Any]] = {}
    for section, value in plan_json.items():
        if section in ("services", "l2"):
            for key, item in value.items():
                parts.setdefault(f"{section}/{_bucket(key)}", {})[key] = item
        elif section == "bgp":
            for node, peers in value.items():
                for peer, routes in peers.items():
                    parts[f"bgp/{node}/{peer}"] = {peer: routes}
        else:
            parts[section] = {section: value}
    return parts


def part_digests(plan_json: Mapping[str, Any]) -> dict[str, str]:
    return {name: digest(part)[:12] for name, part in sorted(plan_parts(plan_json).items())}


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
        {
            "scope": scope,
            "digest": plan_digest(plan),
            "parts": part_digests(plan.to_json()),
            "rules": RULES_VERSION,
        },
    )


@attrs.frozen
class Mismatch:
    seq: int
    recorded: str
    recomputed: str
    details: tuple[str, ...] = ()  # what differs, and the records that could have caused it
    rules: int = RULES_VERSION  # the decision rules the live process applied

    @property
    def rules_changed(self) -> bool:
        return self.rules != RULES_VERSION


@attrs.frozen
class VerifyReport:
    checked: int
    skipped: int  # digests of scopes this build does not recompute
    mismatch: Mismatch | None

    def describe(self) -> str:
        if self.mismatch is None:
            return f"verified {self.checked} plan digests"
        m = self.mismatch
        head = (
            f"plan digest at seq {m.seq} differs: recorded {m.recorded[:16]}..., "
            f"replay computed {m.recomputed[:16]}... (after {self.checked} matching)"
        )
        if m.rules_changed:
            head += (
                f"\n  the log was written under decision rules {m.rules} and this ironlb "
                f"applies rules {RULES_VERSION}: a rule changed on purpose between the "
                "versions (docs/upgrading.md lists them), not nondeterminism"
            )
        return "\n".join([head, *(f"  {line}" for line in m.details)])


def _rules_of(record: Record) -> int:
    """The decision rules a digest was computed under (1: written before they were named)."""
    rules = record.object.get("rules", 1)
    return rules if isinstance(rules, int) and not isinstance(rules, bool) else 1


def planned_statuses(controller: ControllerFold) -> dict[str, tuple[str, ...]]:
    """Service -> the addresses the controller plans (what its status writes will say)."""
    return {key: service.ips for key, service in controller.plan().services.items()}


def verify_digests(
    records: Iterable[Record],
    overrides: Overrides | None = None,
    speaker_overrides: SpeakerOverrides | None = None,
    *,
    start: tuple[ControllerFold, SpeakerFold] | None = None,
) -> VerifyReport:
    """Fold ``records`` and recompute every digest (controller and speaker scopes);
    ``start``: folds that already hold what precedes the records (a snapshot)."""
    if start is not None:
        controller, speakers = start
    else:
        controller, speakers = ControllerFold(overrides), SpeakerFold(speaker_overrides)
    checked = skipped = 0
    seen: list[Record] = []  # every record but digests, in order
    previous: dict[str, int] = {}  # scope -> len(seen) at its previous digest
    for record in records:
        if record.kind == DIGEST_KIND and record.type is not EventType.DELETED:
            recorded = record.object.get("digest")
            plan: ControllerPlan | NodePlan | None = None
            if record.key == CONTROLLER_SCOPE:
                plan = controller.plan()
            elif record.key.startswith(SPEAKER_SCOPE_PREFIX):
                node = record.key[len(SPEAKER_SCOPE_PREFIX) :]
                if speakers.assigns_addresses:
                    speakers.assume_statuses(planned_statuses(controller))
                plan = speakers.node_plan(node)
            else:
                skipped += 1
            if plan is not None:
                recomputed = plan_digest(plan)
                if recorded != recomputed:
                    since = seen[previous.get(record.key, 0) :]
                    details = divergence(record, plan.to_json(), since)
                    return VerifyReport(
                        checked,
                        skipped,
                        Mismatch(
                            record.seq,
                            str(recorded),
                            recomputed,
                            details,
                            rules=_rules_of(record),
                        ),
                    )
                checked += 1
                previous[record.key] = len(seen)
        else:
            seen.append(record)
        controller.apply(record)
        speakers.apply(record)
    return VerifyReport(checked, skipped, None)


def divergence(
    digest_record_: Record, recomputed: Mapping[str, Any], since: Sequence[Record]
) -> tuple[str, ...]:
    """What a failed verification can say: which parts differ, with the values replay
    computed for them, and the records since the scope's previous digest."""
    lines: list[str] = []
    recorded_parts = digest_record_.object.get("parts")
    if isinstance(recorded_parts, Mapping):
        ours = plan_parts(recomputed)
        our_digests = part_digests(recomputed)
        differing = sorted(
            name
            for name in set(recorded_parts) | set(our_digests)
            if recorded_parts.get(name) != our_digests.get(name)
        )
        for name in differing:
            if name not in our_digests:
                lines.append(f"{name}: recorded by the live process, absent in replay")
                continue
            state = "absent in the live process" if name not in recorded_parts else "differs"
            lines.append(f"{name} {state}; replay computed:")
            for key, value in sorted(ours[name].items()):
                lines.append(f"    {key}: {canonical_json(value)}")
    else:
        lines.append("the digest record has no part digests (an older writer): cannot say which")
    if since:
        lines.append(
            f"{len(since)} record(s) since the previous digest of this scope could have caused it:"
        )
        for record in since[-30:]:
            lines.append(f"    seq {record.seq}: {record.type.value} {record.kind} {record.key}")
    return tuple(lines)
