"""A test Kubernetes API server: real HTTP, the API conventions ironlb relies on.

Test support, not shipped. It serves the resources ironlb reads and writes with
list (resourceVersion, label selectors, limit/continue), watch (chunked JSON lines,
bookmarks, server-side timeouts, a 410 ERROR event for a compacted
resourceVersion), get, create, replace (409 on a stale resourceVersion), the status
subresource, merge and JSON patch, delete, and the discovery documents (/api,
/apis, /api/v1, /apis/GROUP/VERSION). The official ``kubernetes`` client talks to
it as to a cluster; every request is noted in RBAC's terms for the RBAC test.
Faults can be injected: answer the next requests with 500 or 429, cut every watch
stream, compact history (so resuming watches get 410), and restart the server on
the same port with the same state.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import json
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# plural -> (group, version, Kind, namespaced)
RESOURCES = {
    "services": ("", "v1", "Service", True),
    "nodes": ("", "v1", "Node", False),
    "namespaces": ("", "v1", "Namespace", False),
    "secrets": ("", "v1", "Secret", True),
    "configmaps": ("", "v1", "ConfigMap", True),
    "events": ("", "v1", "Event", True),
    "endpointslices": ("discovery.k8s.io", "v1", "EndpointSlice", True),
    "leases": ("coordination.k8s.io", "v1", "Lease", True),
    "ipaddresspools": ("metallb.io", "v1beta1", "IPAddressPool", True),
    "l2advertisements": ("metallb.io", "v1beta1", "L2Advertisement", True),
    "bgpadvertisements": ("metallb.io", "v1beta1", "BGPAdvertisement", True),
    "communities": ("metallb.io", "v1beta1", "Community", True),
    "bfdprofiles": ("metallb.io", "v1beta1", "BFDProfile", True),
    "bgppeers": ("metallb.io", "v1beta2", "BGPPeer", True),
    "servicel2statuses": ("metallb.io", "v1beta1", "ServiceL2Status", True),
    "servicebgpstatuses": ("metallb.io", "v1beta1", "ServiceBGPStatus", True),
    "configurationstates": ("metallb.io", "v1beta1", "ConfigurationState", True),
    "validatingwebhookconfigurations": (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        False,
    ),
    "customresourcedefinitions": ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", False),
    # Reviews: answered, not stored (the metrics endpoints ask who may read).
    "tokenreviews": ("authentication.k8s.io", "v1", "TokenReview", False),
    "subjectaccessreviews": ("authorization.k8s.io", "v1", "SubjectAccessReview", False),
}
# Every token authenticates as this user, who may read /metrics.
REVIEWED_USER = {"username": "system:serviceaccount:monitoring:prometheus", "groups": []}


class State:
    """Everything the server holds; survives a server restart."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.rv = 0
        self.objects: dict[str, dict[tuple[str, str], dict]] = {p: {} for p in RESOURCES}
        self.history: dict[str, list[tuple[int, str, dict]]] = {p: [] for p in RESOURCES}
        self.compacted = 0  # watches from a resourceVersion below this get 410
        self.faults: list[int] = []  # status codes for the next requests
        # (verb, group, resource or resource/subresource, namespace) of every request,
        # in RBAC's terms: what the RBAC test compares with the manifests.
        self.access: set[tuple[str, str, str, str | None]] = set()
        self.watch_generation = 0  # bumping it ends every open watch stream
        self.lists = 0  # LIST requests served (a webhook test counts them)

    def record(self, plural: str, kind: str, obj: dict) -> None:
        self.history[plural].append((self.rv, kind, copy.deepcopy(obj)))
        self.lock.notify_all()


