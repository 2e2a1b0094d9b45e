"""Keep Secret values out of logs (DESIGN.md: "Secret values never enter a log").

A Secret is recorded with every ``data``/``stringData`` value replaced by a keyed
hash: the fold can still see that a value changed (and which keys exist, and the
Secret's type), replay decides identically because the hash is in the log, and a
log attached to a bug report reveals nothing. The key never enters the log.
``kubectl``'s last-applied-configuration annotation holds the values in clear
text, so it is hashed too.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import threading
from collections.abc import Mapping
from typing import Any

HASH_PREFIX = "hmac-sha256:"
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def hash_value(key: bytes, field: str, value: str) -> str:
    digest = hmac.new(key, f"{field}\0{value}".encode(), hashlib.sha256).hexdigest()
    return HASH_PREFIX + digest


def redact_secret(obj: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """A copy of a Secret object with its values replaced by keyed hashes."""
    redacted = copy.deepcopy(dict(obj))
    for section in ("data", "stringData"):
        values = redacted.get(section)
        if isinstance(values, dict):
            redacted[section] = {
                name: hash_value(key, f"{section}.{name}", str(value))
                for name, value in values.items()
            }
    annotations = redacted.get("metadata", {}).get("annotations")
    if isinstance(annotations, dict) and _LAST_APPLIED in annotations:
        annotations[_LAST_APPLIED] = hash_value(key, _LAST_APPLIED, str(annotations[_LAST_APPLIED]))
    return redacted


class LiveSecrets:
    """Secret values as last watched, in memory only: for effectors that must use a
    value (a BGP peer's TCP MD5 password), never for the fold, which sees hashes."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def observe(self, key: str, obj: Mapping[str, Any] | None) -> None:
        """The Secret ``namespace/name`` as watched; None when it was deleted."""
        with self._lock:
            if obj is None:
                self._values.pop(key, None)
                return
            values = {}
            for name, value in (obj.get("data") or {}).items():
                with contextlib.suppress(ValueError, TypeError):
                    values[name] = base64.b64decode(str(value)).decode()
            for name, value in (obj.get("stringData") or {}).items():
                values[name] = str(value)
            self._values[key] = values

    def value(self, key: str, field: str) -> str | None:
        with self._lock:
            return self._values.get(key, {}).get(field)
