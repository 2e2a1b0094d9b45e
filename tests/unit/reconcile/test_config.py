"""Configuration validation (reference section 2), as a table: objects in, errors out."""

from __future__ import annotations

import pytest

from ironlb.reconcile.config import ConfigInputs, parse_config, parse_duration
from tests.k8s import NS, metallb, pool


def parse(*objects, nodes=None, secrets=None, namespaces=None):
    grouped: dict[str, dict] = {}
    for obj in objects:
        grouped.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    return parse_config(ConfigInputs(NS, grouped, namespaces or {}, nodes, secrets))


def errors(*objects, **kwargs):
    return [(e.object, e.field, e.message) for e in parse(*objects, **kwargs).errors]


def ad(name, **spec):
    return metallb("BGPAdvertisement", name, spec)


def peer(name, **spec):
    body = {"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.1", **spec}
    return metallb(
        "BGPPeer", name, {k: v for k, v in body.items() if v is not None}, version="v1beta2"
    )


P = "IPAddressPool/metallb-system/"
B = "BGPAdvertisement/metallb-system/"
R = "BGPPeer/metallb-system/"

CASES = [
    # pools (2.2)
    ([pool("p")], (P + "p", "spec.addresses", "pool has no prefixes defined")),
    ([pool("p", "192.0.2.1")], (P + "p", "spec.addresses[0]", "must be written 192.0.2.1/32")),
    ([pool("p", "2001:db8::1")], (P + "p", "spec.addresses[0]", "2001:db8::1/128")),
    ([pool("p", "192.0.2.0/33")], (P + "p", "spec.addresses[0]", 'invalid CIDR "192.0.2.0/33"')),
    (
        [pool("p", "192.0.2.9-192.0.2.1")],
        (P + "p", "spec.addresses[0]", 'start IP "192.0.2.9" is after the end IP "192.0.2.1"'),
    ),
    ([pool("p", "192.0.2.x-192.0.2.1")], (P + "p", "spec.addresses[0]", "invalid start IP")),
    ([pool("p", "192.0.2.1-2001:db8::1")], (P + "p", "spec.addresses[0]", "different families")),
    (
        [pool("a", "192.0.2.0/24"), pool("b", "192.0.2.128/25")],
        (
            P + "b",
            "spec.addresses[0]",
            'CIDR "192.0.2.128/25" in pool "b" overlaps with already defined CIDR "192.0.2.0/24"',
        ),
    ),
    (
        [pool("a", "192.0.2.0/24", "192.0.2.10-192.0.2.20")],
        (P + "a", "spec.addresses[1]", "overlaps"),
    ),
    (
        [pool("p", "192.0.2.0/24", serviceAllocation={"namespaces": ["a", "a"]})],
        (P + "p", "spec.serviceAllocation.namespaces", "duplicate definition in namespaces field"),
    ),
    (
        [
            pool(
                "p",
                "192.0.2.0/24",
                serviceAllocation={
                    "namespaceSelectors": [{"matchLabels": {"a": "b"}}, {"matchLabels": {"a": "b"}}]
                },
            )
        ],
        (P + "p", "spec.serviceAllocation.namespaceSelectors[1]", "duplicate definition of"),
    ),
    (
        [
            pool(
                "p",
                "192.0.2.0/24",
                serviceAllocation={
                    "serviceSelectors": [{"matchExpressions": [{"key": "a", "operator": "Maybe"}]}]
                },
            )
        ],
        (P + "p", "spec.serviceAllocation.serviceSelectors[0]", "operator 'Maybe'"),
    ),
    ([pool("p", "192.0.2.0/24", autoAssign="yes")], (P + "p", "spec.autoAssign", "true or false")),
    # advertisements (2.3)
    (
        [pool("p", "192.0.2.0/24"), ad("a", ipAddressPools=["p", "p"])],
        (B + "a", "spec.ipAddressPools[1]", 'duplicate definition of ipAddressPools "p"'),
    ),
    (
        [ad("a", aggregationLength=33)],
        (B + "a", "spec.aggregationLength", "invalid aggregation length 33 for IPv4"),
    ),
    (
        [ad("a", aggregationLengthV6=129)],
        (B + "a", "spec.aggregationLengthV6", "invalid aggregation length 129 for IPv6"),
    ),
    (
        [ad("a", aggregationLength=24, serviceSelectors=[{"matchLabels": {"a": "b"}}])],
        (B + "a", "spec.serviceSelectors", "mutually exclusive"),
    ),
    (
        [pool("p", "192.0.2.0/24"), ad("a", aggregationLength=16)],
        (
            B + "a",
            "spec.aggregationLength",
            "invalid aggregation length 16: prefix 24 in this pool is more specific",
        ),
    ),
    (
        [pool("p", "192.0.2.0/24"), ad("a", localPref=100), ad("b", localPref=200)],
        (B + "b", "spec.localPref", "invalid local preference 200"),
    ),
    (
        [ad("a", communities=["65536:1"])],
        (B + "a", "spec.communities[0]", 'invalid community value: invalid section "65536"'),
    ),
    (
        [ad("a", communities=["xyz:1:2:3"])],
        (B + "a", "spec.communities[0]", "invalid marker for large community"),
    ),
    (
        [ad("a", communities=["no-such-alias"])],
        (B + "a", "spec.communities[0]", "neither a known Community alias"),
    ),
    ([ad("a", peers=["x", "x"])], (B + "a", "spec.peers[1]", "duplicate definition of peers")),
    # communities (2.4)
    (
        [
            metallb(
                "Community",
                "c",
                {"communities": [{"name": "a", "value": "1:2"}, {"name": "a", "value": "1:3"}]},
            )
        ],
        (
            "Community/metallb-system/c",
            "spec.communities[1].name",
            'duplicate definition of community "a"',
        ),
    ),
    (
        [metallb("Community", "c", {"communities": [{"name": "a", "value": "large:1:2"}]})],
        ("Community/metallb-system/c", "spec.communities[0].value", 'parsing community "a"'),
    ),
    # peers (2.5)
    ([peer("r", myASN=None)], (R + "r", "spec.myASN", "missing local ASN")),
    ([peer("r", peerASN=None)], (R + "r", "spec.peerASN", "missing peer ASN and dynamicASN")),
    (
        [peer("r", dynamicASN="internal")],
        (R + "r", "spec.dynamicASN", "both peer ASN and dynamicASN specified"),
    ),
    (
        [peer("r", peerASN=None, dynamicASN="sideways")],
        (R + "r", "spec.dynamicASN", "invalid dynamicASN sideways"),
    ),
    (
        [peer("r", peerASN=64512, ebgpMultiHop=True)],
        (R + "r", "spec.ebgpMultiHop", "invalid ebgp-multihop parameter set for an ibgp peer"),
    ),
    (
        [peer("r", peerAddress=None)],
        (R + "r", "spec.peerAddress", "peer has no Address or Interface specified"),
    ),
    (
        [peer("r", interface="eth0")],
        (R + "r", "spec.interface", "peer has both Address and Interface specified"),
    ),
    (
        [peer("r", peerAddress="10.0.0.300")],
        (R + "r", "spec.peerAddress", 'invalid BGPPeer address "10.0.0.300"'),
    ),
    ([peer("r", routerID="x")], (R + "r", "spec.routerID", 'invalid router ID "x"')),
    ([peer("r", sourceAddress="x")], (R + "r", "spec.sourceAddress", 'invalid source IP "x"')),
    ([peer("r", holdTime="2s")], (R + "r", "spec.holdTime", "must be 0 or >=3s")),
    (
        [peer("r", holdTime="30s", keepaliveTime="40s")],
        (R + "r", "spec.keepaliveTime", "must be lower than holdTime"),
    ),
    ([peer("r", holdTime="soon")], (R + "r", "spec.holdTime", 'invalid duration "soon"')),
    ([peer("r", connectTime="1.5s")], (R + "r", "spec.connectTime", "whole seconds")),
    (
        [peer("r", password="x", passwordSecret={"name": "s"})],
        (R + "r", "spec.passwordSecret", "can not have both password and secret ref"),
    ),
    (
        [peer("r", bfdProfile="fast")],
        (R + "r", "spec.bfdProfile", "peer r referencing non existing bfd profile fast"),
    ),
    ([peer("a"), peer("b")], (R + "b", "spec.peerAddress", "duplicate BGP sessions")),
    (
        [metallb("BFDProfile", "f", {"receiveInterval": 5})],
        (
            "BFDProfile/metallb-system/f",
            "spec.receiveInterval",
            "invalid value 5, must be in 10-60000 range",
        ),
    ),
]


