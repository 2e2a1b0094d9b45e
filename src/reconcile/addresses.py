"""Pool addresses: parsing MetalLB's address forms, exact counting, and a free-address index.

Addresses are handled as integers. A CIDR or an ``a-b`` range is one interval of
one family; pools are never enumerated, so a /8 or a /64 costs what a /30 costs.

The free index answers "lowest free address of this interval" in O(log n) using
sorted lists of free runs, so allocation cost does not grow with pool fill
(MetalLB walks the pool from its first address for every allocation).
"""

from __future__ import annotations

import bisect
import functools
import ipaddress

import attrs

# An address as the allocator, the pool lookup and snapshots hold it: (version, integer).
Address = tuple[int, int]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressError(ValueError):
    """An address entry MetalLB would reject; the message is MetalLB's wording."""


@attrs.frozen
class AddressRange:
    """One entry of ``spec.addresses``: all addresses from ``first`` to ``last``."""

    first: int
    last: int
    version: int  # 4 or 6
    text: str  # as the user wrote it

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def contains(self, value: int) -> bool:
        return self.first <= value <= self.last

    def cidrs(self) -> list[str]:
        """The minimal CIDRs covering the range, as MetalLB summarises it (for messages)."""
        make = ipaddress.IPv4Address if self.version == 4 else ipaddress.IPv6Address
        return [
            str(n) for n in ipaddress.summarize_address_range(make(self.first), make(self.last))
        ]

    def buggy_count(self) -> int:
        """IPv4 addresses ending in .0 or .255 inside the range (avoidBuggyIPs skips them)."""
        if self.version != 4:
            return 0
        return _count_mod(self.first, self.last, 0) + _count_mod(self.first, self.last, 255)


def _count_mod(first: int, last: int, residue: int) -> int:
    return (last - residue) // 256 - (first - 1 - residue) // 256


def is_buggy(value: int, version: int) -> bool:
    """MetalLB's ipConfusesBuggyFirmwares: .0 and .255 confuse some CPE ("smurf" protection)."""
    return version == 4 and (value & 0xFF) in (0, 255)


@functools.lru_cache(maxsize=4096)
def parse_address_range(text: str) -> AddressRange:
    """Parse a CIDR (host bits allowed: the whole network is meant) or ``start-end``."""
    if not isinstance(text, str):
        raise AddressError(f"invalid CIDR {text!r}: not a string")
    if "-" not in text:
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            try:
                single = ipaddress.ip_address(text.strip())
            except ValueError:
                raise AddressError(f'invalid CIDR "{text}"') from None
            bits = 32 if single.version == 4 else 128
            raise AddressError(
                f'invalid CIDR "{text}": a single address must be written {single}/{bits}'
            ) from None
        if "/" not in text:
            bits = 32 if network.version == 4 else 128
            raise AddressError(
                f'invalid CIDR "{text}": a single address must be written {text.strip()}/{bits}'
            )
        return AddressRange(
            int(network.network_address), int(network.broadcast_address), network.version, text
        )
    start_text, _, end_text = text.partition("-")
    start_text, end_text = start_text.strip(), end_text.strip()
    try:
        start = ipaddress.ip_address(start_text)
    except ValueError:
        raise AddressError(f'invalid IP range "{text}": invalid start IP "{start_text}"') from None
    try:
        end = ipaddress.ip_address(end_text)
    except ValueError:
        raise AddressError(f'invalid IP range "{text}": invalid end IP "{end_text}"') from None
    if start.version != end.version:
        raise AddressError(f'invalid IP range "{text}": start and end are of different families')
    if int(start) > int(end):
        raise AddressError(
            f'invalid IP range "{text}": start IP "{start_text}" is after the end IP "{end_text}"'
        )
    return AddressRange(int(start), int(end), start.version, text)


def to_text(address: Address) -> str:
    version, value = address
    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))


def family_of(text: str) -> int:
    """4 or 6 for an address or prefix as plans and objects write it (IPv6 text has
    colons, IPv4 none): no parsing where the text is known to be an address."""
    return 6 if ":" in text else 4


@functools.lru_cache(maxsize=32768)
def parse_ip(text: str) -> Address | None:
    """The ``(version, integer)`` of an address, or None when it does not parse.

    Cached: every Service update re-reads the same clusterIPs and status addresses,
    and ipaddress parsing was the largest cost of translating a Service.
    """
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return address.version, int(address)


class FreeRuns:
    """The free addresses of one range as sorted, disjoint runs ``[start, end]``.

    Private to the fold (mutable for speed, never visible in a plan).
    """

    __slots__ = ("_ends", "_starts", "avoid_buggy", "version")

    def __init__(self, first: int, last: int, version: int, avoid_buggy: bool) -> None:
        self._starts = [first]
        self._ends = [last]
        self.version = version
        self.avoid_buggy = avoid_buggy and version == 4

    def lowest(self) -> int | None:
        """The lowest free, usable address; unusable (.0/.255) runs are dropped on the way."""
        while self._starts:
            start = self._starts[0]
            if not self.avoid_buggy or not is_buggy(start, 4):
                return start
            self.take(start)  # never allocatable in this pool: forget it for good
        return None

    def take(self, value: int) -> None:
        index = bisect.bisect_right(self._starts, value) - 1
        if index < 0 or value > self._ends[index]:
            return
        start, end = self._starts[index], self._ends[index]
        if start == end:
            del self._starts[index]
            del self._ends[index]
        elif value == start:
            self._starts[index] = value + 1
        elif value == end:
            self._ends[index] = value - 1
        else:
            self._ends[index] = value - 1
            self._starts.insert(index + 1, value + 1)
            self._ends.insert(index + 1, end)

    def give_back(self, value: int) -> None:
        index = bisect.bisect_right(self._starts, value)  # first run starting after value
        joins_left = index > 0 and self._ends[index - 1] == value - 1
        joins_right = index < len(self._starts) and self._starts[index] == value + 1
        if index > 0 and value <= self._ends[index - 1]:
            return  # already free
        if joins_left and joins_right:
            self._ends[index - 1] = self._ends[index]
            del self._starts[index]
            del self._ends[index]
        elif joins_left:
            self._ends[index - 1] = value
        elif joins_right:
            self._starts[index] = value
        else:
            self._starts.insert(index, value)
            self._ends.insert(index, value)
