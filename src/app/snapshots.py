"""Fold snapshots: the state of the folds after seq N, so a process restarts from N
instead of from the first record, and retention can drop history behind N.

A snapshot is data, never code: the folds export an explicit state value (see
``ironlb.reconcile.fold_state``: the observed world, the configurations in force,
the controller's decisions and pending order), this module writes it through the
record codec, and reading checks the type of every field before a fold is rebuilt
from it. A snapshot read from a file or a Redis key written by someone else can at
worst be refused (``SnapshotUnusable``); the process then replays its log.

Wire form (``FORMAT`` 2), one msgpack map::

    {"magic": "ironlb-snapshot", "format": 2, "seq": N,
     "controller": CONTROLLER | nil, "speaker": SPEAKER | nil}

    CONTROLLER = {"seq", "world", "config", "active", "config_waiting",
                  "decisions", "pending", "addressed"}
    SPEAKER    = {"world", "config", "active", "config_waiting"}  ("world" may be
                 the string "controller": the same world, written once)
    WORLD      = {"records": [record bytes (the log's codec)...],
                  "relists": [[source, group, kind, [key...]]...]}
    config / active: INPUTS | nil ("active" may be the string "config": the same inputs)
    INPUTS     = {"namespace", "objects": {Kind: {name: object}},
                  "namespaces": {name: labels}, "nodes": {name: labels} | nil,
                  "secrets": {name: object} | nil}

Versioning follows the record's: a newer format is refused naming it, an older one
is upgraded by the steps in ``UPCASTERS``. Format 1 held pickled folds and is never
read (pickle can be made to run code), so a log whose snapshot is of format 1 is
replayed from its records.

Memory: reading is bounded by the snapshot's size. Snapshots over
``MAX_SNAPSHOT_BYTES`` are refused unread; msgpack bounds every length by the bytes
present, and the number of maps and lists is capped at one per ``BYTES_PER_CONTAINER``
bytes, so a few crafted bytes cannot ask for gigabytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..events.codec import BoundedUnpacker, decode_fields, encode_many, pack_value
from ..events.errors import InvalidRecord, LbError
from ..reconcile.config import ConfigInputs
from ..reconcile.controller.fold import ControllerFold
from ..reconcile.fold_state import (
    ControllerState,
    DecisionState,
    Relist,
    SpeakerState,
    WorldState,
)
from ..reconcile.identity import Overrides
from ..reconcile.plan.controller import EventSeverity, Outcome
from ..reconcile.speaker.fold import SpeakerFold, SpeakerOverrides
from ..store import Store

MAGIC = "ironlb-snapshot"
FORMAT = 2
MAX_SNAPSHOT_BYTES = 256 * 2**20
BYTES_PER_CONTAINER = 8

# UPCASTERS[n]: turn a decoded format-n body into a format-(n+1) body.
UPCASTERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class SnapshotUnusable(Exception):
    """A snapshot that cannot stand for the log: damaged, foreign, crafted or too old."""


@attrs.define
class FoldSnapshot:
    """The folds of one process after ``seq``: the controller's, and a speaker's."""

    seq: int
    controller: ControllerFold | None
    speaker: SpeakerFold | None = None


@attrs.frozen
class SnapshotState:
    """A decoded snapshot: the folds' states, to rebuild folds with a process's flags."""

    seq: int
    controller: ControllerState | None
    speaker: SpeakerState | None

    def controller_fold(self, overrides: Overrides | None = None) -> ControllerFold:
        """The controller fold. A speaker that does not assign addresses keeps no
        controller state; for tools reading its log, one is rebuilt as a restarted
        controller would build it, from every object the speaker observed (Service
        statuses keep their addresses, as they keep MetalLB's across restarts)."""
        if self.controller is not None:
            return ControllerFold.restore(self.controller, overrides)
        if self.speaker is None:
            raise SnapshotUnusable("the snapshot holds no state")
        observed = sorted(self.speaker.world.records, key=lambda record: record.seq)
        return ControllerFold(overrides).apply_all(observed)

    def speaker_fold(
        self, overrides: SpeakerOverrides | None = None, node: str | None = None
    ) -> SpeakerFold:
        """The speaker fold; rebuilt from the controller's world when the snapshot
        holds none (a controller's log): a speaker's state is a function of the world."""
        if self.speaker is not None:
            return SpeakerFold.restore(self.speaker, overrides, node)
        if self.controller is None:
            raise SnapshotUnusable("the snapshot holds no state")
        world = self.controller.world
        return SpeakerFold.restore(SpeakerState(world, None, None, False), overrides, node)


# --- writing -------------------------------------------------------------------


def encode_snapshot(snapshot: FoldSnapshot) -> bytes:
    controller = snapshot.controller.export_state() if snapshot.controller is not None else None
    speaker = snapshot.speaker.export_state() if snapshot.speaker is not None else None
    body = {
        "magic": MAGIC,
        "format": FORMAT,
        "seq": snapshot.seq,
        "controller": _controller_out(controller) if controller is not None else None,
        "speaker": None,
    }
    if speaker is not None:
        # A speaker process folds the same records into both folds: its world is
        # written once (the records compare by identity, so this costs little).
        same_world = controller is not None and speaker.world == controller.world
        body["speaker"] = _speaker_out(speaker, world=None if same_world else speaker.world)
    return pack_value(body)


def _world_out(world: WorldState) -> dict[str, Any]:
    return {
        "records": encode_many(world.records),
        "relists": [[r.source, r.group, r.kind, list(r.seen)] for r in world.relists],
    }


def _inputs_out(inputs: ConfigInputs | None) -> dict[str, Any] | None:
    if inputs is None:
        return None
    return {
        "namespace": inputs.namespace,
        "objects": inputs.objects,
        "namespaces": inputs.namespaces,
        "nodes": inputs.nodes,
        "secrets": inputs.secrets,
    }


def _configs_out(config: ConfigInputs | None, active: ConfigInputs | None) -> dict[str, Any]:
    same = active is not None and active is config
    return {"config": _inputs_out(config), "active": "config" if same else _inputs_out(active)}


def _controller_out(state: ControllerState) -> dict[str, Any]:
    return {
        "seq": state.seq,
        "world": _world_out(state.world),
        **_configs_out(state.config, state.active),
        "config_waiting": state.config_waiting,
        "decisions": [
            [d.key, [list(a) for a in d.addresses], d.pool, d.error, d.warnings, d.events]
            for d in state.decisions
        ],
        "pending": [list(p) for p in state.pending],
        "addressed": list(state.addressed),
    }


def _speaker_out(state: SpeakerState, *, world: WorldState | None) -> dict[str, Any]:
    """``world`` None: the controller's (written as the string "controller")."""
    return {
        "world": "controller" if world is None else _world_out(world),
        **_configs_out(state.config, state.active),
        "config_waiting": state.config_waiting,
    }


# --- reading -------------------------------------------------------------------


def decode_snapshot(data: bytes, filed_seq: int | None = None) -> SnapshotState:
    """The state a snapshot holds, every field checked; ``SnapshotUnusable`` if not.

    ``filed_seq`` is the seq the store filed the snapshot under; a body that claims
    another seq was not written for that place and is refused.
    """
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise SnapshotUnusable(
            f"snapshot of {len(data)} bytes is over the limit of {MAX_SNAPSHOT_BYTES}"
        )
    reader = _Reader(len(data))
    body = reader.unpack(data, "snapshot")
    if not isinstance(body, dict):
        raise SnapshotUnusable(f"not a snapshot: a {type(body).__name__}, not a map")
    version = body.get("format")
    if version == 1 and "folds" in body:
        raise SnapshotUnusable(
            "format 1 (pickled folds) is no longer read, since pickle can run code"
        )
    if body.get("magic") != MAGIC or type(version) is not int:
        raise SnapshotUnusable("not an ironlb snapshot (no magic or format)")
    if version > FORMAT:
        raise SnapshotUnusable(f"snapshot format {version} is newer than this ironlb ({FORMAT})")
    while version < FORMAT:
        step = UPCASTERS.get(version)
        if step is None:
            raise SnapshotUnusable(f"no upgrade step from snapshot format {version}")
        body = step(body)
        version += 1
    seq = _int(body.get("seq"), "seq")
    if filed_seq is not None and seq != filed_seq:
        raise SnapshotUnusable(f"snapshot says seq {seq} but is filed under seq {filed_seq}")
    controller = body.get("controller")
    speaker = body.get("speaker")
    controller_state = _controller_in(controller, reader) if controller is not None else None
    return SnapshotState(
        seq,
        controller_state,
        _speaker_in(speaker, reader, controller_state) if speaker is not None else None,
    )


class _Reader:
    """Unpacks the snapshot and the records in it with one budget of maps and lists."""

    def __init__(self, size: int) -> None:
        self._unpacker = BoundedUnpacker(size // BYTES_PER_CONTAINER + 1024)

    def unpack(self, data: Any, where: str) -> Any:
        if not isinstance(data, bytes):
            raise _fail(where, "bytes", data)
        try:
            return self._unpacker.unpack(data)
        except InvalidRecord as exc:
            raise SnapshotUnusable(f"{where}: {exc}") from exc


def _fail(where: str, expected: str, found: Any) -> SnapshotUnusable:
    return SnapshotUnusable(f"{where}: expected {expected}, found {type(found).__name__}")


def _int(value: Any, where: str) -> int:
    if type(value) is not int:
        raise _fail(where, "an integer", value)
    return value


def _str(value: Any, where: str) -> str:
    if type(value) is not str:
        raise _fail(where, "a string", value)
    return value


def _opt_str(value: Any, where: str) -> str | None:
    return None if value is None else _str(value, where)


def _bool(value: Any, where: str) -> bool:
    if type(value) is not bool:
        raise _fail(where, "true or false", value)
    return value


def _list(value: Any, where: str, size: int | None = None) -> list[Any]:
    if type(value) is not list or (size is not None and len(value) != size):
        raise _fail(where, f"a list of {size}" if size else "a list", value)
    return value


def _map(value: Any, where: str) -> dict[Any, Any]:
    if type(value) is not dict:
        raise _fail(where, "a map", value)
    return value


def _strs(value: Any, where: str) -> tuple[str, ...]:
    return tuple(_str(v, f"{where}[{i}]") for i, v in enumerate(_list(value, where)))


def _string_map(value: Any, where: str) -> dict[str, str]:
    return {_str(k, where): _str(v, f"{where}.{k}") for k, v in _map(value, where).items()}


def _objects(value: Any, where: str) -> dict[str, dict[str, Any]]:
    return {_str(k, where): _map(v, f"{where}.{k}") for k, v in _map(value, where).items()}


def _world_in(value: Any, reader: _Reader, where: str) -> WorldState:
    world = _map(value, where)
    records = []
    for i, blob in enumerate(_list(world.get("records"), f"{where}.records")):
        fields = reader.unpack(blob, f"{where}.records[{i}]")
        try:
            records.append(decode_fields(fields))
        except InvalidRecord as exc:
            raise SnapshotUnusable(f"{where}.records[{i}]: {exc}") from exc
    relists = []
    for i, item in enumerate(_list(world.get("relists"), f"{where}.relists")):
        at = f"{where}.relists[{i}]"
        source, group, kind, seen = _list(item, at, 4)
        relists.append(
            Relist(_str(source, at), _str(group, at), _str(kind, at), _strs(seen, f"{at}.seen"))
        )
    return WorldState(tuple(records), tuple(relists))


def _inputs_in(value: Any, where: str) -> ConfigInputs | None:
    if value is None:
        return None
    inputs = _map(value, where)
    objects = {
        _str(kind, f"{where}.objects"): _objects(by_name, f"{where}.objects.{kind}")
        for kind, by_name in _map(inputs.get("objects"), f"{where}.objects").items()
    }
    namespaces = {
        _str(name, f"{where}.namespaces"): _string_map(labels, f"{where}.namespaces.{name}")
        for name, labels in _map(inputs.get("namespaces"), f"{where}.namespaces").items()
    }
    nodes = inputs.get("nodes")
    if nodes is not None:
        nodes = {
            _str(name, f"{where}.nodes"): _string_map(labels, f"{where}.nodes.{name}")
            for name, labels in _map(nodes, f"{where}.nodes").items()
        }
    secrets = inputs.get("secrets")
    if secrets is not None:
        secrets = _objects(secrets, f"{where}.secrets")
    namespace = _str(inputs.get("namespace"), f"{where}.namespace")
    return ConfigInputs(namespace, objects, namespaces, nodes, secrets)


def _configs_in(body: Mapping[str, Any], where: str) -> tuple[ConfigInputs | None, ...]:
    config = _inputs_in(body.get("config"), f"{where}.config")
    active = body.get("active")
    if active == "config":
        return config, config
    return config, _inputs_in(active, f"{where}.active")


def _address(value: Any, where: str) -> tuple[int, int]:
    version, number = _list(value, where, 2)
    if version not in (4, 6) or type(version) is not int:
        raise SnapshotUnusable(f"{where}: IP version must be 4 or 6, found {version!r}")
    if type(number) is not int or not 0 <= number < (1 << (32 if version == 4 else 128)):
        raise SnapshotUnusable(f"{where}: not an IPv{version} address: {number!r}")
    return (version, number)


def _decision_in(value: Any, where: str) -> DecisionState:
    key, addresses, pool, error, warnings, events = _list(value, where, 6)
    return DecisionState(
        _str(key, f"{where}.key"),
        tuple(
            _address(a, f"{where}.addresses[{i}]")
            for i, a in enumerate(_list(addresses, f"{where}.addresses"))
        ),
        _opt_str(pool, f"{where}.pool"),
        _opt_str(error, f"{where}.error"),
        _strs(warnings, f"{where}.warnings"),
        tuple(
            _event_in(e, f"{where}.events[{i}]")
            for i, e in enumerate(_list(events, f"{where}.events"))
        ),
    )


def _event_in(value: Any, where: str) -> tuple[str, str, str]:
    """(type, reason, message): a severity and an outcome this ironlb knows."""
    severity, reason, message = _strs(_list(value, where, 3), where)
    if severity not in {s.value for s in EventSeverity}:
        raise SnapshotUnusable(f"{where}: not an Event type: {severity!r}")
    if reason not in {o.value for o in Outcome}:
        raise SnapshotUnusable(f"{where}: not a reason this ironlb writes: {reason!r}")
    return severity, reason, message


def _controller_in(value: Any, reader: _Reader) -> ControllerState:
    where = "controller"
    body = _map(value, where)
    config, active = _configs_in(body, where)
    pending = []
    for i, item in enumerate(_list(body.get("pending"), f"{where}.pending")):
        key, seq = _list(item, f"{where}.pending[{i}]", 2)
        pending.append((_str(key, f"{where}.pending[{i}]"), _int(seq, f"{where}.pending[{i}]")))
    return ControllerState(
        seq=_int(body.get("seq"), f"{where}.seq"),
        world=_world_in(body.get("world"), reader, f"{where}.world"),
        config=config,
        active=active,
        config_waiting=_bool(body.get("config_waiting"), f"{where}.config_waiting"),
        decisions=tuple(
            _decision_in(d, f"{where}.decisions[{i}]")
            for i, d in enumerate(_list(body.get("decisions"), f"{where}.decisions"))
        ),
        pending=tuple(pending),
        addressed=_strs(body.get("addressed"), f"{where}.addressed"),
    )


def _speaker_in(value: Any, reader: _Reader, controller: ControllerState | None) -> SpeakerState:
    body = _map(value, "speaker")
    config, active = _configs_in(body, "speaker")
    world = body.get("world")
    if world == "controller":
        if controller is None:
            raise SnapshotUnusable("speaker.world: names the controller's, and there is none")
        shared = controller.world
    else:
        shared = _world_in(world, reader, "speaker.world")
    return SpeakerState(
        shared,
        config,
        active,
        _bool(body.get("config_waiting"), "speaker.config_waiting"),
    )


# --- where a tool starts ------------------------------------------------------------


def snapshot_to_start_from(store: Store) -> SnapshotState | None:
    """Where a tool replaying ``store`` from its start must begin: None when the log
    holds its whole history, else the newest snapshot (retention dropped what is
    behind it); the tool builds its folds from it with its own overrides."""
    if store.first_seq <= 1:
        return None
    saved = store.load_snapshot()
    if saved is None:
        raise LbError(
            f"{store.url}: history before seq {store.first_seq} was dropped and no snapshot "
            "stands for it; replay with --start to fold the tail alone"
        )
    try:
        return usable_snapshot(store, saved.data, saved.seq)
    except SnapshotUnusable as exc:
        raise LbError(f"{store.url}: snapshot at seq {saved.seq} unusable: {exc}") from exc


def usable_snapshot(store: Store, data: bytes, filed_seq: int) -> SnapshotState:
    """Decode a snapshot and check that the log continues it: the first record the
    log still holds must come at most right after the snapshot's seq."""
    state = decode_snapshot(data, filed_seq)
    if state.seq + 1 < store.first_seq:
        raise SnapshotUnusable(
            f"the log starts at seq {store.first_seq}, after the snapshot's seq {state.seq}: "
            "records between them are gone"
        )
    if state.seq > store.last_seq:
        raise SnapshotUnusable(f"snapshot seq {state.seq} is past the log's end {store.last_seq}")
    return state
