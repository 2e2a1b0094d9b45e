"""A real Prometheus scrapes a running controller and speaker the way the chart's
ServiceMonitors do (HTTPS, a ServiceAccount's token bound to ironlb-metrics-reader)
and evaluates the chart's alert rules: every metric each alert queries has real
series, and every expression evaluates."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.apiserver import create_web
from tests.deploy.test_chart import CHART, KUBE_VERSION
from tests.kube_cluster import NAMESPACE as NS
from tests.kube_cluster import KubeCluster, free_port
from tests.processes import ControllerProcess, Speaker

DEADLINE = 90.0


def chart_rules(kube: KubeCluster) -> dict:
    args = [str(kube.bin / "helm"), "template", "ironlb", str(CHART), "-n", NS,
            "--kube-version", KUBE_VERSION, "--set", "prometheus.prometheusRule.enabled=true"]  # fmt: skip  # noqa: E501
    rendered = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120)
    documents = [o for o in yaml.safe_load_all(rendered.stdout) if o]
    (rule,) = [o for o in documents if o["kind"] == "PrometheusRule"]
    return rule["spec"]


class Prometheus:
    def __init__(self, directory: Path, targets: list[str], token_file: Path, rules: Path):
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{
                "job_name": "ironlb",
                "scheme": "https",
                "tls_config": {"insecure_skip_verify": True},
                "authorization": {"credentials_file": str(token_file)},
                "static_configs": [{"targets": targets}],
            }],
        }  # fmt: skip
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [shutil.which("prometheus") or "prometheus",
             f"--config.file={directory / 'prometheus.yml'}",
             f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def query(self, expr: str) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr}
        )
        with urllib.request.urlopen(url, timeout=30) as reply:
            return json.loads(reply.read())

    def wait(self, predicate, what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.5)  # Prometheus scrapes on its own clock: polling is the wait
        self.log.seek(0)
        raise AssertionError(f"not within {DEADLINE} s: {what}\n{self.log.read()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs prometheus")
def test_prometheus_scrapes_ironlb_and_every_alert_meets_real_series(kube, tmp_path):
    api = kube.client()
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    for plural, kind, spec, version in (
        ("ipaddresspools", "IPAddressPool", {"addresses": ["192.0.2.0/28"]}, "v1beta1"),
        ("bgpadvertisements", "BGPAdvertisement", {}, "v1beta1"),
        ("bgppeers", "BGPPeer", {"myASN": 64512, "peerASN": 64513, "peerAddress": "127.0.0.2"},
         "v1beta2"),  # nobody listens there: the session stays down
    ):  # fmt: skip
        body = {"apiVersion": f"metallb.io/{version}", "kind": kind,
                "metadata": {"name": plural[:8]}, "spec": spec}  # fmt: skip
        custom.create_namespaced_custom_object("metallb.io", version, NS, plural, body)
    create_web(kube, ["n1"])
    kube.kubectl("create", "serviceaccount", "prometheus", "-n", NS)
    reader = ("--clusterrole=ironlb-metrics-reader", f"--serviceaccount={NS}:prometheus")
    kube.kubectl("create", "clusterrolebinding", "prometheus-reads-ironlb", *reader)
    token = tmp_path / "token"
    token.write_text(kube.kubectl("create", "token", "prometheus", "-n", NS).strip())
    rules = tmp_path / "rules.yaml"
    spec = chart_rules(kube)
    rules.write_text(yaml.safe_dump(spec))

    controller_port, speaker_port = free_port(), free_port()
    controller = ControllerProcess(
        ["--kubeconfig", str(kube.service_account_kubeconfig("ironlb-controller"))],
        tmp_path / "controller", "--secure-metrics-address", f"127.0.0.1:{controller_port}",
    )  # fmt: skip
    speaker = Speaker(
        "--node", "n1", "--kubeconfig", kube.service_account_kubeconfig("ironlb-speaker"),
        "--store", tmp_path / "speaker", "--no-layer2", "--no-links", "--quiet",
        "--secure-metrics-address", f"127.0.0.1:{speaker_port}",
    )  # fmt: skip
    prometheus = Prometheus(
        tmp_path, [f"127.0.0.1:{controller_port}", f"127.0.0.1:{speaker_port}"], token, rules
    )
    try:
        prometheus.wait(
            lambda: (
                len([r for r in prometheus.query('up{job="ironlb"} == 1')["data"]["result"]]) == 2
            ),
            "both targets scraped (HTTPS, the token authorized)",
        )
        alerts = [r for group in spec["groups"] for r in group["rules"] if "alert" in r]
        assert len(alerts) == 12
        for alert in alerts:
            names = set(re.findall(r"\b((?:metallb|ironlb)_[a-z0-9_]+)", alert["expr"]))
            for name in names:
                prometheus.wait(
                    lambda n=name: prometheus.query(f'count({n}{{job="ironlb"}})')["data"][
                        "result"
                    ],
                    f"series of {name} (queried by {alert['alert']})",
                )
            answer = prometheus.query(alert["expr"])
            assert answer["status"] == "success", (alert["alert"], answer)
        # With real series, the BGP session to nobody is down: its alert's expression
        # selects it (the alert itself waits its minute).
        down = prometheus.query('metallb_bgp_session_up{job="ironlb"} == 0')["data"]["result"]
        assert down, "the BGP session to a closed port is reported down"
    finally:
        prometheus.stop()
        speaker.terminate()
        controller.stop()
