"""Hostile snapshots: pickles of every kind, crafted and damaged bodies. Each is
refused with a clear error, runs no code, needs memory in proportion to its size,
and a process meeting one replays its log instead."""

from __future__ import annotations

import ast
import contextlib
import json
import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ironlb
from ironlb.app.loop import SnapshotPolicy
from ironlb.app.snapshots import (
    MAGIC,
    FoldSnapshot,
    SnapshotUnusable,
    decode_snapshot,
    encode_snapshot,
    snapshot_to_start_from,
    usable_snapshot,
)
from ironlb.events.codec import pack_value
from ironlb.events.errors import LbError
from ironlb.reconcile.controller.fold import ControllerFold
from ironlb.reconcile.speaker.fold import SpeakerFold
from ironlb.store import Snapshot, open_store
from tests.k8s import l2, records, service
from tests.k8s import pool as pool_object

SRC = Path(ironlb.__file__).parent


def _short(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data  # SHORT_BINUNICODE


def _unicode(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def pickle_payloads(marker: Path) -> dict[str, bytes]:
    """Pickles that run code when loaded, written by hand (nothing here imports pickle):
    each would create ``marker``."""
    command = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    return {
        "protocol 0, os.system": f"cos\nsystem\n(S'{command}'\ntR.".encode(),
        "protocol 2, builtins.eval": b"\x80\x02cbuiltins\neval\n" + _unicode(code) + b"\x85R.",
        "protocol 4, posix.system by STACK_GLOBAL": b"\x80\x04"
        + _short("posix")
        + _short("system")
        + b"\x93"
        + _unicode(command)
        + b"\x85R.",
        # The hole this replaced: a dotted name under ironlb.reconcile reaches
        # FunctionType, and from there builtins (the classic __globals__ walk).
        "protocol 4, dotted name into ironlb.reconcile": b"\x80\x04"
        + _short("ironlb.reconcile.controller.fold")
        + _short("ControllerFold.__init__.__globals__.get")
        + b"\x93"
        + _short("__builtins__")
        + b"\x85R.",
        "protocol 5, builtins.exec": b"\x80\x05"
        + _short("builtins")
        + _short("exec")
        + b"\x93"
        + _unicode(code)
        + b"\x85R.",
    }


def valid_snapshot(seq: int = 3) -> bytes:
    objects = records(pool_object("lan", "192.0.2.0/24"), l2("all"), service("web"))
    controller = ControllerFold().apply_all(objects)
    speaker = SpeakerFold(node="n1").apply_all(objects)
    return encode_snapshot(FoldSnapshot(seq, controller, speaker))


def placements(payload: bytes) -> dict[str, bytes]:
    """The payload as the whole snapshot, in the old format-1 envelope, as a record
    of the world, and where a state map belongs."""
    empty_world = {"records": [payload], "relists": []}
    return {
        "whole": payload,
        "format 1 envelope": pack_value(
            {"format": 1, "code": "0" * 32, "seq": 1, "folds": payload}
        ),
        "world record": pack_value(
            {
                "magic": MAGIC,
                "format": 2,
                "seq": 1,
                "controller": None,
                "speaker": {
                    "world": empty_world,
                    "config": None,
                    "active": None,
                    "config_waiting": False,
                },
            }
        ),
        "controller state": pack_value(
            {"magic": MAGIC, "format": 2, "seq": 1, "controller": payload, "speaker": None}
        ),
    }


def test_pickle_payloads_run_nothing_wherever_they_are_put(tmp_path):
    marker = tmp_path / "ran"
    for name, payload in pickle_payloads(marker).items():
        for where, data in placements(payload).items():
            with pytest.raises(SnapshotUnusable) as refused:
                decode_snapshot(data)
            assert str(refused.value), (name, where)
            assert not marker.exists(), f"{name} ran code from {where}"


def test_the_old_pickled_format_is_refused_by_name():
    data = pack_value({"format": 1, "code": "0" * 32, "seq": 1, "folds": b"\x80\x04N."})
    with pytest.raises(SnapshotUnusable, match=r"format 1 \(pickled folds\) is no longer read"):
        decode_snapshot(data)


def test_no_module_of_ironlb_imports_pickle_or_marshal():
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                root = name.split(".")[0]
                assert root not in {"pickle", "_pickle", "marshal", "shelve", "dill"}, path


def test_a_snapshot_filed_under_another_seq_is_refused():
    with pytest.raises(SnapshotUnusable, match="says seq 3 but is filed under seq 9"):
        decode_snapshot(valid_snapshot(3), filed_seq=9)


def test_a_newer_format_is_refused_naming_it():
    data = pack_value({"magic": MAGIC, "format": 99, "seq": 1, "controller": None, "speaker": None})
    with pytest.raises(SnapshotUnusable, match="format 99 is newer"):
        decode_snapshot(data)


def test_every_truncation_is_refused_cleanly():
    data = valid_snapshot()
    for end in range(len(data)):
        with pytest.raises(SnapshotUnusable):
            decode_snapshot(data[:end])


def test_wrong_types_in_each_field_name_the_field():
    good = valid_snapshot()
    cases = {
        "seq": ("seq", "x", "expected an integer"),
        "controller": ("controller", [], "controller: expected a map"),
        "speaker": ("speaker", 5, "speaker: expected a map"),
    }
    from ironlb.events.codec import BoundedUnpacker

    body = BoundedUnpacker(10**6).unpack(good)
    for field, (_name, value, message) in cases.items():
        with pytest.raises(SnapshotUnusable, match=message):
            decode_snapshot(pack_value({**body, field: value}))
    nested = [
        ("controller", "decisions", [["k", [[7, 1]], None, None, [], []]],
         "IP version must be 4 or 6"),
        ("controller", "pending", [["k", "soon"]], r"pending\[0\]: expected an integer"),
        ("controller", "config_waiting", "yes", "config_waiting: expected true or false"),
        ("controller", "world", {"records": [b"\x93\x01\x02\x03"], "relists": []},
         r"records\[0\]"),
        ("speaker", "active", {"namespace": 5}, "active.objects: expected a map"),
        # Found by scripts/fuzz-decoders: a flipped byte in an Event's reason.
        ("controller", "decisions", [["k", [], None, None, [], [["Normal", "IPAllocate7", "m"]]]],
         r"events\[0\]: not a reason this ironlb writes: 'IPAllocate7'"),
        ("controller", "decisions", [["k", [], None, None, [], [["Fatal", "IPAllocated", "m"]]]],
         r"events\[0\]: not an Event type: 'Fatal'"),
    ]  # fmt: skip
    for part, field, value, message in nested:
        changed = {**body, part: {**body[part], field: value}}
        with pytest.raises(SnapshotUnusable, match=message):
            decode_snapshot(pack_value(changed))


def test_addresses_out_of_range_are_refused():
    body = {"magic": MAGIC, "format": 2, "seq": 1, "speaker": None}
    controller = ControllerFold().export_state()
    from ironlb.app.snapshots import _controller_out

    out = _controller_out(controller)
    out["decisions"] = [["default/web", [[4, 2**32]], None, None, [], []]]
    with pytest.raises(SnapshotUnusable, match="not an IPv4 address"):
        decode_snapshot(pack_value({**body, "controller": out}))


def test_huge_snapshots_are_refused_unread(monkeypatch):
    monkeypatch.setattr("ironlb.app.snapshots.MAX_SNAPSHOT_BYTES", 1000)
    with pytest.raises(SnapshotUnusable, match="over the limit of 1000"):
        decode_snapshot(b"\x00" * 1001)


@pytest.mark.parametrize(
    "name, data",
    [
        ("an array header claiming 4 billion items", b"\xdd\xff\xff\xff\xff"),
        ("a map header claiming 4 billion pairs", b"\xdf\xff\xff\xff\xff"),
        ("a string header claiming 4 GiB", b"\xdb\xff\xff\xff\xff"),
        ("a million empty maps", b"\xdd\x00\x0f\x42\x40" + b"\x80" * 1_000_000),
        ("a million nested lists", b"\x91" * 1_000_000),
    ],
)
def test_small_inputs_cannot_ask_for_much_memory(name, data):
    tracemalloc.start()
    try:
        with pytest.raises(SnapshotUnusable):
            decode_snapshot(data)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(data) + 2**20, f"{name}: {peak} bytes for {len(data)}"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_snapshot_unusable(data):
    with contextlib.suppress(SnapshotUnusable):
        decode_snapshot(data)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_damaged_snapshots_are_refused_or_restore(data):
    good = bytearray(valid_snapshot())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(good) - 1))
        good[at] = data.draw(st.integers(0, 255))
    try:
        state = decode_snapshot(bytes(good))
    except SnapshotUnusable:
        return
    # What decodes is a state of the right types: folds are built from it without error.
    if state.controller is not None:
        state.controller_fold().plan()
    state.speaker_fold(node="n1").node_plan("n1")


