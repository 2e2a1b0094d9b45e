"""Service status and Events: the controller's effector towards the Kubernetes API.

Converges ``status.loadBalancer.ingress`` of every Service to the controller plan:

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
import datetime
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ...reconcile.plan.controller import ControllerPlan, ServiceEvent
from ..metrics import Counters
from .requests import PacedWriter, api_request

log = logging.getLogger("ironlb.status")
COMPONENT = "ironlb-controller"


def ingress(ips: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"ip": ip} for ip in ips]


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
        self._pending: collections.OrderedDict[str, tuple[list, str | None]] = (
            collections.OrderedDict()
        )
        self._events: list[tuple[str, str | None, ServiceEvent]] = []  # key, uid, event
        self._emitted: dict[str, tuple[ServiceEvent, ...]] = {}
        self._sent: dict[str, tuple[list, str | None]] = {}  # last write per Service
        self._start()

    def apply(self, plan: ControllerPlan) -> None:
        """Queue what differs from what was observed (each Service plan's target);
        newer desires replace older ones."""
        with self._lock:
            for key, service in plan.services.items():
                target = service.target
                if target is None:
                    continue  # no such Service observed: nothing to write to
                wanted = ingress(service.ips)
                version = target.resource_version
                if target.ingress_ips == service.ips:
                    self._pending.pop(key, None)
                elif self._sent.get(key) != (wanted, version):
                    # Not yet written for this version of the object (a write in flight
                    # is not repeated: it would only meet a 409).
                    self._pending[key] = (wanted, version)
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

    def _write_status(self, key: str, desired: tuple[list, str | None]) -> None:
        namespace, _, name = key.partition("/")
        wanted, version = desired
        body: dict[str, Any] = {"status": {"loadBalancer": {"ingress": wanted}}}
        if version:
            body["metadata"] = {"resourceVersion": version}
        try:
            api_request(
                self.client,
                "PATCH",
                f"/api/v1/namespaces/{namespace}/services/{name}/status",
                body,
                "application/merge-patch+json",
            )
            self.counters.inc("ironlb_k8s_writes", kind="ServiceStatus", result="ok")
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

    def _retry_later(self, key: str, desired: tuple[list, str | None], exc: Exception) -> None:
        log.warning("writing the status of %s: %s (retrying)", key, exc)
        self.counters.inc("ironlb_k8s_writes", kind="ServiceStatus", result="error")
        with self._lock:
            self._sent.pop(key, None)
            self._pending.setdefault(key, desired)
        self._stop.wait(0.5)

    def _post_event(self, key: str, uid: str | None, event: ServiceEvent) -> None:
        namespace, _, name = key.partition("/")
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
                "uid": uid,
            },
            "reason": event.reason,
            "message": event.message,
            "type": event.type,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            api_request(self.client, "POST", f"/api/v1/namespaces/{namespace}/events", body)
        except (ApiException, HTTPError, OSError) as exc:
            log.warning("posting an event on %s: %s", key, exc)
