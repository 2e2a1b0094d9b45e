"""The netlink link source: the node's interfaces, as ``ironlb.io/v1/NodeLinks`` records.

Interface selection (which interfaces answer ARP/NDP) is part of the fold, so the
node's links must be in the log. One record holds every link of the node (name,
index, MAC, IFF_* flags, master, addresses); a new one is appended whenever that
picture changes, never for netlink chatter that changes nothing the fold reads.

Two netlink sockets: one subscribed to link and address notifications (bound
before anything else is asked of it, as pyroute2 requires), one for dumps. A
notification only says "look again": the source re-dumps and compares, which keeps
the recorded picture exact even when notifications are dropped under load.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK

from ..own_kinds import LINKS_KIND
from ..record import EventType, Record

# The IFF_* bits the fold and operators care about (linux/if.h).
IFF_FLAGS = {
    0x1: "UP",
    0x2: "BROADCAST",
    0x8: "LOOPBACK",
    0x10: "POINTOPOINT",
    0x40: "RUNNING",
    0x80: "NOARP",
    0x100: "PROMISC",
    0x1000: "MULTICAST",
    0x10000: "LOWER_UP",
}


def flag_names(flags: int) -> list[str]:
    return sorted(name for bit, name in IFF_FLAGS.items() if flags & bit)


def read_links(ipr: IPRoute) -> list[dict[str, Any]]:
    """Every link of the namespace ``ipr`` talks to, in name order, as recorded."""
    links = {}
    names = {}
    for message in ipr.get_links():
        index = message["index"]
        names[index] = message.get_attr("IFLA_IFNAME")
        links[index] = {
            "name": names[index],
            "index": index,
            "mac": message.get_attr("IFLA_ADDRESS") or "",
            "flags": flag_names(message["flags"]),
            "master": message.get_attr("IFLA_MASTER"),
            "operstate": message.get_attr("IFLA_OPERSTATE") or "",
            "addresses": [],
        }
    for message in ipr.get_addr():
        link = links.get(message["index"])
        if link is not None:
            link["addresses"].append(f"{message.get_attr('IFA_ADDRESS')}/{message['prefixlen']}")
    for link in links.values():
        link["master"] = names.get(link["master"]) if link["master"] else None
        link["addresses"].sort()
    return sorted(links.values(), key=lambda link: link["name"])


class LinkSource:
    """Watches the node's links and appends a record whenever they change.

    ``append`` receives records with seq 0 (the store assigns seqs). ``netns`` names
    a network namespace to watch instead of the process's own (tests, and a speaker
    running for a node that lives in a namespace).
    """

    def __init__(
        self,
        node: str,
        append: Callable[[Record], None],
        *,
        netns: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node = node
        self.append = append
        self.netns = netns
        self.clock = clock
        self.last: list[dict[str, Any]] | None = None
        self._monitor: IPRoute | None = None

    def _ipr(self) -> IPRoute:
        return IPRoute(netns=self.netns) if self.netns else IPRoute()

    def open(self) -> None:
        """Subscribe before the first dump, so no change falls between the two."""
        self._monitor = self._ipr()
        self._monitor.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)

    def close(self) -> None:
        if self._monitor is not None:
            self._monitor.close()
            self._monitor = None

    def check(self) -> bool:
        """Dump the links; append a record if they changed. True when one was appended."""
        with self._ipr() as ipr:
            links = read_links(ipr)
        if links == self.last:
            return False
        self.last = links
        self.append(
            Record(
                0,
                self.clock(),
                f"speaker/{self.node}/netlink",
                EventType.ADDED,
                LINKS_KIND,
                self.node,
                None,
                {"node": self.node, "links": links},
            )
        )
        return True

    def wait_for_change(self, timeout: float) -> bool:
        """Block until netlink reports something (or ``timeout``); drain the socket."""
        if self._monitor is None:
            self.open()
        assert self._monitor is not None
        ready, _, _ = select.select([self._monitor.fileno()], [], [], timeout)
        if not ready:
            return False
        self._monitor.get()
        return True

    def run(self, stop: threading.Event, *, resync: float = 30.0) -> None:
        """Record the links now and after every change until ``stop`` is set.

        Every ``resync`` seconds the links are dumped even without a notification,
        in case one was lost (netlink drops them when the socket buffer is full).
        """
        if self._monitor is None:
            self.open()
        try:
            self.check()
            dumped = time.monotonic()
            while not stop.is_set():
                notified = self.wait_for_change(0.5)  # short, so stop is noticed promptly
                if notified or time.monotonic() - dumped >= resync:
                    self.check()
                    dumped = time.monotonic()
        finally:
            self.close()
