"""Strict checks of metallb.io objects against the CRDs' schemas, as the API server
makes them for ``kubectl apply`` (strict field validation, kubectl's default):
an unknown field, a wrong type, a value out of range or not in its enum, a missing
required field, an unknown kind or version of the group. ``validate`` and ``plan``
report what the cluster would refuse before anyone applies it.

The schemas are the ones deploy/ installs (tools/crds.py): one source for both.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from .crds import GROUP, definitions

TYPES = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


ENVELOPE = ("apiVersion", "kind", "metadata")  # checked by the API server itself


@functools.cache
def _schemas() -> dict[tuple[str, str], Mapping[str, Any]]:
    """(Kind, version) -> the schema of an object's body (spec, status), built once."""
    found = {}
    for definition in definitions():
        kind = definition["spec"]["names"]["kind"]
        for version in definition["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            body = {k: v for k, v in schema["properties"].items() if k not in ENVELOPE}
            found[(kind, version["name"])] = {**schema, "properties": body}
    return found


@functools.cache
def kinds() -> frozenset[str]:
    return frozenset(kind for kind, _version in _schemas())


def problems(api_version: str, kind: str, obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field path, message)`` for everything the API server would refuse in a
    metallb.io object; empty for objects of other groups (not ironlb's to judge)."""
    group, _, version = api_version.rpartition("/")
    if group != GROUP:
        return []
    if kind not in kinds():
        return [("kind", f"no kind {kind!r} in {GROUP} (known: {', '.join(sorted(kinds()))})")]
    schema = _schemas().get((kind, version))
    if schema is None:
        versions = sorted(v for k, v in _schemas() if k == kind)
        return [("apiVersion", f"{kind} has no version {version!r} (served: {versions})")]
    body = {k: v for k, v in obj.items() if k not in ENVELOPE}
    return list(_check(body, schema, ""))


def _check(value: Any, schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, str]]:
    where = path or "(the object)"
    expected = schema.get("type")
    if expected is not None:
        kinds_ok = TYPES[expected]
        is_bool = isinstance(value, bool)
        if not isinstance(value, kinds_ok) or (is_bool and expected in ("integer", "number")):
            yield where, f"must be of type {expected}, not {_type_name(value)}"
            return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        yield where, f"unsupported value {value!r}: must be one of {allowed}"
    if isinstance(value, int) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield where, f"{value} is less than the minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            yield where, f"{value} is more than the maximum {schema['maximum']}"
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        yield where, f"{value!r} does not match the pattern {schema['pattern']}"
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield where, f"must have at least {schema['minItems']} item(s)"
        items = schema.get("items")
        if items is not None:
            for index, item in enumerate(value):
                yield from _check(item, items, f"{path}[{index}]")
    if isinstance(value, dict):
        yield from _check_object(value, schema, path)


def _check_object(
    value: dict[str, Any], schema: Mapping[str, Any], path: str
) -> Iterator[tuple[str, str]]:
    properties = schema.get("properties")
    for name in schema.get("required", ()):
        if name not in value:
            yield _join(path, name), "required field missing"
    if "additionalProperties" in schema:
        for name, item in value.items():
            yield from _check(item, schema["additionalProperties"], _join(path, name))
        return
    if properties is None:
        return  # an object the schema leaves open (metadata, say)
    for name, item in value.items():
        if name not in properties:
            yield _join(path, name), f"unknown field {name!r}{_did_you_mean(name, properties)}"
        else:
            yield from _check(item, properties[name], _join(path, name))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _did_you_mean(name: str, known: Mapping[str, Any]) -> str:
    """``autoassign`` was meant as ``autoAssign``: the case-insensitive match, if any."""
    for candidate in known:
        if candidate.lower() == name.lower():
            return f" (did you mean {candidate!r}?)"
    return ""


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    for name, types in TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name != "boolean"):
            return name
    return type(value).__name__
