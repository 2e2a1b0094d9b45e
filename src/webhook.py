"""``ironlb webhook``: admission validation of the metallb.io objects, and BGPPeer
conversion between v1beta1 and v1beta2, over HTTPS (AdmissionReview v1,
ConversionReview v1).

Validation applies exactly the reconciler's rules (reconcile/config.py), across
objects as the reconciler sees them: the configuration namespace's objects are
listed, the incoming object replaces its stored version (or goes, on DELETE), and
the whole set is parsed. A request is denied when the change *introduces* an
error: errors some other object already had do not block an unrelated change.
References that may legitimately arrive later in the same ``kubectl apply``
(community aliases, BFD profiles, password Secrets) are not denied, as in MetalLB;
the reconciler reports them in ConfigurationState until they resolve.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubernetes.client import ApiClient

from .announce.k8s_requests import api_request
from .events.watch import METALLB, NAMESPACES, NODES
from .reconcile.config import (
    CONFIG_KINDS,
    METALLB_GROUP,
    ConfigError,
    gather_config_inputs,
    parse_config,
)

log = logging.getLogger("ironlb.webhook")
Objects = dict[tuple[str, str], dict[str, dict[str, Any]]]  # (group, Kind) -> key -> object
Lister = Callable[[], Objects]

# Fields only v1beta2 BGPPeers have: kept in an annotation while an object is seen
# as v1beta1, so converting there and back loses nothing.
V1BETA2_ONLY = (
    "dynamicASN",
    "localASN",
    "interface",
    "connectTime",
    "passwordSecret",
    "enableGracefulRestart",
    "vrf",
    "disableMP",
    "dualStackAddressFamily",
)
KEPT_ANNOTATION = "ironlb.io/v1beta2-fields"


class AdmissionValidator:
    def __init__(self, namespace: str, lister: Lister) -> None:
        self.namespace = namespace
        self.lister = lister

    def review(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The AdmissionReview response for one request."""
        uid = request.get("uid", "")
        allowed, message = self.decide(request)
        response: dict[str, Any] = {"uid": uid, "allowed": allowed}
        if not allowed:
            response["status"] = {"code": 403, "message": message, "reason": "Invalid"}
        return response

    def decide(self, request: Mapping[str, Any]) -> tuple[bool, str]:
        operation = request.get("operation")
        kind = (request.get("kind") or {}).get("kind", "")
        group = (request.get("kind") or {}).get("group", "")
        if group != METALLB_GROUP or kind not in CONFIG_KINDS:
            return True, ""
        obj = request.get("object") if operation != "DELETE" else request.get("oldObject")
        if not isinstance(obj, Mapping):
            return False, f"{kind}: the request carries no object"
        metadata = obj.get("metadata") or {}
        name = metadata.get("name") or request.get("name") or ""
        namespace = metadata.get("namespace") or request.get("namespace") or ""
        if operation == "CREATE" and namespace != self.namespace:
            return False, f"resource must be created in {self.namespace} namespace"
        key = f"{namespace}/{name}"
        current = self.lister()
        proposed = {k: dict(v) for k, v in current.items()}
        of_kind = proposed.setdefault((METALLB_GROUP, kind), {})
        if operation == "DELETE":
            of_kind.pop(key, None)
        else:
            of_kind[key] = dict(obj)
        introduced = _blocking(self._errors(proposed)) - _blocking(self._errors(current))
        if not introduced:
            return True, ""
        return False, "; ".join(_describe(e) for e in sorted(introduced, key=_describe))

    def _errors(self, objects: Objects) -> tuple[ConfigError, ...]:
        def of_kind(group: str, kind: str) -> Mapping[str, Mapping[str, Any]]:
            return objects.get((group, kind), {})

        return parse_config(gather_config_inputs(self.namespace, of_kind)).errors


def _blocking(errors: tuple[ConfigError, ...]) -> set[ConfigError]:
    return {e for e in errors if not e.transient}


