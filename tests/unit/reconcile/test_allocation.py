"""The allocator against MetalLB's behaviour (reference sections 3.1-3.10), as tables of cases."""

from __future__ import annotations

import pytest

from ironlb.reconcile.controller.fold import Overrides
from tests.k8s import fold, ips, namespace, plan, pool, records, service

V4 = pool("v4", "192.0.2.0/29")


def test_only_load_balancer_services_of_our_class_are_handled():
    result = ips(
        V4,
        service("a"),
        service("b", type="ClusterIP"),
        service("c", loadBalancerClass="other.io/lb"),
    )
    assert result == {"default/a": ["192.0.2.0"]}
    classy = ips(
        V4,
        service("a"),
        service("c", loadBalancerClass="other.io/lb"),
        overrides=Overrides(load_balancer_class="other.io/lb"),
    )
    assert classy == {"default/c": ["192.0.2.0"]}


@pytest.mark.parametrize(
    ("objects", "error"),
    [
        ([service("s")], "no IPAddressPool is configured in namespace metallb-system"),
        ([V4, service("s", clusterIP="None", clusterIPs=["None"])], "no clusterIPs"),
        ([V4, service("s", ipFamilyPolicy="RequireDualStack")], "RequireDualStack"),
        (
            [
                V4,
                service(
                    "s",
                    loadBalancerIP="192.0.2.1",
                    annotations={"metallb.io/loadBalancerIPs": "192.0.2.2"},
                ),
            ],
            "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP",
        ),
        (
            [V4, service("s", annotations={"metallb.io/loadBalancerIPs": "192.0.2.300"})],
            'invalid metallb.io/loadBalancerIPs: "192.0.2.300"',
        ),
        ([V4, service("s", loadBalancerIP="nonsense")], 'invalid spec.loadBalancerIP "nonsense"'),
        (
            [V4, service("s", annotations={"metallb.io/loadBalancerIPs": "192.0.2.1,192.0.2.2"})],
            "at most two addresses, one of each family",
        ),
        (
            [V4, service("s", loadBalancerIP="2001:db8::1")],
            'requested loadBalancer IP(s) ["2001:db8::1"] does not match the ipFamily',
        ),
        (
            [V4, service("s", loadBalancerIP="198.51.100.1")],
            '["198.51.100.1"] is not allowed in config',
        ),
        (
            [
                pool("p", "192.0.2.0/24", avoidBuggyIPs=True),
                service("s", loadBalancerIP="192.0.2.0"),
            ],
            '["192.0.2.0"] is not allowed in config',
        ),
        (
            [
                pool("p", "192.0.2.0/24", serviceAllocation={"namespaces": ["prod"]}),
                service("s", loadBalancerIP="192.0.2.7"),
            ],
            "pool p not compatible for ip assignment",
        ),
        (
            [
                V4,
                pool("other", "198.51.100.0/30"),
                service(
                    "s",
                    loadBalancerIP="192.0.2.1",
                    annotations={"metallb.io/address-pool": "other"},
                ),
            ],
            'requested loadBalancer IP(s) ["192.0.2.1"] is not compatible with requested address '
            "pool other",
        ),
        (
            [V4, service("s", annotations={"metallb.io/address-pool": "nope"})],
            'unknown pool "nope"',
        ),
        ([pool("tiny", "192.0.2.0/32"), service("a"), service("b")], "no available IPs"),
    ],
)
def test_errors_carry_metallbs_wording(objects, error):
    result = plan(*objects)["services"]
    failing = result[f"default/{objects[-1]['metadata']['name']}"]
    assert failing["ips"] == []
    assert error in failing["error"]


def test_requested_addresses_ignore_auto_assign_and_keep_annotation_order():
    dual = pool("dual", "192.0.2.0/29", "2001:db8::/125", autoAssign=False)
    result = ips(
        dual,
        service(
            "s",
            ips=["10.96.0.1", "fd00::1"],
            ipFamilyPolicy="RequireDualStack",
            annotations={"metallb.io/loadBalancerIPs": "2001:db8::5, 192.0.2.5"},
        ),
    )
    assert result == {"default/s": ["2001:db8::5", "192.0.2.5"]}
    assert ips(dual, service("s")) == {"default/s": []}  # never chosen automatically


