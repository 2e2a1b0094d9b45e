"""ironlb's BFD against BIRD's in network namespaces: how fast a cut path is noticed,
whether a fast interval holds under load, and what 100 sessions cost.

    sudo python benchmarks/bfd_bench.py detect [--interval 300] [--multiplier 3]
                                               [--rounds 20] [--stress] [--soak 600]
    sudo python benchmarks/bfd_bench.py cpu [--sessions 100] [--seconds 60]

* detect: ironlb's speaker (its own process in the node namespace) holds a BGP
  session with BIRD and a BFD session with the profile's interval on both sides.
  Each round cuts the path with nftables in the router's namespace (no link event)
  and times the cut to BIRD withdrawing the route from its kernel table (``ip -ts
  monitor``: the router's own report). The reference in the same run is the
  detection time the two sessions agreed on (multiplier x interval): the ratio says
  what the measurement and the daemons add. ``--soak`` first holds the session for
  that long and counts false downs on both sides (BIRD's log and ironlb's
  ``metallb_bfd_session_down_events``); ``--stress`` runs ``stress-ng --cpu 2``
  throughout.
* cpu: ``--sessions`` BFD sessions at 300 ms from one ironlb process pinned to one
  core (BfdEndpoint alone, no BGP), BIRD holding the other ends; both processes'
  CPU over ``--seconds``, BIRD's as the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.routers import linked_namespaces
from tests.k8s import session_plan

from ironlb.announce.bfd.core import BfdConfig
from ironlb.announce.bfd.driver import BfdEndpoint
from ironlb.announce.bgp.speaker import BgpSpeaker
from ironlb.reconcile.plan.speaker import BFDSettings, BGPRoute, NodePlan

NODE, ROUTER = "10.70.0.1", "10.70.0.2"
ROUTE = "100.70.0.1/32"


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=60)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- in the node namespace --------------------------------------------------------


def drive_bgp(interval: int, multiplier: int) -> None:
    """The speaker effector with one route and a BFD profile; ``count`` on stdin
    reports its BFD down events."""
    bfd = BFDSettings("bench", interval, interval, multiplier)
    session = session_plan("bird", ROUTER, hold_time=90, keepalive_time=30, bfd=bfd, families=(4,))
    plan = NodePlan(
        "node1",
        {},
        {"bird": (BGPRoute(ROUTE, None, (), ()),)},
        {"bird": session},
        {4: (), 6: ()},
        {},
        {},
    )
    speaker = BgpSpeaker("node1")
    speaker.apply(plan)
    print(json.dumps({"started": True}), flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            downs = speaker.counters.get(
                "metallb_bfd_session_down_events", peer=ROUTER, vrf="default"
            )
            print(json.dumps({"downs": downs}), flush=True)
    speaker.close()


def drive_cpu(sessions: int, seconds: float) -> None:
    """``sessions`` BFD sessions at 300 ms from this process; its CPU seconds."""
    loop = asyncio.new_event_loop()
    endpoint = BfdEndpoint(loop)
    config = BfdConfig(0.3, 0.3, 3)
    up: set[str] = set()

    def opened() -> None:
        for i in range(sessions):
            peer = router_address(i)

            def changed(change, peer=peer) -> None:
                (up.add if change.new.name == "UP" else up.discard)(peer)

            endpoint.open(peer, config, changed, node_address(i))

    loop.call_soon(opened)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while len(up) < sessions and time.monotonic() < deadline:
        time.sleep(0.1)
    print(json.dumps({"up": len(up)}), flush=True)
    before = cpu_seconds()
    time.sleep(seconds)
    used = cpu_seconds() - before
    print(json.dumps({"cpu": used, "still_up": len(up)}), flush=True)
    loop.call_soon_threadsafe(endpoint.shutdown)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


def node_address(i: int) -> str:
    """Session i runs between node_address(i) and router_address(i): a BFD session
    is known by its peer's address on each side."""
    return f"10.70.{1 + i // 250}.{1 + i % 250}"


def router_address(i: int) -> str:
    return f"10.70.{101 + i // 250}.{1 + i % 250}"


