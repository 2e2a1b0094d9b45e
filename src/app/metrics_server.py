"""The ``/metrics`` endpoint: Prometheus text on a thread of its own, over plain HTTP
(``--metrics-address``, meant for loopback) or over HTTPS with Kubernetes deciding
who may read it (``--secure-metrics-address``, see metrics_access.py)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from ..announce.metrics import Counters
from ..events.errors import LbError

if TYPE_CHECKING:
    from .metrics_access import MetricsAccess


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``:PORT`` (all interfaces); ``[::1]:PORT`` for IPv6."""
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise LbError(f"invalid metrics address {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


class MetricsServer:
    """``/metrics``, ``/healthz`` (the process serves) and ``/readyz`` (``ready()`` holds:
    for the controller, every watch has listed once)."""

    def __init__(
        self,
        counters: Counters,
        address: str,
        ready: Callable[[], bool] = lambda: True,
        *,
        tls: ssl.SSLContext | None = None,
        access: MetricsAccess | None = None,
    ) -> None:
        """``tls`` and ``access``: HTTPS, and /metrics only for those Kubernetes allows
        (/healthz and /readyz stay open: kubelet probes them without a token)."""
        host, port = parse_address(address)

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body are two writes
            timeout = 30  # a client that never finishes its request (or handshake)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path in ("/healthz", "/readyz"):
                    ok = path == "/healthz" or ready()
                    self.send_response(200 if ok else 503)
                    text = b"ok\n" if ok else b"not ready\n"
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                    return
                if path != "/metrics":
                    self.send_error(404, "/metrics, /healthz and /readyz are served here")
                    return
                if access is not None:
                    status, why = access.check(self.headers.get("Authorization"))
                    if status != 200:
                        self.send_error(status, why)
                        return
                body = counters.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # scrapes every few seconds would drown the speaker's own log

        try:
            self.server = (
                _TLSServer((host, port), Handler, tls)
                if tls is not None
                else ThreadingHTTPServer((host, port), Handler)
            )
        except OSError as exc:
            raise LbError(f"cannot serve metrics on {address}: {exc}") from exc
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        # A short poll: shutdown() waits for it, and a stopping speaker should go
        # promptly (a rolling upgrade waits for each node in turn).
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


class _TLSServer(ThreadingHTTPServer):
    """HTTPS, the handshake done in each connection's own thread (wrapping the
    listening socket would do it in the accepting thread: one slow client would
    hold up every other)."""

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext
    ) -> None:
        self.tls = tls
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, object]:
        connection, client = super().get_request()
        return self.tls.wrap_socket(
            connection, server_side=True, do_handshake_on_connect=False
        ), client

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a failed handshake or a dropped client: nothing to report
