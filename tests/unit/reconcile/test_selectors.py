"""Label selectors as Kubernetes reads them, and MetalLB's OR over a list of them."""

from __future__ import annotations

import pytest

from ironlb.reconcile.selectors import SelectorError, any_matches, parse_selector


def test_match_labels_and_expressions_are_all_required():
    selector = parse_selector(
        {
            "matchLabels": {"zone": "a"},
            "matchExpressions": [
                {"key": "rack", "operator": "In", "values": ["1", "2"]},
                {"key": "spare", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector.matches({"zone": "a", "rack": "2"})
    assert not selector.matches({"zone": "a", "rack": "3"})
    assert not selector.matches({"zone": "a", "rack": "1", "spare": ""})
    assert not selector.matches({"rack": "1"})


@pytest.mark.parametrize(
    ("operator", "values", "labels", "matches"),
    [
        ("In", ["x"], {"k": "x"}, True),
        ("In", ["x"], {}, False),
        ("NotIn", ["x"], {}, True),  # absent is "not in", as in Kubernetes
        ("NotIn", ["x"], {"k": "x"}, False),
        ("Exists", [], {"k": ""}, True),
        ("DoesNotExist", [], {"k": ""}, False),
    ],
)
def test_operators(operator, values, labels, matches):
    expression = {"key": "k", "operator": operator, "values": values}
    assert parse_selector({"matchExpressions": [expression]}).matches(labels) is matches


def test_an_empty_selector_matches_everything_but_an_empty_list_nothing():
    assert parse_selector(None).matches({"any": "thing"})
    assert parse_selector({}).is_empty
    assert not any_matches([], {"any": "thing"})
    assert any_matches([parse_selector({"matchLabels": {"a": "1"}}), parse_selector({})], {})


def test_equal_selectors_read_the_same_whatever_the_order_written():
    one = parse_selector({"matchLabels": {"b": "2", "a": "1"}})
    other = parse_selector({"matchLabels": {"a": "1", "b": "2"}})
    assert one == other and one.text == "a=1,b=2"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "a label selector must be an object"),
        ({"matchLabels": []}, "matchLabels must be an object"),
        ({"matchLabels": {"bad key!": "x"}}, "invalid label key"),
        ({"matchLabels": {"k": "no spaces"}}, "invalid label value"),
        ({"matchExpressions": [{"key": "k", "operator": "Near"}]}, "operator 'Near'"),
        ({"matchExpressions": [{"key": "k", "operator": "In"}]}, "needs at least one value"),
        ({"matchExpressions": [{"key": "k", "operator": "Exists", "values": ["v"]}]}, "no values"),
        (
            {"matchExpressions": [{"key": "k", "operator": "Exists"}] * 2},
            "duplicate match expression",
        ),
    ],
)
def test_what_kubernetes_refuses_is_refused_with_the_part_named(raw, message):
    with pytest.raises(SelectorError, match=message):
        parse_selector(raw)
