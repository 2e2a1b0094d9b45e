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
    """The winning node and its key, or None without candidates.

    Without preferences every score is 0 and only the hashes are compared, the
    common case and the one a cluster of thousands of nodes pays for per address.
    """
    nodes = sorted(candidates)  # a stable order to report; the result does not depend on it
    if not nodes:
        return None
    if score is not None:
        scores = [score(n) for n in nodes]
        best = max(scores)
        nodes = [n for n, s in zip(nodes, scores, strict=True) if s == best]
    else:
        best = 0
    suffix = f"#{ip}".encode()
    sha = hashlib.sha256
    digests = [sha(n.encode() + suffix).digest() for n in nodes]
    lowest = min(digests)
    return nodes[digests.index(lowest)], (-best, lowest)
