"""What a BGP session carries: routes of an advertisement and the session's parameters."""

from __future__ import annotations

from ironlb.reconcile.config import parse_config
from ironlb.reconcile.config.model import ConfigInputs
from ironlb.reconcile.speaker.bgp_routes import local_pref_conflict, route_for, session_plan


def parsed(*objects):
    by_kind: dict = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    config = parse_config(ConfigInputs("metallb-system", by_kind))
    assert config.errors == (), config.errors
    return config


def obj(kind, name, spec):
    return {"kind": kind, "metadata": {"name": name, "namespace": "metallb-system"}, "spec": spec}


POOL = obj("IPAddressPool", "lan", {"addresses": ["192.0.2.0/24", "2001:db8::/64"]})
IBGP = obj("BGPPeer", "rr", {"myASN": 64512, "peerASN": 64512, "peerAddress": "10.0.0.1"})
EBGP = obj("BGPPeer", "isp", {"myASN": 64512, "peerASN": 65000, "peerAddress": "10.0.0.2"})


def test_a_route_aggregates_and_sends_local_pref_only_on_ibgp():
    ad = obj(
        "BGPAdvertisement",
        "agg",
        {"aggregationLength": 28, "aggregationLengthV6": 120, "communities": ["65535:65281"]},
    )
    config = parsed(POOL, IBGP, EBGP, ad)
    advertisement = config.bgp_advertisements[0]
    ibgp, ebgp = sorted(config.peers, key=lambda p: p.name != "rr")
    inside = route_for("192.0.2.77", advertisement, ibgp)
    assert (inside.prefix, inside.local_pref, inside.communities) == (
        "192.0.2.64/28",
        100,  # the default sent on iBGP when the advertisement sets none
        ("65535:65281",),
    )
    assert route_for("2001:db8::1234", advertisement, ebgp).prefix == "2001:db8::1200/120"
    assert route_for("192.0.2.77", advertisement, ebgp).local_pref is None


def test_sessions_get_the_timers_parsing_decided():
    config = parsed(POOL, IBGP)
    session = session_plan(config.peers[0], None)
    assert (session.hold_time, session.keepalive_time, session.conditions) == (90, 30, ())


def test_differing_local_prefs_conflict_only_where_routes_and_nodes_meet():
    config = parsed(
        POOL,
        obj("BGPAdvertisement", "a", {"localPref": 100}),
        obj(
            "BGPAdvertisement",
            "b",
            {"localPref": 200, "serviceSelectors": [{"matchLabels": {"app": "web"}}]},
        ),
    )
    a, b = config.bgp_advertisements
    both = [{"n1"}, {"n1"}]
    assert local_pref_conflict([a, b], both, {4, 6})
    assert not local_pref_conflict([a, b], [{"n1"}, {"n2"}], {4, 6})  # disjoint nodes
