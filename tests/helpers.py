"""Builders shared by tests: records and objects with sensible defaults."""

from __future__ import annotations

from typing import Any

from ironlb.events.record import EventType, Record


def service_object(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "LoadBalancer", **spec},
    }


def record(
    key: str = "default/web",
    *,
    kind: str = "v1/Service",
    type: EventType | str = EventType.ADDED,
    obj: dict[str, Any] | None = None,
    seq: int = 0,
    source: str = "test",
    rv: str | None = None,
    observed_at: float = 1700000000.0,
) -> Record:
    if obj is None:
        namespace, _, name = key.rpartition("/")
        obj = service_object(name, namespace or "default")
    return Record(seq, observed_at, source, type, kind, key, rv, obj)
