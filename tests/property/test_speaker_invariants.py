"""The speaker fold under random clusters: every node agrees, elections follow MetalLB's rule,
incremental updates equal a fold from scratch, and BGP only goes to peers that select the node."""

from __future__ import annotations

import hashlib

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ironlb.announce.k8s.service_events import speaker_events
from ironlb.announce.k8s.status_content import service_statuses, speaker_statuses
from ironlb.app.snapshots import FoldSnapshot, decode_snapshot, encode_snapshot
from ironlb.events.record import EventType, Record
from ironlb.reconcile.controller.fold import ControllerFold
from ironlb.reconcile.speaker.fold import SpeakerFold
from tests.k8s import (
    bgp,
    endpoints,
    key_of,
    kind_of,
    link,
    membership,
    metallb,
    node,
    node_links,
    peer,
    pool,
    service,
)

NODES = ["n0", "n1", "n2", "n3", "n4"]
SERVICES = [f"s{i}" for i in range(6)]
EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"
L2_VARIANTS = {
    "all": {},
    "zone-a": {"nodeSelectors": [{"matchLabels": {"zone": "a"}}]},
    "prefer-b": {
        "preferredNodeSelectors": [{"weight": 5, "preference": {"matchLabels": {"zone": "b"}}}]
    },
    "eth0": {"interfaces": ["eth0"]},
    "web-only": {"serviceSelectors": [{"matchLabels": {"app": "web"}}]},
}
PEERS = {
    "tor-a": peer("tor-a", peerAddress="10.0.0.1", nodeSelectors=[{"matchLabels": {"zone": "a"}}]),
    "tor-b": peer(
        "tor-b",
        peer_asn=65000,
        peerAddress="10.0.0.2",
        nodeSelectors=[{"matchLabels": {"zone": "b"}}],
    ),
    "all": peer("all", peer_asn=65001, peerAddress="10.0.0.3"),
}


def order_key(node_name: str, ip: str, score: int) -> tuple:
    return (-score, hashlib.sha256(f"{node_name}#{ip}".encode()).digest())


class SpeakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[Record] = []
        self.objects: dict[tuple[str, str], dict] = {}  # the cluster as the oracle sees it
        self.live = SpeakerFold(node="n0")  # incremental, like a speaker process on n0
        self.restored: SpeakerFold | None = None  # from a snapshot, fed what followed
        self.held: dict[str, set] = {}  # n0's routes by peer, kept from RouteDeltas alone
        self.held_version = 0
        self.statuses: dict[str, dict] = {}  # node -> its status objects, kept as published
        self.status_plans: dict[str, object] = {}  # node -> the plan they were kept for
        self.emit(pool("p", "192.0.2.0/28"))
        # BGP from the start (set_bgp changes it): a random configuration rarely has
        # the peer, advertisement, node and endpoints that make a route all at once.
        self.emit(PEERS["all"])
        self.emit(bgp("adv"))
        self.emit(node("n0", zone="a"))
        self.emit(metallb("L2Advertisement", "all", {}))

    def emit(self, obj: dict, event: EventType = EventType.ADDED) -> None:
        kind, key = kind_of(obj), key_of(obj)
        record = Record(len(self.records) + 1, 0.0, "test", event, kind, key, None, obj)
        self.records.append(record)
        if event is EventType.DELETED:
            self.objects.pop((obj["kind"], key), None)
        else:
            self.objects[(obj["kind"], key)] = obj
        self.live.apply(record)
        self.live.refresh()
        if self.restored is not None:
            self.restored.apply(record)

    def of_kind(self, kind: str) -> dict[str, dict]:
        return {key: obj for (k, key), obj in self.objects.items() if k == kind}

    # --- rules ------------------------------------------------------------

    @rule(
        name=st.sampled_from(NODES),
        zone=st.sampled_from(["a", "b"]),
        unavailable=st.booleans(),
        excluded=st.booleans(),
        ready=st.booleans(),
    )
    def set_node(self, name, zone, unavailable, excluded, ready):
        labels = {"zone": zone, **({EXCLUDE: ""} if excluded else {})}
        self.emit(node(name, unavailable=unavailable, ready=ready, **labels))

    @rule(name=st.sampled_from(NODES))
    def delete_node(self, name):
        if ("Node", name) not in self.objects:
            return
        before = self.winners()
        self.emit(self.objects[("Node", name)], EventType.DELETED)
        after = self.winners()
        # Removing a node moves only the addresses it announced.
        for key, winner in before.items():
            if winner is not None and winner != name and key in after:
                assert after[key] == winner, (key, winner, after[key])

    @rule(name=st.sampled_from(NODES), alive=st.booleans())
    def set_membership(self, name, alive):
        self.emit(membership(name, alive))

    @rule(
        index=st.integers(0, len(SERVICES) - 1),
        local=st.booleans(),
        web=st.booleans(),
        shared=st.booleans(),
    )
    def set_service(self, index, local, web, shared):
        ip = f"192.0.2.{1 + index % 4}"  # some Services share an address
        annotations = {"metallb.io/allow-shared-ip": "k"} if shared else {}
        obj = service(
            SERVICES[index],
            labels={"app": "web" if web else "db"},
            annotations=annotations,
            status=[ip],
            ports=[("TCP", 80 + index)],
            externalTrafficPolicy="Local" if local else "Cluster",
        )
        self.emit(obj)

    @rule(index=st.integers(0, len(SERVICES) - 1))
    def delete_service(self, index):
        key = ("Service", f"default/{SERVICES[index]}")
        if key in self.objects:
            self.emit(self.objects[key], EventType.DELETED)

    @rule(
        index=st.integers(0, len(SERVICES) - 1),
        nodes=st.lists(st.sampled_from(NODES), max_size=3, unique=True),
        conditions=st.sampled_from(
            [{"ready": True}, {"ready": False, "serving": True}, {"ready": False}]
        ),
    )
    def set_endpoints(self, index, nodes, conditions):
        self.emit(endpoints(SERVICES[index], *nodes, **conditions))

    @rule(variant=st.sampled_from(sorted(L2_VARIANTS)), present=st.booleans())
    def set_l2_advertisement(self, variant, present):
        obj = metallb("L2Advertisement", variant, L2_VARIANTS[variant])
        if present:
            self.emit(obj)
        elif ("L2Advertisement", f"metallb-system/{variant}") in self.objects:
            self.emit(obj, EventType.DELETED)

    @rule(
        name=st.sampled_from(sorted(PEERS)),
        present=st.booleans(),
        peers=st.lists(st.sampled_from(sorted(PEERS)), max_size=2, unique=True),
    )
    def set_bgp(self, name, present, peers):
        self.emit(PEERS[name])
        if not present:
            self.emit(PEERS[name], EventType.DELETED)
        self.emit(bgp("adv", peers=peers))

    @rule(name=st.sampled_from(NODES), eth0=st.booleans())
    def set_links(self, name, eth0):
        self.emit(node_links(name, link("eth0" if eth0 else "eth1")))

    # --- the oracle ---------------------------------------------------------

    def winners(self) -> dict[str, str | None]:
        return {
            key: by_ip[min(by_ip)].node if by_ip[min(by_ip)].announced else None
            for key, by_ip in self.live.l2().items()
        }

    def usable(self) -> set[str]:
        nodes = self.of_kind("Node")
        members = self.of_kind("SpeakerMembership")
        live = {n for n, m in members.items() if m["alive"]} if members else set(nodes)
        result = set()
        for name, obj in nodes.items():
            conditions = obj["status"]["conditions"]
            down = any(c["type"] == "NetworkUnavailable" for c in conditions)
            if name in live and not down and EXCLUDE not in obj["metadata"]["labels"]:
                result.add(name)
        return result

    def expected_winner(self, svc: dict) -> tuple[str | None, bool]:
        """The node MetalLB elects for this Service, and whether any candidate exists."""
        nodes = self.of_kind("Node")
        labels = svc["metadata"]["labels"]
        ads = [
            name
            for (kind, key), _ in self.objects.items()
            if kind == "L2Advertisement"
            and (name := key.split("/")[1])
            and (name != "web-only" or labels["app"] == "web")
        ]
        if not ads or (
            "web-only" in ads and svc["metadata"]["annotations"].get("metallb.io/allow-shared-ip")
        ):
            return None, False
        name = svc["metadata"]["name"]
        slice_ = self.objects.get(("EndpointSlice", f"default/{name}-slice"))
        serving = set()
        if slice_ is not None:
            for endpoint in slice_["endpoints"]:
                c = endpoint["conditions"]
                if c.get("ready", True) or c.get("serving"):
                    serving.add(endpoint["nodeName"])
        if not serving:
            return None, False
        advertised = set()
        for ad in ads:
            if ad == "zone-a":
                advertised |= {
                    n for n, o in nodes.items() if o["metadata"]["labels"]["zone"] == "a"
                }
            else:
                advertised |= set(nodes)
        candidates = advertised & self.usable()
        if svc["spec"]["externalTrafficPolicy"] == "Local":
            candidates &= serving
        if not candidates:
            return None, False
        ip = svc["status"]["loadBalancer"]["ingress"][0]["ip"]

        def score(n: str) -> int:
            zone_b = nodes[n]["metadata"]["labels"]["zone"] == "b"
            return 5 if "prefer-b" in ads and zone_b else 0

        return min(candidates, key=lambda n: order_key(n, ip, score(n))), True

    # --- invariants -----------------------------------------------------------

    @invariant()
    def a_bgp_effector_fed_only_route_deltas_holds_each_plans_routes(self):
        """What the BGP effector does with the fold's plans: it keeps the routes
        it holds and applies each plan's RouteDelta. (Named to run first among the
        invariants: the others plan n0 too, and each plan takes the changes since
        the one before.)"""
        plan = self.live.node_plan("n0")
        delta = plan.route_delta
        assert delta is not None and delta.lineage == self.live._journal.lineage
        assert delta.since == self.held_version, (delta, self.held_version)
        for name in delta.added.keys() | delta.removed.keys():
            held = self.held.setdefault(name, set())
            assert not held & delta.added.get(name, frozenset())  # added: not held before
            assert delta.removed.get(name, frozenset()) <= held  # removed: held before
            held -= delta.removed.get(name, frozenset())
            held |= delta.added.get(name, frozenset())
        self.held_version = delta.until
        wanted = {name: set(routes) for name, routes in plan.bgp.items() if routes}
        assert {name: routes for name, routes in self.held.items() if routes} == wanted

    @invariant()
    def status_objects_kept_for_changed_services_are_all_of_them(self):
        """What each node's status publisher does after its first plan: only the
        Services the fold says changed are looked at again."""
        changed = self.live.take_changed()
        for name in NODES:
            plan = self.live.node_plan(name)
            full = speaker_statuses(plan, "metallb-system", {}, ())
            full = {r: s for r, s in full.items() if s.kind != "ConfigurationState"}
            kept = self.statuses.get(name)
            if kept is None:
                kept = self.statuses[name] = dict(full)
            else:
                wanted, gone = service_statuses(plan, "metallb-system", {}, changed)
                for ref in gone:
                    kept.pop(ref, None)
                kept.update(wanted)
                before = self.status_plans[name]
                events = speaker_events(plan, before, str, changed)
                assert events == speaker_events(plan, before, str)
            assert kept == full, name
            self.status_plans[name] = plan

    @invariant()
    def elections_follow_metallbs_rule(self):
        l2 = self.live.l2()
        for key, svc in self.of_kind("Service").items():
            winner, _exists = self.expected_winner(svc)
            if key not in l2:
                assert winner is None
                continue
            first = l2[key][min(l2[key])]
            assert first.node == winner, (key, first, winner)
            if winner is not None and svc["spec"]["externalTrafficPolicy"] == "Local":
                slice_ = self.objects[("EndpointSlice", f"{key}-slice")]
                assert winner in {e["nodeName"] for e in slice_["endpoints"]}

    @rule()
    def snapshot(self):
        saved = encode_snapshot(FoldSnapshot(len(self.records), ControllerFold(), self.live))
        self.restored = decode_snapshot(saved).speaker_fold(node=self.live.node)

    @invariant()
    def a_fold_restored_from_a_snapshot_continues_exactly(self):
        if self.restored is not None:
            for name in NODES:
                ours, theirs = self.live.node_plan(name), self.restored.node_plan(name)
                assert ours.to_json() == theirs.to_json()
                assert ours.not_announced == theirs.not_announced

    @invariant()
    def incremental_equals_from_scratch_and_every_node_agrees(self):
        fresh = SpeakerFold().apply_all(self.records)
        assert fresh.l2() == self.live.l2()
        for name in NODES:
            ours, theirs = self.live.node_plan(name), fresh.node_plan(name)
            assert ours.to_json() == theirs.to_json()
            assert ours.not_announced == theirs.not_announced
            assert ours.bgp_status == theirs.bgp_status
        on_n3 = SpeakerFold(node="n3").apply_all(self.records)
        assert on_n3.l2() == self.live.l2()

    @invariant()
    def the_plan_of_every_node_at_once_is_each_nodes_own(self):
        # `plan` computes alike nodes' routes once, then adds each node's Local
        # Services: the result must be exactly what each node plans for itself.
        together = self.live.plan().to_json()["bgp"]
        for name in NODES:
            alone = self.live.node_plan(name).to_json()["bgp"].get(name, {})
            assert together.get(name, {}) == alone, name

    @invariant()
    def at_most_one_node_announces_each_address(self):
        seen: dict[tuple[str, str], str] = {}
        for name in NODES:
            for key, by_ip in self.live.node_plan(name).l2.items():
                for ip in by_ip:
                    assert (key, ip) not in seen, (key, ip, seen[(key, ip)], name)
                    seen[(key, ip)] = name

    @invariant()
    def bgp_goes_only_to_peers_that_select_the_node(self):
        nodes = self.of_kind("Node")
        for name in NODES:
            plan = self.live.node_plan(name)
            zone = nodes[name]["metadata"]["labels"]["zone"] if name in nodes else None
            for peer_name in plan.bgp:
                assert peer_name == "all" or peer_name == f"tor-{zone}"


TestSpeakerInvariants = SpeakerMachine.TestCase
TestSpeakerInvariants.settings = settings(
    settings.default,
    max_examples=max(100, settings.default.max_examples // 20),
    stateful_step_count=25,
    deadline=None,
)
