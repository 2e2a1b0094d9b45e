"""The /metrics endpoint over real HTTP."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from ironlb.announce.metrics import Counters
from ironlb.app.metrics_server import MetricsServer, parse_address
from ironlb.events.errors import LbError


def test_serves_counters_in_the_prometheus_text_format():
    counters = Counters()
    counters.inc("metallb_layer2_responses_sent", 3, ip="192.0.2.1")
    counters.inc("ironlb_events_appended", 5)
    counters.set("metallb_allocator_addresses_total", 8, pool="lan")
    counters.histogram("ironlb_fold_seconds", "fold time", (0.001, 0.01)).observe(0.005)
    server = MetricsServer(counters, "127.0.0.1:0")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=30) as r:
            body = r.read().decode()
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        # MetalLB's exact name (its Go client adds no _total), typed counter as MetalLB
        # types it; ironlb's own with _total
        assert 'metallb_layer2_responses_sent{ip="192.0.2.1"} 3.0' in body
        assert "# TYPE metallb_layer2_responses_sent counter" in body
        assert "ironlb_events_appended_total 5.0" in body
        assert "# TYPE ironlb_events_appended_total counter" in body
        assert 'metallb_allocator_addresses_total{pool="lan"} 8.0' in body
        assert "# TYPE metallb_allocator_addresses_total gauge" in body
        assert 'ironlb_fold_seconds_bucket{le="0.01"} 1.0' in body
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/other", timeout=30)
        assert missing.value.code == 404
    finally:
        server.close()


def test_health_and_readiness():
    ready = {"now": False}
    server = MetricsServer(Counters(), "127.0.0.1:0", lambda: ready["now"])
    base = f"http://127.0.0.1:{server.port}"
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=30) as r:
            assert r.status == 200
        with pytest.raises(urllib.error.HTTPError) as not_yet:
            urllib.request.urlopen(f"{base}/readyz", timeout=30)
        assert not_yet.value.code == 503
        ready["now"] = True
        with urllib.request.urlopen(f"{base}/readyz", timeout=30) as r:
            assert r.status == 200
    finally:
        server.close()


def test_addresses_are_checked():
    assert parse_address(":7472") == ("", 7472)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    with pytest.raises(LbError, match="HOST:PORT"):
        parse_address("localhost")
