"""The native BGP speaker against BIRD 2 in network namespaces.

    sudo python benchmarks/bgp_bench.py [--held 10 10000 100000] [--prefixes 10000]
                                        [--changes 200] [--speaker] [--full]
                                        [--compare gobgp exabgp]

* latency: with ``--held`` prefixes announced, a plan gaining one prefix (and then
  losing it again), applied to the speaker effector, until BIRD has installed (or
  removed) the route, seen on the router namespace's netlink, which BIRD's kernel
  protocol feeds as soon as the route is in its table; p50 and p99 per size, and
  the p99 against the smallest size's (the target: 2x at most);
* bulk: a plan with ``--prefixes`` /32s applied at once, until BIRD counts them all;
* idle: the CPU the speaker process uses over 10 s holding that session;
* ``--speaker``: the same through a whole ``ironlb speaker`` process following an
  events log: one Service (with its EndpointSlice) appended, or deleted, until BIRD
  has the route, or has lost it; the fold, the node plan, the effector and the wire;
* ``--compare gobgp exabgp``: the same bulk announce from GoBGP (``gobgp mrt inject
  global`` of an MRT dump of the prefixes) and ExaBGP (the prefixes written to its
  API process at once; ``pip install exabgp``), each in the node namespace on an
  established session with the same BIRD, timed from the command to BIRD counting
  them all.

The speaker runs in its own process in the node namespace (``drive``), so its CPU
is its own; BIRD runs passive in the router namespace. Plans are built before the
clock starts, from route objects made once (as the speaker fold reuses them), each
with the RouteDelta the speaker fold's journal makes of the change (``--full``:
without, so the effector diffs the whole plan, as it does after a restart).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from ipaddress import IPv4Address
from pathlib import Path

import attrs

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests import k8s
from tests.e2e.routers import linked_namespaces
from tests.k8s import session_plan

from ironlb.announce.bgp.session import State
from ironlb.announce.bgp.speaker import BgpSpeaker
from ironlb.events.record import EventType
from ironlb.reconcile.plan.speaker import BGPRoute, NodePlan
from ironlb.reconcile.speaker.route_journal import RouteJournal
from ironlb.store.url import open_store

NODE, ROUTER = "10.50.0.1", "10.50.0.2"
BASE = int(IPv4Address("100.64.0.0"))


ROUTES: list[BGPRoute] = []  # made once: route i is prefix(i)
JOURNAL = RouteJournal()  # route i stands for Service i, as the speaker fold counts them
HELD = [0]


def prefix(i: int) -> str:
    return f"{IPv4Address(BASE + i)}/32"


def plan(count: int) -> NodePlan:
    """The plan of ``count`` routes, with the RouteDelta the speaker fold would give
    it: each route gained or lost told to the journal as one Service's change."""
    while len(ROUTES) < count:
        ROUTES.append(BGPRoute(prefix(len(ROUTES)), None, (), ()))
    for i in range(count, HELD[0]):
        JOURNAL.replace({"bird": (ROUTES[i],)}, {})
    for i in range(HELD[0], count):
        JOURNAL.replace({}, {"bird": (ROUTES[i],)})
    HELD[0] = count
    session = session_plan("bird", ROUTER)
    routes = tuple(ROUTES[:count])
    return NodePlan(
        "node1", {}, {"bird": routes}, {"bird": session}, {4: (), 6: ()}, {}, {}, JOURNAL.take()
    )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def drive(full: bool) -> None:
    """In the node namespace: take commands on stdin, report on stdout."""
    states: list[State] = []
    speaker = BgpSpeaker("node1", on_state=lambda peer, old, new, why: states.append(new))
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "apply":
            wanted = plan(int(argument))  # before the clock starts
            if full:
                wanted = attrs.evolve(wanted, route_delta=None)
            at = time.time()
            speaker.apply(wanted)
            speaker.sessions()  # returns once the loop ran the plan: its UPDATE is written
            print(json.dumps({"applied_at": at, "written_at": time.time()}), flush=True)
        elif command == "idle":
            before = cpu_seconds()
            time.sleep(float(argument))
            print(json.dumps({"cpu": cpu_seconds() - before}), flush=True)
    speaker.close()


