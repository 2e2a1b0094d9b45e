"""The netlink link source against a real network namespace."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from ironlb.events.sources.links import LinkSource
from ironlb.reconcile.speaker.cluster import links_from_record

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and iproute2 to create network namespaces",
)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def netns():
    name = f"ironlb-links-{uuid.uuid4().hex[:8]}"
    ip("netns", "add", name)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_links_are_recorded_and_changes_noticed(netns):
    ip("-n", netns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
    ip("-n", netns, "link", "add", "br0", "type", "bridge")
    ip("-n", netns, "link", "set", "eth1", "master", "br0")
    appended = []
    source = LinkSource("node-a", appended.append, netns=netns)
    source.open()
    try:
        assert source.check()
        record = appended[-1]
        assert (record.kind, record.key, record.source) == (
            "ironlb.io/v1/NodeLinks",
            "node-a",
            "speaker/node-a/netlink",
        )
        links = {link.name: link for link in links_from_record(record.object)}
        assert set(links) == {"lo", "eth0", "eth1", "br0"}
        assert links["eth1"].master == "br0"
        assert "UP" not in links["eth0"].flags and "BROADCAST" in links["eth0"].flags
        assert len(links["eth0"].mac) == 17
        assert not source.check()  # nothing changed: nothing appended

        ip("-n", netns, "link", "set", "eth0", "up")
        ip("-n", netns, "addr", "add", "192.0.2.10/24", "dev", "eth0")
        assert source.wait_for_change(timeout=30)
        assert source.check()
        links = {link.name: link for link in links_from_record(appended[-1].object)}
        assert "UP" in links["eth0"].flags
        assert "192.0.2.10/24" in links["eth0"].addresses
        assert links["eth0"].answers_arp and not links["eth1"].usable
    finally:
        source.close()
