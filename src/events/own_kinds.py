"""The registry of the record kinds ironlb's processes write about themselves, beside
what they observe from Kubernetes.

One definition serves the writer, the folds that read the records and the tools
that show them: a kind spelled two ways (it happened: ``ProcessIdentity`` here and
in the fold) would make a fold silently ignore what a process recorded. A leaf
module, so ``reconcile`` may import it like the record module. Registering a name
twice is an error at import time.
"""

from __future__ import annotations

import attrs

from .record import Identity

GROUP = "ironlb.io"
VERSION = "v1"


@attrs.frozen
class OwnKind:
    """One of ironlb's own record kinds; ``purpose`` is what ``ironlb log`` users read."""

    name: str
    purpose: str

    @property
    def group(self) -> str:
        return GROUP

    @property
    def record_kind(self) -> str:
        """The ``kind`` field of its records: ``ironlb.io/v1/<name>``."""
        return f"{GROUP}/{VERSION}/{self.name}"

    def identity(self, key: str) -> Identity:
        return Identity(GROUP, self.name, key)


_REGISTRY: dict[str, OwnKind] = {}


def register(name: str, purpose: str) -> OwnKind:
    if name in _REGISTRY:
        raise ValueError(f"own record kind {name!r} is registered twice")
    kind = OwnKind(name, purpose)
    _REGISTRY[name] = kind
    return kind


def registered() -> tuple[OwnKind, ...]:
    return tuple(_REGISTRY.values())


def own_kind(group: str, name: str) -> OwnKind | None:
    """The registered kind of this group and name, or None for anything else."""
    return _REGISTRY.get(name) if group == GROUP else None


IDENTITY = register("ProcessIdentity", "who a process is: namespace, class, node, flags")
CURSOR = register("FollowCursor", "how far a standalone speaker copied the events log")
CONFLICT = register("AddressConflict", "another host claimed an announced address")
SESSION = register("BGPSessionState", "a BGP session changed state")
MEMBERSHIP = register("SpeakerMembership", "a speaker judged alive or dead by its Lease")
LINKS = register("NodeLinks", "a node's network interfaces and their state")
DIGEST = register("PlanDigest", "a live process vouches for its plan (replay --verify)")

# The record kinds as the writers spell them, kept for readability at call sites.
IDENTITY_KIND = IDENTITY.record_kind
CURSOR_KIND = CURSOR.record_kind
CONFLICT_KIND = CONFLICT.record_kind
SESSION_KIND = SESSION.record_kind
MEMBERSHIP_KIND = MEMBERSHIP.record_kind
LINKS_KIND = LINKS.record_kind
DIGEST_KIND = DIGEST.record_kind