def _describe(error: ConfigError) -> str:
    field = f" {error.field}:" if error.field else ""
    return f"{error.object}:{field} {error.message}"


def convert_bgppeer(obj: Mapping[str, Any], desired: str) -> dict[str, Any]:
    """One BGPPeer to ``metallb.io/v1beta1`` or ``metallb.io/v1beta2``."""
    converted = json.loads(json.dumps(obj))
    spec = converted.setdefault("spec", {})
    metadata = converted.setdefault("metadata", {})
    annotations = metadata.setdefault("annotations", {})
    if desired.endswith("/v1beta1"):
        kept = {k: spec.pop(k) for k in V1BETA2_ONLY if k in spec}
        if kept:
            annotations[KEPT_ANNOTATION] = json.dumps(kept, sort_keys=True)
    else:
        kept_text = annotations.pop(KEPT_ANNOTATION, None)
        if kept_text:
            spec.update(json.loads(kept_text))
    if not annotations:
        metadata.pop("annotations")
    converted["apiVersion"] = desired
    return converted


def conversion_response(request: Mapping[str, Any]) -> dict[str, Any]:
    desired = str(request.get("desiredAPIVersion", ""))
    try:
        objects = [convert_bgppeer(o, desired) for o in request.get("objects") or []]
    except (ValueError, TypeError, AttributeError) as exc:
        return {"uid": request.get("uid", ""), "result": {"status": "Failure", "message": str(exc)}}
    return {
        "uid": request.get("uid", ""),
        "convertedObjects": objects,
        "result": {"status": "Success"},
    }


class WebhookServer:
    """HTTPS: /validate (AdmissionReview), /convert (ConversionReview), /healthz."""

    def __init__(
        self, address: tuple[str, int], certfile: str, keyfile: str, validator: AdmissionValidator
    ) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.load(certfile, keyfile)
        validator_ = validator

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                self._reply(200 if self.path == "/healthz" else 404, {"ok": True})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    review = json.loads(self.rfile.read(length) or b"{}")
                    request = review["request"]
                except (ValueError, KeyError, TypeError):
                    self._reply(400, {"error": "expected an AdmissionReview or ConversionReview"})
                    return
                if self.path.startswith("/validate"):
                    body = {**_envelope(review), "response": validator_.review(request)}
                elif self.path.startswith("/convert"):
                    body = {**_envelope(review), "response": conversion_response(request)}
                else:
                    self._reply(404, {"error": "/validate and /convert are served here"})
                    return
                self._reply(200, body)

            def _reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.http = ThreadingHTTPServer(address, Handler)
        self.http.daemon_threads = True
        context = self.context

        def tls_socket(sock):
            # The handshake happens in each request's thread, not in the accept loop.
            return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)

        self.http.socket = tls_socket(self.http.socket)
        self.port = self.http.server_address[1]
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def load(self, certfile: str, keyfile: str) -> None:
        """(Re)load the serving certificate: new connections use it at once."""
        self.context.load_cert_chain(certfile, keyfile)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join(timeout=10)


def api_lister(client: ApiClient, namespace: str) -> Lister:
    """What validation reads, listed from the API server on each request (as MetalLB's
    webhooks do): the configuration kinds in ``namespace``, Namespaces and Nodes."""

    def lister() -> Objects:
        objects: Objects = {}
        for resource in (*METALLB, NAMESPACES, NODES):
            listed = api_request(client, "GET", resource.path(namespace))
            by_key = objects.setdefault((resource.group, resource.kind), {})
            for item in listed.get("items") or []:
                metadata = item.get("metadata") or {}
                name = metadata.get("name", "")
                key = f"{metadata['namespace']}/{name}" if metadata.get("namespace") else name
                by_key[key] = item
        return objects

    return lister


def _envelope(review: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
        "kind": review.get("kind", "AdmissionReview"),
    }
