"""Who the process is: the recorded ``ProcessIdentity`` and command-line overrides of it.

Decisions depend on the namespace configuration is read from and the
loadBalancerClass served (and, for speakers, a few more flags), so a live process
records them; tools may override what the log recorded (``plan --lb-class``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

DEFAULT_NAMESPACE = "metallb-system"
UNSET: Any = object()  # an override not given: take what the log recorded


@attrs.frozen
class Settings:
    """What the process was told that changes decisions (recorded as ProcessIdentity)."""

    namespace: str = DEFAULT_NAMESPACE
    load_balancer_class: str | None = None


@attrs.frozen
class Overrides:
    """Command-line overrides of what the log recorded (``plan --lb-class``, ``--namespace``)."""

    namespace: str | None = None
    load_balancer_class: Any = UNSET  # UNSET: take the log's; None: no class

    def apply(self, identity: Mapping[str, Any]) -> Settings:
        namespace = self.namespace or identity.get("namespace") or DEFAULT_NAMESPACE
        if self.load_balancer_class is not UNSET:
            lb_class = self.load_balancer_class
        else:
            lb_class = identity.get("loadBalancerClass") or None
        return Settings(str(namespace), lb_class)
