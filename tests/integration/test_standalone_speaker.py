"""``ironlb speaker --events``: a real process following a log another process writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ironlb.store import open_store
from tests.processes import Speaker, ironlb

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cluster.yaml"


def web_announced(plan: dict) -> bool:
    return "default/web" in plan["l2"]


def test_follows_events_announces_and_replays_exactly(tmp_path):
    events, own = tmp_path / "events", tmp_path / "own"
    ironlb("log", "import", EXAMPLE, "--to", events)
    args = (
        "--node",
        "worker2",
        "--events",
        events,
        "--store",
        own,
        "--assign-addresses",
        "--no-links",
        "--digest-interval",
        "0",
    )
    speaker = Speaker(*args)
    try:
        plan = speaker.next_plan(web_announced)
        assert plan["node"] == "worker2"
        assert plan["l2"]["default/web"] == {
            "192.0.2.1": {"interfaces": None, "node": "worker2", "reason": None}
        }
        assert [r["prefix"] for r in plan["bgp"]["worker2"]["tor-r2"]] == ["198.51.100.10/32"]

        # Another process appends to the followed log: web loses its only endpoints.
        gone = {
            "type": "DELETED",
            "object": {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": "web-abc12", "namespace": "default"},
            },
        }
        ironlb("log", "import", "-", "--to", events, stdin=json.dumps(gone) + "\n")
        speaker.next_plan(lambda p: not web_announced(p))
    finally:
        assert speaker.terminate() == 0

    verified = ironlb("replay", own, "--verify").stdout
    assert verified.startswith("verified ") and not verified.startswith("verified 0 ")

    # A restart resumes after what was copied: nothing twice, and the plan is the same.
    with open_store(str(own), readonly=True) as store:
        before = [(r.kind, r.key) for r in store.read() if r.kind == "v1/Service"]
    speaker = Speaker(*args)
    try:
        plan = speaker.next_plan(lambda p: True)
        assert not web_announced(plan)
    finally:
        assert speaker.terminate() == 0
    with open_store(str(own), readonly=True) as store:
        after = [(r.kind, r.key) for r in store.read() if r.kind == "v1/Service"]
    assert after == before and len(before) == 8


def test_without_events_or_a_cluster_it_says_what_to_give(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ironlb", "speaker", "--node", "n1", "--store", tmp_path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--events" in result.stderr


def test_records_the_links_of_its_namespace(tmp_path):
    if os.geteuid() != 0:
        import pytest

        pytest.skip("needs root to create a network namespace")
    netns = f"ironlb-spk-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(
            ["ip", "-n", netns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
            check=True,
        )
        subprocess.run(["ip", "-n", netns, "link", "set", "eth0", "up"], check=True)
        events, own = tmp_path / "events", tmp_path / "own"
        ironlb("log", "import", EXAMPLE, "--to", events)
        speaker = Speaker(
            "--node",
            "worker2",
            "--events",
            events,
            "--store",
            own,
            "--assign-addresses",
            "--links-netns",
            netns,
            "--no-layer2",
        )
        try:
            # Links and the followed events arrive on two threads, in either order:
            # wait for the plan that holds both.
            plan = speaker.next_plan(lambda p: p["interfaces"]["ipv4"] and "default/web" in p["l2"])
            assert plan["interfaces"] == {"ipv4": ["eth0"], "ipv6": []}
        finally:
            assert speaker.terminate() == 0
        with open_store(str(own), readonly=True) as store:
            links = [r for r in store.read() if r.kind == "ironlb.io/v1/NodeLinks"]
        names = {link["name"] for link in links[-1].object["links"]}
        assert names == {"lo", "eth0", "eth1"}
        plan = json.loads(ironlb("plan", own, "--node", "worker2", "-o", "json").stdout)
        assert plan["l2"]["default/web"]["192.0.2.1"]["node"] == "worker2"
    finally:
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)


def test_a_speaker_refuses_to_follow_its_own_log(tmp_path):
    for events in (str(tmp_path / "own"), f"file://{tmp_path}/own", f"{tmp_path}/x/../own"):
        result = subprocess.run(
            [sys.executable, "-m", "ironlb", "speaker", "--node", "n1", "--events", events,
             "--store", str(tmp_path / "own"), "--no-layer2", "--no-links", "--no-bgp"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2
        assert "is this speaker's own log" in result.stderr and "Traceback" not in result.stderr


def test_bgp_password_dir_must_be_a_directory_of_a_standalone_speaker(tmp_path):
    base = [sys.executable, "-m", "ironlb", "speaker", "--node", "n1", "--no-layer2"]
    cases = [
        (["--events", str(tmp_path / "e"), "--bgp-password-dir", str(tmp_path / "none")],
         "not a directory"),
        (["--api-server", "http://127.0.0.1:9", "--bgp-password-dir", str(tmp_path)],
         "for a standalone speaker"),
    ]  # fmt: skip
    for extra, message in cases:
        result = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and message in result.stderr, result.stderr


def test_a_speaker_that_cannot_follow_its_events_exits_non_zero(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ironlb", "speaker", "--node", "n1",
         "--events", "redis://127.0.0.1:9/0", "--store", str(tmp_path / "own"),
         "--no-layer2", "--no-links", "--no-bgp", "--quiet"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("ironlb: error: stopped, as follow")
    assert "Traceback" not in result.stderr
