"""Layer-2 election: MetalLB's order, the same answer whichever way it is asked, and
the same winners as the release that recorded tests/data/elections.json (speakers of
adjacent versions must elect the same node)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ironlb.reconcile.speaker.election import Candidates, elect, election_key

GOLDEN = Path(__file__).parents[2] / "data" / "elections.json"


def by_hand(nodes, ip, scores=None):
    """MetalLB's rule written out: highest score, then lowest sha256(node#ip)."""
    scores = scores or {}
    return min(
        nodes, key=lambda n: (-scores.get(n, 0), hashlib.sha256(f"{n}#{ip}".encode()).digest())
    )


def test_the_lowest_hash_wins_and_the_order_asked_does_not_matter():
    nodes = [f"node-{i}" for i in range(20)]
    for ip in ("192.0.2.1", "192.0.2.2", "2001:db8::1"):
        winner, key = elect(nodes, ip)
        assert winner == by_hand(nodes, ip)
        assert key == election_key(winner, ip)
        assert elect(reversed(nodes), ip)[0] == winner
        assert all(election_key(n, ip) >= key for n in nodes)


def test_preference_scores_outrank_hashes():
    nodes = ["a", "b", "c"]
    scores = {"c": 10, "b": 10}
    winner, key = Candidates(nodes).elect("192.0.2.7", lambda n: scores.get(n, 0))
    assert winner == by_hand(["b", "c"], "192.0.2.7")
    assert key[0] == -10


def test_no_candidates_no_winner():
    assert elect([], "192.0.2.1") is None


@pytest.mark.parametrize("case", json.loads(GOLDEN.read_text()), ids=lambda c: c["ip"])
def test_winners_are_those_the_recording_release_elected(case):
    assert elect(case["nodes"], case["ip"])[0] == case["winner"]
