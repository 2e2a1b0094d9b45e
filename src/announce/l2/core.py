"""The layer-2 responder's logic, sans IO: what to answer, announce and report.

The driver (``layer2.py``) feeds it received frames and the clock and sends what it
returns. Rules (MetalLB's ``internal/layer2``, with the differences noted):

* Answer an ARP request only if it is broadcast or sent to the interface's MAC and
  its target is an address this node announces **on that interface**; the reply is
  unicast to the requester with the interface's MAC.
* Answer a Neighbor Solicitation for an announced IPv6 address on that interface
  with a solicited Neighbor Advertisement carrying the interface's MAC. MetalLB
  drops solicitations without a source link-layer option (its issue #2920, unicast
  NUD probes); ironlb answers them to the frame's source MAC, and answers duplicate
  address probes (source ``::``) to all nodes, defending the address (RFC 4862 5.4.3).
* Gaining an address on an interface opens a window of 5 s in which a round of
  announcements goes out at once and then every 1.1 s (gratuitous ARP request and
  reply; unsolicited NA with override). Losing it stops answering at once; nothing
  is sent on losing. MetalLB reopens the window on every reconcile of the Service;
  ironlb only when the address is gained, since nothing else changes what the
  network should learn.
* Beyond MetalLB: an ARP or NA from another MAC that claims an announced address
  (as sender or target), or a duplicate-address probe for it, is a **conflict**:
  reported (at most once per address, MAC and minute) so the speaker records it.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address

import attrs

from ...reconcile.plan.speaker import NodePlan
from ..metrics import Labels
from .packets import (
    ARP_REQUEST,
    BROADCAST,
    UNSPECIFIED,
    Arp,
    Dropped,
    NeighborAdvertisement,
    NeighborSolicitation,
    advertisement_for,
    arp_reply,
    gratuitous_arp,
    mac_text,
    parse_frame,
    unsolicited_advertisement,
)

ANNOUNCE_WINDOW = 5.0  # seconds of gratuitous announcements after gaining an address
ANNOUNCE_EVERY = 1.1
CONFLICT_REPORT_EVERY = 60.0

Address = IPv4Address | IPv6Address


def desired_addresses(plan: NodePlan) -> dict[str, frozenset[Address]]:
    """Interface -> the addresses this node answers for there, from its plan."""
    wanted: dict[str, set[Address]] = {}
    for by_ip in plan.l2.values():
        for ip, announcement in by_ip.items():
            if not announcement.announced:
                continue
            address = ip_address(ip)
            eligible = plan.l2_interfaces.get(address.version, ())
            names = eligible
            if announcement.interfaces is not None:
                names = tuple(n for n in announcement.interfaces if n in eligible)
            for name in names:
                wanted.setdefault(name, set()).add(address)
    return {name: frozenset(addresses) for name, addresses in wanted.items()}


@attrs.frozen
class InterfaceInfo:
    name: str
    mac: bytes


@attrs.frozen
class Conflict:
    ip: str
    interface: str
    mac: str  # the other host's
    how: str  # "arp reply", "gratuitous arp", "neighbor advertisement", "duplicate probe", ...


@attrs.define
class _Window:
    until: float
    next_round: float


class Layer2Core:
    def __init__(self) -> None:
        # What happened since the driver last asked (take_counts): metric name and
        # labels -> amount. The core counts; the driver owns the metrics.
        self.counts: collections.Counter[tuple[str, Labels]] = collections.Counter()
        self.desired: dict[str, frozenset[Address]] = {}
        self.interfaces: dict[str, InterfaceInfo] = {}
        self._windows: dict[tuple[str, Address], _Window] = {}
        self._reported: dict[tuple[str, str], float] = {}
        self._ours: set[bytes] = set()

    # --- desired state ----------------------------------------------------------

    def set_desired(self, desired: Mapping[str, frozenset[Address]], now: float) -> None:
        """Converge to ``desired``; addresses newly gained on an interface get announced."""
        for name, addresses in desired.items():
            gained = addresses - self.desired.get(name, frozenset())
            for address in gained:
                self._windows[(name, address)] = _Window(now + ANNOUNCE_WINDOW, now)
        self.desired = {name: addresses for name, addresses in desired.items() if addresses}
        for key in [k for k in self._windows if k[1] not in self.desired.get(k[0], ())]:
            del self._windows[key]  # lost: no more announcements, at once

    def set_interface(self, info: InterfaceInfo | None, name: str) -> None:
        if info is None:
            self.interfaces.pop(name, None)
        else:
            self.interfaces[name] = info
        self._ours = {i.mac for i in self.interfaces.values()}

    def take_counts(self) -> collections.Counter[tuple[str, Labels]]:
        """The counts since the last call, for the driver to add to its metrics."""
        counts, self.counts = self.counts, collections.Counter()
        return counts

    def _count(self, name: str, amount: int = 1, **labels: str) -> None:
        self.counts[(name, tuple(sorted(labels.items())))] += amount

    def owns(self, address: Address) -> bool:
        return any(address in addresses for addresses in self.desired.values())

    # --- announcements ---------------------------------------------------------

    def next_due(self) -> float | None:
        return min((w.next_round for w in self._windows.values()), default=None)

    def due(self, now: float) -> list[tuple[str, bytes]]:
        """Announcement frames whose round has come, per interface."""
        frames: list[tuple[str, bytes]] = []
        for (name, address), window in sorted(self._windows.items(), key=lambda kv: str(kv[0])):
            info = self.interfaces.get(name)
            if info is None or window.next_round > now:
                continue
            if isinstance(address, IPv4Address):
                round_frames = gratuitous_arp(address, info.mac)
            else:
                round_frames = [unsolicited_advertisement(address, info.mac)]
            frames += [(name, frame) for frame in round_frames]
            self._count("metallb_layer2_gratuitous_sent", len(round_frames), ip=str(address))
            window.next_round = now + ANNOUNCE_EVERY
        for key in [k for k, w in self._windows.items() if w.next_round > w.until]:
            del self._windows[key]
        return frames

    # --- received frames ---------------------------------------------------------

    def receive(self, name: str, frame: bytes, now: float) -> tuple[bytes | None, Conflict | None]:
        """A frame received on interface ``name``: the answer to send, and any conflict."""
        info = self.interfaces.get(name)
        if info is None:
            return None, None
        packet = parse_frame(frame)
        if isinstance(packet, Dropped):
            self._count("ironlb_layer2_frames_dropped", reason=packet.reason.value)
            return None, None
        if packet.eth_src in self._ours:
            return None, None  # our own frame, looped back
        if isinstance(packet, Arp):
            return self._arp(name, info, packet, now)
        if isinstance(packet, NeighborSolicitation):
            return self._solicitation(name, info, packet, now)
        return None, self._advertisement(name, packet, now)

    def _arp(
        self, name: str, info: InterfaceInfo, packet: Arp, now: float
    ) -> tuple[bytes | None, Conflict | None]:
        conflict = None
        if self.owns(packet.sender_ip) and packet.sender_mac not in self._ours:
            how = "gratuitous arp" if packet.gratuitous else "arp from our address"
            conflict = self._conflict(packet.sender_ip, name, packet.sender_mac, how, now)
        if packet.op != ARP_REQUEST or packet.target_ip not in self.desired.get(name, ()):
            return None, conflict
        if packet.gratuitous:
            return None, conflict  # an announcement, not a question
        if packet.sender_ip == IPv4Address(0) and packet.sender_mac not in self._ours:
            # RFC 5227 probe: another host is about to take our address. Defend it.
            conflict = self._conflict(packet.target_ip, name, packet.sender_mac, "arp probe", now)
        if packet.eth_dst not in (BROADCAST, info.mac):
            return None, conflict
        labels = {"ip": str(packet.target_ip)}  # MetalLB's one label
        self._count("metallb_layer2_requests_received", **labels)
        self._count("metallb_layer2_responses_sent", **labels)
        return arp_reply(packet, info.mac), conflict

    def _solicitation(
        self, name: str, info: InterfaceInfo, packet: NeighborSolicitation, now: float
    ) -> tuple[bytes | None, Conflict | None]:
        if packet.target not in self.desired.get(name, ()):
            return None, None
        conflict = None
        if packet.source == UNSPECIFIED:
            conflict = self._conflict(packet.target, name, packet.eth_src, "duplicate probe", now)
        elif packet.source_lla is None:
            packet = attrs.evolve(packet, source_lla=packet.eth_src)  # unicast NUD probe
        labels = {"ip": str(packet.target)}
        self._count("metallb_layer2_requests_received", **labels)
        self._count("metallb_layer2_responses_sent", **labels)
        return advertisement_for(packet, info.mac), conflict

    def _advertisement(
        self, name: str, packet: NeighborAdvertisement, now: float
    ) -> Conflict | None:
        if not self.owns(packet.target):
            return None
        mac = packet.target_lla or packet.eth_src
        if mac in self._ours:
            return None
        return self._conflict(packet.target, name, mac, "neighbor advertisement", now)

    def _conflict(
        self, address: Address, name: str, mac: bytes, how: str, now: float
    ) -> Conflict | None:
        self._count("ironlb_layer2_address_conflicts", ip=str(address), interface=name)
        key = (str(address), mac_text(mac))
        last = self._reported.get(key)
        if last is not None and now - last < CONFLICT_REPORT_EVERY:
            return None
        self._reported[key] = now
        return Conflict(str(address), name, mac_text(mac), how)
