"""The layer-2 responder: AF_PACKET sockets driving ``Layer2Core``.

One thread owns every socket. ``apply(plan)`` (from the speaker's main loop) swaps
the desired state under a lock and wakes the thread through a pipe; the thread
opens and closes sockets to match (an ARP socket per interface with an IPv4
address to answer for, an NDP socket per interface with an IPv6 one), joins the
solicited-node multicast groups of the IPv6 addresses so the NIC delivers their
solicitations, answers what arrives and sends announcements when they are due.

Each socket carries a classic BPF filter (``kernel_filter``) rebuilt whenever the
addresses change: only ARP and NDP frames about the addresses this node announces
reach Python, so a flood for other addresses costs the kernel, not this thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from ipaddress import IPv6Address

from ...reconcile.plan.speaker import NodePlan
from ..metrics import Counters
from . import kernel_filter
from .core import Conflict, InterfaceInfo, Layer2Core, desired_addresses
from .packets import ETH_P_ARP, ETH_P_IPV6, multicast_mac, solicited_node

log = logging.getLogger("ironlb.layer2")

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP, PACKET_DROP_MEMBERSHIP = 1, 2
PACKET_MR_MULTICAST = 0
PACKET_OUTGOING = 4


def log_conflict(conflict: Conflict) -> None:
    log.warning(
        "address conflict: %s on %s is claimed by %s (%s)",
        conflict.ip, conflict.interface, conflict.mac, conflict.how,
    )  # fmt: skip


class _Sockets:
    """The packet sockets of one interface and the multicast groups they joined."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.index = socket.if_nametoindex(name)
        self.arp: socket.socket | None = None
        self.ndp: socket.socket | None = None
        self.groups: set[bytes] = set()
        self.filtered: dict[str, list[kernel_filter.Instruction]] = {}  # family -> program
        self.mac = b""

    def open(self, family: str) -> socket.socket:
        proto = ETH_P_ARP if family == "arp" else ETH_P_IPV6
        # Protocol 0 here and the real one at bind: the kernel then registers the
        # socket once instead of twice, and skips a synchronize_net() that makes a
        # first announcement on a new interface wait ~20 ms.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            # Filtered before bind: until the addresses' program replaces it, frames
            # of the family's kind only (never a window where every IPv6 frame queues).
            program = kernel_filter.ALL_ARP if family == "arp" else kernel_filter.ALL_NDP
            kernel_filter.attach(sock, program)
            self.filtered[family] = program
            sock.bind((self.name, proto))  # host order: Python's bind converts it
            sock.setblocking(False)
            self.mac = sock.getsockname()[4][:6]
        except OSError:
            sock.close()
            raise
        setattr(self, family, sock)
        return sock

    def set_filter(self, family: str, program: list[kernel_filter.Instruction]) -> None:
        sock = getattr(self, family)
        if sock is None or self.filtered.get(family) == program:
            return
        try:
            kernel_filter.attach(sock, program)
        except OSError as exc:  # (net.core.optmem_max): the wide one is correct, slower
            wide = kernel_filter.ALL_ARP if family == "arp" else kernel_filter.ALL_NDP
            log.warning("%s: the kernel refused a filter of %d instructions (%s): every "
                        "%s frame reaches the responder", self.name, len(program), exc,
                        family.upper())  # fmt: skip
            kernel_filter.attach(sock, wide)
            program = wide
        self.filtered[family] = program

    def set_groups(self, macs: set[bytes]) -> None:
        if self.ndp is None:
            return
        for mac, option in [(m, PACKET_DROP_MEMBERSHIP) for m in self.groups - macs] + [
            (m, PACKET_ADD_MEMBERSHIP) for m in macs - self.groups
        ]:
            mreq = struct.pack("iHH8s", self.index, PACKET_MR_MULTICAST, 6, mac)
            self.ndp.setsockopt(SOL_PACKET, option, mreq)
        self.groups = set(macs)

    def close(self) -> None:
        for sock in (self.arp, self.ndp):
            if sock is not None:
                sock.close()
        self.arp = self.ndp = None
        self.groups = set()
        self.filtered = {}


