"""The speaker fold against MetalLB's rules (reference sections 4 and 5), as tables of cases."""

from __future__ import annotations

import hashlib

import pytest

from ironlb.reconcile.plan.speaker import BFDSettings, Reason
from tests.k8s import (
    announcers,
    bgp,
    endpoints,
    link,
    membership,
    metallb,
    node,
    node_links,
    peer,
    pool,
    records,
    routes,
    service,
    speakers_fold,
)

POOL = pool("p", "192.0.2.0/28")
WEB = service("web", loadBalancerIP="192.0.2.5")
NODES = [node("n1", zone="a"), node("n2", zone="a"), node("n3", zone="b")]
L2 = metallb("L2Advertisement", "all", {})
SERVING = endpoints("web", "n1", "n2", "n3")


def metallb_order(nodes: list[str], ip: str, weights: dict | None = None) -> list[str]:
    """The reference's rule written out: score descending, then sha256(node#ip) bytes."""
    weights = weights or {}
    return sorted(
        nodes, key=lambda n: (-weights.get(n, 0), hashlib.sha256(f"{n}#{ip}".encode()).digest())
    )


def web_announcer(*objects, **overrides):
    return announcers(POOL, *objects, WEB, **overrides)["default/web"]


# --- layer 2: who is a candidate ------------------------------------------------


@pytest.mark.parametrize(
    ("objects", "overrides", "expected"),
    [
        pytest.param([*NODES, L2, SERVING], {}, ["n1", "n2", "n3"], id="every-node"),
        pytest.param(
            [
                node("n1", **{"node.kubernetes.io/exclude-from-external-load-balancers": ""}),
                *NODES[1:],
                L2,
                SERVING,
            ],
            {},
            ["n2", "n3"],
            id="excluded-label",
        ),
        pytest.param(
            [
                node("n1", **{"node.kubernetes.io/exclude-from-external-load-balancers": ""}),
                *NODES[1:],
                L2,
                SERVING,
            ],
            {"ignore_exclude_lb": True},
            ["n1", "n2", "n3"],
            id="ignore-exclude-lb",
        ),
        pytest.param(
            [node("n1", unavailable=True), *NODES[1:], L2, SERVING],
            {},
            ["n2", "n3"],
            id="network-unavailable",
        ),
        pytest.param(
            [node("n1", ready=False), *NODES[1:], L2, SERVING],
            {},
            ["n1", "n2", "n3"],
            id="not-ready-still-counts",
        ),
        pytest.param(
            [
                *NODES,
                metallb(
                    "L2Advertisement", "a", {"nodeSelectors": [{"matchLabels": {"zone": "a"}}]}
                ),
                SERVING,
            ],
            {},
            ["n1", "n2"],
            id="node-selectors",
        ),
        pytest.param(
            [
                *NODES,
                L2,
                SERVING,
                membership("n1", False),
                membership("n2", True),
                membership("n3", True),
            ],
            {},
            ["n2", "n3"],
            id="dead-speaker",
        ),
        pytest.param(
            [*NODES, L2, SERVING, membership("n1", False)],
            {"speakers": frozenset({"n1", "n3"})},
            ["n1", "n3"],
            id="speakers-override",
        ),
    ],
)
def test_candidates(objects, overrides, expected):
    assert web_announcer(*objects, **overrides) == metallb_order(expected, "192.0.2.5")[0]


@pytest.mark.parametrize(
    ("conditions", "serves"),
    [
        ({"ready": True}, True),
        ({}, True),  # ready unset counts as ready
        ({"ready": False, "serving": True, "terminating": True}, True),
        ({"ready": False, "serving": False}, False),
        ({"ready": False}, False),
    ],
)
def test_endpoint_conditions(conditions, serves):
    slice_ = endpoints("web", "n2", **conditions)
    local = service("web", loadBalancerIP="192.0.2.5", externalTrafficPolicy="Local")
    result = announcers(POOL, *NODES, L2, slice_, local)["default/web"]
    assert result == ("n2" if serves else "noEndpoints")


