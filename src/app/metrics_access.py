"""Who may read ``/metrics`` on the network: Kubernetes decides, as it does for
MetalLB's metrics (kube-rbac-proxy). The bearer token of a request is checked with
a TokenReview, and the user it names with a SubjectAccessReview for ``get`` on the
non-resource URL ``/metrics``: Prometheus' ServiceAccount needs a ClusterRole
granting that (``ironlb-metrics-reader`` in the manifests). Answers are cached for
a minute per token, so a scrape every few seconds costs the API server nothing.

The serving certificate is made at start, self-signed, in memory: Prometheus
scrapes with ``insecureSkipVerify`` as MetalLB's chart has it (the token, not the
certificate, is what protects the metrics).
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ..announce.k8s.requests import api_request
from ..announce.metrics import Counters
from ..events.errors import LbError
from ..webhook.certs import issue
from .metrics_server import MetricsServer

CACHE_SECONDS = 60.0
CACHE_ENTRIES = 1000


class MetricsAccess:
    """``check(authorization header)`` -> (HTTP status, why): 200, 401 or 403 (503
    when the API server cannot be asked)."""

    def __init__(
        self,
        client: ApiClient,
        *,
        ttl: float = CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.monotonic = monotonic
        self._cache: dict[bytes, tuple[float, int, str]] = {}  # sha256(token) -> answer
        self._lock = threading.Lock()

    def check(self, authorization: str | None) -> tuple[int, str]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return 401, "a bearer token is required"
        key = hashlib.sha256(token.strip().encode()).digest()
        now = self.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        try:
            status, why = self._ask(token.strip())
        except (ApiException, HTTPError, OSError) as exc:
            return 503, f"cannot ask the API server: {exc}"  # not cached: ask again
        with self._lock:
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()  # a flood of tokens: start over rather than grow
            self._cache[key] = (now + self.ttl, status, why)
        return status, why

    def _ask(self, token: str) -> tuple[int, str]:
        review = api_request(
            self.client,
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
             "spec": {"token": token}},
        )  # fmt: skip
        result = review.get("status") or {}
        if not result.get("authenticated"):
            return 401, "the token is not valid"
        user = result.get("user") or {}
        spec = {
            "user": user.get("username"),
            "groups": user.get("groups") or [],
            "uid": user.get("uid"),
            "extra": user.get("extra") or {},
            "nonResourceAttributes": {"path": "/metrics", "verb": "get"},
        }
        access = api_request(
            self.client,
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
             "spec": spec},
        )  # fmt: skip
        if (access.get("status") or {}).get("allowed"):
            return 200, ""
        return 403, f"{user.get('username')} may not get /metrics"


def self_signed_context(names: list[str]) -> ssl.SSLContext:
    """A server context with a fresh certificate for ``names``, never on disk (the
    root filesystem is read-only in the pods): the PEM goes through an in-memory
    file, which ssl reads by its /proc path."""
    certificate = issue(names)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    descriptor = os.memfd_create("ironlb-metrics-cert")
    try:
        os.write(descriptor, certificate.cert + certificate.ca + certificate.key)
        path = f"/proc/self/fd/{descriptor}"
        context.load_cert_chain(path, path)
    finally:
        os.close(descriptor)
    return context


def metrics_servers(
    counters: Counters,
    ready: Callable[[], bool],
    *,
    plain: str | None,
    secure: str | None,
    client: ApiClient | None,
) -> list[MetricsServer]:
    """The process's metrics endpoints: plain HTTP at ``plain`` (for loopback), HTTPS
    with Kubernetes' authorization at ``secure`` (needs the API server)."""
    servers = []
    if plain:
        servers.append(MetricsServer(counters, plain, ready))
    if secure:
        if client is None:
            raise LbError("--secure-metrics-address needs the API server (it decides who reads)")
        tls = self_signed_context([socket.gethostname(), "localhost"])
        servers.append(
            MetricsServer(counters, secure, ready, tls=tls, access=MetricsAccess(client))
        )
    return servers
