"""Layer-2 failover end to end: the announcing speaker is killed, how long until
another node's first gratuitous ARP reaches a client on the LAN?

    sudo python benchmarks/failover_bench.py [--rounds 5]

Network namespaces as in tests/e2e/test_layer2.py (two nodes and a client on one
bridge) plus a veth from this namespace onto the bridge, so the speakers reach the
test API server (tests/apiserver.py) that holds their membership Leases. Speakers
run with the default Lease timings (renew every 1 s, expire after 2.5 s). Each
round: SIGKILL the announcing speaker, time until the client captures the other
node's gratuitous ARP, then restart the killed speaker and let it take the
address back (it wins the election again).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.e2e.cluster_lan import ClusterLan, announcing
from tests.e2e.test_layer2 import NODES, VIP4, elected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: network namespaces")
    winner = elected(VIP4, NODES)
    other = next(n for n in NODES if n != winner)
    with tempfile.TemporaryDirectory() as tmp:
        lan = ClusterLan(Path(tmp))
        try:
            lan.build()
            for node in NODES:
                lan.start(node)
            lan.speakers[winner].next_plan(announcing(winner))
            seconds = []
            for _ in range(args.rounds):
                capture = lan.frames("capture-announcement", VIP4, lan.mac(other))
                assert capture.stdout.readline().strip() == "ready"
                killed_at = time.monotonic()
                lan.speakers[winner].process.send_signal(signal.SIGKILL)
                mac = capture.stdout.readline().strip()
                seconds.append(time.monotonic() - killed_at)
                capture.wait(timeout=30)
                assert mac == lan.mac(other), f"announced by {mac}, not {other}"
                lan.speakers[winner].terminate()
                lan.start(winner).next_plan(announcing(winner))
                lan.speakers[other].next_plan(lambda p: not announcing(other)(p))
            print(
                f"failover (kill -9 -> first gratuitous ARP from the new node), "
                f"{args.rounds} rounds: median {statistics.median(seconds):.2f} s, "
                f"max {max(seconds):.2f} s, min {min(seconds):.2f} s "
                "(default Leases: renew 1 s, expire 2.5 s; test API server)"
            )
        finally:
            lan.destroy()


if __name__ == "__main__":
    main()
