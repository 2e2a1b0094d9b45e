"""The BGP effector over real TCP against a peer built on the same sans-IO session:
it converges to each plan (announce, withdraw, change routes without a reset, drop
a peer with a Cease) and reports MetalLB's metrics; fed the speaker fold's plans, it
sends what each RouteDelta changed."""

from __future__ import annotations

import random
import socket
import threading

import attrs

from ironlb.announce.bgp.messages import Notification, Update, decode, split_messages
from ironlb.announce.bgp.session import Send, Session, SessionConfig
from ironlb.announce.bgp.speaker import BgpSpeaker
from ironlb.announce.metrics import Counters
from ironlb.events.record import EventType, Record
from ironlb.reconcile.plan.speaker import BGPRoute, NodePlan
from ironlb.reconcile.speaker.fold import SpeakerFold
from tests.k8s import bgp, endpoints, key_of, kind_of, node, peer, pool, service, session_plan

DEADLINE = 30.0


def low_port_server() -> socket.socket:
    """A listener on a free port a BGPPeer may name (peerPort is at most 16384)."""
    for port in random.sample(range(10_000, 16_385), 200):
        try:
            return socket.create_server(("127.0.0.1", port))
        except OSError:
            continue
    raise OSError("no free port from 10000 to 16384")


class Router:
    """A passive BGP peer on 127.0.0.1: what it holds, and every connection it took."""

    def __init__(self, low_port: bool = False) -> None:
        self.listener = low_port_server() if low_port else socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.ribs: list[set[str]] = []  # per connection, newest last
        self.notifications: list[Notification] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.changed:
                self.ribs.append(set())
                rib = self.ribs[-1]
            threading.Thread(target=self._serve, args=(conn, rib), daemon=True).start()

    @property
    def connections(self) -> int:
        return len(self.ribs)

    @property
    def rib(self) -> set[str]:
        """What the newest connection holds."""
        return self.ribs[-1] if self.ribs else set()

    def _serve(self, conn: socket.socket, rib: set[str]) -> None:
        session = Session(SessionConfig(my_asn=64513, peer_asn=64512, router_id="10.0.0.2"))
        session.start(0)
        self._send(conn, session.connection_made(0, "127.0.0.1"))
        pending = b""
        while data := conn.recv(65536):
            frames, pending = split_messages(pending + data)
            with self.changed:
                for frame in frames:
                    message = decode(frame)
                    if isinstance(message, Update):
                        rib.difference_update(message.withdrawn)
                        rib.update(message.nlri)
                    elif isinstance(message, Notification):
                        self.notifications.append(message)
                self.changed.notify_all()
            self._send(conn, session.data_received(0, data))
        with self.changed:
            rib.clear()  # a closed session holds nothing
            self.changed.notify_all()

    @staticmethod
    def _send(conn: socket.socket, actions: list) -> None:
        for action in actions:
            if isinstance(action, Send):
                conn.sendall(action.data)

    def wait_for(self, predicate) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self), DEADLINE), self.rib


def plan(port: int, prefixes: list[str], peers: int = 1) -> NodePlan:
    session = session_plan("r", "127.0.0.1", port, router_id="10.0.0.1", ebgp_multihop=True)
    routes = tuple(BGPRoute(p, None, ("64512:7",), ()) for p in prefixes)
    sessions = {"r": session} if peers else {}
    return NodePlan("n1", {}, {"r": routes} if peers else {}, sessions, {}, {}, {})


def test_the_speaker_converges_to_each_plan_without_resetting_the_session():
    router, counters = Router(), Counters()
    speaker = BgpSpeaker("n1", counters=counters)
    label = f"127.0.0.1:{router.port}"
    try:
        speaker.apply(plan(router.port, ["192.0.2.1/32", "192.0.2.2/32"]))
        router.wait_for(lambda r: r.rib == {"192.0.2.1/32", "192.0.2.2/32"})
        speaker.apply(plan(router.port, ["192.0.2.2/32", "192.0.2.3/32"]))
        router.wait_for(lambda r: r.rib == {"192.0.2.2/32", "192.0.2.3/32"})
        assert router.connections == 1  # changed routes, same session
        assert speaker.sessions() == {"r": "Established"}
        assert counters.get("metallb_bgp_session_up", peer=label) == 1
        assert counters.get("metallb_bgp_announced_prefixes_total", peer=label) == 2
        assert counters.get("metallb_bgp_updates_total", peer=label) >= 3
        frr = {"peer": label, "vrf": "default"}  # MetalLB's FRR-mode counters
        assert counters.get("metallb_bgp_opens_sent", **frr) == 1
        assert counters.get("metallb_bgp_opens_received", **frr) == 1
        assert counters.get("metallb_bgp_keepalives_received", **frr) >= 1
        assert counters.get("metallb_bgp_updates_total_received", **frr) == 0  # the router's none
        assert counters.get("metallb_bgp_notifications_sent", **frr) == 0

        speaker.apply(plan(router.port, [], peers=0))  # the peer left the plan
        router.wait_for(lambda r: Notification(6, 2) in r.notifications and not r.rib)
        assert speaker.sessions() == {}
        assert counters.get("metallb_bgp_notifications_sent", **frr) == 1  # the Cease
        kinds = ("opens", "keepalives", "notifications")
        sent = sum(counters.get(f"metallb_bgp_{kind}_sent", **frr) for kind in kinds)
        sent += counters.get("metallb_bgp_updates_total", peer=label)
        assert counters.get("metallb_bgp_total_sent", **frr) == sent
    finally:
        speaker.close()
        router.listener.close()


