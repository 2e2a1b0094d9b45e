"""The speaker's status objects, kept in step with its plan.

Nothing is written before every watch has listed once: a plan folded from half a
relist would withdraw statuses only to write them again. The first time the
watches are complete, objects a previous run of this node left behind (their
Service deleted while the speaker was down) are listed and deleted.

A node that takes a Service over in layer 2 deletes the other nodes'
ServiceL2Status for it, as MetalLB's speakers do: the previous holder may have
died without withdrawing its own. A speaker stopping cleanly withdraws all of its
objects, since it no longer answers for anything.
"""

from __future__ import annotations

import datetime
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ...reconcile.config import ConfigError
from ...reconcile.plan.speaker import NodePlan
from ..metrics import Counters
from .requests import api_request
from .service_events import SPEAKER_COMPONENT, EventWriter, speaker_events
from .status_content import (
    API_VERSION,
    NODE_LABEL,
    SERVICE_NAME_LABEL,
    SERVICE_NAMESPACE_LABEL,
    SERVICE_STATUS_KINDS,
    service_statuses,
    speaker_statuses,
)
from .status_objects import ObjectRef, StatusObjectWriter, WantedStatus

log = logging.getLogger("ironlb.speaker.status")


class SpeakerStatusPublisher:
    def __init__(
        self,
        client: ApiClient,
        node: str,
        namespace: str,
        *,
        qps: float = 20.0,
        burst: int = 30,
        counters: Counters | None = None,
        uid_of: Callable[[str], str | None] = lambda _service: None,
    ) -> None:
        self.client = client
        self.node = node
        self.namespace = namespace
        self.writer = StatusObjectWriter(client, qps=qps, burst=burst, counters=counters)
        self.events = EventWriter(client, SPEAKER_COMPONENT)
        self.uid_of = uid_of  # a Service's uid, for its Events' involvedObject
        self._last_plan: NodePlan | None = None
        self.conflicts: dict[str, dict[str, Any]] = {}  # address -> the latest conflict
        self.changed = False  # a conflict arrived since the last publish
        self._errors: tuple[tuple[ConfigError, ...], ...] = ((), ())
        self._announced_l2: set[str] = set()
        self._dead: frozenset[str] = frozenset()  # nodes whose speakers are judged down
        self._wanted: dict[ObjectRef, WantedStatus] = {}
        self._tasks: queue.Queue[str | None] = queue.Queue()  # "" = leftovers, or a Service
        self._worker = threading.Thread(target=self._work, name="l2-claims", daemon=True)
        self._worker.start()
        self.published = False  # the first complete plan was handed to the writer

    def note_conflict(self, conflict: Mapping[str, Any], observed_at: float) -> None:
        """An AddressConflict record of this node, as folded from its log."""
        seen = datetime.datetime.fromtimestamp(observed_at, datetime.UTC)
        self.conflicts[str(conflict.get("ip"))] = {
            "ip": conflict.get("ip"),
            "interface": conflict.get("interface"),
            "mac": conflict.get("mac"),
            "how": conflict.get("how"),
            "lastSeen": seen.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.changed = True

    def publish(
        self,
        plan: NodePlan,
        config_errors: Sequence[ConfigError],
        *,
        ready: bool,
        plan_changed: bool,
        config_warnings: Sequence[ConfigError] = (),
        dead: Iterable[str] = (),
        services: Iterable[str] | None = None,
    ) -> None:
        """Called after every batch: does work only when the plan (the caller already
        compared it), a conflict or the configuration's errors changed. ``dead``: the
        nodes whose speakers are judged down (a verdict, not merely unheard of).
        ``services``: the Services whose part of the plan may have changed (None:
        any); with it, a changed plan costs those Services, not every one."""
        self._dead = frozenset(dead)
        conflicts_changed, self.changed = self.changed, False
        if not ready:
            return
        errors = (tuple(config_errors), tuple(config_warnings))
        errors_changed = errors != self._errors
        if self.published and not (plan_changed or conflicts_changed or errors_changed):
            return
        self._errors = errors
        if self.conflicts:
            # A conflict is reported while this node announces the address; when the
            # address leaves the node, the next holder's detector speaks for it.
            announced = {ip for by_ip in plan.l2.values() for ip in by_ip}
            for ip in self.conflicts.keys() - announced:
                del self.conflicts[ip]
        if self.published and services is not None and not (conflicts_changed or errors_changed):
            self._publish_services(plan, set(services))
            return
        wanted = speaker_statuses(
            plan, self.namespace, self.conflicts, config_errors, config_warnings
        )
        self.writer.converge("speaker", wanted)
        self.events.post(speaker_events(plan, self._last_plan, self.uid_of))
        self._last_plan = plan
        self._wanted = wanted
        if not self.published:
            self._tasks.put("")
        claimed = sorted(plan.l2.keys() - self._announced_l2)
        self._announced_l2 = set(plan.l2)  # before the tasks: the worker checks it
        for service in claimed:
            self._tasks.put(service)
        self.published = True

    def _publish_services(self, plan: NodePlan, services: set[str]) -> None:
        """``publish`` for a plan that changed in ``services`` only."""
        wanted, gone = service_statuses(plan, self.namespace, self.conflicts, services)
        self.writer.update("speaker", wanted, gone)
        self.events.post(speaker_events(plan, self._last_plan, self.uid_of, services))
        self._last_plan = plan
        self._wanted.update(wanted)
        for ref in gone:
            self._wanted.pop(ref, None)
        claimed = sorted(s for s in services if s in plan.l2 and s not in self._announced_l2)
        self._announced_l2 -= services - plan.l2.keys()
        self._announced_l2 |= set(claimed)  # before the tasks: the worker checks it
        for service in claimed:
            self._tasks.put(service)

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            try:
                if task:
                    self._claim(task)
                else:
                    self._delete_leftovers()
            except (ApiException, HTTPError, OSError) as exc:
                log.warning("cleaning up status objects: %s", exc)

    def _list(self, plural: str, selector: str) -> list[dict[str, Any]]:
        path = ObjectRef(API_VERSION, plural, self.namespace, "").path(collection=True)
        listed = api_request(self.client, "GET", path, query=[("labelSelector", selector)])
        return list(listed.get("items") or [])

    def _delete_leftovers(self) -> None:
        found = []
        for plural, _kind in SERVICE_STATUS_KINDS.values():
            for item in self._list(plural, f"{NODE_LABEL}={self.node}"):
                name = (item.get("metadata") or {}).get("name")
                if name:
                    found.append(ObjectRef(API_VERSION, plural, self.namespace, name))
        self.writer.forget_unknown(found)

    def _claim(self, service: str) -> None:
        """This node announces ``service`` now: the layer-2 statuses of nodes whose
        speakers are judged down are stale. Any other speaker deletes its own when it
        stops announcing; deleting them here raced with it: a node standing in for a
        peer it had not yet heard of deleted the status that peer, the winner, had
        just written, and nobody wrote it again. Checked when the task runs, for the
        same reason."""
        if service not in self._announced_l2:
            return
        namespace, _, name = service.partition("/")
        plural = SERVICE_STATUS_KINDS["l2"][0]
        selector = f"{SERVICE_NAME_LABEL}={name},{SERVICE_NAMESPACE_LABEL}={namespace}"
        for item in self._list(plural, selector):
            metadata = item.get("metadata") or {}
            holder = (metadata.get("labels") or {}).get(NODE_LABEL)
            if holder not in self._dead:
                continue
            ref = ObjectRef(API_VERSION, plural, self.namespace, metadata.get("name", ""))
            try:
                api_request(self.client, "DELETE", ref.path())
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def idle(self, timeout: float) -> bool:
        return self.writer.idle(timeout)

    def close(self, *, withdraw: bool = True) -> None:
        """Stop; by default withdraw every object but the ConfigurationState first."""
        self._tasks.put(None)
        if withdraw and self.published:
            kept = {r: w for r, w in self._wanted.items() if w.kind == "ConfigurationState"}
            self.writer.converge("speaker", kept)
            self.writer.idle(timeout=5)
        self.writer.close()
        self.events.idle(timeout=2)  # what the last plan said, if the API answers
        self.events.close()
        self._worker.join(timeout=5)
