"""diff, explain, what-if and the divergence report, on recorded scenarios with known answers."""

from __future__ import annotations

import hashlib
import io
import json

import attrs
import pytest
import yaml

from ironlb.cli import main
from ironlb.events.own_kinds import CONFLICT_KIND, SESSION_KIND
from ironlb.events.record import EventType, Record
from ironlb.reconcile.controller.fold import ControllerFold
from ironlb.reconcile.plan.verify import digest_record
from ironlb.store import open_store
from ironlb.tools.inputs import read_inputs
from tests.unit.cli.test_cli_log import EXAMPLE, EXAMPLE_EVENTS

GONE = {
    "type": "DELETED",
    "object": {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "web-abc12", "namespace": "default"},
    },
}


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main([str(a) for a in args], out)
    return code, out.getvalue()


@pytest.fixture
def recording(tmp_path):
    """The example cluster, then web's only EndpointSlice deleted (the last seq)."""
    log = tmp_path / "log"
    with open_store(str(log)) as store:
        store.append(read_inputs([str(EXAMPLE)]))
        gone = tmp_path / "gone.jsonl"
        gone.write_text(json.dumps(GONE) + "\n")
        store.append(read_inputs([str(gone)]))
    return log


def first_by_hash(nodes: list[str], ip: str) -> list[str]:
    return sorted(nodes, key=lambda n: hashlib.sha256(f"{n}#{ip}".encode()).digest())


def test_diff_shows_only_what_changed(recording):
    last = EXAMPLE_EVENTS + 1
    code, out = run("diff", recording, "--from", last - 1, "-o", "json")
    diff = json.loads(out)
    assert code == 0
    winner = first_by_hash(["worker1", "worker2"], "192.0.2.1")[0]
    assert diff["l2"] == {"default/web": {"from": {"192.0.2.1": winner}, "to": {"192.0.2.1": None}}}
    assert diff["services"] == {} and diff["bgp"] == {} and diff["pools"] == {}
    _code, text = run("diff", recording, "--from", last - 1)
    assert f"layer 2 default/web 192.0.2.1: announced by {winner} -> nobody" in text
    _code, text = run("diff", recording, "--from", last, "--to", last)
    assert "nothing changed" in text


def test_explain_names_the_rule_the_election_and_the_history(recording):
    code, out = run("explain", recording, "default/web", "--at", EXAMPLE_EVENTS, "-o", "json")
    report = json.loads(out)
    assert code == 0
    assert report["addresses"]["ips"] == ["192.0.2.1"]
    assert report["addresses"]["rule"].startswith("first free address of pool general")
    entry = report["layer2"]["192.0.2.1"]
    order = first_by_hash(["worker1", "worker2"], "192.0.2.1")
    assert entry["node"] == order[0]
    assert entry["candidates"] == [
        {"node": order[0], "eligible": True, "why_not": None},
        {"node": order[1], "eligible": True, "why_not": None},
        {"node": "cp1", "eligible": False, "why_not": "nodeLabeledExcludeBalancers"},
    ]
    _code, out = run("explain", recording, "default/web", "-o", "json")
    report = json.loads(out)
    assert report["layer2"]["192.0.2.1"]["reason"] == "noEndpoints"
    assert report["history"][-1] == {
        "seq": EXAMPLE_EVENTS + 1,
        "observed_at": report["history"][-1]["observed_at"],
        "change": "layer 2: 192.0.2.1 by nobody",
        "cause": "DELETED discovery.k8s.io/v1/EndpointSlice default/web-abc12",
    }


@pytest.mark.parametrize(
    ("service", "rule"),
    [
        ("default/legacy", "requested"),
        ("default/dns-udp", "shared with default/dns-tcp"),
        ("shop/checkout", "first free address of pool retail (priority 10)"),
    ],
)
def test_explain_rules(recording, service, rule):
    _code, out = run("explain", recording, service, "-o", "json")
    assert rule in json.loads(out)["addresses"]["rule"]


def test_explain_bgp_from_one_node(recording):
    _code, out = run("explain", recording, "shop/checkout", "--node", "worker2")
    assert "bgp from worker2: 198.51.100.10/32 to tor-r2" in out


def test_what_if_marks_a_service_whose_announcer_would_move(tmp_path):
    winner = first_by_hash(["worker1", "worker2"], "192.0.2.1")[0]
    down = tmp_path / "down.yaml"
    down.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": winner, "labels": {"rack": "r"}},
                "status": {"conditions": [{"type": "NetworkUnavailable", "status": "True"}]},
            }
        )
    )
    _code, out = run("plan", "--with", down)
    web = next(line for line in out.splitlines() if "default/web" in line and "general" in line)
    assert web.startswith("~")
    assert "would change address or announcer" in out


