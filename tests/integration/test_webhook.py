"""``ironlb webhook`` over real TLS: its own certificate in a Secret and in the
caBundles, allow and deny with the reconciler's rules, BGPPeer conversion."""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.client
import json
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from ironlb.webhook.certs import RENEW_BEFORE, CertificateManager
from tests.apiserver import ApiServer
from tests.integration.test_controller import free_port

NS = "metallb-system"
CERT_NS = "ironlb-webhook-cert"  # as deploy/ keeps it: apart from the speakers' Secrets
NAME = "ironlb-webhook.metallb-system.svc"
DEADLINE = 60.0


def setup_configuration(server: ApiServer) -> None:
    webhook = {
        "name": "ipaddresspools.ironlb.io",
        "clientConfig": {
            "service": {"name": "ironlb-webhook", "namespace": NS, "path": "/validate"}
        },
    }
    server.create(
        "validatingwebhookconfigurations",
        None,
        {"metadata": {"name": "ironlb-webhook"}, "webhooks": [webhook, {**webhook, "name": "b"}]},
    )
    server.create(
        "customresourcedefinitions",
        None,
        {"metadata": {"name": "bgppeers.metallb.io"}, "spec": {"group": "metallb.io"}},
    )


def pool(name: str, *addresses: str, namespace: str = NS) -> dict:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"addresses": list(addresses)},
    }


def certificate_data(server: ApiServer) -> dict:
    return server.state.objects["secrets"].get((CERT_NS, "ironlb-webhook-cert"), {}).get("data", {})


@contextlib.contextmanager
def started(server: ApiServer):
    """``ironlb webhook`` against ``server``: (TLS context trusting its CA, port)."""
    port = free_port()
    stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - never a full pipe
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ironlb",
            "--log-level",
            "info",
            "webhook",
            "--api-server",
            server.url,
            "--listen",
            f"127.0.0.1:{port}",
            "--secret-namespace",
            CERT_NS,
        ],
        stderr=stderr,
    )
    try:
        assert server.wait_for(lambda s: "ca.crt" in certificate_data(s))
        secret = server.objects("secrets")[(CERT_NS, "ironlb-webhook-cert")]
        context = ssl.create_default_context(
            cadata=base64.b64decode(secret["data"]["ca.crt"]).decode()
        )
        deadline = time.monotonic() + DEADLINE
        while True:  # the process listens once its certificate is written
            try:
                post(context, port, "/healthz", None)
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, stderr.read()
                time.sleep(0.05)
        yield context, port
    finally:
        process.terminate()
        process.wait(timeout=DEADLINE)


@pytest.fixture(scope="module")
def webhook():
    server = ApiServer()
    setup_configuration(server)
    server.create("ipaddresspools", NS, pool("existing", "192.0.2.0/28"))
    try:
        with started(server) as (context, port):
            yield server, context, port
    finally:
        server.stop()


