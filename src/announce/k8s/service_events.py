"""Kubernetes Events on Services, with MetalLB's reasons and messages: the
controller's (IPAllocated, AllocationFailed, ...) and the speakers' (nodeAssigned,
announceFailed). ``kubectl describe service`` shows them, and users' alerts match
their reasons."""

from __future__ import annotations

import collections
import datetime
import logging
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any

import attrs
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ...reconcile.plan.speaker import NodePlan, Reason
from .requests import PacedWriter, api_request

log = logging.getLogger("ironlb.events")
SPEAKER_COMPONENT = "ironlb-speaker"


@attrs.frozen
class EventNote:
    """One Event to post: on which Service, of what type, why, and what it says."""

    service: str  # namespace/name
    uid: str | None
    type: str  # Normal or Warning
    reason: str
    message: str


def post_service_event(client: ApiClient, note: EventNote, component: str) -> None:
    """POST one Event; a failure is logged, never raised (an Event is not a write the
    plan depends on)."""
    namespace, _, name = note.service.partition("/")
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{uuid.uuid4().hex[:12]}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Service",
            "namespace": namespace,
            "name": name,
            "uid": note.uid,
        },
        "reason": note.reason,
        "message": note.message,
        "type": note.type,
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        api_request(client, "POST", f"/api/v1/namespaces/{namespace}/events", body)
    except (ApiException, HTTPError, OSError) as exc:
        log.warning("posting an event on %s: %s", note.service, exc)


def speaker_events(
    plan: NodePlan,
    before: NodePlan | None,
    uid_of: Callable[[str], str | None],
    services: Collection[str] | None = None,
) -> list[EventNote]:
    """What a speaker says about the Services whose announcement on its node began
    (``nodeAssigned``) or failed for want of the listed interfaces
    (``announceFailed``) since its previous plan. MetalLB posts nodeAssigned on
    every reconcile of an announced Service; ironlb when the announcement begins,
    which is the news. ``services``: only these can have changed (None: any)."""

    def keys(mapping: Mapping[str, Any] | None) -> set[str]:
        if mapping is None:
            return set()
        return set(mapping) if services is None else {s for s in services if s in mapping}

    def failing(which: NodePlan | None) -> set[str]:
        reasons = which.not_announced if which else {}
        return {k for k in keys(reasons) if reasons[k] is Reason.INTERFACES_NOT_FOUND}

    notes = []
    for protocol, now, then in (
        ("layer2", keys(plan.l2), keys(before and before.l2)),
        ("bgp", keys(plan.bgp_status), keys(before and before.bgp_status)),
    ):
        for service in sorted(now - then):
            message = f'announcing from node "{plan.node}" with protocol "{protocol}"'
            notes.append(EventNote(service, uid_of(service), "Normal", "nodeAssigned", message))
    for service in sorted(failing(plan) - failing(before)):
        message = (
            f"the interfaces specified by LB IP of {service} don't exist in assigned node "
            f'"{plan.node}" with protocol "layer2"'
        )
        notes.append(EventNote(service, uid_of(service), "Warning", "announceFailed", message))
    return notes


class EventWriter(PacedWriter):
    """Posts queued Events from its own thread, paced, so the speaker's loop never
    waits on the API server for them."""

    def __init__(self, client: ApiClient, component: str, *, qps: float = 5.0) -> None:
        super().__init__("events", qps, burst=10)
        self.client = client
        self.component = component
        self._queue: collections.deque[EventNote] = collections.deque(maxlen=1000)
        self._start()

    def post(self, notes: list[EventNote]) -> None:
        with self._lock:
            self._queue.extend(notes)  # beyond 1,000 waiting, the oldest are dropped
            self._lock.notify_all()

    def _has_work(self) -> bool:
        return bool(self._queue)

    def _take(self) -> EventNote:
        return self._queue.popleft()

    def _write(self, item: EventNote) -> None:
        post_service_event(self.client, item, self.component)
