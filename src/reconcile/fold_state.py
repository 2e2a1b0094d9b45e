"""The state a fold cannot rebuild from the observed world alone, as plain values.

A snapshot at seq N must let a process continue exactly as if it had folded every
record up to N. Most of a fold is a function of the observed world (Services,
nodes, parsed configuration, elections); what is not:

* the world itself, with which source delivered each object and which relists are
  half done (a SYNC_END still to come deletes what that relist did not deliver);
* the configuration *in force* (the last valid one, which may be older than the
  world's current, invalid one) and the newest parse (older than the world while a
  reload waits for a relist to end), each kept as the inputs it was parsed from;
* whether a configuration reload waits for a relist to end;
* the controller's decisions (addresses decided but perhaps not yet seen in a
  status), the order pending Services asked in, and which Services it addressed.

These are values (attrs, tuples, records, plain JSON-shaped objects), never code:
``ironlb.app.snapshots`` writes them through the record codec and checks every field on
the way back, so a crafted snapshot can at worst be refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ironlb.events.record import EventType, Record

from .addresses import Address
from .config import EMPTY_CONFIG, Config, ConfigInputs, ParseCache, parse_config


@attrs.frozen
class Relist:
    """A relist of one kind by one source that has started and not ended."""

    source: str
    group: str
    kind: str
    seen: tuple[str, ...]  # keys delivered so far, sorted


@attrs.frozen
class WorldState:
    """Every observed object as a record (its source kept), and the open relists."""

    records: tuple[Record, ...]
    relists: tuple[Relist, ...] = ()


@attrs.frozen
class DecisionState:
    key: str
    addresses: tuple[Address, ...]
    pool: str | None
    error: str | None
    warnings: tuple[str, ...]
    events: tuple[tuple[str, str, str], ...]  # (type, reason, message)


@attrs.frozen
class ControllerState:
    seq: int
    world: WorldState
    config: ConfigInputs | None  # what the newest parse read; None: none yet
    active: ConfigInputs | None  # what the one in force read; None: none was valid
    config_waiting: bool
    decisions: tuple[DecisionState, ...]
    pending: tuple[tuple[str, int], ...]  # (Service key, seq at which it first asked)
    addressed: tuple[str, ...]


@attrs.frozen
class SpeakerState:
    world: WorldState
    config: ConfigInputs | None
    active: ConfigInputs | None
    config_waiting: bool


def record_of(group: str, kind: str, key: str, source: str, obj: Mapping[str, Any]) -> Record:
    """An observed object as the ADDED record that would deliver it again.

    The version comes from the object's apiVersion (identity ignores it).
    """
    version = str(obj.get("apiVersion") or "v1").rpartition("/")[2] or "v1"
    full = f"{group}/{version}/{kind}" if group else f"{version}/{kind}"
    return Record(0, 0.0, source, EventType.ADDED, full, key, None, obj)


def restore_configs(
    config: ConfigInputs | None, active: ConfigInputs | None, cache: ParseCache
) -> tuple[Config, Config]:
    """The newest parse and the configuration in force, parsed again from their inputs
    (once when they are the same inputs)."""
    newest = parse_config(config, cache) if config is not None else EMPTY_CONFIG
    if active is None:
        return newest, EMPTY_CONFIG
    return newest, newest if active is config else parse_config(active, cache)
