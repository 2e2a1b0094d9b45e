"""Plan digests: how a live process proves a replay decides exactly as it did (DESIGN.md rule 4).

A live process appends ``ironlb.io/v1/PlanDigest`` records from time to time. The
record's key is its scope (``controller``, or ``speaker/NODE``) and its object holds
``digest``: the SHA-256 of the canonical JSON of the plan within that scope, for
the records *before* the digest record. Verification folds the log again and
recomputes each digest; the first that differs names where replay diverged.

Digests v2 also name what differs. The plan is cut into entries (one per Service,
pool, layer-2 Service and BGP peer, and the configuration), each with a short digest
of its own. Writing every entry's digest every time would cost ~40 bytes per Service
per record, so a record carries the entries that changed since the process's
previous digest (``entries``, ``gone``), and all of them (``base``) in its first
digest and in the first after a snapshot. The verifier rebuilds the live process's
entries from that chain and, on a mismatch, names the Services and peers whose
entries differ. v1 records (``parts``: 16 hash buckets) still verify and are
described by bucket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import attrs

from ...events.own_kinds import DIGEST_KIND
from ...events.record import EventType, Record
from ..controller.fold import ControllerFold, Overrides
from ..speaker.fold import SpeakerFold, SpeakerOverrides
from .controller import ControllerPlan, canonical_json, digest
from .speaker import NodePlan

CONTROLLER_SCOPE = "controller"
SPEAKER_SCOPE_PREFIX = "speaker/"
DIGEST_FORMAT = 2  # 1: "parts" in 16 buckets; 2: "entries" named, as a chain
ENTRY_DIGEST_LENGTH = 12  # hex digits: a diagnosis, not the proof (that is "digest")

# The version of the decision rules, carried by every digest record so that
# ``replay --verify`` can tell a rule changed on purpose from nondeterminism. Bump
# it whenever a change makes a plan differ on the same records:
#   1  the first wave (digest records without "rules")
#   2  the speaker judges LOCAL_PREF compatibility by the pool's families, as
#      validation does (MetalLB's BGPAdvertisementsHaveCompatibleLocalPref)
#   3  a BGP session lists only the address families it carries: its peer's, both
#      with dualStackAddressFamily or over an interface (MetalLB's FRR modes)
RULES_VERSION = 3


def plan_digest(plan: ControllerPlan | NodePlan) -> str:
    """The controller's services, pools and config; a speaker's l2 and bgp for its node."""
    return digest(plan.to_json())


def plan_entries(plan_json: Mapping[str, Any]) -> dict[str, Any]:
    """The plan as named entries: ``services/NS/NAME``, ``pools/NAME``, ``l2/NS/NAME``,
    ``bgp/NODE/PEER`` and ``config`` (names a user can act on)."""
    entries: dict[str, Any] = {}
    for section, value in plan_json.items():
        if section in ("services", "pools", "l2"):
            for key, item in value.items():
                entries[f"{section}/{key}"] = item
        elif section == "bgp":
            for node, peers in value.items():
                for peer, routes in peers.items():
                    entries[f"bgp/{node}/{peer}"] = routes
        else:
            entries[section] = value
    return entries


def entry_digests(plan_json: Mapping[str, Any]) -> dict[str, str]:
    return {
        name: digest(value)[:ENTRY_DIGEST_LENGTH] for name, value in plan_entries(plan_json).items()
    }


def scope_of(plan: ControllerPlan | NodePlan) -> str:
    if isinstance(plan, NodePlan):
        return SPEAKER_SCOPE_PREFIX + plan.node
    return CONTROLLER_SCOPE


class DigestChain:
    """The writing side of digests v2: what the process vouched for last, so that a
    record carries only the entries that changed since."""

    def __init__(self) -> None:
        self.previous: dict[str, str] | None = None  # None: the next record is a base

    def rebase(self) -> None:
        """The next record carries every entry (after a snapshot: a verifier that
        starts from it needs one)."""
        self.previous = None

    def record(self, plan: ControllerPlan | NodePlan, *, source: str, observed_at: float) -> Record:
        plan_json = plan.to_json()
        entries = entry_digests(plan_json)
        previous = self.previous
        if previous is None:
            changed, gone = entries, []
        else:
            changed = {n: d for n, d in entries.items() if previous.get(n) != d}
            gone = sorted(n for n in previous if n not in entries)
        self.previous = entries
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
                "digest": digest(plan_json),
                "format": DIGEST_FORMAT,
                "base": previous is None,
                "entries": dict(sorted(changed.items())),
                "gone": gone,
                "rules": RULES_VERSION,
            },
        )


def digest_record(plan: ControllerPlan | NodePlan, *, source: str, observed_at: float) -> Record:
    """A digest record that stands alone (a base): what one vouching looks like."""
    return DigestChain().record(plan, source=source, observed_at=observed_at)


@attrs.frozen
class Mismatch:
    seq: int
    scope: str
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
            f"plan digest of {m.scope} at seq {m.seq} differs: recorded {m.recorded[:16]}..., "
            f"replay computed {m.recomputed[:16]}... (after {self.checked} matching)"
        )
        if m.rules_changed:
            head += (
                f"\n  the log was written under decision rules {m.rules} and this ironlb "
                f"applies rules {RULES_VERSION}: a rule changed on purpose between the "
                "versions (docs/upgrading.md lists them), not nondeterminism"
            )
        return "\n".join([head, *(f"  {line}" for line in m.details)])


def rules_of(record: Record) -> int:
    """The decision rules a digest was computed under (1: written before they were named)."""
    rules = record.object.get("rules", 1)
    return rules if isinstance(rules, int) and not isinstance(rules, bool) else 1


def planned_statuses(controller: ControllerFold) -> dict[str, tuple[str, ...]]:
    """Service -> the addresses the controller plans (what its status writes will say)."""
    return {key: service.ips for key, service in controller.plan(targets=False).services.items()}


class Seen(NamedTuple):
    """A record as a divergence report names it."""

    seq: int
    type: str
    kind: str
    key: str


@attrs.define
class _Trail:
    """What the verifier knows of one scope: the live process's entries, rebuilt
    from its chain of records (None until a base or a first match), and where its
    previous digest stood among the records."""

    entries: dict[str, str] | None = None
    since: int = 0

    def follow(self, obj: Mapping[str, Any]) -> None:
        """Take in one digest record's entries (a v1 record breaks the chain)."""
        changed, gone = obj.get("entries"), obj.get("gone", [])
        if obj.get("format") != DIGEST_FORMAT or not isinstance(changed, Mapping):
            self.entries = None
        elif obj.get("base") is True:
            self.entries = {str(n): str(d) for n, d in changed.items()}
        elif self.entries is not None:
            self.entries.update((str(n), str(d)) for n, d in changed.items())
            for name in gone if isinstance(gone, list) else ():
                self.entries.pop(name, None)


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
    # What each record was (not the record: a big log is not held), every one but
    # digests, since the oldest previous digest of a scope; ``dropped`` before it.
    seen: list[Seen] = []
    dropped = 0
    trails: dict[str, _Trail] = {}
    for record in records:
        if record.kind == DIGEST_KIND and record.type is not EventType.DELETED:
            plan: ControllerPlan | NodePlan | None = None
            if record.key == CONTROLLER_SCOPE:
                plan = controller.plan(targets=False)
            elif record.key.startswith(SPEAKER_SCOPE_PREFIX):
                node = record.key[len(SPEAKER_SCOPE_PREFIX) :]
                if speakers.assigns_addresses:
                    speakers.assume_statuses(planned_statuses(controller))
                plan = speakers.node_plan(node)
            else:
                skipped += 1
            if plan is not None:
                trail = trails.setdefault(record.key, _Trail())
                trail.follow(record.object)
                recorded = record.object.get("digest")
                plan_json = plan.to_json()
                recomputed = digest(plan_json)
                if recorded != recomputed:
                    since = seen[max(trail.since - dropped, 0) :]
                    details = divergence(record, plan_json, trail.entries, since)
                    mismatch = Mismatch(
                        record.seq,
                        record.key,
                        str(recorded),
                        recomputed,
                        details,
                        rules=rules_of(record),
                    )
                    return VerifyReport(checked, skipped, mismatch)
                if trail.entries is None and record.object.get("format") == DIGEST_FORMAT:
                    # Verification began mid-chain: the match says the live process
                    # held exactly replay's entries; the chain continues from them.
                    trail.entries = entry_digests(plan_json)
                checked += 1
                trail.since = dropped + len(seen)
                oldest = min(t.since for t in trails.values())
                if oldest - dropped > 4096:  # keep what a scope may still need
                    del seen[: oldest - dropped]
                    dropped = oldest
        else:
            seen.append(Seen(record.seq, record.type.value, record.kind, record.key))
        controller.apply(record)
        speakers.apply(record)
    return VerifyReport(checked, skipped, None)


