"""Leases in the Kubernetes API (coordination.k8s.io/v1), behind the LeaseStore interface.

Optimistic concurrency is the API's: an update carries the resourceVersion it read,
and a 409 Conflict becomes LeaseConflict, exactly as the in-memory store behaves.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable
from typing import TypeVar

from kubernetes.client import ApiClient, CoordinationV1Api
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ..errors import LbError
from .membership import Lease, LeaseConflict

T = TypeVar("T")


class LeaseStoreUnavailable(LbError):
    """The API did not answer a Lease request: retried at the next interval."""


def _transport_errors(method: Callable[..., T]) -> Callable[..., T]:
    """API and connection failures as LeaseStoreUnavailable, which the renewer and
    the membership source retry (a speaker keeps running through an API outage)."""

    @functools.wraps(method)
    def wrapped(*args: object, **kwargs: object) -> T:
        try:
            return method(*args, **kwargs)
        except LeaseConflict:
            raise
        except (ApiException, HTTPError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise LeaseStoreUnavailable(f"Leases: {reason}") from None

    return wrapped


def _to_body(lease: Lease) -> dict:
    renew = datetime.datetime.fromtimestamp(lease.renew_time, datetime.UTC)
    metadata = {"name": lease.name, "labels": {"app.kubernetes.io/name": "ironlb"}}
    if lease.resource_version:
        metadata["resourceVersion"] = lease.resource_version
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": lease.holder,
            "leaseDurationSeconds": max(1, round(lease.duration)),
            "renewTime": renew.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    }


def _from_api(obj: object) -> Lease:
    spec = obj.spec  # type: ignore[attr-defined]
    renew = spec.renew_time.timestamp() if spec and spec.renew_time else 0.0
    return Lease(
        obj.metadata.name,  # type: ignore[attr-defined]
        (spec.holder_identity or "") if spec else "",
        renew,
        float(spec.lease_duration_seconds or 0) if spec else 0.0,
        obj.metadata.resource_version or "",  # type: ignore[attr-defined]
    )


class K8sLeaseStore:
    def __init__(self, client: ApiClient, namespace: str) -> None:
        self.api = CoordinationV1Api(client)
        self.namespace = namespace

    @_transport_errors
    def get(self, name: str) -> Lease | None:
        try:
            return _from_api(self.api.read_namespaced_lease(name, self.namespace))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    @_transport_errors
    def create(self, lease: Lease) -> Lease:
        try:
            return _from_api(self.api.create_namespaced_lease(self.namespace, _to_body(lease)))
        except ApiException as exc:
            if exc.status == 409:
                raise LeaseConflict(f"Lease {lease.name} already exists") from None
            raise

    @_transport_errors
    def update(self, lease: Lease) -> Lease:
        try:
            return _from_api(
                self.api.replace_namespaced_lease(lease.name, self.namespace, _to_body(lease))
            )
        except ApiException as exc:
            if exc.status in (404, 409):
                raise LeaseConflict(f"Lease {lease.name} changed meanwhile") from None
            raise

    @_transport_errors
    def delete(self, name: str) -> None:
        try:
            self.api.delete_namespaced_lease(name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise

    @_transport_errors
    def list(self) -> list[Lease]:
        items = self.api.list_namespaced_lease(self.namespace).items
        return sorted((_from_api(item) for item in items), key=lambda lease: lease.name)