def test_local_traffic_policy_elects_only_among_nodes_with_endpoints():
    local = service("web", loadBalancerIP="192.0.2.5", externalTrafficPolicy="Local")
    slice_ = endpoints("web", "n1", "n3")
    assert (
        announcers(POOL, *NODES, L2, slice_, local)["default/web"]
        == metallb_order(["n1", "n3"], "192.0.2.5")[0]
    )
    # The only endpoint is on a node that is not a candidate: nobody announces.
    only_n3 = [node("n3", unavailable=True)]
    result = announcers(POOL, *NODES, L2, endpoints("web", "n3"), *only_n3, local)
    assert result["default/web"] == "noLocalEndpoints"


def test_nothing_is_announced_without_a_serving_endpoint_or_advertisement():
    assert web_announcer(*NODES, L2) == "noEndpoints"
    selective = metallb(
        "L2Advertisement", "only-db", {"serviceSelectors": [{"matchLabels": {"app": "db"}}]}
    )
    assert web_announcer(*NODES, selective, SERVING) == "noMatchingAdvertisement"
    no_live = [membership(n, False) for n in ("n1", "n2", "n3")]
    assert web_announcer(*NODES, L2, SERVING, *no_live) == "noEligibleNode"


def test_a_shared_address_is_not_announced_through_an_ad_with_service_selectors():
    selective = metallb(
        "L2Advertisement", "web", {"serviceSelectors": [{"matchLabels": {"app": "web"}}]}
    )
    shared = service(
        "web",
        loadBalancerIP="192.0.2.5",
        labels={"app": "web"},
        annotations={"metallb.io/allow-shared-ip": "k"},
    )
    result = announcers(POOL, *NODES, selective, SERVING, shared)
    assert result["default/web"] == "sharedIPWithServiceSelector"


def test_services_sharing_an_address_elect_the_same_node():
    a = service("a", loadBalancerIP="192.0.2.7", annotations={"metallb.io/allow-shared-ip": "k"})
    b = service(
        "b",
        loadBalancerIP="192.0.2.7",
        annotations={"metallb.io/allow-shared-ip": "k"},
        ports=[("UDP", 53)],
    )
    result = announcers(POOL, *NODES, L2, endpoints("a", "n1"), endpoints("b", "n2"), a, b)
    assert (
        result["default/a"]
        == result["default/b"]
        == metallb_order(["n1", "n2", "n3"], "192.0.2.7")[0]
    )


def test_preferred_nodes_win_by_summed_weight():
    preferring = metallb(
        "L2Advertisement",
        "prefer",
        {
            "preferredNodeSelectors": [
                {"weight": 10, "preference": {"matchLabels": {"zone": "b"}}},
            ]
        },
    )
    assert web_announcer(*NODES, preferring, SERVING) == "n3"
    both = metallb(
        "L2Advertisement",
        "prefer-a",
        {
            "preferredNodeSelectors": [
                {"weight": 30, "preference": {"matchLabels": {"zone": "a"}}},
            ]
        },
    )
    weights = {"n1": 30, "n2": 30, "n3": 10}
    expected = metallb_order(["n1", "n2", "n3"], "192.0.2.5", weights)[0]
    assert web_announcer(*NODES, preferring, both, SERVING) == expected


@pytest.mark.parametrize(
    "ad",
    [
        pytest.param({"nodeSelectors": [{"matchLabels": {"zone": "a"}}]}, id="node-selector"),
        pytest.param(
            {
                "preferredNodeSelectors": [
                    {"weight": 5, "preference": {"matchLabels": {"zone": "a"}}}
                ]
            },
            id="preference",
        ),
        pytest.param({}, id="every-node"),
    ],
)
def test_relabelled_nodes_move_elections_exactly_as_a_fold_from_scratch(ad):
    # A speaker refreshes after each record; a relabelled node must re-run the
    # elections it can change (and only a relabelling no election sees may skip it).
    selecting = metallb("L2Advertisement", "zoned", ad)
    nodes = {n: {"zone": "b"} for n in ("n1", "n2", "n3", "n4")}
    objects = [POOL, WEB, *[node(n, **labels) for n, labels in nodes.items()], selecting]
    live = speakers_fold(*objects, endpoints("web", *nodes))
    steps = [("n2", {"zone": "a"}), ("n4", {"zone": "a"}), ("n2", {"zone": "a", "rack": "r1"}),
             ("n2", {"zone": "b"}), ("n3", {"zone": "a"}), ("n4", {"zone": "b"})]  # fmt: skip
    for seq, (name, labels) in enumerate(steps, start=100):
        nodes[name] = labels
        live.apply(records(node(name, **labels), start=seq)[0])
        now = [POOL, WEB, *[node(n, **ls) for n, ls in nodes.items()], selecting]
        fresh = speakers_fold(*now, endpoints("web", *nodes))
        assert live.l2() == fresh.l2(), (name, labels)


