"""Plans: the desired state a fold derives, as frozen values, and their JSON contract.

A plan is *desired state*, never a list of commands: effectors converge to it and
applying it twice changes nothing. The JSON form is the contract of
``ironlb plan -o json`` (DESIGN.md); digests hash its canonical encoding.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import attrs
import orjson

from ..config import ConfigError
from ..frozen import freeze


class EventSeverity(enum.StrEnum):
    """A Kubernetes Event's ``type``."""

    NORMAL = "Normal"
    WARNING = "Warning"


NORMAL, WARNING = EventSeverity.NORMAL, EventSeverity.WARNING


class Outcome(enum.StrEnum):
    """What converging a Service came to, as the reason of its Event: MetalLB's words
    (users grep for them, and alerts match them), like the speakers' ``Reason``."""

    IP_ALLOCATED = "IPAllocated"
    ALLOCATION_FAILED = "AllocationFailed"
    ADDITIONAL_ASSIGN_FAILED = "AdditionalAssignFailed"
    LOAD_BALANCER_FAILED = "LoadBalancerFailed"
    CLEAR_ASSIGNMENT = "ClearAssignment"
    NOT_ENOUGH_CLUSTER_IPS = "not enough clusterips"  # sic: MetalLB's reason
    DEPRECATED_ANNOTATION = "deprecatedAnnotation"
    NO_CLUSTER_IPS_FAMILY = "noclusterIPsIPFamily"
    NO_LB_IPS_FAMILY = "nolbIPsIPFamily"


@attrs.frozen
class ServiceEvent:
    """A Kubernetes Event on a Service, with MetalLB's reason and message."""

    type: EventSeverity = attrs.field(converter=EventSeverity)
    reason: Outcome = attrs.field(converter=Outcome)
    message: str


@attrs.frozen
class ServiceTarget:
    """The Service object a plan was made against, as observed: what a status writer
    needs to write safely (the version as a precondition, the status to compare
    with, the uid its Events refer to). Not part of the plan's value."""

    uid: str | None
    resource_version: str | None
    ingress_ips: tuple[str | None, ...]  # status.loadBalancer.ingress[].ip, as observed
    allocated_from: object = None  # the ALLOCATED_FROM_ANNOTATION's value, as observed


# Written by the controller on every Service it gives addresses to, removed when it
# has none (MetalLB's controller does the same): the pool they came from.
ALLOCATED_FROM_ANNOTATION = "metallb.io/ip-allocated-from-pool"


@attrs.frozen
class ServicePlan:
    ips: tuple[str, ...]
    pool: str | None
    sharing_key: str | None
    error: str | None
    warnings: tuple[str, ...]
    events: tuple[ServiceEvent, ...] = ()
    target: ServiceTarget | None = attrs.field(default=None, eq=False)

    @property
    def allocated_from(self) -> str | None:
        """The value ALLOCATED_FROM_ANNOTATION should have (None: no annotation)."""
        return self.pool if self.ips else None

    def to_json(self) -> dict[str, Any]:
        return {
            "ips": list(self.ips),
            "pool": self.pool,
            "sharing_key": self.sharing_key,
            "error": self.error,
            "warnings": list(self.warnings),
        }


@attrs.frozen
class PoolCounters:
    assigned_v4: int
    available_v4: int
    assigned_v6: int
    available_v6: int

    def to_json(self) -> dict[str, int]:
        return {
            "assignedIPv4": self.assigned_v4,
            "availableIPv4": self.available_v4,
            "assignedIPv6": self.assigned_v6,
            "availableIPv6": self.available_v6,
        }


@attrs.frozen
class ControllerPlan:
    services: Mapping[str, ServicePlan] = attrs.field(converter=freeze)
    pools: Mapping[str, PoolCounters] = attrs.field(converter=freeze)
    config_errors: tuple[ConfigError, ...] = attrs.field(converter=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "services": {k: self.services[k].to_json() for k in sorted(self.services)},
            "pools": {k: self.pools[k].to_json() for k in sorted(self.pools)},
            "config": config_json(self.config_errors),
        }


def config_json(
    errors: tuple[ConfigError, ...], warnings: tuple[ConfigError, ...] | None = None
) -> dict[str, Any]:
    """The contract's ``config``. ``warnings`` (accepted, not honoured) appear where
    a user reads them (validate, plan); a plan digest's ``config`` has none, so that
    a digest stays what it was before warnings were named."""
    shown: dict[str, Any] = {"valid": not errors, "errors": [e.to_json() for e in sorted(errors)]}
    if warnings is not None:
        shown["warnings"] = [w.to_json() for w in sorted(set(warnings))]
    return shown


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace: the form digests are computed over."""
    encoded = _fast_canonical(value)
    return encoded.decode() if encoded is not None else _standard_canonical(value)


def digest(value: Any) -> str:
    encoded = _fast_canonical(value)
    if encoded is None:
        encoded = _standard_canonical(value).encode()
    return hashlib.sha256(encoded).hexdigest()


def _standard_canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# Where orjson writes a float otherwise than the standard library, whose bytes the
# digests in existing logs were computed over: exponents (1e16 for 1e+16) and the
# ranges Python writes with one but orjson without (0.00001 for 1e-05, and 17 or
# more digits before the point). A number in JSON follows ':', ',' or '[' (or
# stands alone); text that looks like one only costs the slower encoder.
_UNLIKE_PYTHON = re.compile(rb"(?:^|[:,\[])-?(?:[0-9]+(?:\.[0-9]+)?e|0\.0000|[0-9]{17,}\.)")


def _fast_canonical(value: Any) -> bytes | None:
    """The bytes of ``_standard_canonical(value)`` through orjson (a plan of 20,000
    Services: 23 ms, the standard library 0.1 s; ``replay --verify`` digests every
    checkpoint), or None: what orjson refuses (keys that are not text, integers
    past 64 bits, lone surrogates) and any float the two write differently. Plans
    hold no NaN or infinity, which orjson writes as null."""
    try:
        encoded = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return None
    return None if _UNLIKE_PYTHON.search(encoded) else encoded
