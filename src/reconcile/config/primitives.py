"""Parsing primitives every kind shares: the error list, object references, typed
field readers (booleans, integers, durations, addresses, selectors, communities)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..addresses import AddressRange
from ..selectors import Selector, SelectorError, parse_selector
from .model import (
    CommunityValue,
    ConfigError,
    ConfigInputs,
)


class Errors:
    """What parsing found: errors (the object is not applied) and warnings (it is,
    but a field is deprecated or not honoured)."""

    def __init__(self) -> None:
        self.items: list[ConfigError] = []
        self.warnings: list[ConfigError] = []

    def add(self, obj: str, field: str, message: str, *, transient: bool = False) -> None:
        self.items.append(ConfigError(obj, field, message, transient))

    def warn(self, obj: str, field: str, message: str) -> None:
        self.warnings.append(ConfigError(obj, field, message))


def _spec(obj: Mapping[str, Any], ref: str, errors: Errors) -> Mapping[str, Any] | None:
    spec = obj.get("spec", {})
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        errors.add(ref, "spec", "must be an object")
        return None
    return spec


def _specs(
    inputs: ConfigInputs, kind: str, errors: Errors
) -> Iterable[tuple[str, str, Mapping[str, Any]]]:
    """``(name, reference, spec)`` of every object of a kind, in name order; bad specs reported."""
    for name, obj in _sorted_objects(inputs, kind):
        ref = _ref(kind, inputs.namespace, name)
        spec = _spec(obj, ref, errors)
        if spec is not None:
            yield name, ref, spec


def _ref(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def _sorted_objects(inputs: ConfigInputs, kind: str) -> list[tuple[str, Mapping[str, Any]]]:
    return sorted(inputs.objects.get(kind, {}).items())


def _selectors(raw: Any, ref: str, field: str, errors: Errors) -> tuple[Selector, ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.add(ref, field, "must be a list of label selectors")
        return None
    parsed: list[Selector] = []
    ok = True
    for index, item in enumerate(raw):
        try:
            selector = parse_selector(item)
        except SelectorError as exc:
            errors.add(ref, f"{field}[{index}]", str(exc))
            ok = False
            continue
        if any(s.requirements == selector.requirements for s in parsed):
            errors.add(
                ref,
                f"{field}[{index}]",
                f'duplicate definition of {field.rsplit(".", 1)[-1]} "{selector.text}"',
            )
            ok = False
        parsed.append(selector)
    return tuple(parsed) if ok else None


def _string_list(raw: Any, ref: str, field: str, errors: Errors) -> tuple[str, ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        errors.add(ref, field, "must be a list of strings")
        return None
    seen: set[str] = set()
    for index, item in enumerate(raw):
        if item in seen:
            errors.add(
                ref,
                f"{field}[{index}]",
                f'duplicate definition of {field.rsplit(".", 1)[-1]} "{item}"',
            )
            return None
        seen.add(item)
    return tuple(raw)


def _bool(spec: Mapping[str, Any], key: str, default: bool, ref: str, errors: Errors) -> bool:
    value = spec.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        errors.add(ref, f"spec.{key}", f"must be true or false, not {value!r}")
        return default
    return value


def _int(
    spec: Mapping[str, Any],
    key: str,
    ref: str,
    errors: Errors,
    *,
    field: str | None = None,
    low: int | None = None,
    high: int | None = None,
) -> int | None:
    value = spec.get(key)
    field = field or f"spec.{key}"
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(ref, field, f"must be an integer, not {value!r}")
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        errors.add(ref, field, f"invalid value {value}, must be in {low}-{high} range")
        return None
    return value


def _cidr_text(address_range: AddressRange) -> str:
    cidrs = address_range.cidrs()
    return cidrs[0] if len(cidrs) == 1 else address_range.text


class CommunityError(ValueError):
    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def parse_community(text: str) -> CommunityValue:
    """``N:M`` (16-bit each) or ``large:A:B:C`` (32-bit each), MetalLB's wording on errors."""
    parts = text.split(":")
    if len(parts) == 2:
        return CommunityValue(tuple(_section(p, 16, text) for p in parts))
    if len(parts) == 4:
        if parts[0] != "large":
            raise CommunityError(f'invalid marker for large community "{text}"')
        return CommunityValue(tuple(_section(p, 32, text) for p in parts[1:]))
    raise CommunityError(f'invalid community format "{text}"', transient=True)


def _section(part: str, bits: int, text: str) -> int:
    if not re.fullmatch(r"[0-9]+", part) or int(part) >= 1 << bits:
        raise CommunityError(
            f'invalid community value: invalid section "{part}" of "{text}": '
            f"must be a {bits}-bit unsigned number"
        )
    return int(part)


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration string ("90s", "1m30s", "500ms") in seconds; ValueError otherwise."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"invalid duration {text!r}")
    if text == "0":
        return 0.0
    position, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ValueError(f"invalid duration {text!r}")
    return total


def _duration(spec: Mapping[str, Any], key: str, ref: str, errors: Errors) -> float | None:
    value = spec.get(key)
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError:
        errors.add(ref, f"spec.{key}", f'invalid duration "{value}" (use Go syntax such as 90s)')
        return None


def _ip(spec: Mapping[str, Any], key: str, what: str, ref: str, errors: Errors) -> str | None:
    value = spec.get(key)
    if value in (None, ""):
        return None
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        errors.add(ref, f"spec.{key}", f'invalid {what} "{value}"')
        return None
