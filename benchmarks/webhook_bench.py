"""The webhook under abuse: review latency with 1,000 slow connections open and a
stream of 100 MiB bodies, against the same webhook idle, in one run; and its peak
memory against the manifests' limit.

    python benchmarks/webhook_bench.py [--slow 1000] [--reviews 300]

The webhook runs in its own process (its memory is measured alone) with the
reconciler's validation over a fixed set of objects; the client runs here.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ironlb.webhook.certs import issue

NAME = "ironlb-webhook.metallb-system.svc"
SERVER = """
import sys, time
from ironlb.webhook.admission import AdmissionValidator, WebhookServer
objects = {("metallb.io", "IPAddressPool"): {f"metallb-system/p{i}": {
    "apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
    "metadata": {"name": f"p{i}", "namespace": "metallb-system"},
    "spec": {"addresses": [f"10.{i}.0.0/24"]}} for i in range(50)}}
server = WebhookServer(("127.0.0.1", 0), sys.argv[1], sys.argv[2],
                       AdmissionValidator("metallb-system", lambda: objects))
print(server.port, flush=True)
time.sleep(3600)
"""
LIMIT_MIB = 256  # deploy/base/webhook.yaml


def connect(context: ssl.SSLContext, port: int) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    return context.wrap_socket(sock, server_hostname=NAME)


def one_review(context: ssl.SSLContext, port: int, i: int) -> float:
    obj = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": f"new{i}", "namespace": "metallb-system"},
        "spec": {"addresses": [f"192.168.{i % 250}.0/24"]},
    }
    request = {
        "uid": str(i),
        "kind": {"group": "metallb.io", "version": "v1beta1", "kind": "IPAddressPool"},
        "operation": "CREATE",
        "object": obj,
    }
    body = json.dumps(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    )
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.sock = connect(context, port)
    connection.request("POST", "/validate", body, {"Content-Type": "application/json"})
    reply = json.loads(connection.getresponse().read())
    connection.close()
    assert reply["response"]["allowed"] is True, reply
    return time.perf_counter() - started


def latencies(context: ssl.SSLContext, port: int, count: int) -> tuple[float, float, float]:
    """p50, p99 and the worst, in seconds."""
    times = sorted(one_review(context, port, i) for i in range(count))
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))], times[-1]


def thread_count(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def big_bodies(context: ssl.SSLContext, port: int, stop: threading.Event, sent: list[int]) -> None:
    chunk = b"x" * (1 << 20)
    while not stop.is_set():
        try:
            tls = connect(context, port)
            tls.sendall(b"POST /validate HTTP/1.1\r\nContent-Length: 104857600\r\n\r\n")
            for _ in range(100):
                tls.sendall(chunk)
                sent[0] += len(chunk)
            tls.close()
        except OSError:
            sent[1] += 1  # refused or cut off by the server: expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=1000, help="slow connections held open")
    parser.add_argument("--reviews", type=int, default=300, help="reviews timed per phase")
    args = parser.parse_args()
    certificates = issue([NAME])
    directory = Path(tempfile.mkdtemp())
    (directory / "tls.crt").write_bytes(certificates.cert)
    (directory / "tls.key").write_bytes(certificates.key)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(directory / "tls.crt"), str(directory / "tls.key")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline())
        context = ssl.create_default_context(cadata=certificates.ca.decode())
        idle = latencies(context, port, args.reviews)
        # Slow clients: TCP connections that never start their TLS handshake, opened
        # at once (the kernel completes TCP connects; each then holds a server thread
        # until the handshake times out).
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(args.slow)]
        stop, sent = threading.Event(), [0, 0]
        flood = threading.Thread(target=big_bodies, args=(context, port, stop, sent), daemon=True)
        flood.start()
        time.sleep(1)  # let the flood and the slow clients take their threads
        threads = thread_count(server.pid)
        loaded = latencies(context, port, args.reviews)
        stop.set()
        flood.join(timeout=60)
        for sock in slow:
            sock.close()
        peak = peak_rss_mib(server.pid)
    finally:
        server.kill()

    def show(figures: tuple[float, float, float]) -> str:
        p50, p99, worst = (f * 1000 for f in figures)
        return f"p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   max {worst:7.2f} ms"

    print(f"idle review latency:        {show(idle)}")
    print(
        f"under abuse ({args.slow} slow connections, 100 MiB bodies, "
        f"{sent[0] / 2**20:.0f} MiB sent, {sent[1]} cut off):"
    )
    print(f"{'':28}{show(loaded)}")
    ratio = f"p50 {loaded[0] / idle[0]:.1f}x   p99 {loaded[1] / idle[1]:.1f}x"
    print(f"ratio under abuse / idle:   {ratio}")
    print(f"server threads while under abuse: {threads} (connections served at once)")
    print(f"webhook peak RSS {peak:.0f} MiB of its {LIMIT_MIB} MiB limit")


if __name__ == "__main__":
    main()
