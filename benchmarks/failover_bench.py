"""Layer-2 failover end to end, ironlb against keepalived in the same LAN: the
announcing process is killed (SIGKILL), how long until the other node's first
gratuitous ARP reaches a client? Then false failovers while nothing is killed.

    sudo python benchmarks/failover_bench.py [--rounds 20] [--stress] [--soak 600]
                                             [--flood] [--family 4 6]

Network namespaces as in tests/e2e (two nodes and a client on one bridge).
ironlb: standalone speakers beating to each other (heartbeats, default 0.1 s /
0.4 s, and a faster setting); keepalived (Debian's): VRRP with its default 1 s
adverts and with VRRPv3 adverts every 0.1 s, on its own address. ``--stress``
runs ``stress-ng --cpu 2`` meanwhile (both cores busy); ``--flood`` has the client
send ARP requests for an address nobody announces as fast as it can throughout
(the responder's kernel filter keeps them from the speakers); ``--soak S`` then
watches S seconds for failovers that should not happen (the verdicts in the
speakers' logs) and reports the heartbeats' gaps as the speakers measured them.
Each round restarts the killed process and waits until it holds its address
again. ``--family 6`` measures the IPv6 address (the first unsolicited neighbor
advertisement from the other node), keepalived with a VRRPv3 IPv6 instance.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.e2e.test_failover import started_lan
from tests.e2e.test_layer2 import NODES, VIP4, VIP6, Lan, elected, wait_for_record

from ironlb.events.own_kinds import MEMBERSHIP_KIND
from ironlb.store import open_store

KEEPALIVED_VIP = {4: "10.10.0.220", 6: "fd00:10::220"}
VIP = {4: VIP4, 6: VIP6}
NOBODYS = "10.10.0.209"  # in the pool's range, announced by nobody: the flood's target


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, seconds: list[float]) -> str:
    return (f"{name:<34} median {statistics.median(seconds):.3f} s  "
            f"p99 {percentile(seconds, 0.99):.3f} s  max {max(seconds):.3f} s  "
            f"({len(seconds)} rounds)")  # fmt: skip


def capture_from(lan: Lan, ip: str, mac: str) -> subprocess.Popen:
    capture = lan.frames("capture-announcement", ip, mac)
    assert capture.stdout is not None and capture.stdout.readline().strip() == "ready"
    return capture


def announces(node: str, ip: str):
    def check(plan: dict) -> bool:
        return plan["l2"].get("default/web", {}).get(ip, {}).get("node") == node

    return check


def ironlb_rounds(lan: Lan, rounds: int, *extra: str, family: int = 4) -> list[float]:
    vip = VIP[family]
    winner = elected(vip, NODES)
    other = next(n for n in NODES if n != winner)
    seconds = []
    for _ in range(rounds):
        lan.speakers[winner].next_plan(announces(winner, vip))
        capture = capture_from(lan, vip, lan.mac(other))
        killed_at = time.monotonic()
        lan.speakers[winner].process.send_signal(signal.SIGKILL)
        mac = capture.stdout.readline().strip()
        seconds.append(time.monotonic() - killed_at)
        capture.wait(timeout=30)
        assert mac == lan.mac(other), f"announced by {mac!r}, not {other}"
        lan.speakers[winner].terminate()
        back = capture_from(lan, vip, lan.mac(winner))
        with open_store(str(lan.tmp / f"own-{other}"), readonly=True) as store:
            before = store.last_seq
        lan.start(winner, "--membership-key-file", lan.key, *extra)  # type: ignore[attr-defined]
        assert back.stdout.readline().strip() == lan.mac(winner)
        back.wait(timeout=30)

        # Settled before the next kill: the survivor has heard the restarted speaker
        # (killed sooner, it would have nothing to fail over).
        def heard_again(record, after: int = before) -> bool:
            return record.seq > after and record.key == winner and record.object["alive"]

        wait_for_record(lan.tmp / f"own-{other}", MEMBERSHIP_KIND, heard_again)
    return seconds


KEEPALIVED_CONF = """global_defs {{
  vrrp_version {version}
  script_user root
}}
vrrp_instance bench {{
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority {priority}
  advert_int {advert}
  virtual_ipaddress {{
    {vip}
  }}
}}
"""


class Keepalived:
    def __init__(
        self, lan: Lan, node: str, priority: int, advert: float, tmp: Path, family: int = 4
    ) -> None:
        self.lan, self.node, self.tmp, self.family = lan, node, tmp, family
        self.conf = tmp / f"keepalived-{node}.conf"
        self.vip = KEEPALIVED_VIP[family]
        prefix = 24 if family == 4 else 64
        # VRRPv2 has no IPv6, and no sub-second adverts: v3 for those.
        version = 3 if advert < 1 or family == 6 else 2
        self.conf.write_text(KEEPALIVED_CONF.format(
            version=version, priority=priority, advert=advert, vip=f"{self.vip}/{prefix}",
        ))  # fmt: skip
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        ns = self.lan.ns[self.node]
        for pid_file in (f"k-{self.node}.pid", f"v-{self.node}.pid"):  # left by a kill -9
            (self.tmp / pid_file).unlink(missing_ok=True)
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", ns, "keepalived", "--dont-fork", "--vrrp", "--log-console",
             "-f", str(self.conf), "-p", str(self.tmp / f"k-{self.node}.pid"),
             "-r", str(self.tmp / f"v-{self.node}.pid")],
            stdout=subprocess.DEVNULL, stderr=(self.tmp / f"keepalived-{self.node}.log").open("a"),
        )  # fmt: skip

    def kill(self) -> None:
        if self.process is not None:
            # keepalived forks a VRRP child: kill the whole namespace's keepalived.
            self.lan.exec(self.lan.ns[self.node], "pkill", "-KILL", "-f", str(self.conf),
                          check=False)  # fmt: skip
            self.process.wait(timeout=30)
            # A killed keepalived leaves its address behind: the node is gone.
            prefix = 24 if self.family == 4 else 64
            self.lan.exec(self.lan.ns[self.node], "ip", "addr", "del", f"{self.vip}/{prefix}",
                          "dev", "eth0", check=False)  # fmt: skip


def keepalived_rounds(
    lan: Lan, rounds: int, advert: float, tmp: Path, family: int = 4
) -> list[float]:
    master, backup = NODES
    daemons = {
        master: Keepalived(lan, master, 150, advert, tmp, family),
        backup: Keepalived(lan, backup, 100, advert, tmp, family),
    }
    vip = KEEPALIVED_VIP[family]
    seconds = []
    try:
        first = capture_from(lan, vip, lan.mac(master))
        for daemon in daemons.values():
            daemon.start()
        first.wait(timeout=60)
        for _ in range(rounds):
            capture = capture_from(lan, vip, lan.mac(backup))
            killed_at = time.monotonic()
            daemons[master].kill()
            mac = capture.stdout.readline().strip()
            seconds.append(time.monotonic() - killed_at)
            capture.wait(timeout=60)
            assert mac == lan.mac(backup), f"announced by {mac!r}"
            back = capture_from(lan, vip, lan.mac(master))
            daemons[master].start()  # the higher priority preempts: it is master again
            back.wait(timeout=60)
    finally:
        for daemon in daemons.values():
            daemon.kill()
    return seconds


def false_failovers(lan: Lan, seconds: float) -> int:
    """Verdicts that a live speaker is down, appended while nothing was killed."""
    starts = {}
    for node in NODES:
        with open_store(str(lan.tmp / f"own-{node}"), readonly=True) as store:
            starts[node] = store.last_seq
    time.sleep(seconds)  # a benchmark's observation window, not a test's synchronisation
    downs = 0
    for node in NODES:
        with open_store(str(lan.tmp / f"own-{node}"), readonly=True) as store:
            for record in store.read(starts[node] + 1):
                if record.kind == MEMBERSHIP_KIND and record.object.get("alive") is False:
                    downs += 1
    return downs


def gap_buckets(lan: Lan) -> dict[float, float]:
    """The speakers' histograms of heartbeat gaps, summed: upper bound -> count."""
    buckets: dict[float, float] = {}
    for node in NODES:
        for line in lan.metrics(node).splitlines():
            if line.startswith("ironlb_membership_beat_gap_seconds_bucket{"):
                bound = line.split('le="')[1].split('"')[0]
                key = float("inf") if bound == "+Inf" else float(bound)
                buckets[key] = buckets.get(key, 0) + float(line.split()[-1])
    return buckets


