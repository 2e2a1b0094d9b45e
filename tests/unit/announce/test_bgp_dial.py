"""What a BGPPeer's session plan makes of a connection: the TTL ebgpMultiHop asks
for, the AS and families the session opens with, and passwords from Secrets."""

from __future__ import annotations

import base64

import pytest

from ironlb.announce.bgp.speaker import PasswordMissing, dial_for
from ironlb.app.passwords import PasswordSource
from ironlb.events.sources.secrets import LiveSecrets
from tests.k8s import session_plan


@pytest.mark.parametrize(
    ("fields", "ttl"),
    [
        ({"ebgp_multihop": True}, 255),  # a peer several hops away
        ({}, 1),  # eBGP without it: directly connected only, as FRR
        ({"ibgp": True, "peer_asn": 64512}, None),  # iBGP: the system's default
    ],
)
def test_ebgp_multihop_sets_the_ttl(fields, ttl):
    assert dial_for(session_plan("r", "192.0.2.2", **fields), None).ttl == ttl


def test_local_asn_and_families_reach_the_session():
    plan = session_plan("r", "192.0.2.2", local_asn=64600, families=(4,))
    config = dial_for(plan, None).config
    assert (config.open_asn, config.my_asn, config.families) == (64600, 64512, (4,))


def test_a_password_secret_is_read_live_and_missing_means_no_session():
    secrets = LiveSecrets()
    source = PasswordSource("metallb-system", secrets, None)
    plan = session_plan("r", "192.0.2.2", password_secret="tor-pw")
    with pytest.raises(PasswordMissing, match="Secret metallb-system/tor-pw has no password"):
        source(plan)
    secret = {"data": {"password": base64.b64encode(b"s3cret").decode()}}
    secrets.observe("metallb-system/tor-pw", secret)
    assert source(plan) == "s3cret"
    assert dial_for(plan, source(plan)).password == "s3cret"
