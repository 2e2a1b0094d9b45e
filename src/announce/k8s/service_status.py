"""Service status and Events: the controller's effector towards the Kubernetes API.

Converges ``status.loadBalancer.ingress`` of every Service to the controller plan,
and its ``metallb.io/ip-allocated-from-pool`` annotation (the pool, while the
Service has addresses), as MetalLB's controller does:

* only when the observed status differs (a plan re-applied writes nothing);
* coalesced: only the newest desired status of a Service is written, so a burst of
  10,000 changes is at most one write per Service, paced by a token bucket (QPS,
  burst);
* with the resourceVersion the controller observed as a precondition: a write that
  raced a change (or comes from a deposed leader) fails with 409 instead of
  overwriting; the watch then brings the newer object and the next plan retries.

Kubernetes Events with MetalLB's reasons and messages are posted when a Service's
decision events change.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from typing import Any

import attrs
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ...reconcile.plan.controller import (
    ALLOCATED_FROM_ANNOTATION,
    ControllerPlan,
    ServiceEvent,
    ServicePlan,
    ServiceTarget,
)
from ..metrics import Counters
from .requests import PacedWriter, api_request
from .service_events import EventNote, post_service_event

log = logging.getLogger("ironlb.status")
COMPONENT = "ironlb-controller"


def ingress(ips: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"ip": ip} for ip in ips]


@attrs.frozen
class _Desired:
    """What one Service should look like, and which of its parts differ from what was
    observed at ``version``."""

    ingress: tuple[str, ...]
    pool: str | None  # the annotation's value; None: no annotation
    version: str | None
    status_differs: bool
    annotation_differs: bool

    @classmethod
    def of(cls, service: ServicePlan, target: ServiceTarget) -> _Desired | None:
        status_differs = target.ingress_ips != service.ips
        annotation_differs = target.allocated_from != service.allocated_from
        if not (status_differs or annotation_differs):
            return None
        return cls(service.ips, service.allocated_from, target.resource_version,
                   status_differs, annotation_differs)  # fmt: skip


class ServiceStatusWriter(PacedWriter):
    def __init__(
        self,
        client: ApiClient,
        *,
        qps: float = 20.0,
        burst: int = 30,
        counters: Counters | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("status", qps, burst, monotonic)
        self.client = client
        self.counters = counters or Counters()
        self._pending: collections.OrderedDict[str, _Desired] = collections.OrderedDict()
        self._events: list[tuple[str, str | None, ServiceEvent]] = []  # key, uid, event
        self._emitted: dict[str, tuple[ServiceEvent, ...]] = {}
        self._sent: dict[str, _Desired] = {}  # last write per Service
        self._start()

    def apply(self, plan: ControllerPlan) -> None:
        """Queue what differs from what was observed (each Service plan's target);
        newer desires replace older ones."""
        with self._lock:
            for key, service in plan.services.items():
                target = service.target
                if target is None:
                    continue  # no such Service observed: nothing to write to
                desired = _Desired.of(service, target)
                if desired is None:
                    self._pending.pop(key, None)
                elif self._sent.get(key) != desired:
                    # Not yet written for this version of the object (a write in flight
                    # is not repeated: it would only meet a 409).
                    self._pending[key] = desired
                    self._pending.move_to_end(key)
                if service.events != self._emitted.get(key, ()):
                    fresh = [e for e in service.events if e not in self._emitted.get(key, ())]
                    self._emitted[key] = service.events
                    self._events.extend((key, target.uid, event) for event in fresh)
            self._lock.notify_all()

    def _has_work(self) -> bool:
        return bool(self._pending or self._events)

    def _take(self) -> tuple[str, Any]:
        if self._pending:  # statuses first: they are what users wait for
            key, desired = self._pending.popitem(last=False)
            self._sent[key] = desired  # in flight: not queued again
            return "status", (key, desired)
        return "event", self._events.pop(0)

    def _write(self, item: tuple[str, Any]) -> None:
        kind, args = item
        if kind == "status":
            self._write_status(*args)
        else:
            self._post_event(*args)

    def _write_status(self, key: str, desired: _Desired) -> None:
        namespace, _, name = key.partition("/")
        path = f"/api/v1/namespaces/{namespace}/services/{name}"
        version = desired.version
        try:
            if desired.status_differs:
                body: dict[str, Any] = {
                    "status": {"loadBalancer": {"ingress": ingress(desired.ingress)}}
                }
                if version:
                    body["metadata"] = {"resourceVersion": version}
                reply = api_request(
                    self.client, "PATCH", f"{path}/status", body, "application/merge-patch+json"
                )
                self.counters.inc("ironlb_k8s_writes", kind="ServiceStatus", result="ok")
                version = (reply.get("metadata") or {}).get("resourceVersion") or version
            if desired.annotation_differs:
                # Metadata cannot change through /status: a second write, checked
                # against the version the first one made.
                metadata: dict[str, Any] = {
                    "annotations": {ALLOCATED_FROM_ANNOTATION: desired.pool}
                }
                if version:
                    metadata["resourceVersion"] = version
                api_request(
                    self.client, "PATCH", path, {"metadata": metadata},
                    "application/merge-patch+json",
                )  # fmt: skip
                self.counters.inc("ironlb_k8s_writes", kind="ServiceAnnotation", result="ok")
        except ApiException as exc:
            if exc.status in (404, 409):
                # Gone, or changed since we looked: the watch brings the new version, and
                # the next plan (or the periodic resync) decides again from it.
                with self._lock:
                    self._sent.pop(key, None)
                self.counters.inc("ironlb_k8s_writes", kind="ServiceStatus", result="conflict")
                return
            self._retry_later(key, desired, exc)
        except (HTTPError, OSError) as exc:
            self._retry_later(key, desired, exc)

    def _retry_later(self, key: str, desired: _Desired, exc: Exception) -> None:
        log.warning("writing the status of %s: %s (retrying)", key, exc)
        self.counters.inc("ironlb_k8s_writes", kind="ServiceStatus", result="error")
        self.counters.inc("metallb_k8s_client_update_errors_total")
        with self._lock:
            self._sent.pop(key, None)
            self._pending.setdefault(key, desired)
        self._stop.wait(0.5)

    def _post_event(self, key: str, uid: str | None, event: ServiceEvent) -> None:
        note = EventNote(key, uid, str(event.type), str(event.reason), event.message)
        post_service_event(self.client, note, COMPONENT)
