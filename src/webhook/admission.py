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
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..reconcile.config import (
    CONFIG_KINDS,
    METALLB_GROUP,
    Config,
    ConfigError,
    gather_config_inputs,
    namespace_error,
    parse_config,
)
from .cache import Lister, Objects

log = logging.getLogger("ironlb.webhook.admission")

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
        allowed, message, warnings = self.decide(request)
        response: dict[str, Any] = {"uid": uid, "allowed": allowed}
        if not allowed:
            response["status"] = {"code": 403, "message": message, "reason": "Invalid"}
        elif warnings:  # kubectl prints each as "Warning: ..." (as MetalLB's disableMP)
            response["warnings"] = warnings
        return response

    def decide(self, request: Mapping[str, Any]) -> tuple[bool, str, list[str]]:
        """Allowed or not, why not, and what to warn about (fields not honoured)."""
        operation = request.get("operation")
        kind = (request.get("kind") or {}).get("kind", "")
        group = (request.get("kind") or {}).get("group", "")
        if group != METALLB_GROUP or kind not in CONFIG_KINDS:
            return True, "", []
        obj = request.get("object") if operation != "DELETE" else request.get("oldObject")
        if not isinstance(obj, Mapping):
            return False, f"{kind}: the request carries no object", []
        metadata = obj.get("metadata") or {}
        name = metadata.get("name") or request.get("name") or ""
        namespace = metadata.get("namespace") or request.get("namespace") or ""
        outside = namespace_error(kind, namespace, name, self.namespace)
        if operation == "CREATE" and outside is not None:
            return False, outside.message, []
        key = f"{namespace}/{name}"
        current = self.lister()
        if operation == "DELETE":
            if kind == "BFDProfile":
                return (*_bfd_profile_in_use(current, namespace, name), [])
            return True, "", []  # MetalLB checks no other delete (and ironlb is not asked)
        proposed = {k: dict(v) for k, v in current.items()}
        proposed.setdefault((METALLB_GROUP, kind), {})[key] = dict(obj)
        config = self._parsed(proposed)
        introduced = _blocking(config.errors) - _blocking(self._parsed(current).errors)
        if not introduced:
            ref = f"{kind}/{namespace}/{name}"
            warnings = [
                f"{w.field}: {w.message}" for w in sorted(config.warnings) if w.object == ref
            ]
            return True, "", warnings
        return False, "; ".join(str(e) for e in sorted(introduced, key=str)), []

    def _parsed(self, objects: Objects) -> Config:
        def of_kind(group: str, kind: str) -> Mapping[str, Mapping[str, Any]]:
            return objects.get((group, kind), {})

        return parse_config(gather_config_inputs(self.namespace, of_kind))


def _bfd_profile_in_use(current: Objects, namespace: str, name: str) -> tuple[bool, str]:
    """MetalLB's rule: a BFDProfile a BGPPeer names cannot go (a dangling reference
    is otherwise only a transient error, allowed at admission)."""
    users = sorted(
        key.partition("/")[2]
        for key, peer in current.get((METALLB_GROUP, "BGPPeer"), {}).items()
        if key.startswith(f"{namespace}/") and (peer.get("spec") or {}).get("bfdProfile") == name
    )
    if users:
        return False, f"failed to delete BFDProfile {name}, used by BGPPeer {', '.join(users)}"
    return True, ""


def _blocking(errors: tuple[ConfigError, ...]) -> set[ConfigError]:
    return {e for e in errors if not e.transient}


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


MAX_BODY = 16 * 2**20  # an AdmissionReview holds an object and its old version (3 MiB each)
REQUEST_TIMEOUT = 10.0  # seconds for the TLS handshake, then for each read and write
# Served at once, a thread each; further connections wait in the listen backlog. Above
# any honest load (the API server holds a few keep-alive connections per replica), so
# that slow clients holding threads until their timeout do not starve reviews: a
# thousand of them cost about 80 MiB here (benchmarks/webhook_bench.py).
MAX_CONNECTIONS = 2048


class _BadRequest(Exception):
    """A request this server answers with a well-formed review saying what is wrong."""


class WebhookServer:
    """HTTPS: /validate (AdmissionReview), /convert (ConversionReview), /healthz.

    Hardened for a process the API server depends on (failurePolicy Fail): every
    socket has a timeout (a slow client cannot hold a thread), bodies are bounded and
    need a Content-Length, at most ``MAX_CONNECTIONS`` are served at once, and every
    malformed body gets a well-formed review that denies it, never a dropped
    connection or a traceback.
    """

    def __init__(
        self, address: tuple[str, int], certfile: str, keyfile: str, validator: AdmissionValidator
    ) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.load(certfile, keyfile)
        validator_ = validator
        slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            timeout = REQUEST_TIMEOUT

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                self._reply(200 if self.path == "/healthz" else 404, {"ok": True})

            def do_POST(self) -> None:
                if not self.path.startswith(("/validate", "/convert")):
                    self._reply(404, {"error": "/validate and /convert are served here"})
                    return
                try:
                    review = self._review()
                except _BadRequest as exc:
                    self.close_connection = True
                    self._reply(200, _refusal(self.path, str(exc)))
                    return
                request = review["request"]
                if self.path.startswith("/validate"):
                    body = {**_envelope(review), "response": validator_.review(request)}
                else:
                    body = {**_envelope(review), "response": conversion_response(request)}
                self._reply(200, body)

            def _review(self) -> dict[str, Any]:
                length_text = self.headers.get("Content-Length")
                if length_text is None:
                    raise _BadRequest("a Content-Length is required")
                try:
                    length = int(length_text)
                except ValueError:
                    raise _BadRequest(
                        f"Content-Length {length_text[:20]!r} is not a number"
                    ) from None
                if not 0 <= length <= MAX_BODY:
                    raise _BadRequest(f"Content-Length {length} is outside 0..{MAX_BODY}")
                data = self.rfile.read(length)
                if len(data) != length:
                    raise _BadRequest("the body ended before its Content-Length")
                try:
                    review = json.loads(data or b"{}")
                except (ValueError, RecursionError):
                    raise _BadRequest("the body is not JSON") from None
                if not isinstance(review, dict) or not isinstance(review.get("request"), dict):
                    raise _BadRequest("expected an AdmissionReview or ConversionReview")
                return review

            def _reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

            def process_request(self, request: Any, client_address: Any) -> None:
                slots.acquire()  # the accept loop waits while every slot is busy
                try:
                    super().process_request(request, client_address)
                except BaseException:
                    slots.release()
                    raise

            def process_request_thread(self, request: Any, client_address: Any) -> None:
                try:
                    request.settimeout(REQUEST_TIMEOUT)
                    super().process_request_thread(request, client_address)
                finally:
                    slots.release()

            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that went away, timed out or failed its TLS handshake: not
                # ours to report as a traceback.
                log.debug("connection from %s ended: %s", client_address, sys.exc_info()[1])

        self.http = Server(address, Handler)
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


def _refusal(path: str, message: str) -> dict[str, Any]:
    """A well-formed review answering a request that could not be read."""
    uid = ""  # the request's uid is unknown: the body could not be read
    if path.startswith("/convert"):
        response = {"uid": uid, "result": {"status": "Failure", "message": message}}
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "response": response,
        }
    status = {"code": 400, "message": message, "reason": "BadRequest"}
    response = {"uid": uid, "allowed": False, "status": status}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


def _envelope(review: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
        "kind": review.get("kind", "AdmissionReview"),
    }
