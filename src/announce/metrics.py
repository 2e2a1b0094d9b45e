"""Metrics: counters and gauges with labels, exposed through prometheus_client.

Effectors count from their own threads with ``inc``/``set``; processes observe
latencies on histograms registered on the same registry; ``/metrics`` renders the
registry. MetalLB's metric names are kept exactly where ironlb measures the same
thing, so dashboards and alerts carry over: MetalLB's Go client exposes counters
without a ``_total`` suffix, which the Python client would add, so those counters
are exposed untyped under their exact names. ironlb's own counters follow the
Python convention (``ironlb_events_appended_total``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence

from prometheus_client import (
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric

# ``*_created`` series double every histogram for a timestamp nobody graphs.
disable_created_metrics()

HELP = {
    "metallb_layer2_requests_received": "ARP requests and neighbor solicitations received for "
    "an address this node announces",
    "metallb_layer2_responses_sent": "ARP replies and neighbor advertisements sent",
    "metallb_layer2_gratuitous_sent": "gratuitous ARP and unsolicited neighbor advertisements sent",
    "ironlb_layer2_address_conflicts": "frames in which another host claimed an address this "
    "node announces",
    "ironlb_layer2_frames_dropped": "frames the responder could not parse, by reason",
    "ironlb_layer2_frames_received": "ARP/NDP frames the kernel's filter let through to the "
    "responder (those about this node's addresses)",
    "metallb_allocator_addresses_in_use_total": "addresses assigned from the pool",
    "metallb_allocator_addresses_total": "usable addresses in the pool",
    "metallb_allocator_ipv4_addresses_in_use_total": "IPv4 addresses assigned from the pool",
    "metallb_allocator_ipv4_addresses_total": "usable IPv4 addresses in the pool",
    "metallb_allocator_ipv6_addresses_in_use_total": "IPv6 addresses assigned from the pool",
    "metallb_allocator_ipv6_addresses_total": "usable IPv6 addresses in the pool",
    "metallb_allocator_services_allocated_total": "Services holding addresses from the pool",
    "metallb_k8s_client_updates_total": "Kubernetes objects' changes processed",
    "metallb_k8s_client_update_errors_total": "writes to the Kubernetes API that failed",
    "metallb_k8s_client_config_loaded_bool": "1 once a configuration was loaded",
    "metallb_k8s_client_config_stale_bool": "1 while the newest configuration is invalid "
    "and the last valid one is in force",
    "metallb_speaker_announced": "1 for each address this node announces, by protocol",
    "metallb_bgp_opens_sent": "OPEN messages sent to the peer",
    "metallb_bgp_opens_received": "OPEN messages received from the peer",
    "metallb_bgp_notifications_sent": "NOTIFICATION messages sent to the peer",
    "metallb_bgp_updates_total_received": "UPDATE messages received from the peer",
    "metallb_bgp_keepalives_sent": "KEEPALIVE messages sent to the peer",
    "metallb_bgp_keepalives_received": "KEEPALIVE messages received from the peer",
    "metallb_bgp_route_refresh_sent": "ROUTE-REFRESH messages sent to the peer",
    "metallb_bgp_total_sent": "BGP messages sent to the peer",
    "metallb_bgp_total_received": "BGP messages received from the peer",
    "ironlb_events_appended": "records appended to the process's log",
    "ironlb_log_lag_seconds": "age of the oldest record of the newest batch when it was "
    "appended (observation to log)",
    "ironlb_log_queue_records": "records observed and not yet appended",
    "ironlb_leader": "1 while this controller replica holds the leader Lease",
    "ironlb_services_without_address": "LoadBalancer Services served that hold no address",
    "ironlb_k8s_writes": "writes to the Kubernetes API, by kind and result",
    "ironlb_membership_beats_sent": "heartbeats sent to other speakers",
    "ironlb_membership_beats_received": "heartbeats accepted from other speakers",
    "ironlb_membership_beats_refused": "datagrams on the heartbeat port refused, by reason "
    "(bad MAC, malformed, replayed)",
    "ironlb_membership_speakers_alive": "speakers this one judges alive, itself included",
    "ironlb_replay_digests_checked": "the process's own plan digests recomputed when it "
    "restarted and folded its log again",
    "ironlb_replay_divergences": "of those, the ones whose recomputed plan differs from what "
    "the live process vouched for (replay would not decide as it did)",
}

Labels = tuple[tuple[str, str], ...]


class Counters:
    """Thread-safe labelled counters and gauges, and the registry they render from."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, Labels], float] = {}
        self._gauges: dict[tuple[str, Labels], float] = {}
        self._lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def add_all(self, counts: Mapping[tuple[str, Labels], float]) -> None:
        """Counts a sans-IO core gathered (metric name and labels -> amount)."""
        with self._lock:
            for key, amount in counts.items():
                self._values[key] = self._values.get(key, 0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._gauges[(name, tuple(sorted(labels.items())))] = value

    def replace_gauge(self, name: str, series: Mapping[Labels, float]) -> None:
        """Every series of gauge ``name`` at once: series not given disappear."""
        with self._lock:
            held = [labels for n, labels in self._gauges if n == name]
        self.update_gauge(name, series, held)

    def update_gauge(
        self, name: str, series: Mapping[Labels, float], removed: Iterable[Labels] = ()
    ) -> None:
        """Some series of gauge ``name`` set, others gone: what changed, not the whole
        family (a speaker announcing 100,000 addresses changes one at a time)."""
        with self._lock:
            for labels in removed:
                self._gauges.pop((name, tuple(sorted(labels))), None)
            for labels, value in series.items():
                self._gauges[(name, tuple(sorted(labels)))] = value

    def histogram(self, name: str, documentation: str, buckets: Sequence[float]) -> Histogram:
        return Histogram(name, documentation, buckets=buckets, registry=self.registry)

    def get(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            return self._values.get(key, self._gauges.get(key, 0))

    def total(self, name: str) -> float:
        with self._lock:
            return sum(v for (n, _labels), v in self._values.items() if n == name)

    def collect(self) -> Iterator[Metric]:
        """prometheus_client's collector protocol."""
        with self._lock:
            series = [("counter", self._values.items()), ("gauge", self._gauges.items())]
            grouped: dict[tuple[str, str], list[tuple[Labels, float]]] = {}
            for kind, items in series:
                for (name, labels), value in items:
                    grouped.setdefault((name, kind), []).append((labels, value))
        for (name, kind), samples in sorted(grouped.items()):
            exact = kind == "counter" and name.startswith("metallb_")
            metric = Metric(name, HELP.get(name, name), "unknown" if exact else kind)
            sample_name = f"{name}_total" if kind == "counter" and not exact else name
            for labels, value in sorted(samples):
                metric.add_sample(sample_name, dict(labels), value)
            yield metric

    def render(self) -> str:
        """The text exposition. MetalLB's counters keep their exact names (no
        ``_total`` added), which prometheus_client only writes untyped: their TYPE
        line is set back to counter, as MetalLB's Go client writes it."""
        text = generate_latest(self.registry).decode()
        with self._lock:
            exact = {name for name, _labels in self._values if name.startswith("metallb_")}
        for name in exact:
            text = text.replace(f"# TYPE {name} untyped\n", f"# TYPE {name} counter\n")
        return text