def test_a_process_meeting_a_hostile_snapshot_replays_its_log(tmp_path, caplog):
    marker = tmp_path / "ran"
    objects = records(pool_object("lan", "192.0.2.0/24"), service("web"))
    with open_store(str(tmp_path / "log")) as store:
        store.append(objects)
        store.save_snapshot(Snapshot(2, pickle_payloads(marker)["protocol 0, os.system"]))
    with open_store(str(tmp_path / "log")) as store:
        assert SnapshotPolicy().restore(store) is None
        replayed = ControllerFold().apply_all(store.read())
    assert "snapshot at seq 2 not used" in caplog.text
    assert replayed.plan().services["default/web"].ips == ("192.0.2.0",)
    assert not marker.exists()


def test_a_snapshot_the_log_cannot_continue_is_not_used(tmp_path):
    """The newest snapshot damaged, the store falls back to an older one that lies
    before the first record the log still holds: that one cannot be continued."""
    objects = records(*(service(f"s{i}", annotations={"pad": "x" * 900}) for i in range(300)))
    with open_store(f"{tmp_path / 'log'}?segment_mb=0.05") as store:
        for record in objects:
            store.append([record])
        old = encode_snapshot(FoldSnapshot(5, ControllerFold().apply_all(objects[:5])))
        store.save_snapshot(Snapshot(5, old))
        new = encode_snapshot(FoldSnapshot(250, ControllerFold().apply_all(objects[:250])))
        store.save_snapshot(Snapshot(250, new))
        store.drop_history(251)
        assert store.first_seq > 6
    newest = tmp_path / "log" / "snapshots" / f"{250:020d}.snap"
    newest.write_bytes(newest.read_bytes()[:-10])
    with open_store(str(tmp_path / "log")) as store:
        assert store.load_snapshot().seq == 5  # the store's fallback
        with pytest.raises(SnapshotUnusable, match="records between them are gone"):
            usable_snapshot(store, old, 5)
        assert SnapshotPolicy().restore(store) is None
        with pytest.raises(LbError, match="records between them are gone"):
            snapshot_to_start_from(store)


