"""BGP unnumbered (BGPPeer ``interface``) against FRR's ``neighbor eth0 interface``,
in network namespaces (test_bgp.py's topology): each side learns the other's
link-local address from Router Advertisements, the session runs between link-local
addresses, and IPv4 prefixes travel with an IPv6 next hop (RFC 8950)."""

from __future__ import annotations

import pytest

from tests.e2e.routers import Neighbor
from tests.e2e.test_bfd import profile
from tests.e2e.test_bgp import VIP4, VIP6, built_lab, manifests
from tests.e2e.test_bgp import pytestmark as bgp_requirements

pytestmark = bgp_requirements


@pytest.fixture
def lab(tmp_path):
    with built_lab(tmp_path, "frr") as laboratory:  # BIRD 2.0 and GoBGP have no RA discovery
        yield laboratory


def test_an_unnumbered_session_carries_both_families_over_link_local(lab):
    lab.router.start([Neighbor("eth0", "eth0", 64512, 64513, unnumbered=True)])
    unnumbered = {"name": "tor", "myASN": 64512, "peerASN": 64513, "interface": "eth0"}
    lab.publish(manifests([unnumbered]))
    lab.start_speaker()
    lab.router.wait_for_routes(4, lambda r: f"{VIP4}/32" in r, "IPv4 route, IPv6 next hop")
    lab.router.wait_for_routes(6, lambda r: f"{VIP6}/128" in r, "IPv6 route")
    neighbor = lab.router.vtysh("show bgp neighbors eth0 json")["eth0"]
    assert neighbor["bgpState"] == "Established"
    assert neighbor["hostForeign"].startswith("fe80:")  # ironlb's link-local address
    assert neighbor["neighborCapabilities"]["extendedNexthop"] == "advertisedAndReceived"
    path = lab.router.vtysh(f"show bgp ipv4 unicast {VIP4}/32 json")["paths"][0]
    hop = path["nexthops"][0]
    assert hop["afi"] == "ipv6" and hop["ip"] == neighbor["hostForeign"]


def test_bfd_guards_an_unnumbered_session(lab):
    lab.router.start([Neighbor("eth0", "eth0", 64512, 64513, unnumbered=True, bfd=True)])
    unnumbered = {
        "name": "tor",
        "myASN": 64512,
        "peerASN": 64513,
        "interface": "eth0",
        "bfdProfile": "default",
        "holdTime": "90s",
    }
    lab.publish(profile("default", {}) + manifests([unnumbered]))
    lab.start_speaker()
    lab.router.wait_for_routes(4, lambda r: f"{VIP4}/32" in r, "IPv4 route")
    ours = lab.router.vtysh("show bgp neighbors eth0 json")["eth0"]["hostForeign"]

    def bfd_up():
        seen = lab.router.bfd_sessions().get(ours)
        return seen is not None and seen.state == "up"

    lab.router.wait_for(bfd_up, f"BFD session with {ours} up")
    lab.router.cut(ours)
    lab.router.wait_for_routes(4, lambda r: f"{VIP4}/32" not in r, "withdrawal after the cut")
    assert "bfd" in lab.router.bgp_last_error("eth0").lower()
    lab.session_record("tor", reason="BFD session down")  # ironlb's side too
