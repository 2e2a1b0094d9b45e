"""Messages captured from BIRD 2, FRR and GoBGP (tests/e2e/capture_bgp.py) decode to
what each daemon was told to send, and re-encode to the same meaning (daemons
order attributes differently, so values are compared, not bytes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ironlb.announce.bgp.messages import Keepalive, Open, Update, decode, encode

DATA = Path(__file__).parents[1] / "data" / "bgp"
CAPTURES = sorted(p.stem for p in DATA.glob("*.hex"))
PREFIX = {"ipv4": "203.0.113.0/24", "ipv6": "2001:db8:40::/48"}
NEXT_HOP = {"ipv4": "10.40.0.2", "ipv6": "fd00:40::2"}
FAMILY = {"ipv4": (1, 1), "ipv6": (2, 1)}


def messages(name: str) -> list:
    return [decode(bytes.fromhex(line)) for line in (DATA / f"{name}.hex").read_text().split()]


def test_every_daemon_and_family_was_captured():
    assert [f"{d}-ipv{v}" for d in ("bird", "frr", "gobgp") for v in (4, 6)] == CAPTURES


@pytest.mark.parametrize("name", CAPTURES)
def test_a_captured_session_decodes_to_what_the_daemon_was_told_to_send(name):
    family = name.split("-")[1]
    opened, keepalive, update = messages(name)
    assert isinstance(opened, Open) and isinstance(keepalive, Keepalive)
    assert opened.asn == 64513 and opened.router_id == "10.40.0.2"
    assert opened.capabilities.four_octet_as == 64513 and opened.capabilities.route_refresh
    assert FAMILY[family] in opened.capabilities.multiprotocol

    assert isinstance(update, Update) and update.treat_as_withdraw is None
    attributes = update.attributes
    assert attributes.as_path == ((2, (64513,)),)
    assert attributes.communities == ((65000 << 16) | 100,)
    assert attributes.large_communities == ((65000, 1, 2),)
    if family == "ipv4":
        assert update.nlri == (PREFIX[family],) and attributes.next_hop == NEXT_HOP[family]
    else:
        assert update.mp_reach.prefixes == (PREFIX[family],)
        assert update.mp_reach.next_hops[0] == NEXT_HOP[family]
        assert all(h.startswith("fe80:") for h in update.mp_reach.next_hops[1:])


@pytest.mark.parametrize("name", CAPTURES)
def test_what_ironlb_encodes_from_a_capture_decodes_to_the_same_values(name):
    for message in messages(name):
        assert decode(encode(message)) == message
