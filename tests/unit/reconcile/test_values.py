"""Plans and configurations are values: equal when equal, hashable, immutable."""

from __future__ import annotations

import pytest

from ironlb.reconcile.frozen import FrozenMap, freeze
from ironlb.tools.inputs import default_inputs, read_inputs
from ironlb.tools.planner import Planner


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner().apply_all(read_inputs(default_inputs()))


def test_plans_and_configurations_hash_and_compare_as_values(planner):
    controller = planner.controller.plan()
    assert hash(controller) == hash(planner.controller.plan())
    assert controller == planner.controller.plan()
    for node in planner.speakers.node_names():
        plan = planner.speakers.node_plan(node)
        assert hash(plan) == hash(planner.speakers.node_plan(node))
    assert hash(planner.speakers.plan()) == hash(planner.speakers.plan())
    config = planner.controller.config
    assert {config: "usable as a key"}[planner.controller.config]


def test_their_mappings_cannot_be_changed(planner):
    plan = planner.speakers.node_plan(planner.speakers.node_names()[0])
    with pytest.raises(TypeError):
        plan.l2["default/x"] = {}  # type: ignore[index]
    assert isinstance(plan.bgp, FrozenMap) and isinstance(plan.sessions, FrozenMap)


def test_a_frozen_map_equals_the_dict_it_holds():
    assert freeze({"a": 1}) == {"a": 1} and freeze({}) == {} and freeze(None) == {}
    assert hash(freeze({"a": 1, "b": 2})) == hash(freeze({"b": 2, "a": 1}))
