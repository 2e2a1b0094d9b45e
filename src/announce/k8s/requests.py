"""Raw requests through the official client's transport, and client-side pacing.

The typed API validates and builds models for every reply, which costs more than
the request itself; effectors send plain dicts and read plain dicts instead, with
the client's configuration (host, TLS, token) unchanged.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException


class TokenBucket:
    """Client-side QPS and burst, as client-go's flowcontrol: writes never flood."""

    def __init__(
        self, qps: float, burst: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.qps, self.burst, self.monotonic = qps, burst, monotonic
        self.tokens = float(burst)
        self.at = monotonic()

    def delay(self) -> float:
        """Seconds to wait before the next request may go (0 when it may go now)."""
        now = self.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.qps)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.qps


def api_request(
    client: ApiClient,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    query: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """One call; the reply as a dict. Non-2xx answers raise ``ApiException``."""
    method, url, headers, payload, _post = client.param_serialize(
        method,
        path,
        query_params=query or [],
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = client.call_api(
        method, url, header_params=headers, body=payload, _request_timeout=30
    ).response
    data = response.data
    if not 200 <= response.status < 300:
        raise ApiException(status=response.status, reason=response.reason)
    return json.loads(data) if data else {}


class PacedWriter:
    """One thread that takes queued writes one at a time, paced by a token bucket.

    Subclasses hold the queue: ``_has_work`` and ``_take`` run under ``_lock``
    (``_take`` also marks the item in flight), ``_write`` runs without it. They call
    ``_start`` once their own fields are set.
    """

    def __init__(
        self, name: str, qps: float, burst: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.bucket = TokenBucket(qps, burst, monotonic)
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _start(self) -> None:
        self._thread.start()

    def _has_work(self) -> bool:
        raise NotImplementedError

    def _take(self) -> Any:
        raise NotImplementedError

    def _write(self, item: Any) -> None:
        raise NotImplementedError

    def idle(self, timeout: float) -> bool:
        """Wait until every queued write went out (tests, benchmarks, shutdown)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._has_work(), timeout)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._lock.wait_for(lambda: self._has_work() or self._stop.is_set(), 1.0)
                if self._stop.is_set() or not self._has_work():
                    continue
            delay = self.bucket.delay()
            if delay:
                self._stop.wait(delay)
                continue
            with self._lock:
                item = self._take()
            if item is None:
                continue
            self._write(item)
            with self._lock:
                self._lock.notify_all()