def discovery(path: str) -> dict | None:
    """The discovery documents (/api, /apis, /api/v1, /apis/GROUP/VERSION) for the
    resources served, or None for any other path."""
    versions: dict[str, set[str]] = {}
    for group, version, _kind, _namespaced in RESOURCES.values():
        versions.setdefault(group, set()).add(version)
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        groups = []
        for group in sorted(g for g in versions if g):
            listed = [
                {"groupVersion": f"{group}/{v}", "version": v} for v in sorted(versions[group])
            ]
            groups.append({"name": group, "versions": listed, "preferredVersion": listed[-1]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    parts = path.strip("/").split("/")
    if parts == ["api", "v1"]:
        group, version = "", "v1"
    elif len(parts) == 3 and parts[0] == "apis":
        group, version = parts[1], parts[2]
    else:
        return None
    resources = []
    for plural, (g, v, kind, namespaced) in sorted(RESOURCES.items()):
        if (g, v) != (group, version) and not (plural == "bgppeers" and g == group):
            continue
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        resources.append(
            {
                "name": plural,
                "kind": kind,
                "namespaced": namespaced,
                "singularName": kind.lower(),
                "verbs": verbs,
            }
        )
        if plural in STATUS_SUBRESOURCES:
            resources.append(
                {
                    "name": f"{plural}/status",
                    "kind": kind,
                    "singularName": "",
                    "namespaced": namespaced,
                    "verbs": ["get", "patch", "update"],
                }
            )
    if not resources:
        return None
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


# Kinds whose status is a subresource (written through /status only).
STATUS_SUBRESOURCES = {
    "services",
    "nodes",
    "namespaces",
    "ipaddresspools",
    "servicel2statuses",
    "servicebgpstatuses",
    "configurationstates",
}


def status(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def matches(selector: str | None, labels: dict) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.strip().startswith("!"):
            if term.strip()[1:] in labels:
                return False
        elif term.strip() not in labels:
            return False
    return True


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict, operations: list) -> dict:
    """RFC 6902: add, replace, remove, test (what ironlb sends)."""
    result = copy.deepcopy(target)
    for op in operations:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = result
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        last = parts[-1]
        if op["op"] in ("add", "replace"):
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if op["op"] == "add":
                    parent.insert(index, op["value"])
                else:
                    parent[index] = op["value"]
            else:
                parent[last] = op["value"]
        elif op["op"] == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif op["op"] == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
    return result


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that died mid-request (killed process, cut stream) is not news."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ApiServer:
    def __init__(
        self,
        state: State | None = None,
        port: int = 0,
        bookmark_every: float = 1.0,
        host: str = "127.0.0.1",
    ):
        self.state = state or State()
        self.bookmark_every = bookmark_every
        self.host = host
        self.http = _Server((host, port), self._handler())
        self.port = self.http.server_address[1]
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self) -> Any:
        """The official client's ApiClient, pointed at this server."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        return client.ApiClient(configuration)

    def stop(self) -> None:
        self.cut_watches()
        self.http.shutdown()
        self.http.server_close()
        self.thread.join(timeout=30)

    def restart(self) -> ApiServer:
        """Stop, then serve the same state on the same port (clients must reconnect)."""
        self.stop()
        return ApiServer(self.state, self.port, self.bookmark_every, self.host)

    # --- faults ----------------------------------------------------------------

    def fail_next(self, count: int, code: int = 500) -> None:
        """Answer the next ``count`` GETs (lists and watches: what sources send) with ``code``."""
        with self.state.lock:
            self.state.faults.extend([code] * count)

    def cut_watches(self) -> None:
        with self.state.lock:
            self.state.watch_generation += 1
            self.state.lock.notify_all()

    def compact(self) -> None:
        """Forget history: every watch resuming from an older resourceVersion gets 410.

        As etcd compacts: history up to the current revision is gone, so a watch from
        an older version is refused, while one from the current version (what a fresh
        list returns) has nothing to miss and goes on.
        """
        with self.state.lock:
            self.state.compacted = self.state.rv
            for plural in self.state.history:
                self.state.history[plural] = []

    # --- direct access for tests --------------------------------------------------

    def create(self, plural: str, namespace: str | None, obj: dict) -> dict:
        """Create as a client's POST would, without the HTTP round trip (bulk setup)."""
        with self.state.lock:
            code, result = self._apply("POST", plural, namespace, None, False, {}, obj, "")
        if code != 201:
            raise ValueError(result["message"])
        return result

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> bool:
        """Block on the server's change notifications until ``predicate(self)`` holds."""
        with self.state.lock:
            return self.state.lock.wait_for(lambda: predicate(self), timeout)

    def objects(self, plural: str) -> dict[tuple[str, str], dict]:
        with self.state.lock:
            return copy.deepcopy(self.state.objects[plural])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle's algorithm the body
            # waits for the client's delayed ACK (40 ms). Go's servers, the real API
            # server among them, set TCP_NODELAY too.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                server._dispatch(self, "GET")

            def do_POST(self) -> None:
                server._dispatch(self, "POST")

            def do_PUT(self) -> None:
                server._dispatch(self, "PUT")

            def do_PATCH(self) -> None:
                server._dispatch(self, "PATCH")

            def do_DELETE(self) -> None:
                server._dispatch(self, "DELETE")

        return Handler

    # --- requests --------------------------------------------------------------------

    def _send(self, handler: BaseHTTPRequestHandler, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, path: str) -> tuple[str, str | None, str | None, bool] | None:
        """(plural, namespace, name, status subresource) of an API path."""
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) >= 2:
            rest = parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            rest = parts[3:]
        else:
            return None
        namespace = None
        if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
            namespace, rest = rest[1], rest[2:]
        if not rest or rest[0] not in RESOURCES:
            return None
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        return plural, namespace, name, len(rest) > 2 and rest[2] == "status"

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"null") if length else None
        with self.state.lock:
            fault = self.state.faults.pop(0) if self.state.faults and method == "GET" else None
        if fault is not None:
            self._send(handler, fault, status(fault, "InternalError", "injected fault"))
            return
        if url.path == "/version":
            self._send(handler, 200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-test"})
            return
        found = discovery(url.path.rstrip("/"))
        if found is not None:
            self._send(handler, 200, found)
            return
        route = self._route(url.path)
        if route is None:
            self._send(handler, 404, status(404, "NotFound", f"no route {url.path}"))
            return
        plural, namespace, name, subresource = route
        self._note_access(method, plural, namespace, name, subresource, query)
        if method == "GET" and name is None and query.get("watch") in ("1", "true"):
            self._watch(handler, plural, namespace, query)
            return
        with self.state.lock:
            code, result = self._apply(
                method,
                plural,
                namespace,
                name,
                subresource,
                query,
                body,
                handler.headers.get("Content-Type", ""),
            )
        self._send(handler, code, result)

    def _note_access(self, method, plural, namespace, name, subresource, query) -> None:
        if method == "GET":
            verb = "get" if name else ("watch" if query.get("watch") in ("1", "true") else "list")
        else:
            verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
        resource = f"{plural}/status" if subresource else plural
        with self.state.lock:
            self.state.access.add((verb, RESOURCES[plural][0], resource, namespace))

    def _apply(self, method, plural, namespace, name, subresource, query, body, content_type):
        group, version, kind, namespaced = RESOURCES[plural]
        api_version = f"{group}/{version}" if group else version
        store = self.state.objects[plural]
        if method == "GET" and name is None:
            self.state.lists += 1
            items = [
                o
                for (ns, _n), o in sorted(store.items())
                if (namespace is None or ns == namespace)
                and matches(query.get("labelSelector"), o["metadata"].get("labels") or {})
            ]
            offset = int(query.get("continue") or 0)
            limit = int(query.get("limit") or 0) or len(items) or 1
            page = items[offset : offset + limit]
            more = offset + limit < len(items)
            return 200, {
                "kind": f"{kind}List",
                "apiVersion": api_version,
                "metadata": {
                    "resourceVersion": str(self.state.rv),
                    "continue": str(offset + limit) if more else "",
                },
                "items": copy.deepcopy(page),
            }
        key = (namespace or "", name or (body or {}).get("metadata", {}).get("name", ""))
        current = store.get(key)
        if method == "GET":
            if current is None:
                return 404, status(404, "NotFound", f'{plural} "{key[1]}" not found')
            return 200, copy.deepcopy(current)
        if method == "DELETE":
            if current is None:
                return 404, status(404, "NotFound", f'{plural} "{key[1]}" not found')
            del store[key]
            self.state.rv += 1
            gone = copy.deepcopy(current)
            gone["metadata"]["resourceVersion"] = str(self.state.rv)
            self.state.record(plural, "DELETED", gone)
            return 200, gone
        if method == "POST" and plural == "tokenreviews":
            return 201, {**body, "status": {"authenticated": True, "user": REVIEWED_USER}}
        if method == "POST" and plural == "subjectaccessreviews":
            return 201, {**body, "status": {"allowed": True}}
        if method == "POST":
            obj = copy.deepcopy(body)
            metadata = obj.setdefault("metadata", {})
            if not metadata.get("name") and metadata.get("generateName"):
                metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
            key = (namespace or "", metadata["name"])
            if key in store:
                return 409, status(409, "AlreadyExists", f'{plural} "{key[1]}" already exists')
            if namespaced:
                metadata["namespace"] = namespace
            metadata["uid"] = str(uuid.uuid4())
            metadata["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            event = "ADDED"
        else:
            if current is None:
                return 404, status(404, "NotFound", f'{plural} "{key[1]}" not found')
            if method == "PUT":
                wanted = body.get("metadata", {}).get("resourceVersion")
                if wanted and wanted != current["metadata"]["resourceVersion"]:
                    return 409, status(
                        409,
                        "Conflict",
                        "the object has been modified; please "
                        "apply your changes to the latest version",
                    )
                obj = copy.deepcopy(body)
            elif "json-patch" in content_type:
                try:
                    obj = json_patch(current, body)
                except (ValueError, KeyError, IndexError) as exc:
                    return 422, status(422, "Invalid", str(exc))
            else:
                obj = merge_patch(current, body)
                wanted = (body.get("metadata") or {}).get("resourceVersion")
                if wanted and wanted != current["metadata"]["resourceVersion"]:
                    return 409, status(409, "Conflict", "the object has been modified")
            if subresource:  # only status changes through /status, only it through it
                obj = {**copy.deepcopy(current), "status": obj.get("status")}
            elif "status" in current:
                obj["status"] = copy.deepcopy(current["status"])
            obj["metadata"] = {
                **current["metadata"],
                **{
                    k: v
                    for k, v in obj.get("metadata", {}).items()
                    if k not in ("uid", "creationTimestamp", "resourceVersion")
                },
            }
            event = "MODIFIED"
        obj["kind"], obj["apiVersion"] = kind, api_version
        self.state.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.state.rv)
        store[key] = obj
        self.state.record(plural, event, obj)
        return (201 if method == "POST" else 200), copy.deepcopy(obj)

    def _watch(self, handler: BaseHTTPRequestHandler, plural: str, namespace, query) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def chunk(event: dict) -> bool:
            data = json.dumps(event).encode() + b"\n"
            try:
                handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                handler.wfile.flush()
                return True
            except OSError:
                return False

        since = int(query.get("resourceVersion") or 0)
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 300)
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
        with self.state.lock:
            generation = self.state.watch_generation
            if since and since < self.state.compacted:
                event = {
                    "type": "ERROR",
                    "object": status(
                        410,
                        "Expired",
                        f"too old resource version: {since} ({self.state.compacted})",
                    ),
                }
                since = -1
        if since == -1:
            chunk(event)
            self._end(handler)
            return
        last_bookmark = time.monotonic()
        while True:
            with self.state.lock:
                history = self.state.history[plural]
                start = bisect.bisect_right(history, since, key=lambda entry: entry[0])
                pending = [
                    (rv, kind, obj)
                    for rv, kind, obj in history[start:]
                    if rv > since
                    and (namespace is None or obj["metadata"].get("namespace") == namespace)
                    and matches(query.get("labelSelector"), obj["metadata"].get("labels") or {})
                ]
                # Read before waiting: what arrives during the wait is not in
                # ``pending``, so a bookmark must not claim it was sent.
                current_rv = self.state.rv
                if not pending:
                    self.state.lock.wait(0.2)
                cut = self.state.watch_generation != generation
            for rv, kind, obj in pending:
                if not chunk({"type": kind, "object": obj}):
                    return
                since = rv
            if cut:  # drop the connection without a final chunk, like a broken stream
                handler.close_connection = True
                with contextlib.suppress(OSError):
                    handler.connection.shutdown(socket.SHUT_RDWR)
                return
            now = time.monotonic()
            if now >= deadline:
                self._end(handler)
                return
            if bookmarks and now - last_bookmark >= self.bookmark_every:
                since = max(since, current_rv)  # nothing for this watch is unsent up to it
                group, version, kind, _ns = RESOURCES[plural]
                chunk(
                    {
                        "type": "BOOKMARK",
                        "object": {
                            "kind": kind,
                            "apiVersion": f"{group}/{version}" if group else version,
                            "metadata": {"resourceVersion": str(since)},
                        },
                    }
                )
                last_bookmark = now

    @staticmethod
    def _end(handler: BaseHTTPRequestHandler) -> None:
        try:
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except OSError:
            pass


def create_web(server: Any, nodes: list[str], ingress: str | None = None) -> None:
    """Service default/web (a LoadBalancer) with one endpoint on each of ``nodes``,
    created through the official client of ``server`` (this test server or a real
    one, tests/kube_cluster.py); ``ingress``: its status, as a controller would have
    written it."""
    from kubernetes import client

    api = server.client()
    core = client.CoreV1Api(api)
    spec = {
        "type": "LoadBalancer",
        "clusterIP": "10.96.0.50",  # not .1: a real API server gives that to "kubernetes"
        "clusterIPs": ["10.96.0.50"],
        "ports": [{"port": 80}],
    }
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec}
    core.create_namespaced_service("default", service)
    if ingress is not None:
        status = {"status": {"loadBalancer": {"ingress": [{"ip": ingress}]}}}
        core.patch_namespaced_service_status("web", "default", status)
    endpoints = [{"addresses": [f"10.244.{i}.5"], "nodeName": n} for i, n in enumerate(nodes)]
    client.DiscoveryV1Api(api).create_namespaced_endpoint_slice(
        "default",
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": endpoints,
        },
    )