def test_a_requested_address_never_displaces_its_holder_and_waits_for_it():
    holder = service("holder", loadBalancerIP="192.0.2.3")
    wanter = service("wanter", loadBalancerIP="192.0.2.3")
    f = fold(V4, holder, wanter)
    assert f.plan().services["default/wanter"].ips == ()
    assert "can't change sharing key" in f.plan().services["default/wanter"].error
    f.apply_all(records(("DELETED", holder), start=10))
    assert f.plan().services["default/wanter"].ips == ("192.0.2.3",)


def test_deprecated_annotations_work_and_warn():
    result = plan(
        V4,
        pool("other", "198.51.100.0/30"),
        service("s", annotations={"metallb.universe.tf/address-pool": "other"}),
    )
    s = result["services"]["default/s"]
    assert s["ips"] == ["198.51.100.0"]
    assert s["warnings"] == [
        "service uses deprecated annotation "
        '"metallb.universe.tf/address-pool"; use "metallb.io/address-pool"'
    ]
    # And MetalLB's Warning Event, beside the allocation's own.
    decided = fold(
        V4,
        pool("other", "198.51.100.0/30"),
        service("s", annotations={"metallb.universe.tf/address-pool": "other"}),
    ).decision("default/s")
    assert [(e.type, e.reason) for e in decided.events] == [
        ("Normal", "IPAllocated"),
        ("Warning", "deprecatedAnnotation"),
    ]


def test_the_current_annotation_wins_even_when_empty():
    result = ips(
        V4,
        pool("zz-other", "198.51.100.0/30"),
        service(
            "s",
            annotations={
                "metallb.io/address-pool": "",
                "metallb.universe.tf/address-pool": "zz-other",
            },
        ),
    )
    assert result == {"default/s": ["192.0.2.0"]}  # not pinned: the first pool by name


def test_lowest_address_first_network_address_included_and_buggy_ones_avoided():
    assert ips(V4, service("a"), service("b")) == {
        "default/a": ["192.0.2.0"],
        "default/b": ["192.0.2.1"],
    }
    careful = pool("p", "192.0.2.254-192.0.3.1", avoidBuggyIPs=True)
    assert ips(careful, service("a"), service("b")) == {
        "default/a": ["192.0.2.254"],
        "default/b": ["192.0.3.1"],
    }


def test_entries_are_tried_in_spec_order():
    p = pool("p", "198.51.100.8/31", "192.0.2.0/30")
    assert ips(p, service("a"), service("b"), service("c")) == {
        "default/a": ["198.51.100.8"],
        "default/b": ["198.51.100.9"],
        "default/c": ["192.0.2.0"],
    }


def test_pool_order_priority_then_name_then_fallback_by_name():
    objects = [
        pool("zz-fallback", "203.0.113.0/30"),
        pool("aa-fallback", "203.0.113.8/30"),
        pool("unprioritised", "198.51.100.0/30", serviceAllocation={"namespaces": ["default"]}),
        pool("second", "192.0.2.16/32", serviceAllocation={"priority": 20}),
        pool("first-b", "192.0.2.9/32", serviceAllocation={"priority": 10}),
        pool("first-a", "192.0.2.8/32", serviceAllocation={"priority": 10}),
    ]
    result = ips(*objects, *[service(f"s{i}") for i in range(9)])
    assert [result[f"default/s{i}"][0] for i in range(9)] == [
        "192.0.2.8",
        "192.0.2.9",
        "192.0.2.16",
        "198.51.100.0",
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "203.0.113.8",
        "203.0.113.9",
    ]


def test_service_allocation_constraints():
    objects = [
        namespace("shop", team="retail"),
        namespace("default"),
        pool("by-namespace", "192.0.2.0/30", serviceAllocation={"namespaces": ["shop"]}),
        pool(
            "by-label",
            "192.0.2.8/30",
            serviceAllocation={
                "namespaceSelectors": [{"matchLabels": {"team": "retail"}}],
                "serviceSelectors": [{"matchLabels": {"tier": "web"}}],
                "priority": 1,
            },
        ),
        pool(
            "selects-nothing",
            "192.0.2.16/30",
            serviceAllocation={"namespaceSelectors": [{"matchLabels": {"team": "none"}}]},
        ),
        pool("general", "198.51.100.0/30"),
    ]
    result = ips(
        *objects,
        service("web", ns="shop", labels={"tier": "web"}),
        service("db", ns="shop", labels={"tier": "db"}),
        service("other"),
    )
    assert result == {
        "shop/web": ["192.0.2.8"],
        "shop/db": ["192.0.2.0"],
        "default/other": ["198.51.100.0"],
    }


