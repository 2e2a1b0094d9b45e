"""Nothing accepted and silently ignored: every spec field of MetalLB's BGPPeer,
BFDProfile, BGPAdvertisement and Community CRDs (../shared/metallb-data/crds, the
version each stores) is either honoured, with a test that shows its effect named
here, or reported when set: a warning naming the object and the field (validate,
plan, the speaker's ConfigurationState and log all show these warnings).

A field MetalLB adds to its CRDs fails this test until it is one or the other."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from ironlb.reconcile.config import parse_config
from ironlb.reconcile.config.model import ConfigInputs

CRDS = Path(__file__).resolve().parents[4] / "shared" / "metallb-data" / "crds"
E2E_BGP = "tests/e2e/test_bgp.py::"
SESSION = "tests/unit/announce/test_bgp_session.py::"
DIAL = "tests/unit/announce/test_bgp_dial.py::"
SPEAKER = "tests/unit/reconcile/test_speaker.py::"
ROUTES = E2E_BGP + "test_routes_arrive_with_their_attributes_and_leave_with_the_service"
TIMERS = SESSION + "test_router_id_keepalive_and_connect_time_come_from_the_configuration"
FAMILIES = E2E_BGP + "test_a_session_carries_its_family_or_both_when_dual_stack"
POOLS = SPEAKER + "test_an_advertisement_announces_the_pools_it_selects"
SELECTED = SPEAKER + "test_conflicting_local_prefs_brought_together_by_service_selectors"
BFD_CORE = "tests/unit/announce/test_bfd_core.py::"
BFD_E2E = "tests/e2e/test_bfd.py::test_a_cut_path_is_noticed_by_bfd_not_the_hold_timer"

# field -> the test that shows its effect
HONOURED = {
    "BGPPeer": {
        "myASN": ROUTES,
        "peerASN": ROUTES,
        "peerAddress": ROUTES,
        "dynamicASN": SESSION + "test_dynamic_asn",
        "localASN": E2E_BGP + "test_local_asn_is_the_as_the_router_sees",
        "dualStackAddressFamily": E2E_BGP
        + "test_a_session_carries_its_family_or_both_when_dual_stack",
        "peerPort": "tests/integration/test_bgp_speaker.py::"
        "test_the_speaker_converges_to_each_plan_without_resetting_the_session",
        "sourceAddress": E2E_BGP + "test_md5_sessions_need_the_right_password",
        "password": E2E_BGP + "test_md5_sessions_need_the_right_password",
        "passwordSecret": DIAL + "test_a_password_secret_is_read_live_and_missing_means_no_session",
        "holdTime": E2E_BGP + "test_a_silent_peer_is_detected_by_the_hold_timer",
        "keepaliveTime": SESSION
        + "test_router_id_keepalive_and_connect_time_come_from_the_configuration",
        "routerID": SESSION
        + "test_router_id_keepalive_and_connect_time_come_from_the_configuration",
        "connectTime": SESSION
        + "test_router_id_keepalive_and_connect_time_come_from_the_configuration",
        "nodeSelectors": SPEAKER + "test_bgp_routes",
        "enableGracefulRestart": SESSION + "test_open_carries_the_capabilities",
        "ebgpMultiHop": DIAL + "test_ebgp_multihop_sets_the_ttl",
        "bfdProfile": BFD_E2E,
        "interface": "tests/e2e/test_unnumbered.py::"
        "test_an_unnumbered_session_carries_both_families_over_link_local",
    },
    "BGPAdvertisement": {
        "aggregationLength": SPEAKER + "test_bgp_routes",
        "aggregationLengthV6": "tests/unit/reconcile/test_bgp_routes.py::"
        "test_a_route_aggregates_and_sends_local_pref_only_on_ibgp",
        "communities": SPEAKER + "test_bgp_routes",
        "localPref": E2E_BGP
        + "test_routes_arrive_with_their_attributes_and_leave_with_the_service",
        "nodeSelectors": SPEAKER + "test_bgp_routes",
        "peers": SPEAKER + "test_bgp_routes",
        "ipAddressPools": SPEAKER + "test_an_advertisement_announces_the_pools_it_selects",
        "ipAddressPoolSelectors": SPEAKER + "test_an_advertisement_announces_the_pools_it_selects",
        "serviceSelectors": SPEAKER
        + "test_conflicting_local_prefs_brought_together_by_service_selectors",
    },
    "BFDProfile": {  # each also reaches the plan: SPEAKER's test_sessions_carry_every_...
        "receiveInterval": BFD_CORE + "test_transmission_follows_the_transmit_interval_and_"
        "the_peers_receive_interval",
        "transmitInterval": BFD_CORE + "test_transmission_follows_the_transmit_interval_and_"
        "the_peers_receive_interval",
        "detectMultiplier": BFD_CORE + "test_a_silent_peer_is_down_after_the_detection_time",
        "passiveMode": BFD_CORE + "test_a_passive_session_is_silent_until_the_peer_speaks",
        "minimumTtl": BFD_CORE + "test_single_hop_wants_ttl_255_multihop_its_minimum_ttl",
    },
    "Community": {"communities": SPEAKER + "test_bgp_routes"},
}

# A valid object of each kind, and a value for each field that is not honoured.
BASE = {
    "BGPPeer": {"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.1", "bfdProfile": "p"},
    "BFDProfile": {},
    "BGPAdvertisement": {},
    "Community": {},
}
SAMPLES = {
    ("BGPPeer", "vrf"): "red",
    ("BGPPeer", "disableMP"): True,
    ("BFDProfile", "receiveInterval"): 300,
    ("BFDProfile", "transmitInterval"): 300,
    ("BFDProfile", "detectMultiplier"): 3,
    ("BFDProfile", "echoInterval"): 50,
    ("BFDProfile", "echoMode"): True,
    ("BFDProfile", "passiveMode"): True,
    ("BFDProfile", "minimumTtl"): 254,
}
FILES = {
    "BGPPeer": "bgppeers",
    "BFDProfile": "bfdprofiles",
    "BGPAdvertisement": "bgpadvertisements",
    "Community": "communities",
}


def spec_fields(kind: str) -> list[str]:
    crd = yaml.safe_load((CRDS / f"metallb.io_{FILES[kind]}.yaml").read_text())
    stored = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    return sorted(stored["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"])


def warned_fields(kind: str, field: str, value: object) -> set[str]:
    spec = {**BASE[kind], field: value}
    if field == "interface":
        del spec["peerAddress"]  # one or the other
    objects = {kind: {"x": {"kind": kind, "metadata": {"name": "x"}, "spec": spec}}}
    objects.setdefault("BFDProfile", {})["p"] = {"kind": "BFDProfile", "metadata": {"name": "p"}}
    config = parse_config(ConfigInputs("metallb-system", objects))
    assert config.errors == (), config.errors
    return {w.field for w in config.warnings if w.object == f"{kind}/metallb-system/x"}


@pytest.mark.skipif(not CRDS.is_dir(), reason=f"MetalLB's CRDs are not at {CRDS}")
@pytest.mark.parametrize("kind", sorted(FILES))
def test_every_field_is_honoured_or_reported(kind):
    unaccounted = []
    for field in spec_fields(kind):
        sample = SAMPLES.get((kind, field))
        reported = sample is not None and f"spec.{field}" in warned_fields(kind, field, sample)
        honoured = field in HONOURED[kind]
        if honoured == reported:  # neither: silently ignored; both: a wrong list
            unaccounted.append(f"{field} ({'both' if honoured else 'neither'})")
    assert unaccounted == [], f"{kind} fields neither honoured by a test nor reported"


@pytest.mark.parametrize(
    "reference", sorted({ref for fields in HONOURED.values() for ref in fields.values()})
)
def test_each_honouring_test_exists(reference):
    path, _, name = reference.partition("::")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    assert callable(getattr(module, name, None)), f"{reference} is not a test"
