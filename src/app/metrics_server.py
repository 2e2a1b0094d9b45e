"""The ``/metrics`` endpoint: Prometheus text over plain HTTP, on a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..announce.metrics import Counters
from ..events.errors import LbError


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
        self, counters: Counters, address: str, ready: Callable[[], bool] = lambda: True
    ) -> None:
        host, port = parse_address(address)

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body are two writes

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
                body = counters.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # scrapes every few seconds would drown the speaker's own log

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise LbError(f"cannot serve metrics on {address}: {exc}") from exc
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)