def test_address_pool_annotation_ignores_auto_assign_but_not_constraints():
    objects = [V4, pool("manual", "198.51.100.0/31", autoAssign=False)]
    result = plan(
        *objects,
        *[service(f"s{i}", annotations={"metallb.io/address-pool": "manual"}) for i in range(3)],
    )["services"]
    assert [result[f"default/s{i}"]["ips"] for i in range(3)] == [
        ["198.51.100.0"],
        ["198.51.100.1"],
        [],
    ]
    assert result["default/s2"]["error"] == 'no available IPs in pool "manual"'


DUAL_SVC = {"ips": ["10.96.0.1", "fd00::1"], "ipFamilies": ["IPv4", "IPv6"]}


@pytest.mark.parametrize(
    ("pools", "spec", "expected"),
    [
        (
            [pool("v4", "192.0.2.0/30"), pool("dual", "198.51.100.0/30", "2001:db8::/126")],
            {**DUAL_SVC, "ipFamilyPolicy": "PreferDualStack"},
            ["198.51.100.0", "2001:db8::"],
        ),
        (
            [pool("v6", "2001:db8::/126"), pool("v4", "192.0.2.0/30")],
            {**DUAL_SVC, "ipFamilyPolicy": "PreferDualStack"},
            ["192.0.2.0"],
        ),
        (
            [pool("v6", "2001:db8::/126"), pool("v4", "192.0.2.0/30")],
            {**DUAL_SVC, "ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv6", "IPv4"]},
            ["2001:db8::"],
        ),
        (
            [pool("v6", "2001:db8::/126"), pool("v4", "192.0.2.0/30")],
            {**DUAL_SVC, "ipFamilyPolicy": "RequireDualStack"},
            [],
        ),
        (
            [pool("dual", "2001:db8::/126", "192.0.2.0/30")],
            {**DUAL_SVC, "ipFamilyPolicy": "RequireDualStack"},
            ["192.0.2.0", "2001:db8::"],
        ),
        ([pool("dual", "2001:db8::/126", "192.0.2.0/30")], {"ips": ["fd00::9"]}, ["2001:db8::"]),
    ],
)
def test_family_selection(pools, spec, expected):
    assert ips(*pools, service("s", **spec))["default/s"] == expected


def test_a_second_address_is_added_when_the_pool_becomes_dual_stack():
    s = service("s", **DUAL_SVC, ipFamilyPolicy="PreferDualStack")
    assert ips(pool("p", "192.0.2.0/30"), s)["default/s"] == ["192.0.2.0"]
    grown = ips(pool("p", "192.0.2.0/30"), s, pool("p", "192.0.2.0/30", "2001:db8::/126"))
    assert grown["default/s"] == ["192.0.2.0", "2001:db8::"]


def test_a_service_on_a_single_stack_pool_does_not_jump_to_a_new_dual_pool():
    s = service("s", **DUAL_SVC, ipFamilyPolicy="PreferDualStack")
    result = ips(
        pool("a-v4", "192.0.2.0/30"), s, pool("b-dual", "198.51.100.0/30", "2001:db8::/126")
    )
    assert result["default/s"] == ["192.0.2.0"]


def shared(name, key="k", ports=(("TCP", 80),), **spec):
    return service(name, annotations={"metallb.io/allow-shared-ip": key}, ports=ports, **spec)


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        (shared("a"), shared("b", ports=[("TCP", 443)]), True),
        (shared("a", ports=[("TCP", 53)]), shared("b", ports=[("UDP", 53)]), True),
        (shared("a"), shared("b"), False),  # port clash
        (shared("a"), shared("b", key="other", ports=[("TCP", 443)]), False),
        (
            shared("a", externalTrafficPolicy="Local", selector={"app": "x"}),
            shared("b", ports=[("TCP", 443)], externalTrafficPolicy="Local", selector={"app": "x"}),
            True,
        ),
        (
            shared("a", externalTrafficPolicy="Local", selector={"app": "x"}),
            shared("b", ports=[("TCP", 443)], externalTrafficPolicy="Local", selector={"app": "y"}),
            False,
        ),
        (
            shared("a", externalTrafficPolicy="Local", selector={"app": "x"}),
            shared("b", ports=[("TCP", 443)], selector={"app": "x"}),
            False,
        ),
        (service("a"), service("b", ports=[("TCP", 443)]), False),
    ],
)
def test_sharing_rules(first, second, same):
    result = ips(V4, first, second)
    assert (result["default/a"] == result["default/b"]) is same


