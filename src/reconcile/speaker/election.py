"""Layer-2 leader election, exactly as MetalLB orders its candidates.

Candidates are sorted by preference score (descending), then by
``SHA-256(node + "#" + ip)`` compared as raw bytes (ascending); the first wins.
Stateless: every speaker computes the same answer from the same inputs, no
stickiness. The order is a total order on nodes for a given address, which is
what lets the fold update an election incrementally: a node that joins wins only
if its key is smaller than the winner's; a node that leaves matters only if it
was the winner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

ElectionKey = tuple[int, bytes]


def election_key(node: str, ip: str, score: int = 0) -> ElectionKey:
    return (-score, hashlib.sha256(f"{node}#{ip}".encode()).digest())


def elect(
    candidates: Iterable[str], ip: str, score: Callable[[str], int] | None = None
) -> tuple[str, ElectionKey] | None:
    """The winning node and its key, or None without candidates."""
    return Candidates(candidates).elect(ip, score)


class Candidates:
    """A set of candidate nodes prepared once for many elections (one per address).

    Without preferences every score is 0 and only the hashes are compared: the
    common case, and the one a cluster of thousands of nodes pays per address, so
    the node names are encoded once here rather than once per election.
    """

    __slots__ = ("_prefixes", "members", "names")

    def __init__(self, nodes: Iterable[str]) -> None:
        self.names = tuple(sorted(nodes))  # a stable order; the outcome does not depend on it
        self.members = frozenset(self.names)
        self._prefixes = [f"{n}#".encode() for n in self.names]

    def elect(
        self, ip: str, score: Callable[[str], int] | None = None
    ) -> tuple[str, ElectionKey] | None:
        names, prefixes = self.names, self._prefixes
        if not names:
            return None
        best = 0
        if score is not None:
            scores = [score(n) for n in names]
            best = max(scores)
            chosen = [i for i, s in enumerate(scores) if s == best]
            names = tuple(names[i] for i in chosen)
            prefixes = [prefixes[i] for i in chosen]
        suffix = ip.encode()
        sha = hashlib.sha256
        digests = [sha(p + suffix).digest() for p in prefixes]
        lowest = min(digests)
        return names[digests.index(lowest)], (-best, lowest)
