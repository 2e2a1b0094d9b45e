"""The planner behind ``plan``, ``replay``, ``diff`` and ``explain``: the controller
and the speakers folded side by side over the same records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..events.record import Record, split_kind
from ..reconcile.config import CONFIG_KINDS, ConfigError, namespace_error
from ..reconcile.controller.fold import ControllerFold, Overrides
from ..reconcile.speaker.fold import SpeakerFold, SpeakerOverrides


class Planner:
    """The controller and the speakers folded side by side, as ``plan`` shows them.

    The speakers' part is computed as the speakers will compute it once the
    controller's planned statuses are written (DESIGN.md).
    """

    def __init__(
        self,
        overrides: Overrides | None = None,
        speaker_overrides: SpeakerOverrides | None = None,
        *,
        node: str | None = None,
    ) -> None:
        self.controller = ControllerFold(overrides)
        self.speakers = SpeakerFold(speaker_overrides)
        self.node = node

    def apply(self, record: Record) -> None:
        self.controller.apply(record)
        self.speakers.apply(record)

    def apply_all(self, records: Iterable[Record]) -> Planner:
        """Fold ``records`` into both, in one pass (a log is read once, not held)."""
        controller, speakers = self.controller, self.speakers
        for record in records:
            controller.apply(record)
            speakers.apply(record)
        return self

    def to_json(self) -> dict[str, Any]:
        controller = self.controller.plan(targets=False)
        self.speakers.assume_statuses({k: s.ips for k, s in controller.services.items()})
        nodes = [self.node] if self.node is not None else None
        shown = {**controller.to_json(), **self.speakers.plan(nodes).to_json()}
        warnings = [w.to_json() for w in sorted(set(self.controller.config_warnings))]
        return {**shown, "config": {**shown["config"], "warnings": warnings}}


def outside_namespace(records: Sequence[Record], namespace: str) -> list[ConfigError]:
    """metallb.io objects ironlb would never read: MetalLB's webhooks reject them too."""
    errors, seen = [], set()
    for record in records:
        group, _version, kind = split_kind(record.kind)
        if group != "metallb.io" or kind not in CONFIG_KINDS or (kind, record.key) in seen:
            continue
        seen.add((kind, record.key))
        object_namespace, _, name = record.key.rpartition("/")
        error = namespace_error(kind, object_namespace, name, namespace)
        if error is not None:
            errors.append(error)
    return errors
