"""Which nodes run a usable speaker: alive by membership (or every Node without any),
not network-unavailable, not excluded; the one eligibility rule."""

from __future__ import annotations

from ..plan.speaker import (
    Reason,
)


class NodeLiveness:
    """SpeakerFold's node-usability methods (a mixin: they share the fold's state)."""

    def live_speakers(self) -> set[str]:
        """``--speakers``, else the membership verdicts, else every Node (no memberlist)."""
        if self.overrides.speakers is not None:
            return set(self.overrides.speakers)
        if self.membership:
            return {n for n, alive in self.membership.items() if alive}
        return set(self.nodes)

    def membership_verdicts(self) -> dict[str, bool]:
        """The recorded verdicts: node -> alive (empty: no membership records)."""
        return dict(self.membership)

    def speaker_addresses(self) -> dict[str, str]:
        """Node -> its InternalIP, for the heartbeats between speakers."""
        return {name: info.address for name, info in self.nodes.items() if info.address}

    def _is_live(self, name: str) -> bool:
        if self.overrides.speakers is not None:
            return name in self.overrides.speakers
        if self.membership:
            return self.membership.get(name) is True
        return name in self.nodes

    def ineligibility(self, name: str) -> Reason | None:
        """Why a node's speaker may not announce anything now, or None: the one rule
        elections, node plans and ``explain`` share, so they never disagree."""
        info = self.nodes.get(name)
        if info is not None and info.network_unavailable:
            return Reason.NODE_NETWORK_UNAVAILABLE
        if info is not None and info.excluded and not self.settings.ignore_exclude_lb:
            return Reason.NODE_EXCLUDED
        if not self._is_live(name):
            return Reason.NO_LIVE_SPEAKER
        return None

    def _usable_node(self, name: str) -> bool:
        return name in self.nodes and self.ineligibility(name) is None

    def _update_usable(self, name: str) -> None:
        """One node's usability changed, perhaps: the cheap path for one record."""
        usable = self._usable_node(name)
        if usable == (name in self._usable):
            return
        if usable:
            self._usable.add(name)
        else:
            self._usable.discard(name)
        self._nodes_changed.add(name)
        if name == self.node:
            self._all_dirty = True

    def _usable_now(self) -> set[str]:
        return {n for n in set(self.nodes) | self.live_speakers() if self._usable_node(n)}

    def _recompute_usable(self) -> None:
        """Every node again: membership appeared or went, or settings changed."""
        usable = self._usable_now()
        changed = usable ^ self._usable
        self._usable = usable
        self._nodes_changed |= changed
        if self.node is not None and self.node in changed:
            self._all_dirty = True