# --- the bench itself ------------------------------------------------------------


class Lab:
    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.node, self.router = f"bfdb-n-{suffix}", f"bfdb-r-{suffix}"
        self.work = Path(tempfile.mkdtemp(prefix="ironlb-bfd-bench-"))
        self.processes: list[subprocess.Popen] = []

    def build(self, router_addresses: list[str], node_addresses: list[str] = ()) -> None:
        node = [f"{NODE}/16", *node_addresses]
        linked_namespaces(self.node, self.router, node, router_addresses)

    def bird(self, config: str) -> subprocess.Popen:
        (self.work / "bird.conf").write_text(config)
        control = self.work / "bird.ctl"
        log = open(self.work / "bird.log", "w")  # noqa: SIM115 - the daemon's, kept open
        bird = self.spawn(
            self.router, ["bird", "-f", "-c", str(self.work / "bird.conf"), "-s", str(control)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        while not control.exists():
            time.sleep(0.05)
        return bird

    def spawn(self, netns: str, argv: list[str], **options) -> subprocess.Popen:
        process = subprocess.Popen(["ip", "netns", "exec", netns, *argv], **options)
        self.processes.append(process)
        return process

    def destroy(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        for ns in (self.node, self.router):
            run("ip", "netns", "del", ns, check=False)


def cut(lab: Lab) -> None:
    script = (
        "table inet bench_cut {\n"
        f" chain input {{ type filter hook input priority -10; ip saddr {NODE} drop; }}\n"
        f" chain output {{ type filter hook output priority -10; ip daddr {NODE} drop; }}\n"
        "}\n"
    )
    subprocess.run(["ip", "netns", "exec", lab.router, "nft", "-f", "-"], input=script,
                   text=True, check=True, capture_output=True)  # fmt: skip


def heal(lab: Lab) -> None:
    run("ip", "netns", "exec", lab.router, "nft", "delete", "table", "inet", "bench_cut")


def wait_line(
    stream, wanted: str, timeout: float, after: float = 0.0, deleted: bool = False
) -> float | None:
    """The ``ip -ts monitor`` timestamp (wall clock) of the next line adding (or
    deleting) ``wanted``, stamped at ``after`` or later (older lines: events of a
    soak's false downs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            return None
        if f" {wanted} " in line and line.startswith("[") and ("Deleted" in line) == deleted:
            stamp = line[1 : line.index("]")]
            seen = time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + float(
                "0." + stamp[20:26]
            )
            if seen >= after:
                return seen
    return None


def detect(args: argparse.Namespace) -> None:
    lab = Lab()
    stress = None
    try:
        lab.build([f"{ROUTER}/16"])
        interval = args.interval
        lab.bird(
            f"router id {ROUTER};\nprotocol device {{}}\n"
            "protocol kernel { ipv4 { export all; }; }\n"
            f'protocol bfd {{ interface "*" {{ min rx interval {interval} ms; '
            f"min tx interval {interval} ms; multiplier {args.multiplier}; }}; }}\n"
            f"protocol bgp ironlb {{ local {ROUTER} as 64513; neighbor {NODE} as 64512; "
            "passive on; direct; bfd on; error wait time 1, 5; "
            "ipv4 { import all; export none; }; }\n"
        )
        monitor = lab.spawn(lab.router, ["ip", "-ts", "monitor", "route"],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
        driver = lab.spawn(
            lab.node,
            [sys.executable, __file__, "drive-bgp", str(interval), str(args.multiplier)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        driver.stdout.readline()
        if args.stress:
            stress = subprocess.Popen(["stress-ng", "--cpu", "2", "--quiet"])
        assert wait_line(monitor.stdout, ROUTE.split("/")[0], 60) is not None, "no route"
        agreed = args.multiplier * interval / 1000
        print(f"BFD {interval} ms x {args.multiplier} (agreed detection time {agreed:.3f} s)"
              f"{', stress-ng --cpu 2' if args.stress else ''}")  # fmt: skip
        if args.soak:
            time.sleep(2)  # BFD up and tightened
            log_before = (lab.work / "bird.log").read_text().count("BFD session down")
            driver.stdin.write("count\n")
            driver.stdin.flush()
            downs_before = json.loads(driver.stdout.readline())["downs"]
            time.sleep(args.soak)
            bird_downs = (lab.work / "bird.log").read_text().count("BFD session down") - log_before
            driver.stdin.write("count\n")
            driver.stdin.flush()
            ironlb_downs = json.loads(driver.stdout.readline())["downs"] - downs_before
            print(f"soak {args.soak:g} s: false downs seen by BIRD {bird_downs}, "
                  f"by ironlb {ironlb_downs:g}")  # fmt: skip
        times = []
        for round_ in range(args.rounds):
            time.sleep(2)  # BFD up again and tightened to the profile's interval
            at = time.time()
            cut(lab)
            gone = wait_line(monitor.stdout, ROUTE.split("/")[0], 30, after=at, deleted=True)
            heal(lab)
            if gone is None:
                print(f"round {round_}: no withdrawal within 30 s")
                continue
            times.append(gone - at)
            back = wait_line(monitor.stdout, ROUTE.split("/")[0], 60, after=gone)
            assert back is not None, "the route did not come back"
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        median = statistics.median(times)
        print(f"cut -> BIRD withdraws, {len(times)} rounds: median {median:.3f} s "
              f"({median / agreed:.2f}x the agreed time), p99 {p99:.3f} s "
              f"({p99 / agreed:.2f}x), min {times[0]:.3f} s")  # fmt: skip
    finally:
        if stress is not None:
            stress.terminate()
            stress.wait()
        lab.destroy()


def cpu(args: argparse.Namespace) -> None:
    lab = Lab()
    try:
        pairs = [(node_address(i), router_address(i)) for i in range(args.sessions)]
        lab.build([f"{r}/16" for _, r in pairs], [f"{n}/16" for n, _ in pairs])
        neighbors = "\n".join(f"  neighbor {n} local {r};" for n, r in pairs)
        bird = lab.bird(
            f"router id {ROUTER};\nprotocol device {{}}\n"
            'protocol bfd { interface "*" { min rx interval 300 ms; min tx interval 300 ms; '
            f"multiplier 3; }};\n{neighbors}\n}}\n"
        )
        driver = lab.spawn(
            lab.node,
            ["taskset", "-c", "0", sys.executable, __file__, "drive-cpu",
             str(args.sessions), str(args.seconds)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        # BIRD's CPU over the same window: from the moment ironlb's are all up.
        up = json.loads(driver.stdout.readline())["up"]
        bird_pid = int(run("ip", "netns", "pids", lab.router).stdout.split()[0])
        bird_before = process_cpu(bird_pid)
        started = time.monotonic()
        result = json.loads(driver.stdout.readline())
        window = time.monotonic() - started
        bird_cpu = process_cpu(bird_pid) - bird_before
        del bird
        ours = result["cpu"] / args.seconds
        print(f"{args.sessions} BFD sessions at 300 ms x 3, {up} up ({result['still_up']} "
              f"at the end): ironlb "
              f"{ours * 100:.2f} % of one core ({ours * 1000 / args.sessions:.3f} ms/s a "
              f"session); BIRD {bird_cpu / window * 100:.2f} % over the same ~{window:.0f} s "
              f"(ironlb/BIRD {ours / max(bird_cpu / window, 1e-9):.1f}x)")  # fmt: skip
    finally:
        lab.destroy()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "drive-bgp":
        drive_bgp(int(sys.argv[2]), int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "drive-cpu":
        drive_cpu(int(sys.argv[2]), float(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    detecting = sub.add_parser("detect")
    detecting.add_argument("--interval", type=int, default=300, help="ms, both sides")
    detecting.add_argument("--multiplier", type=int, default=3)
    detecting.add_argument("--rounds", type=int, default=20)
    detecting.add_argument("--stress", action="store_true")
    detecting.add_argument("--soak", type=float, default=0, help="seconds")
    costing = sub.add_parser("cpu")
    costing.add_argument("--sessions", type=int, default=100)
    costing.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    detect(args) if args.what == "detect" else cpu(args)


if __name__ == "__main__":
    main()
