"""Planned restarts (a rolling upgrade): packets lost and the handover's time.

    sudo python benchmarks/handover_bench.py [--rounds 20] [--rate 100]

Network namespaces as in tests/e2e: two nodes with standalone speakers beating to
each other, and a client sending ``--rate`` UDP datagrams a second to the address.
Each node accepts the address's traffic only while its speaker runs (as a node that
goes away right after its speaker stops). Each round stops the announcing speaker
with SIGTERM (make-before-break: the other node announces, then it stops
answering), and starts it again, when it wins the election back the same way.

Reported: datagrams lost over every round (target 0), and per handover the time
from SIGTERM to the other node's first gratuitous ARP at the client and to the
stopping speaker's exit (it waits until the takeover is on the wire).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from benchmarks.failover_bench import capture_from, summary
from tests.e2e.cluster_lan import announcing
from tests.e2e.test_failover import Node, flow, start, started_lan
from tests.e2e.test_layer2 import NODES, VIP4, elected


class Announcement:
    """The first announcement a capture prints, stamped when it arrives (the main
    thread meanwhile waits for the stopping speaker)."""

    def __init__(self, capture: subprocess.Popen) -> None:
        self.capture = capture
        self.seen_at = 0.0
        self._mac = ""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        self._mac = self.capture.stdout.readline().strip()
        self.seen_at = time.monotonic()

    def mac(self) -> str:
        self._thread.join(timeout=30)
        self.capture.wait(timeout=30)
        return self._mac


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=100, help="datagrams a second")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: network namespaces")
    winner = elected(VIP4, NODES)
    other = next(n for n in NODES if n != winner)
    with tempfile.TemporaryDirectory() as tmp:
        lan = started_lan(Path(tmp), NODES)
        try:
            nodes = {name: Node(lan, name) for name in NODES}
            for node in nodes.values():
                node.accept(True)
            lan.exec(lan.ns["client"], "sysctl", "-qw", "net.ipv4.conf.all.arp_accept=1")
            lan.speakers[winner].next_plan(announcing(winner))
            sender = flow(lan.ns["client"], "send", VIP4, str(9000), str(args.rate))
            announced, exited, back = [], [], []
            try:
                for _ in range(args.rounds):
                    handover = Announcement(capture_from(lan, VIP4, lan.mac(other)))
                    stopped_at = time.monotonic()
                    lan.speakers[winner].process.send_signal(signal.SIGTERM)
                    assert lan.speakers[winner].process.wait(timeout=30) == 0
                    exited.append(time.monotonic() - stopped_at)
                    nodes[winner].accept(False)  # its node goes as soon as it stopped
                    assert handover.mac() == lan.mac(other)
                    announced.append(handover.seen_at - stopped_at)
                    lan.speakers[other].next_plan(announcing(other))
                    returning = capture_from(lan, VIP4, lan.mac(winner))
                    nodes[winner].accept(True)
                    started_at = time.monotonic()
                    start(lan, winner)
                    assert returning.stdout.readline().strip() == lan.mac(winner)
                    back.append(time.monotonic() - started_at)
                    returning.wait(timeout=30)
                    lan.speakers[other].next_plan(lambda p: "default/web" not in p["l2"])
            finally:
                sender.send_signal(signal.SIGTERM)
                out, _ = sender.communicate(timeout=30)
            sent = int(out.split()[-1])
            received = nodes[winner].received() | nodes[other].received()
            lost = len(set(range(1, sent + 1)) - received)
            print(f"{args.rounds} planned restarts there and back, a client at "
                  f"{args.rate}/s: {lost} of {sent} datagrams lost")  # fmt: skip
            print(summary("SIGTERM -> other node's first GARP", announced))
            print(summary("SIGTERM -> stopping speaker exits", exited))
            print(summary("restart -> its first GARP (back)", back))
        finally:
            lan.destroy()


if __name__ == "__main__":
    main()