def test_the_first_status_address_keys_the_election_for_every_family():
    dual_pool = pool("p", "192.0.2.0/28", "2001:db8::/124")
    dual = service(
        "web",
        ips=["10.96.0.1", "fd00::1"],
        ipFamilyPolicy="RequireDualStack",
        annotations={"metallb.io/loadBalancerIPs": "192.0.2.5,2001:db8::5"},
    )
    fold = speakers_fold(dual_pool, *NODES, L2, SERVING, dual)
    by_ip = fold.l2()["default/web"]
    assert {ip: a.node for ip, a in by_ip.items()} == {
        ip: metallb_order(["n1", "n2", "n3"], "192.0.2.5")[0] for ip in ("192.0.2.5", "2001:db8::5")
    }


def test_addresses_outside_the_pools_and_pools_without_l2_ads():
    other = pool("q", "198.51.100.0/28")
    only_q = metallb("L2Advertisement", "q", {"ipAddressPools": ["q"]})
    # A pool with no L2Advertisement is not announced in layer 2 at all.
    assert "default/web" not in announcers(POOL, other, *NODES, only_q, SERVING, WEB)


# --- layer 2: interfaces ------------------------------------------------------


def test_interfaces_come_from_the_ads_and_the_winners_links():
    eth = metallb("L2Advertisement", "eth", {"interfaces": ["eth0", "eth9"]})
    winner = metallb_order(["n1", "n2", "n3"], "192.0.2.5")[0]
    fold = speakers_fold(POOL, *NODES, eth, SERVING, WEB)
    assert fold.l2()["default/web"]["192.0.2.5"].interfaces == ("eth0", "eth9")
    links = node_links(winner, link("eth0"), link("eth1"))
    fold = speakers_fold(POOL, *NODES, eth, SERVING, WEB, links)
    assert fold.l2()["default/web"]["192.0.2.5"].interfaces == ("eth0",)
    missing = node_links(winner, link("eth1"))
    fold = speakers_fold(POOL, *NODES, eth, SERVING, WEB, missing)
    announcement = fold.l2()["default/web"]["192.0.2.5"]
    assert (announcement.node, announcement.reason) == (winner, Reason.INTERFACES_NOT_FOUND)
    # An ad without interfaces means all of them.
    fold = speakers_fold(POOL, *NODES, eth, L2, SERVING, WEB, links)
    assert fold.l2()["default/web"]["192.0.2.5"].interfaces is None


def test_eligible_interfaces_follow_metallbs_link_rules_and_excludel2():
    links = node_links(
        "n1",
        link("eth0"),
        link("eth1", "UP", "BROADCAST", addresses=("fe80::1/64",)),
        link("down0", "BROADCAST"),
        link("noarp0", "UP", "BROADCAST", "NOARP"),
        link("port0", master="br0"),
        link("br0", addresses=("fe80::2/64",)),
        link("veth12", addresses=("fe80::3/64",)),
        link("wg0", "UP", "POINTOPOINT"),
    )
    plan = speakers_fold(*NODES, links).node_plan("n1")
    assert plan.l2_interfaces == {4: ("br0", "eth0", "eth1"), 6: ("br0", "eth1")}
    excludel2 = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "metallb-excludel2", "namespace": "metallb-system"},
        "data": {"excludel2.yaml": "announcedInterfacesToExclude:\n  - ^br.*\n  - ^eth1$\n"},
    }
    plan = speakers_fold(*NODES, links, excludel2).node_plan("n1")
    assert plan.l2_interfaces == {4: ("eth0", "veth12"), 6: ("veth12",)}


@pytest.mark.parametrize(
    "text",
    [
        "# interfaces never announced on\nannouncedInterfacesToExclude:\n"
        "  - '^br.*'   # bridges\n  - \"^eth1$\"\n",
        "announcedInterfacesToExclude: ['^br.*', \"^eth1$\"]\nsomethingElse: 1\n",
        "---\nannouncedInterfacesToExclude:\n- ^br.*\n\n- ^eth1$\n",
    ],
    ids=["comments-and-quotes", "flow-list", "document-marker"],
)
def test_excludel2_is_read_as_yaml_as_metallb_reads_it(text):
    links = node_links("n1", link("eth0"), link("eth1"), link("br0"))
    excludel2 = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "metallb-excludel2", "namespace": "metallb-system"},
        "data": {"excludel2.yaml": text},
    }
    plan = speakers_fold(*NODES, links, excludel2).node_plan("n1")
    assert plan.l2_interfaces[4] == ("eth0",)


