"""Kubernetes watch sources: list + watch one resource into records, never losing an update.

Per resource: list (paginated) between SYNC_START and SYNC_END markers, so anything
deleted while nobody watched disappears from the fold at SYNC_END; then watch from
the list's resourceVersion, resuming from the last one seen (events and bookmarks)
when a stream ends or breaks. A 410 Gone (the resourceVersion was compacted) means
updates may have been missed: relist, with markers. Errors (500, 429, refused
connections) back off exponentially with jitter.

The streams are decoded as plain JSON dicts: the client's model deserialisation is
far too slow for 10,000 objects and would drop fields ironlb does not know.
Secrets are redacted (keyed hashes) before a record is made; managedFields dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ..record import EventType, Record
from .secrets import LiveSecrets, redact

log = logging.getLogger("ironlb.watch")


@attrs.frozen
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def record_kind(self) -> str:
        return f"{self.api_version}/{self.kind}"

    def path(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace and self.namespaced:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"


SERVICES = Resource("", "v1", "services", "Service", True)
NODES = Resource("", "v1", "nodes", "Node", False)
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", False)
SECRETS = Resource("", "v1", "secrets", "Secret", True)
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", True)
ENDPOINT_SLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease", True)
METALLB = tuple(
    Resource("metallb.io", version, plural, kind, True)
    for version, plural, kind in (
        ("v1beta1", "ipaddresspools", "IPAddressPool"),
        ("v1beta1", "l2advertisements", "L2Advertisement"),
        ("v1beta1", "bgpadvertisements", "BGPAdvertisement"),
        ("v1beta1", "communities", "Community"),
        ("v1beta1", "bfdprofiles", "BFDProfile"),
        ("v1beta2", "bgppeers", "BGPPeer"),
    )
)
# What each process reads (Secrets and ConfigMaps only in the configuration namespace).
CONTROLLER_RESOURCES = (SERVICES, NAMESPACES, NODES, *METALLB)
SPEAKER_RESOURCES = (SERVICES, NODES, ENDPOINT_SLICES, *METALLB)


class Relist(Exception):
    """The watch cannot resume (410 Gone): list again."""


class WatchSource:
    def __init__(
        self,
        client: ApiClient,
        resource: Resource,
        append: Callable[[list[Record]], None],
        *,
        source: str,
        stop: threading.Event,
        namespace: str | None = None,
        secret_key: bytes | None = None,
        live_secrets: LiveSecrets | None = None,
        page: int = 500,
        watch_timeout: int = 300,
        backoff_cap: float = 30.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.resource = resource
        self.append = append
        self.source = source
        self.stop = stop
        self._stream: Any = None  # the watch response being read, for _interrupt_on_stop
        self._stream_lock = threading.Lock()  # hands the stream over to the interrupter
        self.namespace = namespace
        self.secret_key = secret_key or secrets.token_bytes(32)  # a CSPRNG: the key guards hashes
        self.live_secrets = live_secrets
        self.page = page
        self.watch_timeout = watch_timeout
        self.backoff_cap = backoff_cap
        self.rng = rng or random.Random()
        self.clock = clock
        self.resource_version: str | None = None
        self.relists = 0  # lists started
        self.listed = 0  # lists completed and handed to ``append``
        self.errors = 0
        self.last_error = ""  # the newest failure, for a process that must explain itself
        self.progressed = threading.Condition()  # notified whenever the version moves
        self._progress = 0

    def _advance(self, version: str | None) -> None:
        if version:
            with self.progressed:
                self.resource_version = version
                self._progress += 1
                self.progressed.notify_all()

    # --- the loop ------------------------------------------------------------------

    def run(self) -> None:
        """List and watch until ``stop`` is set."""
        failures = 0
        progress_at_last_error = -1
        self._interrupter = threading.Thread(target=self._interrupt_on_stop, daemon=True)
        self._interrupter.start()
        while not self.stop.is_set():
            try:
                if self.resource_version is None:
                    self.relist()
                self.watch()
                failures = 0
            except Relist:
                self.resource_version = None
            except (ApiException, HTTPError, OSError, ValueError) as exc:
                if self.stop.is_set():
                    return  # the stream was shut to stop: not an error
                self.errors += 1
                self.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                # Backoff grows only while nothing gets through; any progress resets it.
                failures = failures + 1 if self._progress == progress_at_last_error else 1
                progress_at_last_error = self._progress
                delay = min(self.backoff_cap, 0.1 * 2 ** min(failures, 10))
                delay *= 0.5 + self.rng.random()  # jitter: replicas do not retry in step
                log.warning("%s: %s; retrying in %.1fs", self.resource.plural, exc, delay)
                self.stop.wait(delay)

    # --- list ----------------------------------------------------------------------

    def relist(self) -> None:
        """Every object between SYNC markers; remember the list's resourceVersion."""
        self.relists += 1
        objects: list[dict[str, Any]] = []
        cont = ""
        while True:
            query = [("limit", self.page)] + ([("continue", cont)] if cont else [])
            body = json.loads(self._get(query).data)
            objects.extend(body.get("items") or [])
            cont = (body.get("metadata") or {}).get("continue") or ""
            if not cont:
                break
        now = self.clock()
        kind = self.resource.record_kind
        records = [Record(0, now, self.source, EventType.SYNC_START, kind, "", None, {})]
        records += [self._record(EventType.ADDED, obj, now) for obj in objects]
        records.append(Record(0, now, self.source, EventType.SYNC_END, kind, "", None, {}))
        self.append(records)
        self.listed += 1
        self._advance((body.get("metadata") or {}).get("resourceVersion") or "0")

    # --- watch -----------------------------------------------------------------------

    def watch(self) -> None:
        """Follow one watch stream to its end, appending every event as it comes."""
        query = [
            ("watch", "true"),
            ("resourceVersion", self.resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", self.watch_timeout),
        ]
        response = self._get(query, stream=True)
        with self._stream_lock:
            # A stop that came while the request was in flight found no stream to
            # shut: seen here, or the read below would block until the next event.
            if self.stop.is_set():
                response.close()
                return
            self._stream = response
        try:
            for line in _lines(response):
                if self.stop.is_set():
                    return
                self._event(json.loads(line))
        finally:
            with self._stream_lock:
                self._stream = None
            response.release_conn()

    def _interrupt_on_stop(self) -> None:
        """Unblock a watch waiting for its next event once ``stop`` is set.

        A real API server may send nothing on a quiet watch for minutes (bookmarks
        come about once a minute), so checking ``stop`` between events is not enough:
        shutting the socket down ends the read at once.
        """
        self.stop.wait()
        with self._stream_lock:
            if self._stream is not None:
                # Already closed, or a transport without shutdown (urllib3 raises
                # ValueError for a response whose socket it no longer holds): then the
                # read is not blocked, or the watch timeout ends it.
                with contextlib.suppress(OSError, AttributeError, ValueError):
                    self._stream.shutdown()

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Relist(obj.get("message", "410 Gone"))
            raise ValueError(f"watch error: {obj.get('message', obj)}")
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            self._advance(version)
            return
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            raise ValueError(f"unknown watch event type {kind!r}")
        self.append([self._record(EventType(kind), obj, self.clock())])
        self._advance(version)

    # --- helpers ------------------------------------------------------------------

    def _get(self, query: list[tuple[str, Any]], *, stream: bool = False) -> Any:
        """A GET through the official client's transport (auth, TLS, proxies), its
        body left unread: lists are parsed as plain JSON, watches read as a stream."""
        method, url, headers, _body, _post = self.client.param_serialize(
            "GET",
            self.resource.path(self.namespace),
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self.client.call_api(
            method, url, header_params=headers, _request_timeout=None if stream else 60
        ).response
        if not 200 <= response.status < 300:
            detail = response.data[:200]
            response.release_conn()
            raise ApiException(status=response.status, reason=f"{response.reason}: {detail!r}")
        return response

    def _record(self, kind: EventType, obj: dict[str, Any], now: float) -> Record:
        metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
        obj = {**obj, "metadata": metadata}
        obj.setdefault("kind", self.resource.kind)
        obj.setdefault("apiVersion", self.resource.api_version)
        name = metadata.get("name", "")
        key = f"{metadata['namespace']}/{name}" if metadata.get("namespace") else name
        if self.live_secrets is not None:  # values for the effectors, before redaction
            live = None if kind is EventType.DELETED else obj
            if self.resource.kind == "Secret":
                self.live_secrets.observe(key, live)
            elif self.resource.kind == "BGPPeer":
                self.live_secrets.observe_peer(key, live)
        obj = redact(self.resource.group, self.resource.kind, obj, self.secret_key)
        return Record(
            0,
            now,
            self.source,
            kind,
            self.resource.record_kind,
            key,
            metadata.get("resourceVersion"),
            obj,
        )


def _lines(response: Any) -> Iterator[bytes]:
    """The JSON lines of a chunked watch stream, as they arrive."""
    pending = b""
    for chunk in response.stream(65536, decode_content=True):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield line
    if pending.strip():
        yield pending