def test_a_failed_verification_says_what_differs_and_what_could_have_caused_it(tmp_path):
    records = read_inputs([str(EXAMPLE)])
    honest = digest_record(
        ControllerFold().apply_all(records[:5]).plan(), source="c", observed_at=0.0
    )
    # A digest from a process that decided differently: web asked for another address.
    changed = list(records)
    web = next(i for i, r in enumerate(changed) if r.key == "default/web")
    obj = json.loads(json.dumps(changed[web].object))
    obj["spec"]["loadBalancerIP"] = "192.0.2.9"
    changed[web] = attrs.evolve(records[web], object=obj)
    lying = digest_record(ControllerFold().apply_all(changed).plan(), source="c", observed_at=0.0)
    log = tmp_path / "log"
    with open_store(str(log)) as store:
        store.append([*records[:5], honest, *records[5:], lying])
    code, out = run("replay", log, "--verify")
    assert code == 1
    assert f"plan digest of controller at seq {len(records) + 2} differs" in out
    lines = out.splitlines()
    named = [line.split(":")[0].strip() for line in lines if line.startswith("  services/")]
    # web asked for .9, so the first-free addresses of the three after it shifted too:
    # exactly the Services that differ are named, not the others, not the pools (same counts).
    assert named == [f"services/default/{n}" for n in ("dns-tcp", "dns-udp", "portal", "web")]
    assert ('services/default/web: the live process planned otherwise; replay computed '
            '{"error":null,"ips":["192.0.2.1"]') in out  # fmt: skip
    assert "pools/" not in out
    assert (
        f"{len(records) - 5} record(s) since the previous digest of this scope could have "
        "caused it, 4 of them about what differs:" in out
    )
    assert "ADDED v1/Service default/web" in out


def example_log_with(tmp_path, kind: str, key: str, obj: dict, source: str) -> tuple[str, int]:
    """The example cluster, then one record a speaker wrote about itself: (log, its seq)."""
    log = tmp_path / "log"
    with open_store(str(log)) as store:
        store.append(read_inputs([str(EXAMPLE)]))
        own = Record(0, 1.0, source, EventType.ADDED, kind, key, None, obj)
        (seq,) = store.append([own])
    return str(log), seq


def test_explain_lists_a_duplicate_address_the_announcer_saw(tmp_path):
    conflict = {
        "node": "worker1",
        "ip": "192.0.2.1",
        "interface": "eth0",
        "mac": "02:00:00:00:00:09",
        "how": "gratuitous arp",
    }
    log, seq = example_log_with(
        tmp_path, CONFLICT_KIND, "worker1/192.0.2.1", conflict, "speaker/worker1/layer2"
    )
    _code, out = run("explain", log, "default/web", "-o", "json")
    assert json.loads(out)["conflicts"] == [{"seq": seq, **conflict}]
    _code, text = run("explain", log, "default/web")
    assert "02:00:00:00:00:09" in text


def test_explain_shows_what_the_speaker_recorded_about_its_bgp_sessions(tmp_path):
    state = {
        "node": "worker2",
        "peer": "tor-r2",
        "state": "Active",
        "previous": "Established",
        "reason": "hold timer expired",
    }
    log, seq = example_log_with(
        tmp_path, SESSION_KIND, "worker2/tor-r2", state, "speaker/worker2/bgp"
    )
    _code, out = run("explain", log, "shop/checkout", "--node", "worker2", "-o", "json")
    sessions = json.loads(out)["bgp"]["worker2"]["sessions"]
    assert sessions == {"tor-r2": {"state": "Active", "reason": "hold timer expired", "seq": seq}}
    _code, text = run("explain", log, "shop/checkout", "--node", "worker2")
    assert f"session tor-r2: Active since seq {seq} (hold timer expired)" in text


def test_explain_and_plan_show_a_peer_the_speaker_opens_no_session_to(tmp_path):
    (peer,) = [r for r in read_inputs([str(EXAMPLE)]) if r.key == "metallb-system/tor-r2"]
    in_vrf = json.loads(json.dumps(peer.object))
    in_vrf["spec"]["vrf"] = "red"
    log, _seq = example_log_with(tmp_path, peer.kind, peer.key, in_vrf, "watch")
    _code, out = run("explain", log, "shop/checkout", "--node", "worker2", "-o", "json")
    report = json.loads(out)
    assert "worker2" not in report["bgp"] or "tor-r2" not in report["bgp"]["worker2"]["peers"]
    (condition,) = report["bgp_conditions"]["tor-r2"]
    assert condition.startswith("vrf red: sessions in a VRF are not implemented")
    _code, text = run("explain", log, "shop/checkout", "--node", "worker2")
    assert f"bgp to tor-r2: {condition}" in text
    _code, out = run("replay", log, "-o", "json")
    plan = json.loads(out)
    assert plan["bgp"]["worker2"]["tor-r2"] == []  # listed under it: nothing
    (warning,) = plan["config"]["warnings"]
    assert (warning["object"], warning["field"]) == ("BGPPeer/metallb-system/tor-r2", "spec.vrf")
