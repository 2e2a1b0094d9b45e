"""What a speaker process does with each plan: effectors get every changed plan
(a session parameter alone included), and ``metallb_speaker_announced`` follows
the Services announced, kept up to date one changed Service at a time."""

from __future__ import annotations

import io
import json

from ironlb.app.speaker import SpeakerRuntime
from ironlb.reconcile.plan.speaker import NodePlan
from ironlb.store import open_store
from tests.k8s import bgp, endpoints, l2, node, peer, pool, records, service


class Recorder:
    def __init__(self) -> None:
        self.plans: list[NodePlan] = []

    def apply(self, plan: NodePlan) -> None:
        self.plans.append(plan)

    def close(self) -> None:
        pass


class Node1:
    """A speaker runtime for n1 driven a batch at a time, with no sockets."""

    def __init__(self, tmp_path) -> None:
        self.effector = Recorder()
        self.out = io.StringIO()
        self.runtime = SpeakerRuntime(
            "n1",
            events_url=f"file://{tmp_path / 'events'}",
            store_url=f"file://{tmp_path / 'own'}",
            links=False,
            bgp=False,
            effectors=[self.effector],
            plans_out=self.out,
        )
        self.own = open_store(f"file://{tmp_path / 'own'}")
        self.seq = 0

    def fold(self, *objects: dict) -> None:
        batch = records(*objects, start=self.seq + 1)
        self.seq += len(batch)
        self.runtime._append(self.own, batch)
        self.runtime._publish(self.own)

    def announced(self) -> set[tuple[str, str, str]]:
        counters = self.runtime.counters
        with counters._lock:
            return {
                (labels["service"], labels["protocol"], labels["ip"])
                for (name, series), value in counters._gauges.items()
                if name == "metallb_speaker_announced" and value == 1
                for labels in [dict(series)]
            }

    def printed(self) -> list[dict]:
        return [json.loads(line) for line in self.out.getvalue().splitlines()]


def test_the_announced_gauge_follows_each_service_and_each_plan_reaches_the_effectors(tmp_path):
    n1 = Node1(tmp_path)
    n1.fold(
        node("n1"),
        pool("p", "192.0.2.0/28"),
        peer("tor", peerAddress="10.0.0.1"),
        bgp("all"),
        l2("all"),
        service("web", status=["192.0.2.1"]),
        endpoints("web", "n1"),
        service("db", status=["192.0.2.2"]),
        endpoints("db", "n1"),
    )
    assert n1.announced() == {
        ("default/web", "bgp", "192.0.2.1"),
        ("default/web", "layer2", "192.0.2.1"),
        ("default/db", "bgp", "192.0.2.2"),
        ("default/db", "layer2", "192.0.2.2"),
    }
    n1.fold(service("web", status=["192.0.2.3"]))  # a new address: the old one's series go
    n1.fold(endpoints("db", "n1", ready=False))  # no endpoint: db is announced no more
    assert n1.announced() == {
        ("default/web", "bgp", "192.0.2.3"),
        ("default/web", "layer2", "192.0.2.3"),
    }
    assert n1.effector.plans[-1].bgp["tor"][0].prefix == "192.0.2.3/32"
    printed = len(n1.printed())

    # A session parameter alone: the plan's printed part is the same, yet the
    # effectors must hear of it (the BGP effector redials with the new hold time).
    n1.fold(peer("tor", peerAddress="10.0.0.1", holdTime="30s"))
    assert n1.effector.plans[-1].sessions["tor"].hold_time == 30
    assert len(n1.printed()) == printed  # nothing printed changed: no new line
