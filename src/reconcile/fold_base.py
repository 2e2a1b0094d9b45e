"""The skeleton both folds share, and the surface everything outside reconcile uses.

Both folds keep the observed world, follow the recorded process identity, and
re-parse the configuration when one of its inputs changes; while one of those
inputs is being relisted (between its SYNC markers) the parse waits for the
relist to end, because half a list of pools or Nodes would mislead. The newest
parse is ``config``; the one in force is the last parse the fold judges valid
(the controller judges pools and aliases only, the speakers everything, as
MetalLB's processes do), so a broken change never takes anything away.

Callers outside ``src/reconcile`` use only the public methods defined here and
each fold's own few (``plan``, ``changed_services``, ``assume_statuses``, ...):
the attributes behind them are the folds' business.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Self

from ..events.record import Record
from .config import (
    EMPTY_CONFIG,
    Config,
    ConfigError,
    ConfigInputs,
    ParseCache,
    gather_config_inputs,
    parse_config,
)
from .world import Change, World


class FoldBase:
    """World, identity and configuration; subclasses react to each change."""

    # (group, Kind) whose relist defers parsing: configuration kinds and the
    # objects that resolve their selectors.
    relist_defers: tuple[tuple[str, str], ...] = ()

    def __init__(self) -> None:
        self.world = World()
        self.config: Config = EMPTY_CONFIG  # the newest parse, valid or not
        self.active: Config = EMPTY_CONFIG  # the parse in force (the last one judged valid)
        self._config_inputs_used: ConfigInputs | None = None  # what ``config`` was parsed from
        self._active_inputs: ConfigInputs | None = None  # what ``active`` was parsed from
        self._parse_cache = ParseCache()
        self._config_waiting = False  # a parse was deferred until a relist ends

    # --- what subclasses define ---------------------------------------------------

    @property
    def namespace(self) -> str:
        """The namespace configuration is read from (recorded identity, overridden)."""
        raise NotImplementedError

    def _on_change(self, change: Change) -> None:
        raise NotImplementedError

    def _reload_config(self) -> None:
        raise NotImplementedError

    # --- folding ------------------------------------------------------------------

    def apply_all(self, records: Iterable[Record]) -> Self:
        for record in records:
            self.apply(record)
        return self

    def apply(self, record: Record) -> None:
        for change in self.world.apply(record):
            self._on_change(change)
        if self._config_waiting and not self._config_relisting():
            self._reload_config()

    # --- configuration ------------------------------------------------------------

    def _config_relisting(self) -> bool:
        return any(self.world.relisting(group, kind) for group, kind in self.relist_defers)

    def _parse_config(self, *, now: bool = False) -> Config | None:
        """Parse the configuration into ``config``; None when deferred by a relist
        (``now`` parses anyway: an identity change must not wait)."""
        if self._config_relisting() and not now:
            self._config_waiting = True
            return None
        self._config_waiting = False
        inputs = gather_config_inputs(self.namespace, self.world.of_kind)
        parsed = parse_config(inputs, self._parse_cache)
        self.config, self._config_inputs_used = parsed, inputs
        return parsed

    def _put_in_force(self, parsed: Config) -> None:
        self.active, self._active_inputs = parsed, self._config_inputs_used

    # --- the public surface -------------------------------------------------------

    def observed(self, group: str, kind: str, key: str) -> Mapping[str, Any] | None:
        """The object as last observed (group "" is the core API group)."""
        return self.world.get(group, kind, key)

    def observed_of_kind(self, group: str, kind: str) -> Mapping[str, Mapping[str, Any]]:
        return self.world.of_kind(group, kind)

    @property
    def config_errors(self) -> tuple[ConfigError, ...]:
        """What is wrong with the newest configuration (empty: it is valid)."""
        return self.config.errors

    @property
    def config_warnings(self) -> tuple[ConfigError, ...]:
        """What the newest configuration holds that is deprecated or not honoured."""
        return self.config.warnings

    @property
    def configuration_loaded(self) -> bool:
        """A configuration is in force: valid now, or an earlier valid one with pools."""
        return not self.config.errors or bool(self.active.pools)
