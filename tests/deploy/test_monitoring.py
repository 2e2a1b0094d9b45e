"""The chart's monitoring: ServiceMonitors and a PodMonitor that select what the
chart serves metrics on, and alert rules (MetalLB's, adapted to ironlb's job, and
ironlb's own) that promtool accepts and that fire on series written here, and only
then. Every metric a rule queries is one ironlb exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.test_chart import CHART, KUBE_VERSION, helm, helm_env  # noqa: F401

SRC = Path(__file__).parents[2] / "src"
ON = [
    "prometheus.serviceMonitor.enabled=true",
    "prometheus.podMonitor.enabled=true",
    "prometheus.prometheusRule.enabled=true",
]


def rendered(env: dict[str, str], *sets: str) -> list[dict]:
    args = ["template", "ironlb", str(CHART), "-n", "metallb-system", "--kube-version",
            KUBE_VERSION]  # fmt: skip
    for item in sets:
        args += ["--set", item]
    return [o for o in yaml.safe_load_all(helm(env, *args).stdout) if o]


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("needs promtool (Debian's prometheus package)")
    return found


@pytest.fixture
def rule_file(helm_env, tmp_path) -> Path:  # noqa: F811 - the fixture imported above
    (rule,) = [o for o in rendered(helm_env, *ON) if o["kind"] == "PrometheusRule"]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    return path


def test_monitoring_is_off_by_default_and_selects_the_metrics_services(helm_env):  # noqa: F811
    kinds = {o["kind"] for o in rendered(helm_env)}
    assert not kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    objects = rendered(helm_env, *ON)
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    monitors = [o for o in objects if o["kind"] == "ServiceMonitor"]
    assert sorted(m["metadata"]["name"] for m in monitors) == [
        "ironlb-controller", "ironlb-speaker"
    ]  # fmt: skip
    for monitor in monitors:
        selected = [
            s for s in services.values()
            if monitor["spec"]["selector"]["matchLabels"].items()
            <= s["metadata"].get("labels", {}).items()
        ]  # fmt: skip
        assert [s["metadata"]["name"] for s in selected] == [
            f"{monitor['metadata']['name']}-metrics"
        ]
        ports = {p["name"] for p in selected[0]["spec"]["ports"]}
        assert monitor["spec"]["endpoints"][0]["port"] in ports


def test_promtool_accepts_the_rules(promtool, rule_file):
    done = subprocess.run([promtool, "check", "rules", str(rule_file)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 12 rules found" in done.stdout


def test_every_metric_the_rules_query_is_one_ironlb_exports(rule_file):
    rules = yaml.safe_load(rule_file.read_text())["groups"][0]["rules"]
    queried = set()
    for rule in rules:
        queried |= set(re.findall(r"\b((?:metallb|ironlb)_[a-z0-9_]+)", rule["expr"]))
    source = "\n".join(p.read_text() for p in SRC.rglob("*.py"))
    # ironlb's own counters are exposed with the _total suffix the source omits
    missing = {
        name
        for name in queried
        if f'"{name}"' not in source
        and f'"{re.sub(r"_(total|bucket|count|sum)$", "", name)}"' not in source
    }
    assert not missing, f"rules query metrics ironlb never exports: {sorted(missing)}"
    assert len(queried) >= 7


LABELS = 'job="ironlb",pod="ironlb-controller-0",container="controller"'
SPEAKER = 'job="ironlb",pod="ironlb-speaker-abc",container="speaker"'

# Each alert: series that make it fire (and the labels it then carries), and series
# that must not. Intervals of 15 s, as Prometheus scrapes by default.
TESTS = {
    "MetalLBStaleConfig": (
        [(f"metallb_k8s_client_config_stale_bool{{{LABELS}}}", "1x10")],
        [(f"metallb_k8s_client_config_stale_bool{{{LABELS}}}", "0x10")],
    ),
    "MetalLBConfigNotLoaded": (
        [(f"metallb_k8s_client_config_loaded_bool{{{SPEAKER}}}", "0x10")],
        [(f"metallb_k8s_client_config_loaded_bool{{{SPEAKER}}}", "1x10")],
    ),
    "MetalLBAddressPoolExhausted": (
        [
            (f'metallb_allocator_addresses_in_use_total{{{LABELS},pool="lan"}}', "8x10"),
            (f'metallb_allocator_addresses_total{{{LABELS},pool="lan"}}', "8x10"),
        ],
        [
            (f'metallb_allocator_addresses_in_use_total{{{LABELS},pool="lan"}}', "7x10"),
            (f'metallb_allocator_addresses_total{{{LABELS},pool="lan"}}', "8x10"),
        ],
    ),
    "MetalLBAddressPoolUsage95Percent": (
        [
            (f'metallb_allocator_addresses_in_use_total{{{LABELS},pool="lan"}}', "97x10"),
            (f'metallb_allocator_addresses_total{{{LABELS},pool="lan"}}', "100x10"),
        ],
        [
            (f'metallb_allocator_addresses_in_use_total{{{LABELS},pool="lan"}}', "90x10"),
            (f'metallb_allocator_addresses_total{{{LABELS},pool="lan"}}', "100x10"),
        ],
    ),
    "MetalLBBGPSessionDown": (
        [(f'metallb_bgp_session_up{{{SPEAKER},peer="10.0.0.1:179"}}', "0x10")],
        [(f'metallb_bgp_session_up{{{SPEAKER},peer="10.0.0.1:179"}}', "1x10")],
    ),
    "IronLBNoControllerLeader": (
        [
            (f"ironlb_leader{{{LABELS}}}", "0x10"),
            (
                'ironlb_leader{job="ironlb",pod="ironlb-controller-1",container="controller"}',
                "0x10",
            ),
        ],
        [
            (f"ironlb_leader{{{LABELS}}}", "0x10"),
            (
                'ironlb_leader{job="ironlb",pod="ironlb-controller-1",container="controller"}',
                "1x10",
            ),
        ],
    ),
    "IronLBLogLag": (
        [(f"ironlb_log_lag_seconds{{{SPEAKER}}}", "45x30")],
        [(f"ironlb_log_lag_seconds{{{SPEAKER}}}", "2x30")],
    ),
    "IronLBSlowFailover": (
        [
            (f'ironlb_membership_failover_seconds_bucket{{{SPEAKER},le="{le}"}}', f"0+{n}x80")
            for le, n in (("0.5", 0), ("1.0", 0), ("1.5", 0), ("2.0", 0), ("3.0", 1), ("+Inf", 1))
        ],
        [
            (f'ironlb_membership_failover_seconds_bucket{{{SPEAKER},le="{le}"}}', f"0+{n}x80")
            for le, n in (("0.5", 1), ("1.0", 1), ("1.5", 1), ("2.0", 1), ("3.0", 1), ("+Inf", 1))
        ],
    ),
    "IronLBReplayDiverged": (
        [(f'ironlb_replay_divergences_total{{{LABELS},scope="controller"}}', "0 1x10")],
        [(f'ironlb_replay_divergences_total{{{LABELS},scope="controller"}}', "0x10")],
    ),
    "IronLBKubernetesWritesFailing": (
        [(f"metallb_k8s_client_update_errors_total{{{LABELS}}}", "0+1x80")],
        [(f"metallb_k8s_client_update_errors_total{{{LABELS}}}", "3x80")],
    ),
}
EVAL = {"IronLBLogLag": "6m", "IronLBKubernetesWritesFailing": "19m", "IronLBSlowFailover": "16m"}


def promtool_expects_silence(
    promtool: str, rule_file: Path, path: Path, alert: str, series: list[tuple[str, str]]
) -> subprocess.CompletedProcess:
    """promtool test rules, expecting ``alert`` not to fire: it fails, showing what
    fired (``got:[...]``), exactly when the alert fires on ``series``."""
    case = {
        "interval": "15s",
        "input_series": [{"series": s, "values": v} for s, v in series],
        "alert_rule_test": [
            {"eval_time": EVAL.get(alert, "2m"), "alertname": alert, "exp_alerts": []}
        ],
    }
    path.write_text(yaml.safe_dump({"rule_files": [str(rule_file)], "tests": [case]}))
    return subprocess.run([promtool, "test", "rules", str(path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize("alert", sorted(TESTS))
def test_each_alert_fires_on_its_series_and_only_then(promtool, rule_file, tmp_path, alert):
    firing, quiet = TESTS[alert]
    fired = promtool_expects_silence(promtool, rule_file, tmp_path / "fire.yaml", alert, firing)
    assert fired.returncode != 0, f"{alert} did not fire:\n{fired.stdout}"
    assert f'alertname="{alert}"' in fired.stdout + fired.stderr, fired.stdout + fired.stderr
    quiet_run = promtool_expects_silence(promtool, rule_file, tmp_path / "quiet.yaml", alert, quiet)
    assert quiet_run.returncode == 0, quiet_run.stdout + quiet_run.stderr


# --- the Grafana dashboard ------------------------------------------------------------

DASHBOARD = CHART / "dashboards" / "ironlb.json"


def test_the_dashboard_is_what_its_generator_writes():
    check = [sys.executable, str(CHART.parents[1] / "deploy" / "generate_dashboard.py"),
             "--check"]  # fmt: skip
    done = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_every_metric_the_dashboard_queries_is_one_ironlb_exports():
    dashboard = json.loads(DASHBOARD.read_text())
    titles = [p["title"] for p in dashboard["panels"]]
    for wanted in ("Pool usage", "Services without an address", "Announcements by node",
                   "BGP sessions up", "Fold lag (observation to log)"):  # fmt: skip
        assert wanted in titles
    queried = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            queried |= set(re.findall(r"\b((?:metallb|ironlb)_[a-z0-9_]+)", target["expr"]))
    source = "\n".join(p.read_text() for p in SRC.rglob("*.py"))
    exported = {
        name for name in queried
        # histograms and ironlb's counters are exposed with suffixes
        if f'"{name}"' in source
        or f'"{re.sub(r"_(bucket|total|count|sum)$", "", name)}"' in source
    }  # fmt: skip
    assert queried - exported == set(), f"queries of metrics never exported: {queried - exported}"
    assert len(queried) >= 10


def test_the_dashboard_ships_as_a_configmap_the_grafana_sidecar_picks_up(helm_env):  # noqa: F811
    assert not [o for o in rendered(helm_env) if o["kind"] == "ConfigMap"]
    (configmap,) = [
        o for o in rendered(helm_env, "grafanaDashboard.enabled=true") if o["kind"] == "ConfigMap"
    ]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["ironlb.json"]) == json.loads(DASHBOARD.read_text())


def test_the_monitoring_overlay_holds_what_the_chart_renders(helm_env):  # noqa: F811
    from tests.deploy.manifests import render
    from tests.deploy.test_chart import by_identity, without_helm_labels

    chart = [
        without_helm_labels(o)
        for o in rendered(helm_env, ON[0], ON[2])
        if o["kind"] in ("ServiceMonitor", "PrometheusRule")
    ]
    overlay = [o for o in render("overlays/monitoring")
               if o["kind"] in ("ServiceMonitor", "PrometheusRule")]  # fmt: skip
    assert by_identity(overlay) == by_identity(chart)
    # and the rest is the base, unchanged
    rest = [o for o in render("overlays/monitoring") if o not in overlay]
    assert by_identity(rest) == by_identity(render("base"))