class SpeakerProcess:
    """``--speaker``: ``ironlb speaker`` in the node namespace, following an events log
    (a file store); a plan of N prefixes is N Services with their addresses in their
    statuses and an endpoint on the node. ``apply N`` appends what moves the cluster
    there: Services and EndpointSlices added, or Services deleted."""

    def __init__(self, node: str, work: Path) -> None:
        self.events = open_store(str(work / "events"))
        self.events.append(k8s.records(*CONFIGURATION))
        self.held = 0
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", node, sys.executable, "-m", "ironlb", "speaker",
             "--node", "node1", "--events", str(work / "events"), "--store", str(work / "own"),
             "--no-layer2", "--no-links", "--quiet", "--digest-interval", "3600"],
        )  # fmt: skip

    def send(self, line: str) -> dict:
        command, _, argument = line.partition(" ")
        if command == "idle":
            before = self.cpu_seconds()
            time.sleep(float(argument))
            return {"cpu": self.cpu_seconds() - before}
        count = int(argument)
        if count >= self.held:
            batch = k8s.records(*(obj for i in range(self.held, count) for obj in service(i)))
        else:
            gone = (service(i)[0] for i in range(count, self.held))
            batch = k8s.records(*((EventType.DELETED, obj) for obj in gone))
        at = time.time()
        self.events.append(batch)
        self.held = count
        return {"applied_at": at}

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CONFIGURATION = [
    k8s.node("node1"),
    k8s.pool("bench", "100.64.0.0/10"),
    k8s.bgp("all"),
    k8s.peer("bird", peer_asn=64513, peerAddress=ROUTER),
]


def service(i: int) -> list[dict]:
    """Service ``i`` (its address prefix(i), as the controller wrote it in its status)
    and an EndpointSlice with an endpoint on node1."""
    address = prefix(i).removesuffix("/32")
    return [k8s.service(f"svc-{i}", status=[address]), k8s.endpoints(f"svc-{i}", "node1")]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60)


