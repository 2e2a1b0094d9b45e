"""The key that authenticates the speakers' heartbeats, in MetalLB's own Secret.

MetalLB's controller creates Secret ``memberlist`` (field ``secretkey``) for its
speakers' memberlist; ironlb's speakers use the same Secret, so a cluster taken
over from MetalLB keeps its key and one rolled back finds it. When neither that
nor the Helm chart's ``metallb-memberlist`` exists, the leading controller creates
``memberlist`` as MetalLB does: 128 random bytes, base64.
"""

from __future__ import annotations

import base64
import logging
import secrets

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from .requests import api_request

log = logging.getLogger("ironlb.controller")
SECRET_NAME = "memberlist"


def create_memberlist_secret(client: ApiClient, namespace: str) -> bool:
    """Create the Secret; False when it could not be (retried on the next leadership
    or resync; the speakers judge by Leases alone meanwhile)."""
    key = base64.b64encode(secrets.token_bytes(128)).decode()
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SECRET_NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "ironlb"},
        },
        "type": "Opaque",
        "data": {"secretkey": base64.b64encode(key.encode()).decode()},
    }
    try:
        api_request(client, "POST", f"/api/v1/namespaces/{namespace}/secrets", body)
    except ApiException as exc:
        if exc.status == 409:  # another replica, or MetalLB, was first: theirs is used
            return True
        log.warning("could not create Secret %s/%s for the speakers' heartbeats: %s %s",
                    namespace, SECRET_NAME, exc.status, exc.reason)  # fmt: skip
        return False
    log.info("created Secret %s/%s: the key of the speakers' heartbeats", namespace, SECRET_NAME)
    return True