class Layer2Responder:
    """Answers ARP/NDP for the addresses of the node plan; an effector of ``ironlb speaker``."""

    def __init__(
        self,
        *,
        on_conflict: Callable[[Conflict], None] | None = None,
        counters: Counters | None = None,
        clock: Callable[[], float] = time.monotonic,
        kernel_filters: bool = True,
    ) -> None:
        self.core = Layer2Core()
        # False only to measure what the filters save (benchmarks/layer2_bench.py).
        self.kernel_filters = kernel_filters
        self.counters = counters or Counters()
        # The owner decides what a conflict means (a speaker handing over expects
        # the next node's announcements); by default it is logged.
        self.on_conflict = on_conflict or log_conflict
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: dict | None = None
        self._sockets: dict[str, _Sockets] = {}
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="layer2", daemon=True)
        self.converged = threading.Condition()
        self.generation = 0  # plans applied by the socket thread, for tests and benchmarks
        self.requested = 0  # plans handed to apply()
        self._taken = 0  # the newest of them the socket thread took
        self.announced = 0  # ... and sent the first announcements of
        self._thread.start()

    # --- the effector interface -----------------------------------------------------

    def apply(self, plan: NodePlan) -> None:
        desired = desired_addresses(plan)
        with self._lock:
            self._pending = desired
            self.requested += 1
        os.write(self._wake_w, b"\0")

    def flush(self, timeout: float) -> bool:
        """Wait until every plan applied so far is in force and its first gratuitous
        ARPs / unsolicited NAs are on the wire (a handover reports only then)."""
        with self._lock:
            wanted = self.requested
        with self.converged:
            return self.converged.wait_for(lambda: self.announced >= wanted, timeout)

    def close(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"\0")
        self._thread.join(timeout=10)
        for sockets in self._sockets.values():
            sockets.close()
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def wait_generation(self, generation: int, timeout: float) -> bool:
        with self.converged:
            return self.converged.wait_for(lambda: self.generation >= generation, timeout)

    # --- the socket thread --------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            due = self.core.next_due()
            timeout = None if due is None else max(0.0, due - self.clock())
            for key, _events in self._selector.select(timeout):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                    self._take_pending()
                else:
                    self._drain(*key.data)
            self._send(self.core.due(self.clock()))
            self.counters.add_all(self.core.take_counts())
            if self.announced < self._taken:
                with self.converged:
                    self.announced = self._taken
                    self.converged.notify_all()

    def _take_pending(self) -> None:
        with self._lock:
            desired, self._pending = self._pending, None
            taken = self.requested
        if desired is None:
            return
        self._sync_sockets(desired)
        self._sync_filters(desired)  # before the core answers for new addresses
        self.core.set_desired(desired, self.clock())
        self._sync_groups()
        with self.converged:
            self.generation += 1
            self._taken = taken
            self.converged.notify_all()

    def _sync_sockets(self, desired: dict) -> None:
        needed = {}
        for name, addresses in desired.items():
            needed[name] = (
                any(a.version == 4 for a in addresses),
                any(a.version == 6 for a in addresses),
            )
        for name in [n for n in self._sockets if n not in needed]:
            self._close(name)
        for name, (arp, ndp) in needed.items():
            sockets = self._sockets.get(name)
            try:
                if sockets is None:
                    sockets = self._sockets[name] = _Sockets(name)
                for family, wanted in (("arp", arp), ("ndp", ndp)):
                    sock = getattr(sockets, family)
                    if wanted and sock is None:
                        opened = sockets.open(family)
                        self._selector.register(opened, selectors.EVENT_READ, (name, opened))
                    elif not wanted and sock is not None:
                        self._selector.unregister(sock)
                        sock.close()
                        setattr(sockets, family, None)
            except OSError as exc:
                log.error("cannot answer on interface %s: %s", name, exc)
                self._close(name)
                continue
            self.core.set_interface(InterfaceInfo(name, sockets.mac), name)

    def _close(self, name: str) -> None:
        sockets = self._sockets.pop(name, None)
        if sockets is not None:
            for sock in (sockets.arp, sockets.ndp):
                if sock is not None:
                    self._selector.unregister(sock)
            sockets.close()
        self.core.set_interface(None, name)

    def _sync_filters(self, desired: dict) -> None:
        if not self.kernel_filters:
            return
        # Every address of the node on every interface: the duplicate-address
        # detector reports a claim on any of them wherever it is heard.
        owned = set().union(*desired.values()) if desired else set()
        programs = {
            "arp": kernel_filter.arp_filter(a for a in owned if a.version == 4),
            "ndp": kernel_filter.ndp_filter(a for a in owned if a.version == 6),
        }
        for name, sockets in self._sockets.items():
            for family, program in programs.items():
                try:
                    sockets.set_filter(family, program)
                except OSError as exc:  # the wider filter stays: correct, only slower
                    log.error("cannot filter %s frames on %s: %s", family, name, exc)

    def _sync_groups(self) -> None:
        for name, sockets in self._sockets.items():
            groups = {
                multicast_mac(solicited_node(a))
                for a in self.core.desired.get(name, ())
                if isinstance(a, IPv6Address)
            }
            try:
                sockets.set_groups(groups)
            except OSError as exc:
                log.error("cannot join multicast groups on %s: %s", name, exc)

    def _drain(self, name: str, sock: socket.socket) -> None:
        read = 0
        try:
            for _ in range(256):  # bounded, so announcements are never starved by a flood
                try:
                    frame, address = sock.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:
                    log.warning("receiving on %s: %s", name, exc)
                    return
                read += 1
                if address[2] != PACKET_OUTGOING:
                    self._receive(name, frame)
        finally:
            if read:
                self.counters.inc("ironlb_layer2_frames_received", read, interface=name)

    def _receive(self, name: str, frame: bytes) -> None:
        answer, conflict = self.core.receive(name, frame, self.clock())
        if answer is not None:
            self._send([(name, answer)])
        if conflict is not None:
            self.on_conflict(conflict)

    def _send(self, frames: list[tuple[str, bytes]]) -> None:
        for name, frame in frames:
            sockets = self._sockets.get(name)
            sock = None
            if sockets is not None:
                sock = sockets.arp if frame[12:14] == b"\x08\x06" else sockets.ndp
            if sock is None:
                continue
            try:
                sock.send(frame)
            except OSError as exc:
                log.warning("sending on %s: %s", name, exc)