def bird_count(netns: str, control: Path, within: str | None = None) -> int:
    """Routes in BIRD's table (those inside the prefix ``within`` only)."""
    where = ["where", f"net ~ [ {within}+ ]"] if within else []
    out = run(
        "ip", "netns", "exec", netns, "birdc", "-s", str(control), "show", "route", *where, "count"
    ).stdout
    for line in out.splitlines():
        if "routes" in line and "of" in line:
            return int(line.split()[0])
    return 0


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "drive":
        drive(full="--full" in sys.argv)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", type=int, nargs="+", default=[10, 10_000, 100_000])
    parser.add_argument("--prefixes", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--full", action="store_true", help="plans without RouteDelta")
    parser.add_argument(
        "--speaker",
        action="store_true",
        help="a whole `ironlb speaker` process following an events log, not the effector",
    )
    parser.add_argument("--compare", nargs="*", default=[], choices=sorted(REFERENCES))
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
            "passive on; error wait time 1, 5; ipv4 { import all; export none; }; }\n"
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

        if args.speaker:
            process = SpeakerProcess(node, work)
            driver, send = process.process, process.send
        else:
            driver = subprocess.Popen(
                ["ip", "netns", "exec", node, sys.executable, __file__, "drive"]
                + (["--full"] if args.full else []),
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
            added, withdrawn, written = [], [], []
            one = prefix(held).removesuffix("/32")
            for _ in range(args.changes):
                for count, into, deleted in ((held + 1, added, False), (held, withdrawn, True)):
                    reply = send(f"apply {count}")
                    into.append(seen(one, deleted=deleted) - reply["applied_at"])
                    if "written_at" in reply:
                        written.append(reply["written_at"] - reply["applied_at"])
            worst = max(p99(added), p99(withdrawn))
            reference = reference or worst
            ours = (
                f" (the effector's part, applied -> UPDATE written: p50 "
                f"{statistics.median(written) * 1e3:.2f} ms p99 {p99(written) * 1e3:.2f} ms)"
                if written
                else ""
            )
            print(
                f"{held:>7,} held: one added -> in BIRD p50 {statistics.median(added) * 1e3:.2f} "
                f"ms p99 {p99(added) * 1e3:.2f} ms; withdrawn p50 "
                f"{statistics.median(withdrawn) * 1e3:.2f} ms p99 {p99(withdrawn) * 1e3:.2f} ms; "
                f"p99 {worst / reference:.2f}x the {args.held[0]:,}-held one{ours}",
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
        bulk_seconds = time.monotonic() - began
        print(
            f"{args.prefixes:,} prefixes to one peer: in BIRD's table "
            f"{bulk_seconds:.2f} s after the plan was applied"
        )
        cpu = send("idle 10")["cpu"]
        print(f"idle with {args.prefixes:,} prefixes: {cpu / 10 * 100:.2f}% of one core over 10 s")
        ours = bulk_seconds
        driver.terminate()
        driver.wait(timeout=30)
        for name in args.compare:
            while bird_count(router, control) > 0:  # the session before is gone
                time.sleep(0.05)
            seconds = REFERENCES[name](node, router, control, work, args.prefixes)
            print(f"{args.prefixes:,} prefixes from {name}: in BIRD's table {seconds:.2f} s "
                  f"after the command (ironlb {ours / seconds:.2f}x its time)")  # fmt: skip
    finally:
        for process in (driver, monitor, bird):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
        for ns in (node, router):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def established(router: str, control: Path) -> bool:
    out = run("ip", "netns", "exec", router, "birdc", "-s", str(control), "show", "protocols")
    return any(
        line.startswith("ironlb") and "Established" in line for line in out.stdout.splitlines()
    )


def wait_for(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {what}")
        time.sleep(0.05)


PADDING = 1000  # routes after the measured ones: gobgp's inject loses its last batch


def mrt_dump(path: Path, count: int) -> None:
    """An MRT TABLE_DUMP_V2 file (RFC 6396) of ``count`` prefixes from NODE, AS 64512,
    then PADDING more outside them: GoBGP 3.10's ``mrt inject`` leaves the file's last
    few hundred routes out of its RIB (seen: 9,631 of 10,000), so the padding is what
    it loses, and the clock stops when the measured ones are all in."""

    def record(subtype: int, body: bytes) -> bytes:
        return struct.pack("!IHHI", int(time.time()), 13, subtype, len(body)) + body

    node = IPv4Address(NODE).packed
    peers = struct.pack("!4sHH", node, 0, 1) + struct.pack("!B4s4sI", 2, node, node, 64512)
    attributes = (
        bytes([0x40, 1, 1, 0])  # ORIGIN IGP
        + bytes([0x40, 2, 6, 2, 1]) + struct.pack("!I", 64512)  # AS_PATH: 64512 (4 octets)
        + bytes([0x40, 3, 4]) + node  # NEXT_HOP
    )  # fmt: skip
    with open(path, "wb") as out:
        out.write(record(1, peers))
        for i in range(count + PADDING):
            first = BASE if i < count else int(IPv4Address("198.18.0.0")) - count
            address = IPv4Address(first + i).packed
            entry = struct.pack("!HIH", 0, int(time.time()), len(attributes)) + attributes
            out.write(record(2, struct.pack("!IB", i, 32) + address + struct.pack("!H", 1) + entry))


def gobgp_bulk(node: str, router: str, control: Path, work: Path, count: int) -> float:
    (work / "gobgp.toml").write_text(
        f'[global.config]\n  as = 64512\n  router-id = "{NODE}"\n  port = -1\n'
        f'[[neighbors]]\n  [neighbors.config]\n    neighbor-address = "{ROUTER}"\n'
        f'    peer-as = 64513\n  [neighbors.transport.config]\n    local-address = "{NODE}"\n'
    )
    mrt_dump(work / "routes.mrt", count)
    daemon = subprocess.Popen(
        ["ip", "netns", "exec", node, "gobgpd", "-f", str(work / "gobgp.toml"), "-l", "warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: established(router, control), "GoBGP's session")
        began = time.monotonic()
        run(
            "ip",
            "netns",
            "exec",
            node,
            "gobgp",
            "mrt",
            "inject",
            "global",
            str(work / "routes.mrt"),
        )
        measured = "100.64.0.0/10"
        wait_for(lambda: bird_count(router, control, measured) >= count, "GoBGP's routes", 300)
        return time.monotonic() - began
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


def exabgp_bulk(node: str, router: str, control: Path, work: Path, count: int) -> float:
    exabgp = shutil.which("exabgp") or str(Path(sys.executable).with_name("exabgp"))
    fifo = work / "exabgp.fifo"
    os.mkfifo(fifo)
    (work / "exabgp.conf").write_text(
        f"process feeder {{\n  run /bin/cat {fifo};\n  encoder text;\n}}\n"
        f"neighbor {ROUTER} {{\n  router-id {NODE};\n  local-address {NODE};\n"
        "  local-as 64512;\n  peer-as 64513;\n  api { processes [ feeder ]; }\n}\n"
    )
    environment = {**os.environ, "exabgp_daemon_user": "root", "exabgp_daemon_drop": "false",
                   "exabgp_log_enable": "false"}  # fmt: skip
    daemon = subprocess.Popen(
        ["ip", "netns", "exec", node, exabgp, str(work / "exabgp.conf")],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with open(fifo, "w") as feed:  # opens once ExaBGP runs its process
            wait_for(lambda: established(router, control), "ExaBGP's session")
            lines = "".join(f"announce route {prefix(i)} next-hop {NODE}\n" for i in range(count))
            began = time.monotonic()
            feed.write(lines)
            feed.flush()
            wait_for(lambda: bird_count(router, control) >= count, "ExaBGP's routes", 300)
            return time.monotonic() - began
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


REFERENCES = {"gobgp": gobgp_bulk, "exabgp": exabgp_bulk}


if __name__ == "__main__":
    main()