@pytest.mark.parametrize(("objects", "expected"), CASES, ids=[c[1][2][:40] for c in CASES])
def test_each_rule_reports_object_field_and_message(objects, expected):
    found = errors(*objects)
    obj, field, message = expected
    assert any(o == obj and f == field and message in m for o, f, m in found), found


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, 'secret ref not found for peer config: Secret "s"'),
        ({"type": "Opaque", "data": {"password": "x"}}, "secret type mismatch"),
        (
            {"type": "kubernetes.io/basic-auth", "data": {"username": "u"}},
            "password not specified in the secret",
        ),
    ],
)
def test_password_secrets_are_checked_when_secrets_are_known(secret, message):
    secrets = {} if secret is None else {"s": secret}
    found = errors(peer("r", passwordSecret={"name": "s"}), secrets=secrets)
    assert [(f, message in m) for _o, f, m in found] == [("spec.passwordSecret", True)]


def test_a_valid_configuration_has_no_errors():
    config = parse(
        pool("a", "192.0.2.0/24", "2001:db8::/64"),
        pool("b", "198.51.100.10-198.51.100.20", serviceAllocation={"priority": 5}),
        metallb("L2Advertisement", "l2", {"ipAddressPools": ["a"]}),
        metallb("Community", "c", {"communities": [{"name": "ne", "value": "65535:65281"}]}),
        ad(
            "bgp",
            ipAddressPools=["a"],
            communities=["ne", "large:1:2:3"],
            localPref=100,
            aggregationLength=24,
            aggregationLengthV6=64,
        ),
        peer("r", holdTime="90s", keepaliveTime="30s", connectTime="5s"),
        peer("s", peerAddress="10.0.0.2", peerASN=None, dynamicASN="external"),
    )
    assert config.errors == ()
    assert [p.name for p in config.pools] == ["a", "b"]
    assert config.bgp_advertisements[0].communities[0].parts == (1, 2, 3)


