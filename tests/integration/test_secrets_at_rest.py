"""No secret value at rest: a Secret and a BGPPeer with an inline password, applied
with kubectl (so the last-applied annotations hold the values too), are recorded
from a real API server into a file store and a Redis store, folds are snapshotted
into both, and every byte either store holds is searched for every form of the
values."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import redis

from ironlb.app.snapshots import FoldSnapshot, encode_snapshot
from ironlb.reconcile.controller.fold import ControllerFold
from ironlb.reconcile.speaker.fold import SpeakerFold
from ironlb.store import Snapshot, open_store
from tests.kube_cluster import NAMESPACE
from tests.processes import ironlb

VALUES = {
    "password": "s3cr3t-Pa55w0rd-ironlb",
    "token": "t0ken-Of-The-Peer-99",
    "inline": "inl1ne-Peer-Pa55",  # a BGPPeer's own spec.password
}


def forms(value: str) -> list[bytes]:
    """The value as it could appear: plain, base64 (data), in JSON strings."""
    encoded = base64.b64encode(value.encode())
    return [value.encode(), encoded, encoded.rstrip(b"="), json.dumps(value).encode()[1:-1]]


def redis_bytes(client: redis.Redis, key: bytes) -> bytes:
    """Everything a key holds, as stored (DUMP may compress, so read by type)."""
    kind = client.type(key)
    if kind == b"stream":
        entries = client.xrange(key)
        return b"".join(v for _id, fields in entries for k, v in fields.items())
    if kind == b"hash":
        return b"".join(client.hgetall(key).values())
    return client.get(key) or b""


def test_secret_values_are_in_no_store_and_no_snapshot(kube, redis_server, tmp_path):
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "peer-password", "namespace": NAMESPACE},
        "data": {"password": base64.b64encode(VALUES["password"].encode()).decode()},
        "stringData": {"token": VALUES["token"]},
    }
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(secret))  # last-applied holds both
    peer = {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "tor", "namespace": NAMESPACE},
        "spec": {
            "myASN": 64512,
            "peerASN": 64513,
            "peerAddress": "10.0.0.1",
            "password": VALUES["inline"],
        },
    }
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(peer))
    stored = kube.get("secret", "peer-password", "-n", NAMESPACE)
    annotation = stored["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"
    ]
    assert VALUES["token"] in annotation  # the form the recording must hide

    file_url = str(tmp_path / "log")
    redis_url = f"{redis_server.url}?key={uuid.uuid4().hex}"
    for url in (file_url, redis_url):
        ironlb("record", "--kubeconfig", kube.admin_kubeconfig, "--to", url, "--duration", "1")
        with open_store(url) as store:
            records = list(store.read())
            assert any(r.kind == "v1/Secret" for r in records)
            assert any(r.kind.endswith("/BGPPeer") for r in records)
            controller = ControllerFold().apply_all(records)
            speaker = SpeakerFold().apply_all(records)
            snapshot = encode_snapshot(FoldSnapshot(store.last_seq, controller, speaker))
            store.save_snapshot(Snapshot(store.last_seq, snapshot))

    held = [p.read_bytes() for p in Path(file_url).rglob("*") if p.is_file()]
    client = redis.Redis.from_url(redis_server.url)
    held += [redis_bytes(client, key) for key in client.scan_iter()]
    shown = ironlb("log", "show", file_url, "-o", "json").stdout.encode()
    for value in VALUES.values():
        for form in forms(value):
            assert not any(form in blob for blob in held), f"{form!r} at rest"
            assert form not in shown
