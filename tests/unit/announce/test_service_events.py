"""The speakers' Events: nodeAssigned when this node's announcement of a Service
begins, announceFailed when the interfaces its advertisement lists are missing."""

from __future__ import annotations

from ironlb.announce.k8s.service_events import speaker_events
from tests.k8s import endpoints, link, metallb, node, node_links, pool, service, speakers_fold

POOL = pool("p", "192.0.2.0/28")
NODES = [node("n1"), node("n2")]
WEB = service("web", loadBalancerIP="192.0.2.5")
L2 = metallb("L2Advertisement", "all", {})
UIDS = {"default/web": "uid-web"}


def winner(*objects) -> str:
    by_ip = speakers_fold(*objects).l2()["default/web"]
    return by_ip["192.0.2.5"].node


def test_node_assigned_when_the_announcement_begins_and_not_again():
    objects = (POOL, *NODES, L2, WEB, endpoints("web", "n1", "n2"))
    name = winner(*objects)
    plan = speakers_fold(*objects).node_plan(name)
    notes = speaker_events(plan, None, UIDS.get)
    assert [(n.service, n.uid, n.type, n.reason, n.message) for n in notes] == [
        ("default/web", "uid-web", "Normal", "nodeAssigned",
         f'announcing from node "{name}" with protocol "layer2"'),
    ]  # fmt: skip
    assert speaker_events(plan, plan, UIDS.get) == []  # nothing new: nothing said
    other = "n2" if name == "n1" else "n1"
    assert speaker_events(speakers_fold(*objects).node_plan(other), None, UIDS.get) == []


def test_announce_failed_when_the_listed_interfaces_are_missing():
    eth1 = metallb("L2Advertisement", "eth1", {"interfaces": ["eth1"]})
    links = [node_links(n, link("eth0")) for n in ("n1", "n2")]
    objects = (POOL, *NODES, eth1, *links, WEB, endpoints("web", "n1", "n2"))
    name = winner(*objects)
    notes = speaker_events(speakers_fold(*objects).node_plan(name), None, UIDS.get)
    assert [(n.type, n.reason) for n in notes] == [("Warning", "announceFailed")]
    assert f'node "{name}"' in notes[0].message