# --- BGP ----------------------------------------------------------------------

TOR = peer("tor", nodeSelectors=[{"matchLabels": {"zone": "a"}}])
EXTERNAL = peer("ext", peer_asn=65000, peerAddress="10.0.0.2")
ADV = bgp("adv")


@pytest.mark.parametrize(
    ("objects", "node_name", "expected"),
    [
        pytest.param(
            [TOR, ADV], "n1", {"tor": [("192.0.2.5/32", 100, [])]}, id="ibgp-default-local-pref"
        ),
        pytest.param([TOR, ADV], "n3", {}, id="peer-not-selecting-node"),
        pytest.param(
            [EXTERNAL, bgp("adv", localPref=200)],
            "n3",
            {"ext": [("192.0.2.5/32", None, [])]},
            id="ebgp-no-local-pref",
        ),
        pytest.param(
            [TOR, bgp("adv", localPref=200)],
            "n1",
            {"tor": [("192.0.2.5/32", 200, [])]},
            id="ibgp-local-pref",
        ),
        pytest.param(
            [EXTERNAL, bgp("adv", aggregationLength=30)],
            "n1",
            {"ext": [("192.0.2.4/30", None, [])]},
            id="aggregation",
        ),
        pytest.param(
            [TOR, EXTERNAL, bgp("adv", peers=["ext"])],
            "n1",
            {"tor": [], "ext": [("192.0.2.5/32", None, [])]},
            id="ad-peers-filter",
        ),
        pytest.param(
            [EXTERNAL, bgp("adv", nodeSelectors=[{"matchLabels": {"zone": "b"}}])],
            "n1",
            {"ext": []},
            id="ad-node-selectors",
        ),
        pytest.param(
            [
                EXTERNAL,
                metallb(
                    "Community",
                    "c",
                    {"communities": [{"name": "no-export", "value": "65535:65281"}]},
                ),
                bgp("adv", communities=["no-export", "large:1:2:3", "65000:7", "64000:9"]),
            ],
            "n1",
            {"ext": [("192.0.2.5/32", None, ["64000:9", "65000:7", "65535:65281", "1:2:3"])]},
            id="communities",
        ),
        pytest.param(
            [EXTERNAL, bgp("a", communities=["1:1"]), bgp("b", communities=["2:2"])],
            "n1",
            {"ext": [("192.0.2.5/32", None, ["1:1"]), ("192.0.2.5/32", None, ["2:2"])]},
            id="one-entry-per-distinct-attributes",
        ),
    ],
)
def test_bgp_routes(objects, node_name, expected):
    assert routes(POOL, *NODES, *objects, SERVING, WEB, node=node_name) == expected


DUAL_POOL = pool("p", "192.0.2.0/28", "2001:db8::/124")
DUAL_WEB = service(
    "web", ips=["10.96.0.1", "fd00:96::1"], ipFamilyPolicy="RequireDualStack",
    annotations={"metallb.io/loadBalancerIPs": "192.0.2.5,2001:db8::5"},
)  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "carried"),
    [
        pytest.param({"peerAddress": "10.0.0.2"}, ["192.0.2.5/32"], id="ipv4-peer"),
        pytest.param({"peerAddress": "fd00::2"}, ["2001:db8::5/128"], id="ipv6-peer"),
        pytest.param(
            {"peerAddress": "10.0.0.2", "dualStackAddressFamily": True},
            ["192.0.2.5/32", "2001:db8::5/128"],
            id="dual-stack-session",
        ),
    ],
)
def test_a_session_lists_only_the_families_it_carries(spec, carried):
    ext = peer("ext", peer_asn=65000, **spec)
    fold = speakers_fold(DUAL_POOL, *NODES, ext, ADV, SERVING, DUAL_WEB)
    plan = fold.node_plan("n1")
    assert [r.prefix for r in plan.bgp["ext"]] == carried
    assert plan.bgp_status["default/web"] == ("ext",)  # ServiceBGPStatus lists it
    families = tuple(sorted({6 if ":" in prefix else 4 for prefix in carried}))
    assert plan.sessions["ext"].families == families