def test_a_sharing_service_takes_the_lowest_compatible_shared_address():
    result = ips(
        V4, service("plain"), shared("a", ports=[("TCP", 1)]), shared("b", ports=[("TCP", 2)])
    )
    assert result == {
        "default/plain": ["192.0.2.0"],
        "default/a": ["192.0.2.1"],
        "default/b": ["192.0.2.1"],
    }


def test_changing_etp_of_one_sharer_moves_only_that_one():
    a = shared("a")
    b = shared("b", ports=[("TCP", 443)])
    b_local = shared(
        "b", ports=[("TCP", 443)], externalTrafficPolicy="Local", selector={"app": "b"}
    )
    assert ips(V4, a, b, b_local) == {"default/a": ["192.0.2.0"], "default/b": ["192.0.2.1"]}


def test_status_addresses_are_kept_after_a_restart():
    result = ips(V4, service("late", status=["192.0.2.5"]), service("new"))
    assert result == {"default/late": ["192.0.2.5"], "default/new": ["192.0.2.0"]}


def test_a_restart_relist_in_any_order_keeps_every_address():
    # "new" has no status and is folded first: it would take .0, which "old" holds in the
    # cluster. The status outranks the unconfirmed decision.
    result = ips(V4, service("new"), service("old", status=["192.0.2.0"]))
    assert result == {"default/old": ["192.0.2.0"], "default/new": ["192.0.2.1"]}


def test_services_before_pools_still_keep_their_status_addresses():
    result = ips(service("new"), service("old", status=["192.0.2.0"]), V4)
    assert result == {"default/old": ["192.0.2.0"], "default/new": ["192.0.2.1"]}


@pytest.mark.parametrize(
    ("change", "expected", "event"),
    [
        (service("s", status=["192.0.2.5"], loadBalancerIP="192.0.2.6"), ["192.0.2.6"], None),
        (
            service("s", status=["192.0.2.5"], annotations={"metallb.io/address-pool": "other"}),
            ["198.51.100.0"],
            None,
        ),
        (service("s", status=["203.0.113.9"]), ["198.51.100.0"], "ClearAssignment"),
    ],
)
def test_current_addresses_are_replaced_when_they_no_longer_fit(change, expected, event):
    f = fold(V4, pool("other", "198.51.100.0/30"), change)
    decided = f.plan().services["default/s"]
    assert list(decided.ips) == expected
    reasons = [e.reason for e in decided.events]
    assert (event in reasons) if event else reasons == ["IPAllocated"]


def test_pending_services_get_freed_addresses_in_the_order_they_asked():
    tiny = pool("tiny", "192.0.2.0/31")
    objects = [tiny, service("a"), service("b"), service("waits-1"), service("waits-2")]
    f = fold(*objects)
    assert f.plan().services["default/waits-1"].error == "no available IPs"

    f.apply_all(records(("DELETED", objects[2]), ("DELETED", objects[1]), start=100))
    result = {k: list(v.ips) for k, v in f.plan().services.items()}
    assert result == {"default/waits-1": ["192.0.2.1"], "default/waits-2": ["192.0.2.0"]}


def test_becoming_cluster_ip_frees_the_address_for_a_waiting_service():
    tiny = pool("tiny", "192.0.2.0/32")
    result = ips(tiny, service("a"), service("b"), service("a", type="ClusterIP"))
    assert result == {"default/b": ["192.0.2.0"]}


def test_deleting_a_pool_moves_its_services_and_deleting_all_clears_them():
    a, b = pool("a", "192.0.2.0/30"), pool("b", "198.51.100.0/30")
    assert ips(a, b, service("s"), ("DELETED", a)) == {"default/s": ["198.51.100.0"]}
    gone = plan(a, service("s"), ("DELETED", a))["services"]["default/s"]
    assert gone["ips"] == [] and "no IPAddressPool" in gone["error"]


def test_an_invalid_configuration_keeps_the_last_valid_pools_in_force():
    broken = pool("v4", "192.0.2.0/29", "not-an-address")
    result = plan(V4, service("a"), broken, service("b"))
    assert result["services"]["default/b"]["ips"] == ["192.0.2.1"]
    assert result["config"]["valid"] is False
    assert result["config"]["errors"][0]["field"] == "spec.addresses[1]"


