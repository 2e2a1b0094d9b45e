"""Status of custom objects (ServiceL2Status, ServiceBGPStatus, ConfigurationState,
IPAddressPool): one coalescing writer for all of them.

Callers say what every object's status should be; a thread writes the difference,
paced by a token bucket. Only the newest desired status of an object is written,
and an object whose desired status equals what was last written costs nothing, so
a plan re-applied a thousand times writes once.

Two kinds of object: ones ironlb *owns* (the status objects it publishes: it
creates them when missing and deletes them when no longer wanted) and ones a user
owns (IPAddressPool: only ``/status`` is patched, never created or deleted).
"""

from __future__ import annotations

import collections
import datetime
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ..metrics import Counters
from .requests import PacedWriter, api_request

log = logging.getLogger("ironlb.status")
RETRY_SECONDS = 0.5


@attrs.frozen
class ObjectRef:
    api_version: str  # "metallb.io/v1beta1"
    plural: str
    namespace: str
    name: str

    def path(self, *, collection: bool = False) -> str:
        base = f"/apis/{self.api_version}/namespaces/{self.namespace}/{self.plural}"
        return base if collection else f"{base}/{self.name}"


@attrs.frozen
class WantedStatus:
    kind: str
    status: Mapping[str, Any]
    labels: Mapping[str, str] = attrs.field(factory=dict)
    owned: bool = True  # created when missing, deleted when no longer wanted


class StatusObjectWriter(PacedWriter):
    def __init__(
        self,
        client: ApiClient,
        *,
        qps: float = 20.0,
        burst: int = 30,
        counters: Counters | None = None,
    ) -> None:
        super().__init__("status-objects", qps, burst)
        self.client = client
        self.counters = counters or Counters()
        self._wanted: dict[ObjectRef, WantedStatus | None] = {}
        self._written: dict[ObjectRef, WantedStatus | None] = {}
        self._dirty: collections.OrderedDict[ObjectRef, None] = collections.OrderedDict()
        self._scopes: dict[str, set[ObjectRef]] = {}
        # (object, condition type) -> (its status, when that status began)
        self._transitions: dict[tuple[ObjectRef, str], tuple[str, str]] = {}
        self._start()

    def converge(self, scope: str, wanted: Mapping[ObjectRef, WantedStatus]) -> None:
        """The whole desired set of ``scope``: objects it held before and holds no
        more are deleted if owned, left alone if not."""
        with self._lock:
            self.update(scope, wanted, self._scopes.get(scope, set()) - wanted.keys())

    def update(
        self, scope: str, wanted: Mapping[ObjectRef, WantedStatus], gone: Iterable[ObjectRef]
    ) -> None:
        """Part of ``scope``: these objects wanted as given, those no longer (deleted if
        owned); the rest of the scope as it was. What a few changed Services cost."""
        with self._lock:
            held = self._scopes.setdefault(scope, set())
            for ref in gone:
                if ref in held:
                    held.discard(ref)
                    previous = self._wanted.get(ref)
                    if previous is not None and previous.owned:
                        self._want(ref, None)
            for ref, status in wanted.items():
                self._want(ref, status)
                held.add(ref)
            self._lock.notify_all()

    def forget_unknown(self, refs: Iterable[ObjectRef]) -> None:
        """Objects found in the cluster (listed at start) that nobody wants: deleted,
        so what a previous run left behind goes away."""
        with self._lock:
            for ref in refs:
                if ref not in self._wanted:
                    self._written[ref] = WantedStatus(kind="", status={})  # exists, unknown
                    self._want(ref, None)
            self._lock.notify_all()

    def _want(self, ref: ObjectRef, status: WantedStatus | None) -> None:
        self._wanted[ref] = status
        if self._written.get(ref) != status:
            self._dirty[ref] = None
        else:
            self._dirty.pop(ref, None)

    def _has_work(self) -> bool:
        return bool(self._dirty)

    def _take(self) -> tuple[ObjectRef, WantedStatus | None, WantedStatus | None]:
        ref, _ = self._dirty.popitem(last=False)
        return ref, self._wanted.get(ref), self._written.get(ref)

    def _write(self, item: tuple[ObjectRef, WantedStatus | None, WantedStatus | None]) -> None:
        ref, status, written = item
        try:
            self._send(ref, status, written)
        except (ApiException, HTTPError, OSError) as exc:
            log.warning("writing %s/%s: %s (retrying)", ref.plural, ref.name, exc)
            self.counters.inc("ironlb_k8s_writes", kind=ref.plural, result="error")
            self.counters.inc("metallb_k8s_client_update_errors_total")
            with self._lock:
                if self._wanted.get(ref) == status:
                    self._dirty.setdefault(ref, None)
            self._stop.wait(RETRY_SECONDS)
            return
        with self._lock:
            self._written[ref] = status
            if self._wanted.get(ref) != status:
                self._dirty[ref] = None  # wanted changed while this write was in flight
            elif status is None:
                del self._wanted[ref], self._written[ref]
        self.counters.inc("ironlb_k8s_writes", kind=ref.plural, result="ok")

    def _send(
        self, ref: ObjectRef, status: WantedStatus | None, written: WantedStatus | None
    ) -> None:
        if status is None:
            try:
                api_request(self.client, "DELETE", ref.path())
            except ApiException as exc:
                if exc.status != 404:
                    raise
            return
        if status.owned and written is None:
            body = {
                "apiVersion": ref.api_version,
                "kind": status.kind,
                "metadata": {
                    "name": ref.name,
                    "namespace": ref.namespace,
                    "labels": dict(status.labels),
                },
                "spec": {},
            }
            try:
                api_request(self.client, "POST", ref.path(collection=True), body)
            except ApiException as exc:
                if exc.status != 409:  # already there (a restart): patch its status
                    raise
        patch: dict[str, Any] = self._with_transition_times(ref, status.status)
        for gone in (written.status if written else {}).keys() - patch.keys():
            patch[gone] = None  # merge patch: null removes
        try:
            api_request(
                self.client,
                "PATCH",
                ref.path() + "/status",
                {"status": patch},
                "application/merge-patch+json",
            )
        except ApiException as exc:
            if exc.status == 404 and not status.owned:
                return  # the user deleted it: nothing to report on
            if exc.status == 404:
                with self._lock:
                    self._written.pop(ref, None)  # deleted under us: create it again
            raise

    def _with_transition_times(self, ref: ObjectRef, status: Mapping[str, Any]) -> dict[str, Any]:
        """``status`` with every condition's ``lastTransitionTime`` (Kubernetes'
        Condition requires it): when its status last changed, as this writer saw it.
        Callers leave it out, so a desired status stays equal to itself over time."""
        conditions = status.get("conditions")
        if not isinstance(conditions, list):
            return dict(status)
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        stamped = []
        for condition in conditions:
            if not isinstance(condition, Mapping) or "lastTransitionTime" in condition:
                stamped.append(condition)
                continue
            key = (ref, str(condition.get("type")))
            state = str(condition.get("status"))
            known = self._transitions.get(key)
            if known is None or known[0] != state:
                known = self._transitions[key] = (state, now)
            stamped.append({**condition, "lastTransitionTime": known[1]})
        return {**status, "conditions": stamped}