def divergence(
    digest_record_: Record,
    recomputed: Mapping[str, Any],
    recorded_entries: Mapping[str, str] | None,
    since: Sequence[Seen],
) -> tuple[str, ...]:
    """What a failed verification can say: the entries that differ with the values
    replay computed for them, and the records since the scope's previous digest
    (those about the differing Services first)."""
    if recorded_entries is not None:
        lines, named = _entries_differing(recomputed, recorded_entries)
    elif isinstance(digest_record_.object.get("parts"), Mapping):
        lines, named = _buckets_differing(recomputed, digest_record_.object["parts"]), set()
    else:
        lines = ["this digest record cannot say which entries differ (the chain of digests "
                 "before it is not in the log)"]  # fmt: skip
        named = set()
    if since:
        about = [r for r in since if r.key in named]
        lines.append(
            f"{len(since)} record(s) since the previous digest of this scope could have caused it"
            + (f", {len(about)} of them about what differs:" if about else ":")
        )
        shown = about[-30:] if about else since[-30:]
        for record in shown:
            lines.append(f"    seq {record.seq}: {record.type} {record.kind} {record.key}")
    return tuple(lines)


def _entries_differing(
    recomputed: Mapping[str, Any], recorded: Mapping[str, str]
) -> tuple[list[str], set[str]]:
    """Digests v2: each differing entry named, with replay's value."""
    ours = plan_entries(recomputed)
    our_digests = {name: digest(value)[:ENTRY_DIGEST_LENGTH] for name, value in ours.items()}
    differing = sorted(
        name
        for name in set(recorded) | set(our_digests)
        if recorded.get(name) != our_digests.get(name)
    )
    lines: list[str] = []
    for name in differing:
        if name not in ours:
            lines.append(f"{name}: planned by the live process, absent in replay")
        elif name not in recorded:
            lines.append(f"{name}: absent in the live process; replay computed "
                         f"{canonical_json(ours[name])}")  # fmt: skip
        else:
            lines.append(f"{name}: the live process planned otherwise; replay computed "
                         f"{canonical_json(ours[name])}")  # fmt: skip
    if not differing:
        lines.append("every entry agrees: the entries' short digests collided, or the "
                     "record was altered")  # fmt: skip
    # Record keys the entries are about (Services are NS/NAME, as their records' keys).
    named = {name.split("/", 1)[1] for name in differing if "/" in name}
    return lines, named


def _bucket(key: str) -> str:
    """Digests v1: one of 16 groups a key falls in."""
    return hashlib.sha256(key.encode()).hexdigest()[0]


def v1_parts(plan_json: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Digests v1: the plan cut into parts, keyed sections in 16 buckets."""
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


def _buckets_differing(recomputed: Mapping[str, Any], recorded: Mapping[str, Any]) -> list[str]:
    """Digests v1: the buckets that differ, with every value replay computed in them."""
    ours = v1_parts(recomputed)
    our_digests = {name: digest(part)[:12] for name, part in sorted(ours.items())}
    lines = ["a digest of an older writer (format 1) names hash buckets, not entries:"]
    for name in sorted(set(recorded) | set(our_digests)):
        if recorded.get(name) == our_digests.get(name):
            continue
        if name not in our_digests:
            lines.append(f"{name}: recorded by the live process, absent in replay")
            continue
        state = "absent in the live process" if name not in recorded else "differs"
        lines.append(f"{name} {state}; replay computed:")
        for key, value in sorted(ours[name].items()):
            lines.append(f"    {key}: {canonical_json(value)}")
    return lines
