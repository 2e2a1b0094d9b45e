"""Counters with labels, rendered in the Prometheus text format.

Small on purpose: effectors count from their own threads, the metrics endpoint
renders. MetalLB's metric names are kept where ironlb counts the same thing, so
dashboards carry over.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

HELP = {
    "metallb_layer2_requests_received": "ARP requests and neighbor solicitations received for "
    "an address this node announces",
    "metallb_layer2_responses_sent": "ARP replies and neighbor advertisements sent",
    "metallb_layer2_gratuitous_sent": "gratuitous ARP and unsolicited neighbor advertisements sent",
    "ironlb_layer2_address_conflicts": "frames in which another host claimed an address this "
    "node announces",
    "ironlb_layer2_frames_dropped": "frames the responder could not parse, by reason",
}


class Counters:
    def __init__(self) -> None:
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._lock = threading.Lock()

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def get(self, name: str, **labels: str) -> int:
        with self._lock:
            return self._values.get((name, tuple(sorted(labels.items()))), 0)

    def total(self, name: str) -> int:
        with self._lock:
            return sum(v for (n, _labels), v in self._values.items() if n == name)

    def snapshot(self) -> Mapping[tuple[str, tuple[tuple[str, str], ...]], int]:
        with self._lock:
            return dict(self._values)

    def render(self) -> str:
        lines = []
        by_name: dict[str, list[tuple[tuple[tuple[str, str], ...], int]]] = {}
        for (name, labels), value in sorted(self.snapshot().items()):
            by_name.setdefault(name, []).append((labels, value))
        for name, series in by_name.items():
            lines.append(f"# HELP {name} {HELP.get(name, name)}")
            lines.append(f"# TYPE {name} counter")
            for labels, value in series:
                text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                lines.append(f"{name}{{{text}}} {value}" if text else f"{name} {value}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