def test_a_service_of_the_other_family_is_not_listed_under_a_session():
    v6_only = service("web", ip="fd00:96::1", loadBalancerIP="2001:db8::5", ipFamilies=["IPv6"])
    ext = peer("ext", peer_asn=65000, peerAddress="10.0.0.2")
    plan = speakers_fold(DUAL_POOL, *NODES, ext, ADV, SERVING, v6_only).node_plan("n1")
    assert plan.bgp == {"ext": ()}
    assert "default/web" not in plan.bgp_status  # no ServiceBGPStatus names the peer


@pytest.mark.parametrize(
    ("selection", "announced"),
    [
        ({"ipAddressPools": ["p"]}, True),
        ({"ipAddressPools": ["other"]}, False),
        ({"ipAddressPoolSelectors": [{"matchLabels": {"tier": "web"}}]}, True),
        ({"ipAddressPoolSelectors": [{"matchLabels": {"tier": "db"}}]}, False),
    ],
)
def test_an_advertisement_announces_the_pools_it_selects(selection, announced):
    labelled = pool("p", "192.0.2.0/28", labels={"tier": "web"})
    other = pool("other", "192.0.2.64/28")
    got = routes(
        labelled, other, *NODES, EXTERNAL, bgp("adv", **selection), SERVING, WEB, node="n1"
    )
    assert got == {"ext": [("192.0.2.5/32", None, [])] if announced else []}


def test_bgp_endpoints_and_node_conditions():
    local = service("web", loadBalancerIP="192.0.2.5", externalTrafficPolicy="Local")
    base = [POOL, *NODES, EXTERNAL, ADV]
    announced = {"ext": [("192.0.2.5/32", None, [])]}
    nothing = {"ext": []}
    assert routes(*base, endpoints("web", "n2"), local, node="n2") == announced
    assert routes(*base, endpoints("web", "n2"), local, node="n1") == nothing
    assert routes(*base, endpoints("web", "n2"), WEB, node="n1") == announced  # ETP Cluster
    assert routes(*base, WEB, node="n1") == nothing  # no endpoint anywhere
    down = node("n1", unavailable=True)
    assert routes(*base, down, SERVING, WEB, node="n1") == nothing
    excluded = node("n1", **{"node.kubernetes.io/exclude-from-external-load-balancers": ""})
    assert routes(*base, excluded, SERVING, WEB, node="n1") == nothing
    assert routes(*base, excluded, SERVING, WEB, node="n1", ignore_exclude_lb=True) == announced


def test_conflicting_local_prefs_brought_together_by_service_selectors():
    web = service("web", loadBalancerIP="192.0.2.5", labels={"app": "web"})
    a = bgp("a", localPref=100)
    b = bgp("b", localPref=200, serviceSelectors=[{"matchLabels": {"app": "web"}}])
    fold = speakers_fold(POOL, *NODES, EXTERNAL, a, b, SERVING, web)
    plan = fold.node_plan("n1")
    assert plan.bgp == {"ext": ()}
    assert plan.not_announced["default/web"] == Reason.CONFLICTING_ADVERTISEMENTS


def test_sessions_carry_every_parameter_and_say_what_is_not_supported():
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/basic-auth",
        "metadata": {"name": "tor-pw", "namespace": "metallb-system"},
        "data": {"password": "hmac-sha256:abc"},
    }
    bfd = {"receiveInterval": 100, "passiveMode": True, "minimumTtl": 200, "echoInterval": 20}
    profile = metallb("BFDProfile", "fast", bfd)
    full = peer(
        "tor",
        peer_asn=65001,
        holdTime="9s",
        sourceAddress="10.0.0.2",
        routerID="10.0.0.2",
        peerPort=1179,
        passwordSecret={"name": "tor-pw"},
        bfdProfile="fast",
        ebgpMultiHop=True,
        vrf="red",
    )
    session = speakers_fold(*NODES, secret, profile, full).node_plan("n1").sessions["tor"]
    assert (session.my_asn, session.peer_asn, session.port, session.ibgp) == (
        64512,
        65001,
        1179,
        False,
    )
    assert (session.hold_time, session.keepalive_time) == (9.0, 3.0)
    assert session.password is None and session.password_secret == "tor-pw"
    assert session.password_version == "hmac-sha256:abc"
    assert session.ebgp_multihop and session.vrf == "red"
    # the profile's values over MetalLB's defaults (echo is not honoured: a warning)
    assert session.bfd == BFDSettings(
        "fast", receive_interval=100, transmit_interval=300, detect_multiplier=3,
        passive=True, minimum_ttl=200,
    )  # fmt: skip
    (condition,) = session.conditions
    assert "VRF" in condition