def post(context: ssl.SSLContext, port: int, path: str, body: dict | None) -> dict:
    """One HTTPS request, the server's name checked against its certificate."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    tls = context.wrap_socket(sock, server_hostname=NAME)
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.sock = tls
    if body is None:
        connection.request("GET", path)
    else:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    reply = connection.getresponse()
    data = json.loads(reply.read() or b"{}")
    connection.close()
    return data


def review(context, port, obj: dict, operation: str = "CREATE") -> dict:
    uid = str(uuid.uuid4())
    kind = {"group": "metallb.io", "version": obj["apiVersion"].split("/")[1], "kind": obj["kind"]}
    request = {
        "uid": uid,
        "kind": kind,
        "operation": operation,
        "object": obj,
        "name": obj["metadata"]["name"],
        "namespace": obj["metadata"]["namespace"],
    }
    body = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    answer = post(context, port, "/validate", body)
    assert answer["kind"] == "AdmissionReview" and answer["response"]["uid"] == uid
    return answer["response"]


def test_the_certificate_is_published_where_the_api_server_reads_it(webhook):
    server, _context, _port = webhook
    secret = server.objects("secrets")[(CERT_NS, "ironlb-webhook-cert")]
    ca = secret["data"]["ca.crt"]
    configuration = server.objects("validatingwebhookconfigurations")[("", "ironlb-webhook")]
    assert [w["clientConfig"]["caBundle"] for w in configuration["webhooks"]] == [ca, ca]
    crd = server.objects("customresourcedefinitions")[("", "bgppeers.metallb.io")]
    conversion = crd["spec"]["conversion"]
    assert conversion["strategy"] == "Webhook"
    assert conversion["webhook"]["clientConfig"]["caBundle"] == ca
    assert conversion["webhook"]["clientConfig"]["service"]["path"] == "/convert"


def test_a_valid_pool_is_allowed(webhook):
    _server, context, port = webhook
    assert review(context, port, pool("new", "198.51.100.0/24"))["allowed"] is True


@pytest.mark.parametrize(
    "obj,message",
    [
        (pool("bad", "not-an-address"), "IPAddressPool/metallb-system/bad: spec.addresses"),
        (pool("overlap", "192.0.2.8/29"), "overlaps"),
        (
            pool("elsewhere", "198.51.100.0/24", namespace="default"),
            "resource must be created in metallb-system namespace",
        ),
    ],
)
def test_bad_objects_are_denied_with_the_field_named(webhook, obj, message):
    _server, context, port = webhook
    response = review(context, port, obj)
    assert response["allowed"] is False
    assert message in response["status"]["message"]


def test_a_reference_that_may_arrive_later_is_not_denied(webhook):
    _server, context, port = webhook
    ad = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BGPAdvertisement",
        "metadata": {"name": "tagged", "namespace": NS},
        "spec": {"communities": ["not-yet-defined-alias"]},
    }
    assert review(context, port, ad)["allowed"] is True


def test_fields_not_honoured_are_allowed_with_a_warning(webhook):
    _server, context, port = webhook
    peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "in-vrf", "namespace": NS},
        "spec": {"myASN": 64512, "peerASN": 64513, "peerAddress": "10.9.0.1", "vrf": "red",
                 "disableMP": True},
    }  # fmt: skip
    response = review(context, port, peer)
    assert response["allowed"] is True
    assert response["warnings"] == [
        "spec.disableMP: disable mp is deprecated and has no effect since it's the default "
        "behavior now",
        "spec.vrf: sessions in a VRF are not implemented by ironlb's native speaker yet: this "
        "peer gets no session",
    ]
    assert "warnings" not in review(context, port, pool("plain", "198.51.100.0/24"))


def test_bgppeers_convert_both_ways_without_losing_fields(webhook):
    _server, context, port = webhook
    peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "tor", "namespace": NS},
        "spec": {
            "myASN": 64512,
            "peerASN": 64513,
            "peerAddress": "10.0.0.1",
            "vrf": "red",
            "enableGracefulRestart": True,
        },
    }

    def convert(objects: list, version: str) -> list:
        request = {"uid": "u", "desiredAPIVersion": version, "objects": objects}
        body = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "request": request,
        }
        response = post(context, port, "/convert", body)["response"]
        assert response["result"]["status"] == "Success"
        return response["convertedObjects"]

    (old,) = convert([peer], "metallb.io/v1beta1")
    assert old["apiVersion"] == "metallb.io/v1beta1" and "vrf" not in old["spec"]
    (back,) = convert([old], "metallb.io/v1beta2")
    assert back == peer


def test_certificates_are_kept_while_valid_and_renewed_a_month_before_expiry():
    server = ApiServer()
    try:
        setup_configuration(server)
        manager = CertificateManager(server.client(), namespace=NS)
        first = manager.ensure()
        assert manager.ensure() == first  # a second replica serves the same certificate
        late = first.expires() - RENEW_BEFORE + datetime.timedelta(days=1)
        renewed = manager.ensure(now=late)
        assert renewed != first and renewed.expires() > first.expires()
        stored = server.objects("secrets")[(NS, "ironlb-webhook-cert")]["data"]["tls.crt"]
        assert base64.b64decode(stored) == renewed.cert
    finally:
        server.stop()


def raw_exchange(context, port, data: bytes, *, read: bool = True) -> bytes:
    """Send bytes as they are over TLS; what came back until the server closed or
    answered one response."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    tls = context.wrap_socket(sock, server_hostname=NAME)
    tls.sendall(data)
    if not read:
        return tls
    received = b""
    while True:
        chunk = tls.recv(65536)
        if not chunk:
            break
        received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = [
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ]
        if length and len(body) >= length[0]:
            break
    tls.close()
    return received


def reply_body(raw: bytes) -> dict:
    return json.loads(raw.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize(
    "headers, body, message",
    [
        ("Content-Length: -5", b"", "outside"),
        ("Content-Length: 99999999999", b"", "outside"),
        ("Content-Length: many", b"", "not a number"),
        ("Transfer-Encoding: chunked", b"5\r\nhello\r\n0\r\n\r\n", "Content-Length is required"),
        ("Content-Length: 9", b"not json!", "not JSON"),
        ("Content-Length: 2", b"[]", "expected an AdmissionReview"),
        ("Content-Length: 15", b'{"request": 42}', "expected an AdmissionReview"),
        ("Content-Length: 20000", b"[" * 20000, "not JSON"),  # deep nesting
    ],
)
def test_every_malformed_request_gets_a_well_formed_review(webhook, headers, body, message):
    _server, context, port = webhook
    head = (
        f"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}\r\n\r\n"
    )
    answer = reply_body(raw_exchange(context, port, head.encode() + body))
    assert answer["kind"] == "AdmissionReview"
    assert answer["response"]["allowed"] is False
    assert message in answer["response"]["status"]["message"]


def test_a_malformed_conversion_gets_a_failed_conversion_review(webhook):
    _server, context, port = webhook
    head = b"POST /convert HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nnul"
    answer = reply_body(raw_exchange(context, port, head))
    assert answer["kind"] == "ConversionReview"
    assert answer["response"]["result"]["status"] == "Failure"


def test_slow_clients_do_not_hold_up_reviews(webhook):
    """Connections that send half a request and stall: reviews still answer."""
    _server, context, port = webhook
    stalled = [
        raw_exchange(
            context, port, b"POST /validate HTTP/1.1\r\nContent-Length: 100\r\n\r\n{", read=False
        )
        for _ in range(50)
    ]
    try:
        answer = review(context, port, pool("after-stall", "203.0.113.0/28"))
        assert answer["allowed"] is True
    finally:
        for connection in stalled:
            connection.close()


def test_reviews_read_a_watched_cache_not_a_list_per_request(webhook):
    server, context, port = webhook
    lists_before = server.state.lists
    for i in range(20):
        assert review(context, port, pool(f"cached-{i}", f"198.51.100.{i * 8}/29"))["allowed"]
    # Before the watches listed, a review lists once for itself; after, none do.
    assert server.state.lists - lists_before <= 8, server.state.lists - lists_before