def test_a_changed_connection_parameter_redials():
    router = Router()
    speaker = BgpSpeaker("n1")
    try:
        first = plan(router.port, ["192.0.2.1/32"])
        speaker.apply(first)
        router.wait_for(lambda r: r.rib == {"192.0.2.1/32"})
        session = attrs.evolve(first.sessions["r"], hold_time=30)
        speaker.apply(attrs.evolve(first, sessions={"r": session}))
        router.wait_for(lambda r: r.connections == 2 and r.rib == {"192.0.2.1/32"})
    finally:
        speaker.close()
        router.listener.close()


class FoldedNode:
    """A speaker fold for node n1 peering with the test router, Services added by name."""

    def __init__(self, port: int) -> None:
        self.fold = SpeakerFold(node="n1")
        self.seq = 0
        spec = {"peerPort": port, "ebgpMultiHop": True, "routerID": "10.0.0.1"}
        for obj in (
            pool("p", "192.0.2.0/24"),
            node("n1"),
            peer("r", peer_asn=64513, peerAddress="127.0.0.1", **spec),
            bgp("all"),
        ):
            self.emit(obj)

    def emit(self, obj: dict, event: EventType = EventType.ADDED) -> None:
        self.seq += 1
        self.fold.apply(Record(self.seq, 0.0, "test", event, kind_of(obj), key_of(obj), None, obj))

    def add_service(self, name: str, ip: str) -> NodePlan:
        self.emit(service(name, status=[ip]))
        self.emit(endpoints(name, "n1"))
        plan = self.fold.node_plan("n1")
        assert "r" in plan.sessions, self.fold.config_errors
        return plan

    def delete_service(self, name: str, ip: str) -> NodePlan:
        self.emit(service(name, status=[ip]), EventType.DELETED)
        return self.fold.node_plan("n1")


def prefixes(plan: NodePlan) -> set[str]:
    return {route.prefix for route in plan.bgp["r"]}


def test_the_speaker_follows_the_folds_plans_by_their_route_deltas():
    router = Router(low_port=True)
    speaker = BgpSpeaker("n1")
    node_ = FoldedNode(router.port)
    try:
        first = node_.add_service("a", "192.0.2.1")
        speaker.apply(first)  # a new session: the whole plan
        router.wait_for(lambda r: r.rib == {"192.0.2.1/32"})
        second = node_.add_service("b", "192.0.2.2")
        assert second.route_delta.added["r"] == {BGPRoute("192.0.2.2/32", None, (), ())}
        # The plan's full routes left as they were: the router still gets b, so the
        # effector read the delta (what it changed), not the 100,000 routes it holds.
        speaker.apply(attrs.evolve(second, bgp=first.bgp))
        router.wait_for(lambda r: r.rib == {"192.0.2.1/32", "192.0.2.2/32"})
        third = node_.delete_service("a", "192.0.2.1")
        speaker.apply(third)
        router.wait_for(lambda r: r.rib == prefixes(third) == {"192.0.2.2/32"})
        assert router.connections == 1
    finally:
        speaker.close()
        router.listener.close()


def test_a_plan_whose_delta_starts_elsewhere_is_diffed_whole():
    router = Router(low_port=True)
    speaker = BgpSpeaker("n1")
    node_ = FoldedNode(router.port)
    try:
        speaker.apply(node_.add_service("a", "192.0.2.1"))
        router.wait_for(lambda r: r.rib == {"192.0.2.1/32"})
        node_.add_service("b", "192.0.2.2")  # planned, never applied: a version skipped
        third = node_.add_service("c", "192.0.2.3")
        assert third.route_delta.added["r"] == {BGPRoute("192.0.2.3/32", None, (), ())}
        speaker.apply(third)
        router.wait_for(
            lambda r: r.rib == prefixes(third) == {f"192.0.2.{i}/32" for i in (1, 2, 3)}
        )
        # A restored fold (a new lineage) plans the same routes: nothing to send.
        restarted = FoldedNode(router.port)
        restarted.add_service("b", "192.0.2.2")
        restarted.add_service("c", "192.0.2.3")
        speaker.apply(restarted.delete_service("a", "192.0.2.1"))
        router.wait_for(lambda r: r.rib == {"192.0.2.2/32", "192.0.2.3/32"})
    finally:
        speaker.close()
        router.listener.close()