def test_status_objects_content():
    fold = speakers_fold(POOL, *NODES, L2, EXTERNAL, ADV, SERVING, WEB)
    winner = metallb_order(["n1", "n2", "n3"], "192.0.2.5")[0]
    plan = fold.node_plan(winner)
    assert plan.l2_status == {"default/web": ()}
    assert plan.bgp_status == {"default/web": ("ext",)}
    loser = next(n for n in ("n1", "n2", "n3") if n != winner)
    other = fold.node_plan(loser)
    assert other.l2_status == {}
    assert other.not_announced.get("default/web") is None  # it announces over BGP
    assert fold.node_plan(loser).bgp_status == {"default/web": ("ext",)}


def test_not_owner_is_the_reason_a_losing_node_gives():
    fold = speakers_fold(POOL, *NODES, L2, SERVING, WEB)
    winner = metallb_order(["n1", "n2", "n3"], "192.0.2.5")[0]
    loser = next(n for n in ("n1", "n2", "n3") if n != winner)
    assert fold.node_plan(loser).not_announced["default/web"] == Reason.NOT_OWNER
    assert "default/web" not in fold.node_plan(winner).not_announced


def test_an_invalid_configuration_keeps_the_last_valid_one_for_the_speakers():
    broken = metallb("L2Advertisement", "all", {"nodeSelectors": [{"matchLabels": "nope"}]})
    fold = speakers_fold(POOL, *NODES, L2, SERVING, WEB, broken)
    assert fold.config.errors
    assert fold.l2()["default/web"]["192.0.2.5"].announced


def test_local_prefs_are_judged_by_the_configurations_rule_for_the_pools_families():
    """An IPv4-only pool: differing IPv4 aggregation lengths make two advertisements'
    routes distinct, so their LOCAL_PREFs may differ (MetalLB's
    BGPAdvertisementsHaveCompatibleLocalPref; the speaker once also asked the IPv6
    lengths to differ, and refused to announce)."""
    web = service("web", loadBalancerIP="192.0.2.5", labels={"app": "web"})
    a = bgp("a", localPref=100, aggregationLength=28)
    b = bgp("b", localPref=200, serviceSelectors=[{"matchLabels": {"app": "web"}}])
    fold = speakers_fold(POOL, *NODES, EXTERNAL, a, b, SERVING, web)
    plan = fold.node_plan("n1")
    assert "default/web" not in plan.not_announced
    assert {r.prefix for r in plan.bgp["ext"]} == {"192.0.2.5/32", "192.0.2.0/28"}


def test_the_plan_of_every_node_at_once_is_each_nodes_own():
    # `plan` computes the routes of alike nodes once and adds each node's Local
    # Services into them: each node's part must be what the node plans alone,
    # routes in the same order.
    nodes = [node(f"n{i}", zone="a" if i % 2 else "b") for i in range(6)]
    services, slices = [], []
    for i in range(24):
        local = "Local" if i % 3 == 0 else "Cluster"
        services.append(service(f"s{i:02d}", loadBalancerIP=f"192.0.2.{i}",
                                externalTrafficPolicy=local))  # fmt: skip
        slices.append(endpoints(f"s{i:02d}", f"n{i % 6}", f"n{(i + 1) % 6}"))
    objects = [pool("p", "192.0.2.0/27"), *nodes, TOR, EXTERNAL, bgp("adv"), *services, *slices]
    fold = speakers_fold(*objects)
    together = fold.plan().to_json()["bgp"]
    local_routes = 0
    for i in range(6):
        alone = fold.node_plan(f"n{i}").to_json()["bgp"][f"n{i}"]
        assert together[f"n{i}"] == alone, f"n{i}"
        local_routes += sum(r["prefix"] == "192.0.2.0/32" for r in alone["ext"])
    assert local_routes == 2  # s00 is Local: only its two endpoints' nodes announce it