def test_events_use_metallbs_reasons_and_messages():
    f = fold(pool("tiny", "192.0.2.0/32"), service("a"), service("b"))
    assert [(e.type, e.reason, e.message) for e in f.plan().services["default/a"].events] == [
        ("Normal", "IPAllocated", 'Assigned IP ["192.0.2.0"]')
    ]
    assert [(e.type, e.reason, e.message) for e in f.plan().services["default/b"].events] == [
        ("Warning", "AllocationFailed", 'Failed to allocate IP for "default/b": no available IPs')
    ]


def test_unrelated_events_do_not_move_addresses():
    before = ips(V4, service("a"), service("b"))
    after = ips(
        V4,
        service("a"),
        service("b"),
        namespace("elsewhere", x="y"),
        service("a", labels={"changed": "yes"}),
        service("c"),
    )
    assert {k: after[k] for k in before} == before


def test_a_namespace_relabel_moves_only_the_services_its_pools_no_longer_admit():
    blue = pool(
        "blue",
        "192.0.2.0/30",
        serviceAllocation={"priority": 1, "namespaceSelectors": [{"matchLabels": {"team": "b"}}]},
    )
    rest = pool("rest", "198.51.100.0/30")
    objects = [
        blue,
        rest,
        namespace("a", team="b"),
        namespace("z", team="b"),
        service("s", ns="a"),
        service("s", ns="z"),
    ]
    assert ips(*objects) == {"a/s": ["192.0.2.0"], "z/s": ["192.0.2.1"]}
    f = fold(*objects)
    f.apply_all(records(namespace("a", team="red"), start=100))
    moved = {k: list(v.ips) for k, v in f.plan().services.items()}
    assert moved == {"a/s": ["198.51.100.0"], "z/s": ["192.0.2.1"]}
    assert f.plan().pools["blue"].assigned_v4 == 1


@pytest.mark.parametrize(
    ("objects", "counters"),
    [
        (
            [pool("p", "192.0.2.0/24", avoidBuggyIPs=True), service("a")],
            {"assignedIPv4": 1, "availableIPv4": 253, "assignedIPv6": 0, "availableIPv6": 0},
        ),
        (
            [pool("p", "10.0.0.0/8", "2001:db8::/64")],
            {"assignedIPv4": 0, "availableIPv4": 2**24, "assignedIPv6": 0, "availableIPv6": 2**64},
        ),
        (
            [pool("p", "192.0.2.0/30"), shared("a"), shared("b", ports=[("TCP", 443)])],
            {"assignedIPv4": 1, "availableIPv4": 3, "assignedIPv6": 0, "availableIPv6": 0},
        ),
        (
            [pool("p", "192.0.2.250-192.0.3.5", avoidBuggyIPs=True)],
            {"assignedIPv4": 0, "availableIPv4": 10, "assignedIPv6": 0, "availableIPv6": 0},
        ),
    ],
)
def test_pool_counters_are_exact(objects, counters):
    assert plan(*objects)["pools"]["p"] == counters


def test_unreadable_cluster_ips_and_status_addresses_get_metallbs_warnings():
    garbled = fold(V4, service("s", clusterIP="10.96.0.300", clusterIPs=["10.96.0.300"]))
    decision = garbled.decision("default/s")
    assert decision.ips == ()
    assert [(e.type, e.reason) for e in decision.events] == [("Warning", "noclusterIPsIPFamily")]
    headless = fold(V4, service("s", clusterIP="None", clusterIPs=["None"]))
    assert headless.decision("default/s").events == ()  # no clusterIPs at all: no Event
    bad_status = fold(V4, service("s", status=["not-an-address"]))
    decision = bad_status.decision("default/s")
    assert decision.ips == ("192.0.2.0",)  # allocated anew
    assert [(e.type, e.reason) for e in decision.events] == [
        ("Warning", "nolbIPsIPFamily"),
        ("Normal", "IPAllocated"),
    ]


def test_services_without_an_address_and_services_per_pool_are_counted():
    tight = pool("tight", "192.0.2.0/31")  # two addresses
    f = fold(tight, service("a"), service("b"), service("c"))
    assert f.services_per_pool() == {"tight": 2}
    assert f.services_without_address() == 1
