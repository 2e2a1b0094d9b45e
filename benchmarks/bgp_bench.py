"""The native BGP speaker against BIRD 2 in network namespaces.

    sudo python benchmarks/bgp_bench.py [--held 10 10000 100000] [--prefixes 10000]
                                        [--changes 50]

* latency: with ``--held`` prefixes announced, a plan gaining one prefix (and then
  losing it again), applied to the speaker effector, until BIRD has installed (or
  removed) the route, seen on the router namespace's netlink, which BIRD's kernel
  protocol feeds as soon as the route is in its table; p50 and p99 per size, and
  the p99 against the smallest size's (the target: 2x at most);
* bulk: a plan with ``--prefixes`` /32s applied at once, until BIRD counts them all;
* idle: the CPU the speaker process uses over 10 s holding that session.

The speaker runs in its own process in the node namespace (``drive``), so its CPU
is its own; BIRD runs passive in the router namespace. Plans are built before the
clock starts, from route objects made once (as the speaker fold reuses them).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from ipaddress import IPv4Address
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.e2e.routers import linked_namespaces
from tests.k8s import session_plan

from ironlb.announce.bgp.session import State
from ironlb.announce.bgp.speaker import BgpSpeaker
from ironlb.reconcile.plan.speaker import BGPRoute, NodePlan

NODE, ROUTER = "10.50.0.1", "10.50.0.2"
BASE = int(IPv4Address("100.64.0.0"))


ROUTES: list[BGPRoute] = []  # made once: route i is prefix(i)


def prefix(i: int) -> str:
    return f"{IPv4Address(BASE + i)}/32"


def plan(count: int) -> NodePlan:
    while len(ROUTES) < count:
        ROUTES.append(BGPRoute(prefix(len(ROUTES)), None, (), ()))
    session = session_plan("bird", ROUTER)
    routes = tuple(ROUTES[:count])
    return NodePlan("node1", {}, {"bird": routes}, {"bird": session}, {4: (), 6: ()}, {}, {})


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def drive() -> None:
    """In the node namespace: take commands on stdin, report on stdout."""
    states: list[State] = []
    speaker = BgpSpeaker("node1", on_state=lambda peer, old, new, why: states.append(new))
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "apply":
            wanted = plan(int(argument))  # before the clock starts
            at = time.time()
            speaker.apply(wanted)
            print(json.dumps({"applied_at": at}), flush=True)
        elif command == "idle":
            before = cpu_seconds()
            time.sleep(float(argument))
            print(json.dumps({"cpu": cpu_seconds() - before}), flush=True)
    speaker.close()


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60)


def bird_count(netns: str, control: Path) -> int:
    out = run(
        "ip", "netns", "exec", netns, "birdc", "-s", str(control), "show", "route", "count"
    ).stdout
    for line in out.splitlines():
        if "routes" in line and "of" in line:
            return int(line.split()[0])
    return 0


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "drive":
        drive()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", type=int, nargs="+", default=[10, 10_000, 100_000])
    parser.add_argument("--prefixes", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args()
    suffix = uuid.uuid4().hex[:6]
    node, router = f"bgpb-n-{suffix}", f"bgpb-r-{suffix}"
    work = Path(tempfile.mkdtemp(prefix="ironlb-bgp-bench-"))
    bird = monitor = driver = None
    try:
        linked_namespaces(node, router, [f"{NODE}/24"], [f"{ROUTER}/24"])
        (work / "bird.conf").write_text(
            f"router id {ROUTER};\nprotocol device {{}}\n"
            "protocol kernel { ipv4 { export all; }; }\n"
            f"protocol bgp ironlb {{ local {ROUTER} as 64513; neighbor {NODE} as 64512; "
            "passive on; ipv4 { import all; export none; }; }\n"
        )
        control = work / "bird.ctl"
        bird = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                router,
                "bird",
                "-f",
                "-c",
                str(work / "bird.conf"),
                "-s",
                str(control),
            ]
        )
        while not control.exists():
            time.sleep(0.05)

        def watching() -> subprocess.Popen:
            """The router's routing table as it changes (``ip -ts monitor``)."""
            return subprocess.Popen(
                ["ip", "-n", router, "-ts", "monitor", "route"], stdout=subprocess.PIPE, text=True
            )

        driver = subprocess.Popen(
            ["ip", "netns", "exec", node, sys.executable, __file__, "drive"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

        def send(line: str) -> dict:
            driver.stdin.write(line + "\n")
            driver.stdin.flush()
            return json.loads(driver.stdout.readline())

        def seen(wanted: str, deleted: bool) -> float:
            """The wall-clock time the router's kernel got (or lost) ``wanted`` (ip -ts)."""
            for line in monitor.stdout:
                if f" {wanted} " in f" {line}" and ("Deleted" in line) == deleted:
                    stamp = line[1 : line.index("]")]
                    return time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + float(
                        "0" + stamp[19:]
                    )
            raise SystemExit("the monitor ended")

        def p99(values: list[float]) -> float:
            return sorted(values)[max(0, int(len(values) * 0.99) - 1)]

        reference = None
        for held in args.held:
            send(f"apply {held}")
            while bird_count(router, control) < held:  # all in before the clock matters
                time.sleep(0.05)
            # Watched from here: a burst of 100,000 routes would overflow the monitor.
            monitor = watching()
            time.sleep(0.5)  # the monitor's socket subscribed (no event to wait for)
            added, withdrawn = [], []
            one = prefix(held).removesuffix("/32")
            for _ in range(args.changes):
                applied_at = send(f"apply {held + 1}")["applied_at"]
                added.append(seen(one, deleted=False) - applied_at)
                applied_at = send(f"apply {held}")["applied_at"]
                withdrawn.append(seen(one, deleted=True) - applied_at)
            worst = max(p99(added), p99(withdrawn))
            reference = reference or worst
            print(
                f"{held:>7,} held: one added -> in BIRD p50 {statistics.median(added) * 1e3:.2f} "
                f"ms p99 {p99(added) * 1e3:.2f} ms; withdrawn p50 "
                f"{statistics.median(withdrawn) * 1e3:.2f} ms p99 {p99(withdrawn) * 1e3:.2f} ms; "
                f"p99 {worst / reference:.2f}x the {args.held[0]:,}-held one",
                flush=True,
            )
            monitor.terminate()
            monitor.wait()
        send("apply 0")
        while bird_count(router, control) > 0:
            time.sleep(0.02)

        began = time.monotonic()
        send(f"apply {args.prefixes}")
        while bird_count(router, control) < args.prefixes:
            time.sleep(0.02)
        print(
            f"{args.prefixes:,} prefixes to one peer: in BIRD's table "
            f"{time.monotonic() - began:.2f} s after the plan was applied"
        )
        cpu = send("idle 10")["cpu"]
        print(f"idle with {args.prefixes:,} prefixes: {cpu / 10 * 100:.2f}% of one core over 10 s")
    finally:
        for process in (driver, monitor, bird):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
        for ns in (node, router):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


if __name__ == "__main__":
    main()
