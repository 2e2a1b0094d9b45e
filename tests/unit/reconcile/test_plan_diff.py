"""What changed between two plans, as diff, plan --with and replay --verify report it."""

from __future__ import annotations

from ironlb.reconcile.plan.diff import describe, diff_plans, is_empty


def plan(ips=("192.0.2.1",), node="n1", routes=("192.0.2.1/32",), valid=True):
    return {
        "services": {"default/web": {"ips": list(ips), "pool": "lan", "error": None}},
        "l2": {"default/web": {ip: {"node": node, "reason": None} for ip in ips}},
        "bgp": {"n1": {"tor": [{"prefix": p, "local_pref": None} for p in routes]}},
        "pools": {"lan": {"assignedIPv4": len(ips)}},
        "config": {"valid": valid, "errors": [] if valid else [{"object": "x"}]},
    }


def test_equal_plans_differ_in_nothing():
    assert is_empty(diff_plans(plan(), plan()))
    assert describe(diff_plans(plan(), plan())) == []


def test_each_change_is_one_line_a_person_can_act_on():
    diff = diff_plans(
        plan(),
        plan(ips=("192.0.2.2",), node="n2", routes=("192.0.2.2/32",), valid=False),
    )
    assert describe(diff) == [
        "service default/web: 192.0.2.1 -> 192.0.2.2",
        "layer 2 default/web 192.0.2.1: announced by n1 -> nobody",
        "layer 2 default/web 192.0.2.2: announced by nobody -> n2",
        "bgp n1 -> tor: 192.0.2.2/32 announced",
        "bgp n1 -> tor: 192.0.2.1/32 withdrawn",
        "configuration: valid -> invalid (1 errors)",
    ]


def test_a_service_that_appears_is_shown_from_absent():
    before = {**plan(), "services": {}}
    lines = describe(diff_plans(before, plan()))
    assert lines[0] == "service default/web: (absent) -> 192.0.2.1"


def test_what_if_changes_name_service_field_before_and_after():
    from ironlb.reconcile.plan.diff import service_changes

    before = plan()
    after = plan(ips=("192.0.2.9",), node="n2", routes=("192.0.2.0/24",))
    changes = {c["field"]: (c["before"], c["after"]) for c in service_changes(before, after)}
    assert changes["addresses"] == (["192.0.2.1"], ["192.0.2.9"])
    assert changes["node"] == ({"192.0.2.1": "n1"}, {"192.0.2.9": "n2"})
    assert "peers" not in changes  # an aggregate route still carries it to n1/tor
    gone = plan(routes=())
    assert {c["field"]: c["after"] for c in service_changes(before, gone)}["peers"] is None
