"""The status objects each process publishes, from the bundled example cluster."""

from __future__ import annotations

from ironlb.announce.k8s.status_content import controller_statuses, speaker_statuses
from ironlb.reconcile.config import ConfigError
from ironlb.reconcile.controller.fold import ControllerFold
from ironlb.reconcile.plan.verify import planned_statuses
from ironlb.reconcile.speaker.fold import SpeakerFold
from ironlb.tools.inputs import read_inputs
from tests.unit.cli.test_cli_log import EXAMPLE

NS = "metallb-system"


def folded() -> tuple[ControllerFold, SpeakerFold]:
    records = [r.with_seq(i) for i, r in enumerate(read_inputs([str(EXAMPLE)]), start=1)]
    controller, speakers = ControllerFold(), SpeakerFold()
    for record in records:
        controller.apply(record)
        speakers.apply(record)
    speakers.assume_statuses(planned_statuses(controller))
    return controller, speakers


def by_kind(wanted: dict) -> dict[str, dict[tuple[str, str], dict]]:
    kinds: dict[str, dict] = {}
    for ref, status in wanted.items():
        kinds.setdefault(status.kind, {})[(ref.namespace, ref.name)] = status
    return kinds


def test_a_bgp_node_publishes_the_peers_of_each_service_and_no_l2_status():
    _controller, speakers = folded()
    kinds = by_kind(speaker_statuses(speakers.node_plan("worker2"), NS, {}, ()))
    (bgp,) = kinds["ServiceBGPStatus"].values()
    assert bgp.status == {
        "node": "worker2",
        "serviceName": "checkout",
        "serviceNamespace": "shop",
        "peers": ["tor-r2"],
    }
    assert bgp.labels["metallb.io/service-namespace"] == "shop"
    (l2,) = kinds["ServiceL2Status"].values()  # worker2 answers for default/web
    assert l2.status["serviceName"] == "web" and l2.status["conflicts"] == []


def test_conflicts_appear_only_on_the_service_whose_address_they_claim():
    _controller, speakers = folded()
    plan = speakers.node_plan("worker1")
    ip = next(iter(plan.l2["default/portal"]))
    conflict = {"ip": ip, "interface": "eth0", "mac": "02:00:00:00:00:09", "how": "arp probe"}
    kinds = by_kind(speaker_statuses(plan, NS, {ip: conflict}, ()))
    with_conflicts = {
        s.status["serviceName"]: s.status["conflicts"]
        for s in kinds["ServiceL2Status"].values()
        if s.status["conflicts"]
    }
    assert with_conflicts == {"portal": [conflict]}
    names = [ref[1] for ref in kinds["ServiceL2Status"]]
    assert len(set(names)) == len(names) == 3  # one object per Service, stable names


def test_the_controller_publishes_pool_counters_and_its_configuration_state():
    controller, _speakers = folded()
    kinds = by_kind(controller_statuses(controller.plan(), NS))
    pool = kinds["IPAddressPool"][(NS, "general")]
    assert not pool.owned  # the user's object: status only, never created or deleted
    assert pool.status == {
        "assignedIPv4": 3,
        "availableIPv4": 12,
        "assignedIPv6": 1,
        "availableIPv6": 15,
    }
    state = kinds["ConfigurationState"][(NS, "controller")]
    assert state.status["result"] == "Valid" and state.status["errorSummary"] == ""


def test_a_speakers_configuration_state_names_the_fields_it_does_not_honour():
    _controller, speakers = folded()
    plan = speakers.node_plan("worker2")
    warning = ConfigError("BGPPeer/metallb-system/tor", "spec.vrf", "not implemented")
    states = by_kind(speaker_statuses(plan, NS, {}, (), (warning,)))["ConfigurationState"]
    status = states[(NS, "speaker-worker2")].status
    assert status["result"] == "Valid"  # accepted: MetalLB's result is unchanged
    honoured = next(c for c in status["conditions"] if c["type"] == "ConfigurationHonoured")
    assert honoured["status"] == "False" and honoured["reason"] == "FieldsNotHonoured"
    assert honoured["message"] == "BGPPeer/metallb-system/tor: spec.vrf: not implemented"
    states = by_kind(speaker_statuses(plan, NS, {}, (), ()))["ConfigurationState"]
    conditions = states[(NS, "speaker-worker2")].status["conditions"]
    assert {c["type"]: c["status"] for c in conditions} == {
        "ConfigurationValid": "True",
        "ConfigurationHonoured": "True",
    }