def test_localpref_conflicts_are_allowed_when_peers_or_nodes_are_disjoint():
    nodes = {"n1": {"rack": "1"}, "n2": {"rack": "2"}}
    base = pool("p", "192.0.2.0/24")
    assert errors(base, ad("a", localPref=1, peers=["x"]), ad("b", localPref=2, peers=["y"])) == []
    assert (
        errors(
            base,
            ad("a", localPref=1, nodeSelectors=[{"matchLabels": {"rack": "1"}}]),
            ad("b", localPref=2, nodeSelectors=[{"matchLabels": {"rack": "2"}}]),
            nodes=nodes,
        )
        == []
    )


def test_allocation_errors_are_only_pools_and_communities():
    config = parse(pool("p", "192.0.2.0/24"), peer("r", myASN=None))
    assert config.errors and not config.allocation_errors


def test_v1beta1_peers_without_timers_get_the_default_not_a_hold_time_of_zero():
    old = metallb("BGPPeer", "r", {"myASN": 1, "peerASN": 2, "peerAddress": "10.0.0.1"})
    parsed = parse(old).peers[0]
    assert (parsed.hold_time, parsed.keepalive_time) == (90, 30)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("0", 0), ("2.5s", 2.5)],
)
def test_go_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_timers_default_from_each_other():
    assert parse(peer("r", holdTime="90s")).peers[0].keepalive_time == 30
    assert parse(peer("r", keepaliveTime="10s")).peers[0].hold_time == 30


@pytest.mark.parametrize(
    ("spec", "used", "why"),
    [
        ({"localASN": 64600}, 64600, None),
        ({"localASN": 64600, "peerASN": 64512}, 0, "applies to eBGP sessions only"),
        ({"localASN": 64512}, 0, "equals myASN"),
        ({"localASN": 64513}, 0, "equals peerASN"),
    ],
)
def test_local_asn_is_used_where_frr_takes_local_as_and_reported_elsewhere(spec, used, why):
    config = parse(peer("r", **spec))
    assert config.errors == ()
    (parsed,) = config.peers
    assert parsed.local_asn == used and parsed.session_asn == (used or 64512)
    warned = [(w.field, w.message) for w in config.warnings]
    if why is None:
        assert warned == []
    else:
        ((field, message),) = warned
        assert field == "spec.localASN" and why in message and "opens with myASN 64512" in message


def test_fields_not_honoured_are_warnings_not_errors():
    config = parse(
        metallb("BFDProfile", "fast", {"receiveInterval": 300, "echoMode": True}),
        peer("r", bfdProfile="fast", disableMP=True),
    )
    assert config.valid
    assert [(w.object, w.field) for w in sorted(config.warnings)] == [
        ("BFDProfile/metallb-system/fast", "spec.echoMode"),
        ("BGPPeer/metallb-system/r", "spec.disableMP"),
    ]