def test_a_snapshot_an_earlier_version_wrote_still_restores():
    """tests/data/snapshots holds a snapshot of each format this code has written
    (format 2: ironlb 0.1.0, the example cluster) and the plans it stood for; a
    later version must restore it, through its upcasters if the format moved on."""
    data = Path(__file__).parents[2] / "data" / "snapshots"
    expected = json.loads((data / "format-2.plan.json").read_text())
    state = decode_snapshot((data / "format-2.snap").read_bytes(), filed_seq=27)
    assert state.controller_fold().plan().to_json() == expected["controller"]
    speaker = state.speaker_fold(node="node-a")
    speaker.refresh()
    assert speaker.plan().to_json() == expected["speaker"]


def test_a_speakers_world_is_written_once_and_must_have_the_controllers_to_point_to():
    objects = records(pool_object("lan", "192.0.2.0/24"), l2("all"), service("web"))
    controller = ControllerFold().apply_all(objects)
    speaker = SpeakerFold(node="n1").apply_all(objects)
    both = encode_snapshot(FoldSnapshot(3, controller, speaker))
    alone = encode_snapshot(FoldSnapshot(3, controller))
    assert len(both) < 1.5 * len(alone)  # not two copies of every object
    from ironlb.events.codec import BoundedUnpacker

    body = BoundedUnpacker(10**6).unpack(both)
    assert body["speaker"]["world"] == "controller"
    with pytest.raises(SnapshotUnusable, match="names the controller's, and there is none"):
        decode_snapshot(pack_value({**body, "controller": None}))
