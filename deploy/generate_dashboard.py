"""Write charts/ironlb/dashboards/ironlb.json: ironlb's Grafana dashboard.

    python deploy/generate_dashboard.py            # rewrite the file
    python deploy/generate_dashboard.py --check    # fail if the file is not what this writes

Written as a program so every panel has the same shape and every query names a
metric ironlb exports (tests/deploy/test_monitoring.py checks that too).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).parents[1] / "charts" / "ironlb" / "dashboards" / "ironlb.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
JOB = 'job=~"$job"'


def panel(number: int, title: str, kind: str, targets: list[tuple[str, str]], *,
          unit: str = "short", width: int = 12) -> dict:  # fmt: skip
    return {
        "id": number + 1,
        "title": title,
        "type": kind,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": width, "x": (number % 2) * 12, "y": (number // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "expr": expr,
                "legendFormat": legend,
                "datasource": DATASOURCE,
            }
            for i, (expr, legend) in enumerate(targets)
        ],
    }


PANELS = [
    ("Pool usage", "timeseries", [
        (f"100 * sum by (pool) (metallb_allocator_addresses_in_use_total{{{JOB}}}) "
         f"/ sum by (pool) (metallb_allocator_addresses_total{{{JOB}}})", "{{pool}}"),
    ], "percent"),
    ("Addresses in use and free, by pool", "timeseries", [
        (f"sum by (pool) (metallb_allocator_addresses_in_use_total{{{JOB}}})", "{{pool}} in use"),
        (f"sum by (pool) (metallb_allocator_addresses_total{{{JOB}}}) - sum by (pool) "
         f"(metallb_allocator_addresses_in_use_total{{{JOB}}})", "{{pool}} free"),
    ], "short"),
    ("Services without an address", "stat", [
        (f"max(ironlb_services_without_address{{{JOB}}})", "pending"),
    ], "short"),
    ("Services by pool", "timeseries", [
        (f"sum by (pool) (metallb_allocator_services_allocated_total{{{JOB}}})", "{{pool}}"),
    ], "short"),
    ("Announcements by node", "timeseries", [
        (f"sum by (node, protocol) (metallb_speaker_announced{{{JOB}}})",
         "{{node}} {{protocol}}"),
    ], "short"),
    ("BGP sessions up", "timeseries", [
        (f"sum by (peer) (metallb_bgp_session_up{{{JOB}}})", "{{peer}}"),
    ], "short"),
    ("Layer-2 answers", "timeseries", [
        (f"sum(rate(metallb_layer2_responses_sent{{{JOB}}}[5m]))", "replies/s"),
        (f"sum(rate(metallb_layer2_gratuitous_sent{{{JOB}}}[5m]))", "gratuitous/s"),
    ], "short"),
    ("Failovers (layer 2)", "timeseries", [
        (f"sum(increase(ironlb_membership_failover_seconds_count{{{JOB}}}[5m]))",
         "speakers judged down"),
        (f"histogram_quantile(0.9, sum by (le) "
         f"(rate(ironlb_membership_failover_seconds_bucket{{{JOB}}}[15m])))", "p90 seconds"),
    ], "short"),
    ("Controller leadership", "stat", [
        (f"sum(ironlb_leader{{{JOB}}})", "leaders"),
    ], "short"),
    ("Fold lag (observation to log)", "timeseries", [
        (f"max by (pod) (ironlb_log_lag_seconds{{{JOB}}})", "{{pod}}"),
    ], "s"),
    ("Fold time per batch (p99)", "timeseries", [
        (f"histogram_quantile(0.99, sum by (le, pod) "
         f"(rate(ironlb_fold_seconds_bucket{{{JOB}}}[5m])))", "{{pod}}"),
    ], "s"),
    ("Kubernetes writes", "timeseries", [
        (f"sum by (result) (rate(ironlb_k8s_writes_total{{{JOB}}}[5m]))", "{{result}}"),
        (f"sum(rate(metallb_k8s_client_update_errors_total{{{JOB}}}[5m]))", "errors"),
    ], "short"),
    ("Configuration", "stat", [
        (f"min(metallb_k8s_client_config_loaded_bool{{{JOB}}})", "loaded"),
        (f"max(metallb_k8s_client_config_stale_bool{{{JOB}}})", "stale"),
    ], "short"),
]  # fmt: skip


def render() -> str:
    dashboard = {
        "title": "ironlb",
        "uid": "ironlb",
        "description": "Pools and their use, Services without an address, announcements, "
        "BGP sessions, layer-2 answers, leadership, fold lag and Kubernetes writes.",
        "tags": ["ironlb", "metallb", "load-balancer"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Data source",
                },
                {
                    "name": "job",
                    "type": "custom",
                    "query": "ironlb.*",
                    "current": {"text": "ironlb.*", "value": "ironlb.*"},
                    "label": "Job (regex)",
                    "hide": 2,
                },
            ]
        },
        "panels": [
            panel(i, title, kind, targets, unit=unit)
            for i, (title, kind, targets, unit) in enumerate(PANELS)
        ],
    }
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


def main() -> None:
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            sys.exit(f"{OUT} is stale: run python deploy/generate_dashboard.py")
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)


if __name__ == "__main__":
    main()
