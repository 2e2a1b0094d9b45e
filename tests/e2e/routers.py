"""Real routing daemons in a network namespace, as BGP peers of ironlb's speaker.

BIRD 2, FRR's bgpd and GoBGP, each configured passive (only ironlb dials, as its
speaker never listens) from one description of its neighbours, and each read back
through its own CLI (``birdc``, ``vtysh``, ``gobgp``) into one shape: prefix ->
``Seen`` (next hop, LOCAL_PREF, communities), so tests compare meaning across
daemons whose output formats differ.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import attrs

DEADLINE = 60.0


@attrs.frozen
class Neighbor:
    """One session from the router's side."""

    address: str  # ironlb's
    local_address: str  # the router's
    asn: int  # ironlb's
    local_asn: int  # the router's
    password: str | None = None
    both_families: bool = False  # IPv4 and IPv6 unicast on this one session
    bfd: bool = False  # a BFD session (MetalLB's default profile: 300 ms x 3) guards it
    unnumbered: bool = False  # ``address`` names the interface (FRR's ``neighbor IFACE interface``)

    @property
    def version(self) -> int:
        return 6 if ":" in self.address else 4

    @property
    def versions(self) -> tuple[int, ...]:
        return (4, 6) if self.both_families or self.unnumbered else (self.version,)


@attrs.frozen
class BfdSeen:
    """A BFD session as the router reports it."""

    state: str  # lower case: "up", "down", "init"
    detection_time: float  # seconds the router waits for the peer: its multiplier x interval


@attrs.frozen
class Seen:
    """A route as the router holds it."""

    next_hop: str
    local_pref: int | None
    communities: frozenset[str]
    large_communities: frozenset[str]
    as_path: tuple[int, ...] = ()


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=check)


def no_dad(netns: str) -> None:
    """Addresses (link-local ones too) usable at once: FRR will not open an IPv6
    session while its interface's link-local address is still tentative."""
    run(
        "ip",
        "netns",
        "exec",
        netns,
        "sysctl",
        "-qw",
        "net.ipv6.conf.all.accept_dad=0",
        "net.ipv6.conf.default.accept_dad=0",
    )


