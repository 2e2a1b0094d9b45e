"""BFD beside BGP against BIRD's BFD and FRR's bfdd, in network namespaces (the
topology of test_bgp.py). The path is cut with nftables in the router's namespace,
so no link event reaches either daemon: only BFD, or the hold timer, can notice.

* With a BFDProfile (MetalLB's default profile, or one with every honoured field
  set), the router withdraws the node's routes because its BFD session went down,
  not its hold timer (90 s, longer than any wait here), and ironlb's speaker tears
  its own session down for the same reason.
* Without one (the control run), the router keeps the route until its hold timer
  expires.
The detection time itself is measured by benchmarks/bfd_bench.py.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.e2e.routers import Neighbor, run
from tests.e2e.test_bgp import NODE4, ROUTER4, VIP4, Lab, built_lab, manifests, peer
from tests.e2e.test_bgp import pytestmark as bgp_requirements

pytestmark = bgp_requirements
ROUTE = f"{VIP4}/32"


@pytest.fixture(params=["bird", "frr"])  # GoBGP has no BFD
def lab(request, tmp_path):
    with built_lab(tmp_path, request.param) as laboratory:
        yield laboratory


def profile(name: str, spec: dict) -> str:
    return json.dumps({
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BFDProfile",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": spec,
    }) + "\n"  # fmt: skip


def has_route(routes) -> bool:
    return ROUTE in routes


# name -> (spec, the router's detection time: our multiplier x max(the router's
# receive interval, 300 ms, and our transmit interval))
PROFILES = {
    "default": ({}, 3 * 0.3),
    "tuned": ({"receiveInterval": 200, "transmitInterval": 350, "detectMultiplier": 5}, 5 * 0.35),
    "passive": ({"passiveMode": True}, 3 * 0.3),
}


METRICS = "127.0.0.1:7472"


def bfd_metrics(lab: Lab) -> dict[str, float]:
    """The speaker's metallb_bfd_* series for the router's address (labels peer, vrf)."""
    fetch = (
        f"import urllib.request as u; print(u.urlopen('http://{METRICS}/metrics').read().decode())"
    )
    text = run("ip", "netns", "exec", lab.node_ns, sys.executable, "-c", fetch).stdout
    values = {}
    for line in text.splitlines():
        if line.startswith("metallb_bfd_") and f'peer="{ROUTER4}"' in line:
            assert 'vrf="default"' in line, line
            values[line.split("{")[0]] = float(line.split()[-1])
    return values


def bfd_up(lab: Lab):
    seen = lab.router.bfd_sessions().get(NODE4)
    return seen if seen is not None and seen.state == "up" else None


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_a_cut_path_is_noticed_by_bfd_not_the_hold_timer(lab, name):
    lab.router.start([Neighbor(NODE4, ROUTER4, 64512, 64513, bfd=True)])
    bgp_peer = peer("r4", ROUTER4, 64512, 64513, bfdProfile=name, holdTime="90s")
    spec, detection_time = PROFILES[name]
    lab.publish(profile(name, spec) + manifests([bgp_peer]))
    lab.start_speaker("--metrics-address", METRICS)
    lab.router.wait_for_routes(4, has_route, "route")
    # Up, and tightened to the profile's values (a poll sequence after the slow start)
    lab.router.wait_for(
        lambda: (seen := bfd_up(lab)) and seen.detection_time == pytest.approx(detection_time),
        f"BFD session up, detection time {detection_time} s",
    )
    lab.router.cut(NODE4)
    lab.router.wait_for_routes(4, lambda r: not has_route(r), "withdrawal after the cut")
    assert "bfd" in lab.router.bgp_last_error(NODE4).lower()
    record = lab.session_record("r4", reason="BFD session down")  # ironlb's side too
    assert record.object["previous"] == "Established"
    counted = bfd_metrics(lab)
    assert counted["metallb_bfd_session_up"] == 0
    assert (
        counted["metallb_bfd_session_up_events"] == counted["metallb_bfd_session_down_events"] == 1
    )
    assert counted["metallb_bfd_zebra_notifications"] >= 2  # every change told: Up, Down
    assert counted["metallb_bfd_control_packet_input"] > 0
    assert counted["metallb_bfd_control_packet_output"] > 0
    lab.router.heal()
    lab.router.wait_for_routes(4, has_route, "route back once the path heals")


def test_without_bfd_the_route_stays_until_the_hold_timer(lab):
    lab.router.start([Neighbor(NODE4, ROUTER4, 64512, 64513)])
    lab.publish(manifests([peer("r4", ROUTER4, 64512, 64513, holdTime="9s")]))
    lab.start_speaker()
    lab.router.wait_for_routes(4, has_route, "route")
    lab.router.cut(NODE4)
    lab.router.wait_for_routes(4, lambda r: not has_route(r), "withdrawal by the hold timer")
    assert "hold" in lab.router.bgp_last_error(NODE4).lower()
