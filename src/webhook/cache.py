"""What the webhook validates against, kept by watches instead of listed per request.

Validation reads the configuration namespace's metallb.io objects, Namespaces and
Nodes. Listing them on every admission request cost eight LISTs per request (a
LIST storm under load, and latency on every ``kubectl apply``); the same watch
sources the controller uses keep an observed world current instead, folded with
the reconciler's own ``World`` (SYNC markers and all), and a request reads a copy.
Until every watch has listed once, requests fall back to listing, so the first
requests after a start are judged on the same objects.

The cache is eventually consistent (milliseconds behind the API server): two
conflicting objects applied within that window can both be admitted; the reconciler
still refuses the configuration they make and reports it in ConfigurationState.
MetalLB's webhooks read controller-runtime's cached client and behave the same.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes.client import ApiClient

from ..announce.k8s.requests import api_request
from ..events.record import Record
from ..events.sources.watch import METALLB, NAMESPACES, NODES, Resource, WatchSource
from ..reconcile.world import World

log = logging.getLogger("ironlb.webhook.admission")
Objects = dict[tuple[str, str], dict[str, dict[str, Any]]]  # (group, Kind) -> key -> object
Lister = Callable[[], Objects]
RESOURCES: tuple[Resource, ...] = (*METALLB, NAMESPACES, NODES)


def api_lister(client: ApiClient, namespace: str) -> Lister:
    """Objects listed from the API server at each call (what MetalLB's webhooks do)."""

    def lister() -> Objects:
        objects: Objects = {}
        for resource in RESOURCES:
            listed = api_request(client, "GET", resource.path(namespace))
            by_key = objects.setdefault((resource.group, resource.kind), {})
            for item in listed.get("items") or []:
                metadata = item.get("metadata") or {}
                name = metadata.get("name", "")
                key = f"{metadata['namespace']}/{name}" if metadata.get("namespace") else name
                by_key[key] = item
        return objects

    return lister


class WatchedObjects:
    """The objects validation reads, kept current by one watch per resource."""

    def __init__(self, client: ApiClient, namespace: str, stop: threading.Event) -> None:
        self._world = World()
        self._lock = threading.Lock()
        self._fallback = api_lister(client, namespace)
        self.sources = [
            WatchSource(
                client,
                resource,
                self._apply,
                source="webhook/watch",
                stop=stop,
                namespace=namespace if resource.namespaced else None,
            )
            for resource in RESOURCES
        ]
        for source in self.sources:
            threading.Thread(
                target=source.run, name=f"watch-{source.resource.plural}", daemon=True
            ).start()

    def _apply(self, records: list[Record]) -> None:
        with self._lock:
            for record in records:
                self._world.apply(record)

    @property
    def synced(self) -> bool:
        return all(source.listed for source in self.sources)

    def __call__(self) -> Objects:
        if not self.synced:
            return self._fallback()
        with self._lock:
            return {
                (r.group, r.kind): dict(self._world.of_kind(r.group, r.kind)) for r in RESOURCES
            }
