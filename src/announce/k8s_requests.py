"""Raw requests through the official client's transport, and client-side pacing.

The typed API validates and builds models for every reply, which costs more than
the request itself; effectors send plain dicts and read plain dicts instead, with
the client's configuration (host, TLS, token) unchanged.
"""

from __future__ import annotations

import json
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
