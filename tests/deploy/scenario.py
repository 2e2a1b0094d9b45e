"""Both processes through a life in the test API server, touching every kind of
object they read or write: what the RBAC test compares with the manifests."""

from __future__ import annotations

import ssl
import time
import urllib.request
from pathlib import Path

from kubernetes import client

from tests.apiserver import ApiServer, create_web
from tests.integration.test_controller_faults import Controller
from tests.kube_cluster import free_port
from tests.processes import Speaker

NS = "metallb-system"


def populate(server: ApiServer) -> None:
    api = server.client()
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})

    def metallb(plural: str, kind: str, spec: dict, version: str = "v1beta1") -> None:
        body = {
            "apiVersion": f"metallb.io/{version}",
            "kind": kind,
            "metadata": {"name": plural[:6]},
            "spec": spec,
        }
        custom.create_namespaced_custom_object("metallb.io", version, NS, plural, body)

    metallb("ipaddresspools", "IPAddressPool", {"addresses": ["192.0.2.0/28"]})
    metallb("l2advertisements", "L2Advertisement", {})
    metallb("bgpadvertisements", "BGPAdvertisement", {})
    peer = {"myASN": 64512, "peerASN": 64513, "peerAddress": "192.0.2.254"}
    metallb("bgppeers", "BGPPeer", peer, "v1beta2")
    create_web(server, ["n1"])


def scrape(port: int) -> str:
    """GET /metrics over HTTPS with a bearer token, as Prometheus does."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # insecureSkipVerify
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer scraper"}
    )
    with urllib.request.urlopen(request, context=context, timeout=30) as reply:
        return reply.read().decode()


def scraped(port: int, timeout: float = 60.0) -> bool:
    """The metrics read once the process serves them (the reviews it asks the API
    server for take the server's lock: this cannot wait under it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return "ironlb_events_appended_total" in scrape(port)
        except OSError:
            time.sleep(0.1)  # not serving yet: the process's start is the wait
    return False


def has(server: ApiServer, plural: str) -> bool:
    return any(o.get("status") for o in server.state.objects[plural].values())


def _access(server: ApiServer) -> set[tuple[str, str, str, str | None]]:
    with server.state.lock:
        return set(server.state.access)


def controller_life(server: ApiServer, tmp: Path) -> set[tuple[str, str, str, str | None]]:
    """A controller assigns, reports and hands its Lease back: the API access it made."""
    populate(server)
    server.state.access.clear()
    port = free_port()
    controller = Controller(server, tmp / "controller", "--secure-metrics-address",
                            f"127.0.0.1:{port}")  # fmt: skip
    try:
        assert server.wait_for(lambda s: has(s, "services") and has(s, "ipaddresspools"))
        assert server.wait_for(lambda s: has(s, "configurationstates"))
        assert server.wait_for(lambda s: s.state.objects["events"])
        assert scraped(port)  # who may read: asked of the API server
    finally:
        assert controller.stop() == 0
    return _access(server)


def speaker_life(server: ApiServer, tmp: Path) -> set[tuple[str, str, str, str | None]]:
    """A speaker announces a Service in both modes, reports, and withdraws on SIGTERM."""
    populate(server)
    status = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    client.CoreV1Api(server.client()).patch_namespaced_service_status("web", "default", status)
    server.state.access.clear()
    speaker = Speaker(
        "--node",
        "n1",
        "--api-server",
        server.url,
        "--store",
        tmp / "speaker",
        "--no-layer2",
        "--no-links",
        "--lease-interval",
        "0.1",
        "--lease-duration",
        "0.5",
        "--secure-metrics-address",
        f"127.0.0.1:{(port := free_port())}",
    )
    try:
        for plural in ("servicel2statuses", "servicebgpstatuses", "configurationstates"):
            assert server.wait_for(lambda s, p=plural: has(s, p)), plural
        assert scraped(port)
        renewal = ("update", "coordination.k8s.io", "leases", NS)
        assert server.wait_for(lambda s: renewal in s.state.access)  # a Lease renewed
    finally:
        assert speaker.terminate() == 0
    assert not server.objects("servicel2statuses")  # withdrawn on the way out
    return _access(server)


def webhook_life(server: ApiServer, tmp: Path) -> set[tuple[str, str, str, str | None]]:
    """The webhook makes its certificate, later replaces it, publishes its CA and
    validates: the API access it made."""
    from tests.integration.test_webhook import CERT_NS, pool, review, setup_configuration, started

    setup_configuration(server)
    server.state.access.clear()
    with started(server) as (context, port):  # no certificate yet: made and stored
        assert review(context, port, pool("p", "198.51.100.0/24"))["allowed"] is True
    # The stored certificate becomes unusable (as after an expiry): replaced in place.
    with server.state.lock:
        stored = server.state.objects["secrets"][(CERT_NS, "ironlb-webhook-cert")]
        stored["data"] = {"tls.crt": "AA"}
    with started(server) as (context, port):
        assert review(context, port, pool("p", "198.51.100.0/24"))["allowed"] is True
    return _access(server)