def beat_gaps(before: dict[float, float], after: dict[float, float], interval: float) -> str:
    """The gaps measured between two readings: how many came later than twice the
    interval, and the smallest bucket bound that holds them all."""
    window = {bound: count - before.get(bound, 0) for bound, count in after.items()}
    if not window:
        return "no beat gaps measured"
    total = window[float("inf")]
    on_time = max((n for b, n in window.items() if b <= 2 * interval + 1e-9), default=0)
    largest = min(b for b, n in window.items() if n == total)
    return (f"{total:.0f} beat gaps: {total - on_time:.0f} over {2 * interval:g} s, "
            f"all within {largest:g} s")  # fmt: skip


def flooding(lan: Lan) -> subprocess.Popen:
    """The client asks for NOBODYS as fast as Python sends (stopped by the caller)."""
    return lan.frames("ask", "1000000000", NOBODYS)


def measure_family(args: argparse.Namespace, family: int, fast: tuple, stressed: bool) -> None:
    first = "gratuitous ARP" if family == 4 else "unsolicited NA"
    load = [*(["stress-ng --cpu 2"] if stressed else []),
            *([f"a flood of ARP requests for {NOBODYS}"] if args.flood else [])]  # fmt: skip
    print(f"IPv{family}: kill -9 -> first {first} from the other node at a client"
          f"{' (' + ', '.join(load) + ')' if load else ''}:", flush=True)  # fmt: skip
    fast_label = f"ironlb heartbeats {args.fast[0]} s / {args.fast[1]} s"
    settings = (("ironlb heartbeats 0.1 s / 0.4 s", (), 0.1), (fast_label, fast, args.fast[0]))
    for label, extra, interval in settings:
        with tempfile.TemporaryDirectory() as tmp:
            lan = started_lan(Path(tmp), NODES, *extra)
            flood = flooding(lan) if args.flood else None
            try:
                seconds = ironlb_rounds(lan, args.rounds, *extra, family=family)
                print(summary(label, seconds), flush=True)
                if args.soak:
                    before = gap_buckets(lan)
                    downs = false_failovers(lan, args.soak)
                    gaps = beat_gaps(before, gap_buckets(lan), interval)
                    print(f"{'':<34} false failovers in {args.soak:g} s: {downs}; {gaps}",
                          flush=True)  # fmt: skip
            finally:
                if flood is not None:
                    flood.kill()
                    flood.wait()
                lan.destroy()
    for advert in args.adverts:
        with tempfile.TemporaryDirectory() as tmp:
            lan = Lan(Path(tmp))
            try:
                lan.build()
                flood = flooding(lan) if args.flood else None
                try:
                    seconds = keepalived_rounds(lan, args.rounds, advert, Path(tmp), family)
                except subprocess.TimeoutExpired:
                    for log in Path(tmp).glob("keepalived-*.log"):
                        print(log.read_text()[-1500:])
                    raise
                finally:
                    if flood is not None:
                        flood.kill()
                        flood.wait()
                print(summary(f"keepalived VRRP adverts {advert:g} s", seconds), flush=True)
            finally:
                lan.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--stress", action="store_true", help="stress-ng --cpu 2 meanwhile")
    parser.add_argument("--soak", type=float, default=0, metavar="SECONDS",
                        help="then count false failovers for this long")  # fmt: skip
    parser.add_argument("--fast", nargs=2, type=float, default=(0.05, 0.2),
                        metavar=("INTERVAL", "TIMEOUT"),
                        help="the fast ironlb setting")  # fmt: skip
    parser.add_argument("--adverts", nargs="*", type=float, default=[1.0, 0.1],
                        help="keepalived's advert intervals to measure")  # fmt: skip
    parser.add_argument("--flood", action="store_true",
                        help="the client floods ARP requests for another address")  # fmt: skip
    parser.add_argument("--family", type=int, nargs="+", choices=(4, 6), default=[4])
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: network namespaces")
    stress = None
    if args.stress:
        stress = subprocess.Popen(["stress-ng", "--cpu", "2", "--quiet"])
    fast = ("--membership-interval", str(args.fast[0]), "--membership-timeout", str(args.fast[1]))
    try:
        for family in args.family:
            measure_family(args, family, fast, stress is not None)
    finally:
        if stress is not None:
            stress.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                stress.wait(timeout=10)


if __name__ == "__main__":
    main()
