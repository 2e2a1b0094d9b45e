"""Plans: the desired state a fold derives, as frozen values, and their JSON contract.

A plan is *desired state*, never a list of commands: effectors converge to it and
applying it twice changes nothing. The JSON form is the contract of
``ironlb plan -o json`` (DESIGN.md); digests hash its canonical encoding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs

from ..config import ConfigError

NORMAL = "Normal"
WARNING = "Warning"


@attrs.frozen
class ServiceEvent:
    """A Kubernetes Event on a Service, with MetalLB's reason and message."""

    type: str  # Normal or Warning
    reason: str
    message: str


@attrs.frozen
class ServicePlan:
    ips: tuple[str, ...]
    pool: str | None
    sharing_key: str | None
    error: str | None
    warnings: tuple[str, ...]
    events: tuple[ServiceEvent, ...] = ()

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
    services: Mapping[str, ServicePlan]
    pools: Mapping[str, PoolCounters]
    config_errors: tuple[ConfigError, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "services": {k: self.services[k].to_json() for k in sorted(self.services)},
            "pools": {k: self.pools[k].to_json() for k in sorted(self.pools)},
            "config": config_json(self.config_errors),
        }


def config_json(errors: tuple[ConfigError, ...]) -> dict[str, Any]:
    return {"valid": not errors, "errors": [e.to_json() for e in sorted(errors)]}


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace: the form digests are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()
