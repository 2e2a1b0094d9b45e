"""Record the BGP messages BIRD, FRR and GoBGP send, as test data for the codec.

    sudo python -m tests.e2e.capture_bgp tests/unit/data/bgp

For each daemon: a router namespace runs it with a route to announce (IPv4 and
IPv6, with communities and large communities); from a node namespace a session
built on ironlb's own sans-IO ``Session`` dials it, and every message the daemon
sends until its UPDATEs arrived is written, one hex line per message, to
``<daemon>-<family>.hex``. tests/unit/announce/test_bgp_captured.py decodes them.
"""

from __future__ import annotations

import socket
import sys
import time
import uuid
from pathlib import Path

from ironlb.announce.bgp.messages import Update, decode, split_messages
from ironlb.announce.bgp.session import Connect, Send, Session, SessionConfig, State
from tests.e2e.routers import DAEMONS, Neighbor, linked_namespaces, run

NODE = {4: "10.40.0.1", 6: "fd00:40::1"}
ROUTER = {4: "10.40.0.2", 6: "fd00:40::2"}
PREFIX = {4: "203.0.113.0/24", 6: "2001:db8:40::/48"}


def announce_config(daemon: str, version: int) -> list[str]:
    """Daemon-specific lines that make it announce PREFIX with communities."""
    if daemon == "bird":
        channel = f"ipv{version}"
        return [
            f"protocol static {{ {channel}; route {PREFIX[version]} blackhole "
            "{ bgp_community.add((65000,100)); bgp_large_community.add((65000,1,2)); }; }"
        ]
    return []


def capture(daemon: str, version: int, out: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    node_ns, router_ns = f"cap-n-{suffix}", f"cap-r-{suffix}"
    workdir = out / f".work-{daemon}-{version}"
    router = DAEMONS[daemon](router_ns, workdir, "10.40.0.2")
    try:
        linked_namespaces(
            node_ns,
            router_ns,
            [f"{NODE[4]}/24", f"{NODE[6]}/64"],
            [f"{ROUTER[4]}/24", f"{ROUTER[6]}/64"],
        )
        router.extra_config = announce_config(daemon, version)
        router.exports = {version: PREFIX[version]}
        router.start([Neighbor(NODE[version], ROUTER[version], 64512, 64513)])
        messages = run(
            "ip",
            "netns",
            "exec",
            node_ns,
            sys.executable,
            "-m",
            "tests.e2e.capture_bgp",
            "--dial",
            ROUTER[version],
        ).stdout.split()
        (out / f"{daemon}-ipv{version}.hex").write_text("\n".join(messages) + "\n")
        print(f"{daemon} ipv{version}: {len(messages)} messages")
    finally:
        router.stop()
        for ns in (node_ns, router_ns):
            run("ip", "netns", "del", ns, check=False)


def dial(address: str) -> None:
    """Inside the node namespace: hold a session, print what the peer sends (hex)."""
    version = 6 if ":" in address else 4
    session = Session(SessionConfig(my_asn=64512, peer_asn=64513, router_id="10.40.0.1"))
    assert any(isinstance(a, Connect) for a in session.start(0))
    sock = socket.create_connection((address, 179), timeout=10)
    local = sock.getsockname()[0]
    pending = b""
    received: list[bytes] = []
    deadline = time.monotonic() + 20

    def perform(actions) -> None:
        for action in actions:
            if isinstance(action, Send):
                sock.sendall(action.data)

    perform(session.connection_made(time.monotonic(), local))
    sock.settimeout(1)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            data = b""
        frames, pending = split_messages(pending + data)
        received += frames
        perform(session.data_received(time.monotonic(), data))
        updates = [decode(f) for f in received if f[18] == 2]
        announced = [u for u in updates if isinstance(u, Update) and announces(u)]
        if session.state is State.ESTABLISHED and announced:
            break
    for frame in received:
        print(frame.hex())
    del version


def announces(update: Update) -> bool:
    return bool(update.nlri or (update.mp_reach and update.mp_reach.prefixes))


def main() -> None:
    if sys.argv[1] == "--dial":
        dial(sys.argv[2])
        return
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for daemon in sorted(DAEMONS):
        for version in (4, 6):
            capture(daemon, version, out)


if __name__ == "__main__":
    main()
