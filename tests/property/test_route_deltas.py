"""The speaker fold's RouteDeltas under random BGP changes: an effector that keeps its
routes and applies only each plan's delta holds exactly the plan's routes.

Services share addresses and aggregate into the same prefixes, so one route has
several makers; advertisements gain and lose peers and communities, so routes
change for some peers only."""

from __future__ import annotations

import random

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ironlb.events.record import EventType, Record
from ironlb.reconcile.plan.speaker import BGPRoute, route_order
from ironlb.reconcile.speaker.fold import SpeakerFold
from ironlb.reconcile.speaker.route_journal import RouteJournal
from tests.k8s import bgp, endpoints, key_of, kind_of, node, peer, pool, service

SERVICES = [f"s{i}" for i in range(5)]
ADDRESSES = [f"192.0.2.{i}" for i in (1, 2, 5, 9)]  # /30 aggregation joins .1 and .2


class RouteDeltaMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.fold = SpeakerFold(node="n0")
        self.records: list[Record] = []
        self.seq = 0
        self.objects: dict[tuple[str, str], dict] = {}
        for obj in (
            pool("p", "192.0.2.0/28"),
            node("n0", zone="a"),
            peer("all", peerAddress="10.0.0.3"),
            peer("tor-a", peerAddress="10.0.0.1", nodeSelectors=[{"matchLabels": {"zone": "a"}}]),
            bgp("adv"),
        ):
            self.emit(obj)
        self.held: dict[str, set] = {}
        self.version = 0

    def emit(self, obj: dict, event: EventType = EventType.ADDED) -> None:
        self.seq += 1
        record = Record(self.seq, 0.0, "test", event, kind_of(obj), key_of(obj), None, obj)
        if event is EventType.DELETED:
            self.objects.pop((obj["kind"], key_of(obj)), None)
        else:
            self.objects[(obj["kind"], key_of(obj))] = obj
        self.fold.apply(record)
        self.records.append(record)

    @rule(
        index=st.integers(0, len(SERVICES) - 1),
        addresses=st.lists(st.sampled_from(ADDRESSES), min_size=1, max_size=2, unique=True),
        web=st.booleans(),
    )
    def set_service(self, index, addresses, web):
        shared = {"metallb.io/allow-shared-ip": "k"}
        labels = {"app": "web" if web else "db"}
        obj = service(SERVICES[index], annotations=shared, labels=labels, status=addresses)
        self.emit(obj)
        self.emit(endpoints(SERVICES[index], "n0"))

    @rule(index=st.integers(0, len(SERVICES) - 1))
    def delete_service(self, index):
        key = ("Service", f"default/{SERVICES[index]}")
        if key in self.objects:
            self.emit(self.objects[key], EventType.DELETED)

    @rule(index=st.integers(0, len(SERVICES) - 1), ready=st.booleans())
    def set_endpoints(self, index, ready):
        self.emit(endpoints(SERVICES[index], "n0", ready=ready))

    @rule(
        name=st.sampled_from(["adv", "web"]),
        peers=st.lists(st.sampled_from(["all", "tor-a"]), max_size=2, unique=True),
        length=st.sampled_from([32, 30]),
        community=st.sampled_from([None, "64512:1", "64512:2"]),
        present=st.booleans(),
    )
    def set_advertisement(self, name, peers, length, community, present):
        spec = {"peers": peers, "aggregationLength": length}
        if community:
            spec["communities"] = [community]
        if name == "web":
            spec["serviceSelectors"] = [{"matchLabels": {"app": "web"}}]
        obj = bgp(name, **spec)
        if present:
            self.emit(obj)
        elif ("BGPAdvertisement", key_of(obj)) in self.objects:
            self.emit(obj, EventType.DELETED)

    @rule(ready=st.booleans())
    def set_node(self, ready):
        self.emit(node("n0", zone="a", unavailable=not ready))

    @invariant()
    def routes_kept_from_deltas_alone_are_the_plans(self):
        plan = self.fold.node_plan("n0")
        delta = plan.route_delta
        assert delta is not None and delta.since == self.version, (delta, self.version)
        for name in delta.added.keys() | delta.removed.keys():
            held = self.held.setdefault(name, set())
            added, removed = (
                delta.added.get(name, frozenset()),
                delta.removed.get(name, frozenset()),
            )
            assert not held & added and removed <= held and not added & removed
            held.difference_update(removed)
            held.update(added)
        assert delta.until == self.version + bool(delta.added or delta.removed)
        self.version = delta.until
        held = {name: routes for name, routes in self.held.items() if routes}
        assert held == {name: set(routes) for name, routes in plan.bgp.items() if routes}
        # What the fold keeps Service by Service for its own node is what any fold
        # works out for n0 from the whole log: the routes in order, statuses, reasons.
        scratch = SpeakerFold().apply_all(self.records).node_plan("n0")
        assert plan.bgp == scratch.bgp
        assert plan.bgp_status == scratch.bgp_status
        assert plan.not_announced == scratch.not_announced
        # Planned again with nothing changed: an empty delta at the same version.
        again = self.fold.node_plan("n0").route_delta
        assert again is not None and (again.since, again.until) == (self.version, self.version)
        assert not again.added and not again.removed


TestRouteDeltas = RouteDeltaMachine.TestCase
TestRouteDeltas.settings = settings(
    settings.default,
    max_examples=max(100, settings.default.max_examples // 20),
    stateful_step_count=30,
    deadline=None,
)


def test_a_route_two_services_make_stays_until_the_last_one_goes():
    journal = RouteJournal()
    route = object.__new__(type("R", (), {}))  # any hashable value stands for a route
    journal.replace({}, {"tor": (route,)})
    journal.replace({}, {"tor": (route,)})
    first = journal.take()
    assert first.added == {"tor": frozenset({route})} and (first.since, first.until) == (0, 1)
    journal.replace({"tor": (route,)}, {})
    assert journal.take().removed == {}  # the other Service still makes it
    journal.replace({"tor": (route,)}, {})
    assert journal.take().removed == {"tor": frozenset({route})}
    assert journal.ordered("tor") == ()


def test_a_route_gone_and_back_between_plans_is_no_change():
    journal = RouteJournal()
    journal.replace({}, {"tor": ("r",)})
    journal.take()
    journal.replace({"tor": ("r",)}, {})
    journal.replace({}, {"tor": ("r",)})
    delta = journal.take()
    assert not delta.added and not delta.removed and delta.since == delta.until == 1


def test_routes_stay_in_order_through_single_changes_and_bulk_ones():
    routes = [BGPRoute(f"10.0.{i // 256}.{i % 256}/32", None, (), ()) for i in range(1000)]
    journal = RouteJournal()
    shuffled = random.Random(7).sample(routes, len(routes))
    for route in shuffled[:600]:  # a bulk before the first plan: sorted once
        journal.replace({}, {"tor": (route,)})
    assert journal.ordered("tor") == tuple(sorted(shuffled[:600], key=route_order))
    journal.take()
    for route in shuffled[600:610]:  # a few: each put in its place
        journal.replace({}, {"tor": (route,)})
    for route in shuffled[:5]:
        journal.replace({"tor": (route,)}, {})
    assert journal.ordered("tor") == tuple(sorted(shuffled[5:610], key=route_order))
    journal.take()
    for route in shuffled[5:400]:  # many gone at once, after an ordered plan
        journal.replace({"tor": (route,)}, {})
    assert journal.ordered("tor") == tuple(sorted(shuffled[400:610], key=route_order))
