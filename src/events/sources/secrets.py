"""Keep secret values out of logs (DESIGN.md: "Secret values never enter a log").

A Secret is recorded with every ``data``/``stringData`` value replaced by a keyed
hash: the fold can still see that a value changed (and which keys exist, and the
Secret's type), replay decides identically because the hash is in the log, and a
log attached to a bug report reveals nothing. The key never enters the log.
``kubectl``'s last-applied-configuration annotation holds the values in clear
text, so it is hashed too.

The same holds for the other places a password can be written: a BGPPeer's inline
``spec.password`` and MetalLB's legacy ConfigMap (``data.config``, whose peers
carry ``password:``). ``redact`` is the one entry every source uses; the values
themselves stay in memory only (``LiveSecrets``), for the BGP speaker that must
sign its TCP segments with them.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import json
import threading
from collections.abc import Mapping
from typing import Any

HASH_PREFIX = "hmac-sha256:"
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def hash_value(key: bytes, field: str, value: str) -> str:
    digest = hmac.new(key, f"{field}\0{value}".encode(), hashlib.sha256).hexdigest()
    return HASH_PREFIX + digest


def redact(group: str, kind: str, obj: Mapping[str, Any], key: bytes) -> Mapping[str, Any]:
    """``obj`` with every secret value it may carry replaced by a keyed hash (the
    object itself when it carries none)."""
    if (group, kind) == ("", "Secret"):
        return redact_secret(obj, key)
    if (group, kind) == ("metallb.io", "BGPPeer"):
        return redact_bgp_peer(obj, key)
    if (group, kind) == ("", "ConfigMap"):
        return redact_legacy_config(obj, key)
    return obj


def redact_bgp_peer(obj: Mapping[str, Any], key: bytes) -> Mapping[str, Any]:
    password = inline_password(obj)
    annotations = (obj.get("metadata") or {}).get("annotations")
    applied = annotations.get(_LAST_APPLIED) if isinstance(annotations, Mapping) else None
    if password is None and (applied is None or _hashed(applied)):
        return obj  # nothing in clear: no copy (every watched BGPPeer passes here)
    redacted = copy.deepcopy(dict(obj))
    if password is not None:
        redacted["spec"]["password"] = hash_value(key, "spec.password", password)
    _hash_last_applied(redacted, key)
    return redacted


def inline_password(peer: Mapping[str, Any] | None) -> str | None:
    """A BGPPeer's ``spec.password`` in clear text, if it holds one."""
    spec = peer.get("spec") if isinstance(peer, Mapping) else None
    password = spec.get("password") if isinstance(spec, Mapping) else None
    return password if isinstance(password, str) and password and not is_hashed(password) else None


def _hashed(value: object) -> bool:
    return isinstance(value, str) and is_hashed(value)


def redact_legacy_config(obj: Mapping[str, Any], key: bytes) -> Mapping[str, Any]:
    """MetalLB's legacy ConfigMap: each peer's ``password`` in ``data.config`` hashed
    (the text is re-written as YAML; a text that does not parse is hashed whole)."""
    data = obj.get("data")
    text = data.get("config") if isinstance(data, Mapping) else None
    if not isinstance(text, str) or "password" not in text:
        return obj
    import yaml  # only for the rare legacy ConfigMap

    from ..yaml_loader import load

    redacted = copy.deepcopy(dict(obj))
    try:
        config = load(text)
        for peer in config.get("peers") or []:
            value = peer.get("password") if isinstance(peer, dict) else None
            if isinstance(value, str) and value and not _hashed(value):
                peer["password"] = hash_value(key, "peers.password", value)
        redacted["data"]["config"] = json.dumps(config, indent=2, sort_keys=True) + "\n"
    except (yaml.YAMLError, ValueError, TypeError, AttributeError):
        redacted["data"]["config"] = hash_value(key, "data.config", text)
    _hash_last_applied(redacted, key)
    return redacted


def is_hashed(value: str) -> bool:
    return value.startswith(HASH_PREFIX)


def _hash_last_applied(redacted: dict[str, Any], key: bytes) -> None:
    annotations = redacted.get("metadata", {}).get("annotations")
    applied = annotations.get(_LAST_APPLIED) if isinstance(annotations, dict) else None
    if applied is not None and not _hashed(applied):
        annotations[_LAST_APPLIED] = hash_value(key, _LAST_APPLIED, str(applied))


def redact_secret(obj: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """A copy of a Secret object with its values replaced by keyed hashes."""
    redacted = copy.deepcopy(dict(obj))
    for section in ("data", "stringData"):
        values = redacted.get(section)
        if isinstance(values, dict):
            redacted[section] = {
                name: value
                if _hashed(value)  # idempotent: logs re-import
                else hash_value(key, f"{section}.{name}", str(value))
                for name, value in values.items()
            }
    _hash_last_applied(redacted, key)
    return redacted


class LiveSecrets:
    """Secret values as last watched, in memory only: for effectors that must use a
    value (a BGP peer's TCP MD5 password), never for the fold, which sees hashes."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, str]] = {}
        self._peer_passwords: dict[str, str] = {}  # BGPPeer key -> inline spec.password
        self._lock = threading.Lock()

    def observe_peer(self, key: str, obj: Mapping[str, Any] | None) -> None:
        """The BGPPeer ``namespace/name`` as watched (before redaction)."""
        password = inline_password(obj)
        with self._lock:
            if password is not None:
                self._peer_passwords[key] = password
            else:
                self._peer_passwords.pop(key, None)

    def peer_password(self, key: str) -> str | None:
        with self._lock:
            return self._peer_passwords.get(key)

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
