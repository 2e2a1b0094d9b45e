"""The layer-2 responder under load, and how fast a plan change reaches the wire.

    python benchmarks/layer2_bench.py            # needs root: builds two network namespaces

* core: ``Layer2Core.receive`` alone (parse a request, build the reply) on one core;
* wire: the real responder (AF_PACKET, one thread) in one namespace, a raw-socket
  load generator in another, over a veth pair: the sustained reply rate when
  flooded, and reply latency p50/p99 at a paced 10,000 requests/s;
* noise: the paced 10,000 requests/s again while a second generator floods requests
  for an address the node does not announce (a scan, a neighbour's churn);
* announce: the time from ``apply(plan)`` to the first gratuitous ARP seen on the
  other end (CLOCK_MONOTONIC is shared by every namespace on the machine).

The wire cases run twice in the same run: without the responder's kernel filter
(every ARP frame reaches Python, as before it had one) and with it.

Requests carry a sequence number in the requester's address, so every reply is
matched to its request (arping cannot produce this load, and cannot match).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from ipaddress import IPv4Address

from ironlb.announce.l2.core import InterfaceInfo, Layer2Core
from ironlb.announce.l2.packets import ARP_REQUEST, BROADCAST, Arp, arp_frame, parse_frame
from ironlb.announce.l2.responder import Layer2Responder
from ironlb.reconcile.plan.speaker import L2Announcement, NodePlan

VIP = IPv4Address("10.20.0.200")
WARMUP = IPv4Address("10.20.0.201")
ELSEWHERE = IPv4Address("10.20.0.250")  # announced by nobody here: the noise's target
ETH_P_ARP = 0x0806


def plan(*ips: str) -> NodePlan:
    l2 = {f"default/s{i}": {ip: L2Announcement("bench", None, None)} for i, ip in enumerate(ips)}
    return NodePlan("bench", l2, {}, {}, {4: ("veth0",), 6: ()}, {}, {})


def requester(seq: int) -> IPv4Address:
    return IPv4Address(int(IPv4Address("10.64.0.0")) + seq)


def bench_core(n: int = 200_000) -> None:
    core = Layer2Core()
    core.set_interface(InterfaceInfo("eth0", b"\x02\0\0\0\0\x01"), "eth0")
    core.set_desired({"eth0": frozenset({VIP})}, 0.0)
    frames = [
        arp_frame(ARP_REQUEST, BROADCAST, b"\x02\0\0\0\0\x09", requester(i), bytes(6), VIP)
        for i in range(1000)
    ]
    started = time.perf_counter()
    for i in range(n):
        core.receive("eth0", frames[i % 1000], 1.0)
    elapsed = time.perf_counter() - started
    print(f"core: {n / elapsed:,.0f} ARP replies/s on one core ({elapsed / n * 1e6:.1f} us each)")


# --- the two sides over a veth pair --------------------------------------------------


def serve(filtered: bool) -> None:
    """Run in the responder namespace. Applies a plan with WARMUP (opening the socket:
    the cold case), then on "go" one that adds VIP (the interface is open: the warm
    case, as when a node takes over an address beside others); answers until stdin closes.
    """
    responder = Layer2Responder(kernel_filters=filtered)
    for generation, addresses in enumerate(((WARMUP,), (WARMUP, VIP)), start=1):
        sys.stdin.readline()  # "go": the listener is ready
        print(json.dumps({"apply_at": time.monotonic()}), flush=True)
        responder.apply(plan(*map(str, addresses)))
        responder.wait_generation(generation, 30)
    sys.stdin.read()
    responder.close()


def open_generator() -> tuple[socket.socket, bytes]:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    sock.bind(("veth1", ETH_P_ARP))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
    return sock, sock.getsockname()[4][:6]


def listen(address: IPv4Address) -> None:
    """Run in the client namespace: print when the first announcement of ``address`` arrives."""
    sock, _mac = open_generator()
    sock.settimeout(30)
    print(json.dumps({"listening": True}), flush=True)
    while True:
        packet = parse_frame(sock.recv(2048))
        if isinstance(packet, Arp) and packet.gratuitous and packet.sender_ip == address:
            print(json.dumps({"first_garp_at": time.monotonic()}), flush=True)
            return


def noise(duration: float) -> None:
    """Run in the client namespace: requests for ELSEWHERE, flat out, for ``duration``."""
    sock, mac = open_generator()
    frame = arp_frame(ARP_REQUEST, BROADCAST, mac, requester(70000), bytes(6), ELSEWHERE)
    end = time.perf_counter() + duration
    sent = 0
    while time.perf_counter() < end:
        for _ in range(64):
            sock.send(frame)
        sent += 64
    print(json.dumps({"noise_sent": sent, "seconds": duration}), flush=True)


def generate(rate: int | None, duration: float = 3.0) -> None:
    """Run in the client namespace: send requests (paced at ``rate``, or flat out) and
    match replies; one thread, non-blocking, so nothing waits on a lock but the kernel."""
    sock, mac = open_generator()
    sock.setblocking(False)
    base = int(IPv4Address("10.64.0.0"))
    frames = [
        arp_frame(ARP_REQUEST, BROADCAST, mac, requester(i), bytes(6), VIP) for i in range(65536)
    ]
    sent_at = [0.0] * 65536
    latencies: list[float] = []
    sent = received = 0
    started = time.perf_counter()
    end = started + duration
    while (now := time.perf_counter()) < end + 0.5:
        if now < end:
            allowed = 64 if rate is None else int((now - started) * rate) - sent
            for _ in range(min(allowed, 64)):
                sent_at[sent % 65536] = time.perf_counter()
                sock.send(frames[sent % 65536])
                sent += 1
        while True:
            try:
                frame = sock.recv(2048)
            except BlockingIOError:
                break
            if frame[20:22] != b"\x00\x02":
                continue  # our own requests, looped back to this socket
            received += 1
            seq = int.from_bytes(frame[38:42], "big") - base
            latencies.append(time.perf_counter() - sent_at[seq % 65536])
    result = {"sent": sent, "received": received, "seconds": duration}
    if latencies:
        latencies.sort()
        result["p50_ms"] = statistics.median(latencies) * 1000
        result["p99_ms"] = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(json.dumps(result), flush=True)


def run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def wire(namespaces: tuple[str, str], filtered: bool) -> None:
    """The responder in ``a`` answering the generator in ``b``: announce, flood,
    paced, and paced under noise."""
    a, b = namespaces
    me = [sys.executable, __file__]
    server = subprocess.Popen(
        ["ip", "netns", "exec", a, *me, "serve", "filtered" if filtered else "unfiltered"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    label = "with the kernel filter" if filtered else "without the kernel filter"
    for case, address in (("cold: opens the socket", WARMUP), ("warm", VIP)):
        listener = subprocess.Popen(
            ["ip", "netns", "exec", b, *me, "listen", str(address)],
            stdout=subprocess.PIPE,
            text=True,
        )
        json.loads(listener.stdout.readline())
        server.stdin.write("go\n")
        server.stdin.flush()
        apply_at = json.loads(server.stdout.readline())["apply_at"]
        first = json.loads(listener.stdout.readline())["first_garp_at"]
        listener.wait()
        print(
            f"[{label}] announce ({case}): plan applied -> first gratuitous ARP on the "
            f"wire {(first - apply_at) * 1000:.2f} ms"
        )
    for mode, rate in (("flood", "0"), ("paced", "10000"), ("noise", "10000")):
        noisy = None
        if mode == "noise":
            noisy = subprocess.Popen(
                ["ip", "netns", "exec", b, *me, "make-noise", "4"],
                stdout=subprocess.PIPE,
                text=True,
            )
        result = subprocess.run(
            ["ip", "netns", "exec", b, *me, "flood" if mode == "flood" else "paced", rate],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(result.stdout.splitlines()[-1])
        line = (
            f"[{label}] wire {mode}: sent {r['sent'] / r['seconds']:,.0f} requests/s, "
            f"{r['received'] / r['seconds']:,.0f} replies/s"
        )
        if "p50_ms" in r:
            line += f", reply latency p50 {r['p50_ms']:.3f} ms p99 {r['p99_ms']:.3f} ms"
        if noisy is not None:
            n = json.loads(noisy.communicate()[0].splitlines()[-1])
            line += f" (beside {n['noise_sent'] / n['seconds']:,.0f} requests/s for {ELSEWHERE})"
        print(line)
    server.stdin.close()
    server.wait(timeout=30)


def main() -> None:
    if len(sys.argv) > 1:
        command = sys.argv[1]
        if command == "serve":
            serve(sys.argv[2] == "filtered")
        elif command == "listen":
            listen(IPv4Address(sys.argv[2]))
        elif command == "make-noise":
            noise(float(sys.argv[2]))
        else:
            generate(None if command == "flood" else int(sys.argv[2]))
        return
    bench_core()
    if os.geteuid() != 0:
        print("wire and announce: skipped (needs root for network namespaces)")
        return
    a, b = f"l2b-a-{os.getpid()}", f"l2b-b-{os.getpid()}"
    run("ip", "netns", "add", a)
    run("ip", "netns", "add", b)
    try:
        run("ip", "-n", a, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
            "netns", b)  # fmt: skip
        run("ip", "-n", a, "link", "set", "veth0", "up")
        run("ip", "-n", b, "link", "set", "veth1", "up")
        for filtered in (False, True):
            wire((a, b), filtered)
    finally:
        run("ip", "netns", "del", a)
        run("ip", "netns", "del", b)


if __name__ == "__main__":
    main()
