"""Leader election over a Lease: one controller replica writes, the others follow.

The leader renews the Lease every ``interval``; a follower takes it over when it has
seen no renewal for ``duration`` on its own monotonic clock (so clock skew between
replicas never elects two leaders), or at once when the leader released it. Every
write the leader makes also carries resourceVersion preconditions, so a deposed
leader that has not noticed yet fails instead of overwriting (DESIGN.md).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

import attrs
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ..events.errors import LbError
from ..events.sources.membership import Lease, LeaseConflict, LeaseStore

log = logging.getLogger("ironlb.leader")

CONTROLLER_LEASE = "ironlb-controller"


class LeaderElector:
    def __init__(
        self,
        store: LeaseStore,
        identity: str,
        *,
        name: str = CONTROLLER_LEASE,
        interval: float = 2.0,
        duration: float = 15.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.identity = identity
        self.name = name
        self.interval = interval
        self.duration = duration
        self.clock = clock
        self.monotonic = monotonic
        self.leading = False
        self._seen: tuple[str, float] | None = None  # (resourceVersion, when it changed)
        self.changed = threading.Condition()

    def step(self) -> bool:
        """Acquire or renew if possible; whether this replica leads now."""
        try:
            leading = self._try()
        except (LeaseConflict, LbError, OSError, ApiException, HTTPError):
            leading = False  # lost a race, or the API is unreachable: step down, retry
        with self.changed:
            if leading != self.leading:
                self.leading = leading
                self.changed.notify_all()
        return leading

    def _try(self) -> bool:
        now = self.monotonic()
        current = self.store.get(self.name)
        fresh = Lease(self.name, self.identity, self.clock(), self.duration)
        if current is None:
            self.store.create(fresh)
            return True
        if self._seen is None or self._seen[0] != current.resource_version:
            self._seen = (current.resource_version, now)
        if current.holder == self.identity:
            self.store.update(attrs.evolve(fresh, resource_version=current.resource_version))
            return True
        expired = now - self._seen[1] >= current.duration
        if not current.holder or expired:
            self.store.update(attrs.evolve(fresh, resource_version=current.resource_version))
            return True
        return False

    def release(self) -> None:
        """Give the Lease up on shutdown, so a follower takes over at once."""
        if not self.leading:
            return
        try:
            current = self.store.get(self.name)
            if current is not None and current.holder == self.identity:
                with contextlib.suppress(LeaseConflict):
                    self.store.update(attrs.evolve(current, holder="", renew_time=self.clock()))
        except (ApiException, HTTPError, OSError, LbError) as exc:
            # Not released: the followers take over when it expires instead.
            log.warning("could not release the leader Lease: %s", exc)
        with self.changed:
            self.leading = False
            self.changed.notify_all()

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.step()
                stop.wait(self.interval)
        finally:
            self.release()
