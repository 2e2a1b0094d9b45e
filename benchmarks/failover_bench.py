"""Layer-2 failover end to end, ironlb against keepalived in the same LAN: the
announcing process is killed (SIGKILL), how long until the other node's first
gratuitous ARP reaches a client? Then false failovers while nothing is killed.

    sudo python benchmarks/failover_bench.py [--rounds 20] [--stress] [--soak 600]

Network namespaces as in tests/e2e (two nodes and a client on one bridge).
ironlb: standalone speakers beating to each other (heartbeats, default 0.1 s /
0.4 s, and a faster setting); keepalived (Debian's): VRRP with its default 1 s
adverts and with VRRPv3 adverts every 0.1 s, on its own address. ``--stress``
runs ``stress-ng --cpu 2`` meanwhile (both cores busy); ``--soak S`` then watches
S seconds for failovers that should not happen (the verdicts in the speakers'
logs). Each round restarts the killed process and waits until it holds its
address again.
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
from tests.e2e.cluster_lan import announcing
from tests.e2e.test_failover import started_lan
from tests.e2e.test_layer2 import NODES, VIP4, Lan, elected, wait_for_record

from ironlb.events.own_kinds import MEMBERSHIP_KIND
from ironlb.store import open_store

KEEPALIVED_VIP = "10.10.0.220"


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


def ironlb_rounds(lan: Lan, rounds: int, *extra: str) -> list[float]:
    winner = elected(VIP4, NODES)
    other = next(n for n in NODES if n != winner)
    seconds = []
    for _ in range(rounds):
        lan.speakers[winner].next_plan(announcing(winner))
        capture = capture_from(lan, VIP4, lan.mac(other))
        killed_at = time.monotonic()
        lan.speakers[winner].process.send_signal(signal.SIGKILL)
        mac = capture.stdout.readline().strip()
        seconds.append(time.monotonic() - killed_at)
        capture.wait(timeout=30)
        assert mac == lan.mac(other), f"announced by {mac!r}, not {other}"
        lan.speakers[winner].terminate()
        back = capture_from(lan, VIP4, lan.mac(winner))
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
    {vip}/24
  }}
}}
"""


class Keepalived:
    def __init__(self, lan: Lan, node: str, priority: int, advert: float, tmp: Path) -> None:
        self.lan, self.node, self.tmp = lan, node, tmp
        self.conf = tmp / f"keepalived-{node}.conf"
        self.conf.write_text(KEEPALIVED_CONF.format(
            version=3 if advert < 1 else 2, priority=priority, advert=advert, vip=KEEPALIVED_VIP,
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
            self.lan.exec(self.lan.ns[self.node], "ip", "addr", "del", f"{KEEPALIVED_VIP}/24",
                          "dev", "eth0", check=False)  # fmt: skip


def keepalived_rounds(lan: Lan, rounds: int, advert: float, tmp: Path) -> list[float]:
    master, backup = NODES
    daemons = {
        master: Keepalived(lan, master, 150, advert, tmp),
        backup: Keepalived(lan, backup, 100, advert, tmp),
    }
    seconds = []
    try:
        first = capture_from(lan, KEEPALIVED_VIP, lan.mac(master))
        for daemon in daemons.values():
            daemon.start()
        first.wait(timeout=60)
        for _ in range(rounds):
            capture = capture_from(lan, KEEPALIVED_VIP, lan.mac(backup))
            killed_at = time.monotonic()
            daemons[master].kill()
            mac = capture.stdout.readline().strip()
            seconds.append(time.monotonic() - killed_at)
            capture.wait(timeout=60)
            assert mac == lan.mac(backup), f"announced by {mac!r}"
            back = capture_from(lan, KEEPALIVED_VIP, lan.mac(master))
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
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: network namespaces")
    stress = None
    if args.stress:
        stress = subprocess.Popen(["stress-ng", "--cpu", "2", "--quiet"])
    fast = ("--membership-interval", str(args.fast[0]), "--membership-timeout", str(args.fast[1]))
    try:
        print(f"kill -9 -> first gratuitous ARP from the other node at a client"
              f"{' (stress-ng --cpu 2)' if stress else ''}:", flush=True)  # fmt: skip
        fast_label = f"ironlb heartbeats {args.fast[0]} s / {args.fast[1]} s"
        for label, extra in (("ironlb heartbeats 0.1 s / 0.4 s", ()), (fast_label, fast)):
            with tempfile.TemporaryDirectory() as tmp:
                lan = started_lan(Path(tmp), NODES, *extra)
                try:
                    print(summary(label, ironlb_rounds(lan, args.rounds, *extra)), flush=True)
                    if args.soak:
                        downs = false_failovers(lan, args.soak)
                        print(f"{'':<34} false failovers in {args.soak:g} s: {downs}", flush=True)
                finally:
                    lan.destroy()
        for advert in args.adverts:
            with tempfile.TemporaryDirectory() as tmp:
                lan = Lan(Path(tmp))
                try:
                    lan.build()
                    try:
                        seconds = keepalived_rounds(lan, args.rounds, advert, Path(tmp))
                    except subprocess.TimeoutExpired:
                        for log in Path(tmp).glob("keepalived-*.log"):
                            print(log.read_text()[-1500:])
                        raise
                    print(summary(f"keepalived VRRP adverts {advert:g} s", seconds), flush=True)
                finally:
                    lan.destroy()
    finally:
        if stress is not None:
            stress.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                stress.wait(timeout=10)


if __name__ == "__main__":
    main()
