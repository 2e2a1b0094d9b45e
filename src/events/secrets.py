"""Keep Secret values out of logs (DESIGN.md: "Secret values never enter a log").

A Secret is recorded with every ``data``/``stringData`` value replaced by a keyed
hash: the fold can still see that a value changed (and which keys exist, and the
Secret's type), replay decides identically because the hash is in the log, and a
log attached to a bug report reveals nothing. The key never enters the log.
``kubectl``'s last-applied-configuration annotation holds the values in clear
text, so it is hashed too.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
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