def linked_namespaces(
    node: str, router: str, node_addresses: list[str], router_addresses: list[str]
) -> None:
    """Two new namespaces joined by a veth (``eth0`` in both), loopback up, DAD off,
    each side with its addresses ("10.0.0.1/24", "fd00::1/64")."""
    for ns in (node, router):
        run("ip", "netns", "add", ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        no_dad(ns)
    run(
        "ip",
        "-n",
        node,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        router,
    )
    for ns, addresses in ((node, node_addresses), (router, router_addresses)):
        for address in addresses:
            run("ip", "-n", ns, "addr", "add", address, "dev", "eth0", "nodad")
        run("ip", "-n", ns, "link", "set", "eth0", "up")


class Router:
    name = ""

    def __init__(self, netns: str, directory: Path, router_id: str) -> None:
        self.netns, self.dir, self.router_id = netns, directory, router_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.neighbors: list[Neighbor] = []
        self.process: subprocess.Popen | None = None
        # What the router itself announces (tests/e2e/capture_bgp.py): version -> prefix,
        # with community 65000:100 and large community 65000:1:2; BIRD needs the
        # static protocol in ``extra_config``.
        self.exports: dict[int, str] = {}
        self.extra_config: list[str] = []

    def exec(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run("ip", "netns", "exec", self.netns, *args, check=check)

    def start(self, neighbors: list[Neighbor]) -> None:
        self.neighbors = neighbors
        self._launch()
        deadline = time.monotonic() + DEADLINE
        while ":179 " not in self.exec("ss", "-ltnH").stdout:  # listening: ready for ironlb
            exited = self.process is not None and self.process.poll() is not None
            assert not exited and time.monotonic() < deadline, (
                f"{self.name} did not start: {self.log()}"
            )
            time.sleep(0.05)

    def stop(self) -> None:
        pid = self.pid()
        if pid and Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + DEADLINE
            while Path(f"/proc/{pid}").exists() and not _zombie(pid):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        if self.process is not None:
            self.process.wait(timeout=DEADLINE)
            self.process = None

    def _spawn(self, argv: list[str], log: str) -> subprocess.Popen:
        """A daemon in the router namespace, its output appended to ``log``."""
        with open(self.dir / log, "a") as output:  # the child keeps its own descriptor
            return subprocess.Popen(
                ["ip", "netns", "exec", self.netns, *argv],
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def pause(self) -> None:
        os.kill(self.pid(), signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid(), signal.SIGCONT)

    def wait_for_routes(self, version: int, until, what: str) -> dict[str, Seen]:
        """Poll the router's table until ``until(routes)`` holds (routers have no change
        notification a test can block on)."""
        deadline = time.monotonic() + DEADLINE
        while True:
            routes = self.routes(version)
            if until(routes):
                return routes
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {what}; table: {routes}\n{self.log()}")
            time.sleep(0.1)

    # --- per daemon ------------------------------------------------------------------

    def _launch(self) -> None:
        raise NotImplementedError

    def pid(self) -> int:
        raise NotImplementedError

    def routes(self, version: int) -> dict[str, Seen]:
        raise NotImplementedError

    def log(self) -> str:
        path = self.dir / "daemon.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def cut(self, address: str) -> None:
        """Drop everything to and from ``address`` (nftables in the router's
        namespace): the path fails and no link event tells either daemon."""
        family = "ip6" if ":" in address else "ip"
        script = (
            "table inet ironlb_cut {\n"
            " chain input { type filter hook input priority -10; "
            f"{family} saddr {address} drop; }}\n"
            " chain output { type filter hook output priority -10; "
            f"{family} daddr {address} drop; }}\n"
            "}\n"
        )
        subprocess.run(
            ["ip", "netns", "exec", self.netns, "nft", "-f", "-"],
            input=script, text=True, check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def heal(self) -> None:
        self.exec("nft", "delete", "table", "inet", "ironlb_cut", check=False)

    def wait_for(self, until, what: str):
        """Poll ``until()`` until it returns something true (daemons have no change
        notification a test can block on)."""
        deadline = time.monotonic() + DEADLINE
        while not (result := until()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {what}\n{self.log()}")
            time.sleep(0.1)
        return result

    def bfd_sessions(self) -> dict[str, BfdSeen]:
        """Peer address -> the router's BFD session with it."""
        raise NotImplementedError

    def bgp_last_error(self, address: str) -> str:
        """Why the router's BGP session with ``address`` last went down."""
        raise NotImplementedError


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return True


class Bird(Router):
    name = "bird"

    def _launch(self) -> None:
        lines = [f"router id {self.router_id};", "log stderr all;", "protocol device {}"]
        if any(n.bfd for n in self.neighbors):
            lines.append(
                'protocol bfd { interface "*" { min rx interval 300 ms; '
                "min tx interval 300 ms; idle tx interval 1000 ms; multiplier 3; }; }"
            )
        export = "all" if self.exports else "none"
        for i, n in enumerate(self.neighbors):
            password = f'password "{n.password}";' if n.password else ""
            channels = " ".join(
                f"ipv{v} {{ import all; export {export}; gateway direct; }};" for v in n.versions
            )
            lines.append(
                f"protocol bgp peer{i} {{ local {n.local_address} as {n.local_asn}; "
                f"neighbor {n.address} as {n.asn}; passive on; direct; {password} "
                f"{'bfd on;' if n.bfd else ''} error wait time 1, 5; {channels} }}"
            )
        lines += self.extra_config
        (self.dir / "bird.conf").write_text("\n".join(lines) + "\n")
        self.process = self._spawn(
            [
                "bird",
                "-f",
                "-c",
                str(self.dir / "bird.conf"),
                "-s",
                str(self.dir / "bird.ctl"),
                "-P",
                str(self.dir / "bird.pid"),
            ],
            "daemon.log",
        )

    def pid(self) -> int:
        path = self.dir / "bird.pid"
        return int(path.read_text()) if path.exists() else 0

    def birdc(self, *command: str) -> str:
        return self.exec("birdc", "-s", str(self.dir / "bird.ctl"), *command, check=False).stdout

    def bfd_sessions(self) -> dict[str, BfdSeen]:
        sessions = {}  # "IP address  Interface  State  Since  Interval  Timeout" rows
        for line in self.birdc("show", "bfd", "sessions").splitlines():
            fields = line.split()
            if len(fields) == 6 and re.fullmatch(r"[0-9a-fA-F:.]+", fields[0]):
                sessions[fields[0]] = BfdSeen(fields[2].lower(), float(fields[5]))
        return sessions

    def bgp_last_error(self, address: str) -> str:
        index = next(i for i, n in enumerate(self.neighbors) if n.address == address)
        for line in self.birdc("show", "protocols", "all", f"peer{index}").splitlines():
            if "Last error:" in line:
                return line.partition("Last error:")[2].strip()
        return ""

    def routes(self, version: int) -> dict[str, Seen]:
        table = "master6" if version == 6 else "master4"
        out = self.exec(
            "birdc",
            "-s",
            str(self.dir / "bird.ctl"),
            "show",
            "route",
            "all",
            "table",
            table,
            check=False,
        ).stdout
        routes: dict[str, Seen] = {}
        prefix, fields = None, {}
        for line in [*out.splitlines(), "END"]:
            start = re.match(r"^([0-9a-fA-F:.]+/\d+)\s", line)
            if start or line == "END":
                if prefix:
                    routes[prefix] = _bird_seen(fields)
                prefix, fields = (start.group(1), {}) if start else (None, {})
            elif "BGP." in line:
                key, _, value = line.strip().partition(": ")
                fields[key] = value
        return routes


def _as_path(text: str) -> tuple[int, ...]:
    """An AS path as a CLI prints it ("64600 65000"): the AS numbers in order."""
    return tuple(int(a) for a in text.split() if a.isdigit())


def _bird_seen(fields: dict[str, str]) -> Seen:
    communities = re.findall(r"\((\d+),(\d+)\)", fields.get("BGP.community", ""))
    large = re.findall(r"\((\d+), (\d+), (\d+)\)", fields.get("BGP.large_community", ""))
    local_pref = fields.get("BGP.local_pref")
    return Seen(
        fields.get("BGP.next_hop", "").split()[0] if fields.get("BGP.next_hop") else "",
        int(local_pref) if local_pref else None,
        frozenset(":".join(c) for c in communities),
        frozenset(":".join(c) for c in large),
        _as_path(fields.get("BGP.as_path", "")),
    )


class Frr(Router):
    name = "frr"

    def _launch(self) -> None:
        lines = [
            "frr defaults traditional",
            "hostname router",
            "log stdout debugging",
            f"router bgp {self.neighbors[0].local_asn}",
            f" bgp router-id {self.router_id}",
            " no bgp ebgp-requires-policy",
            " no bgp network import-check",
        ]
        for n in self.neighbors:
            remote = f"interface remote-as {n.asn}" if n.unnumbered else f"remote-as {n.asn}"
            lines += [f" neighbor {n.address} {remote}", f" neighbor {n.address} passive"]
            if n.bfd:
                lines.append(f" neighbor {n.address} bfd")
            if n.password:
                lines.append(f" neighbor {n.address} password {n.password}")
        for version in (4, 6):
            lines.append(f" address-family ipv{version} unicast")
            lines += [
                f"  neighbor {n.address} activate" for n in self.neighbors if version in n.versions
            ]
            if version in self.exports:
                lines.append(f"  network {self.exports[version]} route-map TAG")
            lines.append(" exit-address-family")
        if self.exports:
            lines += [
                "route-map TAG permit 10",
                " set community 65000:100",
                " set large-community 65000:1:2",
            ]
        (self.dir / "bgpd.conf").write_text("\n".join(lines) + "\n")
        # zebra (which bgpd needs to resolve next hops, link-local ones among them)
        # runs as the frr user, so its sockets live in a directory that user owns.
        self.zebra_dir = Path(tempfile.mkdtemp(prefix="ironlb-zebra-"))
        shutil.chown(self.zebra_dir, "frr", "frr")
        self.zebra = self._spawn(
            self._frr_daemon("zebra", "-u", "frr", "-g", "frr", files=self.zebra_dir),
            "zebra.log",
        )
        deadline = time.monotonic() + DEADLINE
        while not (self.zebra_dir / "zserv.api").exists():
            assert self.zebra.poll() is None and time.monotonic() < deadline, "zebra failed"
            time.sleep(0.05)
        if any(n.bfd for n in self.neighbors):
            self.bfdd = self._spawn(  # as the frr user: its files in zebra's directory
                self._frr_daemon(
                    "bfdd", "--bfdctl", str(self.zebra_dir / "bfdd.sock"), files=self.zebra_dir
                ),
                "bfdd.log",
            )
        self.process = self._spawn(
            self._frr_daemon("bgpd", "-S", "-f", str(self.dir / "bgpd.conf"), files=self.dir),
            "daemon.log",
        )

    def _frr_daemon(self, name: str, *options: str, files: Path) -> list[str]:
        """An FRR daemon's command line: zebra's API socket, its pid file and vty
        socket in ``files``, no vty TCP port."""
        return [
            f"/usr/lib/frr/{name}",
            *options,
            "-z",
            str(self.zebra_dir / "zserv.api"),
            "-i",
            str(files / f"{name}.pid"),
            "--vty_socket",
            str(files),
            "-A",
            "127.0.0.1",
            "-P",
            "0",
        ]

    def stop(self) -> None:
        super().stop()
        for helper in (getattr(self, "bfdd", None), getattr(self, "zebra", None)):
            if helper is not None and helper.poll() is None:
                helper.terminate()
                helper.wait(timeout=DEADLINE)
        if getattr(self, "zebra_dir", None) is not None:
            shutil.rmtree(self.zebra_dir, ignore_errors=True)

    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    def vtysh(self, command: str) -> dict:
        out = self.exec("vtysh", "--vty_socket", str(self.dir), "-c", command, check=False)
        try:
            return json.loads(out.stdout or "{}")
        except json.JSONDecodeError:
            return {}

    def bfd_sessions(self) -> dict[str, BfdSeen]:
        out = self.exec("vtysh", "--vty_socket", str(self.zebra_dir), "-c",
                        "show bfd peers json", check=False).stdout  # fmt: skip
        try:
            peers = json.loads(out or "[]")
        except json.JSONDecodeError:
            return {}
        return {
            p["peer"]: BfdSeen(
                p.get("status", ""),
                p.get("remote-detect-multiplier", 0)
                * max(p.get("receive-interval", 0), p.get("remote-transmit-interval", 0))
                / 1000,
            )
            for p in peers
            if isinstance(p, dict) and "peer" in p
        }

    def bgp_last_error(self, address: str) -> str:
        neighbor = self.vtysh(f"show bgp neighbors {address} json").get(address, {})
        # e.g. "BGP Notification send: Cease/BFD Down" (bgpd tells the peer why)
        return f"{neighbor.get('lastResetDueTo', '')}: {neighbor.get('lastNotificationReason', '')}"

    def routes(self, version: int) -> dict[str, Seen]:
        family = f"ipv{version}"
        routes = {}
        for prefix in self.vtysh(f"show bgp {family} unicast json").get("routes", {}):
            detail = self.vtysh(f"show bgp {family} unicast {prefix} json")
            for path in detail.get("paths", []):
                hops = [h["ip"] for h in path.get("nexthops", []) if h.get("scope") != "link-local"]
                routes[prefix] = Seen(
                    hops[0] if hops else "",
                    path.get("locPrf") if path.get("peer", {}).get("type") == "internal" else None,
                    frozenset(path.get("community", {}).get("list", [])),
                    frozenset(path.get("largeCommunity", {}).get("list", [])),
                    _as_path(path.get("aspath", {}).get("string", "")),
                )
        return routes


class GoBgp(Router):
    name = "gobgp"
    API = "127.0.0.1:50051"

    def _launch(self) -> None:
        lines = [
            "[global.config]",
            f"  as = {self.neighbors[0].local_asn}",
            f'  router-id = "{self.router_id}"',
            "  port = 179",
        ]
        for n in self.neighbors:
            lines += [
                "[[neighbors]]",
                "  [neighbors.config]",
                f'    neighbor-address = "{n.address}"',
                f"    peer-as = {n.asn}",
            ]
            if n.password:
                lines.append(f'    auth-password = "{n.password}"')
            lines += [
                "  [neighbors.transport.config]",
                "    passive-mode = true",
                f'    local-address = "{n.local_address}"',
            ]
            for version in n.versions:
                lines += [
                    "  [[neighbors.afi-safis]]",
                    "    [neighbors.afi-safis.config]",
                    f'      afi-safi-name = "ipv{version}-unicast"',
                ]
        (self.dir / "gobgp.toml").write_text("\n".join(lines) + "\n")
        self.process = self._spawn(
            ["gobgpd", "-f", str(self.dir / "gobgp.toml"), "--api-hosts", self.API, "-l", "info"],
            "daemon.log",
        )

    def start(self, neighbors: list[Neighbor]) -> None:
        super().start(neighbors)
        host, port = self.API.split(":")
        for version, prefix in self.exports.items():
            self.exec(
                "gobgp",
                "-u",
                host,
                "-p",
                port,
                "global",
                "rib",
                "add",
                "-a",
                f"ipv{version}",
                prefix,
                "community",
                "65000:100",
                "large-community",
                "65000:1:2",
            )

    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    def routes(self, version: int) -> dict[str, Seen]:
        host, port = self.API.split(":")
        out = self.exec(
            "gobgp",
            "-u",
            host,
            "-p",
            port,
            "global",
            "rib",
            "-a",
            f"ipv{version}",
            "-j",
            check=False,
        ).stdout
        try:
            table = json.loads(out or "{}")
        except json.JSONDecodeError:
            return {}
        routes = {}
        for prefix, paths in (table or {}).items():
            attributes = {a["type"]: a for a in paths[0].get("attrs", [])}
            hop = attributes.get(3, {}).get("nexthop") or attributes.get(14, {}).get("nexthop", "")
            communities = attributes.get(8, {}).get("communities", [])
            large = attributes.get(32, {}).get("value", [])
            segments = attributes.get(2, {}).get("as_paths", [])
            routes[prefix] = Seen(
                hop,
                attributes[5]["value"] if 5 in attributes else None,
                frozenset(f"{c >> 16}:{c & 0xFFFF}" for c in communities),
                frozenset(f"{c['ASN']}:{c['LocalData1']}:{c['LocalData2']}" for c in large),
                tuple(asn for segment in segments for asn in segment.get("asns", [])),
            )
        return routes


DAEMONS = {"bird": Bird, "frr": Frr, "gobgp": GoBgp}
