"""Manifests -> records: how files (and ``kubectl`` output) enter a log.

Accepted input, detected from the content:

* multi-document YAML (``---`` separated), as people write manifests;
* a JSON object, or a JSON array of objects;
* ``kind: List`` / ``kind: XxxList`` documents as ``kubectl get -o yaml|json`` prints them;
* watch events ``{"type": "ADDED", "object": {...}}``, one per line or indented one
  after another as ``kubectl get -w -o json --output-watch-events`` prints them.
  ``BOOKMARK`` and ``ERROR`` events carry no object of the cluster and are skipped;
* the lines of ``ironlb log show -o json``: each record as it was (its source and
  time, SYNC markers and ironlb's own records included), so any log round-trips.

A plain object is an upsert (ADDED). Nothing is deleted unless the input says
DELETED, or ``replace=True`` wraps the import in SYNC markers for every kind it
contains (objects of those kinds that the import does not mention are then gone).
Objects of kinds ironlb does not use are kept: the reconciler ignores them.

As the API server would, a namespaced object without a namespace gets
``default_namespace`` (``kubectl``'s ``default``), ``metadata.managedFields`` is
dropped, and Secret values are replaced by keyed hashes (see secrets.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager as ContextManager
from typing import Any

import attrs
import yaml

from . import yaml_loader
from .errors import InvalidRecord, ManifestError
from .record import JSON_FIELDS, EventType, Record, split_kind
from .sources.secrets import redact

# (path, length of its text) -> a context whose value is told parse positions
Reading = Callable[[str, int], ContextManager[Callable[[int], None] | None]]

__all__ = ["IMPORT_SOURCE", "import_files", "parse_documents", "records_from_documents"]

IMPORT_SOURCE = "import"

# Kinds without a namespace. Anything else is namespaced, as almost every kind is.
CLUSTER_SCOPED = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)

# apiVersion for kinds whose DELETED watch events may arrive with kind and metadata only.
DEFAULT_API_VERSIONS = {
    "Service": "v1",
    "Node": "v1",
    "Namespace": "v1",
    "Secret": "v1",
    "ConfigMap": "v1",
    "Endpoints": "v1",
    "Pod": "v1",
    "EndpointSlice": "discovery.k8s.io/v1",
    "Lease": "coordination.k8s.io/v1",
    "IPAddressPool": "metallb.io/v1beta1",
    "L2Advertisement": "metallb.io/v1beta1",
    "BGPAdvertisement": "metallb.io/v1beta1",
    "BGPPeer": "metallb.io/v1beta2",
    "Community": "metallb.io/v1beta1",
    "BFDProfile": "metallb.io/v1beta1",
}

WATCH_TYPES = {
    "ADDED": EventType.ADDED,
    "MODIFIED": EventType.MODIFIED,
    "DELETED": EventType.DELETED,
}
SKIPPED_WATCH_TYPES = frozenset({"BOOKMARK", "ERROR"})


def import_files(
    paths: Iterable[str],
    *,
    replace: bool = False,
    default_namespace: str = "default",
    secret_key: bytes | None = None,
    source: str = IMPORT_SOURCE,
    origins: list[tuple[str, int]] | None = None,
    reading: Reading | None = None,
) -> list[Record]:
    """Records for every object in ``paths`` (``-`` is standard input), in input order.

    Raises ManifestError naming the file and document when an input is unreadable.
    ``origins``, when given, receives the (file, document number) of each record.
    ``reading(path, characters)``: a context giving a callback that hears how far the
    parse of that file is (the CLI draws a progress bar with it).
    """
    key = secret_key if secret_key is not None else os.urandom(32)
    now = time.time()
    records: list[Record] = []
    for path in paths:
        text = _read(path)
        with reading(path, len(text)) if reading else contextlib.nullcontext() as advance:
            documents = parse_documents(text, path, advance)
        records.extend(
            records_from_documents(
                documents,
                path,
                default_namespace=default_namespace,
                secret_key=key,
                source=source,
                observed_at=now,
                origins=origins,
            )
        )
    return wrap_in_sync(records, source, now) if replace else records


def wrap_in_sync(records: list[Record], source: str, observed_at: float) -> list[Record]:
    """Bracket the records with SYNC_START/SYNC_END for each kind they contain."""
    kinds: dict[tuple[str, str], str] = {}
    for record in records:
        identity = record.identity
        kinds.setdefault((identity.group, identity.kind), record.kind)

    def marker(event: EventType, kind: str) -> Record:
        return Record(0, observed_at, source, event, kind, "", None, {})

    return (
        [marker(EventType.SYNC_START, kind) for kind in kinds.values()]
        + records
        + [marker(EventType.SYNC_END, kind) for kind in kinds.values()]
    )


def _read(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise ManifestError(path, None, f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(
            path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc


MAX_DEPTH = 100  # Kubernetes objects nest a dozen levels; more is a mistake or an attack
MAX_VALUES = 2_000_000  # per document: a big ConfigMap, not an alias bomb's expansion


def parse_documents(
    text: str, path: str, on_position: Callable[[int], None] | None = None
) -> list[tuple[int, Any]]:
    """``(document number, parsed value)`` pairs, numbered from 1 in input order.

    JSON is tried first when the text starts like JSON; JSON lines when its first
    line is a whole JSON value; YAML (a superset of JSON, so flow-style manifests
    too) otherwise, which also reports malformed JSON with its line. Every document
    is then checked to be plain JSON data (see ``_check_plain``).
    """
    try:
        documents = _parse(text, path, on_position)
    except RecursionError:
        raise ManifestError(path, None, f"nested deeper than {MAX_DEPTH} levels") from None
    for number, document in documents:
        _check_plain(document, path, number)
    return documents


def _check_plain(document: Any, path: str, number: int) -> None:
    """What a record may hold: JSON's values only (string keys, finite numbers),
    at most ``MAX_DEPTH`` deep and ``MAX_VALUES`` values, so YAML's extras (an
    unquoted date, ``!!set``, binary) and aliases (a recursive one, or a bomb that
    expands to billions) are one clear error, found in bounded time and memory."""
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    count = 0
    while stack:
        value, where, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ManifestError(
                path, number, f"expands to more than {MAX_VALUES} values (an alias bomb?)"
            )
        if depth > MAX_DEPTH:
            raise ManifestError(
                path, number, f"{_short(where) or 'the document'}: nested deeper than "
                f"{MAX_DEPTH} levels (a recursive alias?)"
            )  # fmt: skip
        kind = value.__class__
        if kind is dict:
            for key, item in value.items():
                if key.__class__ is not str:
                    raise ManifestError(
                        path, number, f"{where or 'the document'}: key {key!r} is not a string"
                    )
                stack.append((item, f"{where}.{key}" if where else key, depth + 1))
        elif kind is list:
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
        elif kind is float:
            if value != value or value in (float("inf"), float("-inf")):
                raise ManifestError(path, number, f"{where}: {value} is not a JSON number")
        elif not (kind is str or kind is int or kind is bool or value is None):
            what = type(value).__name__
            shown = f"{value.isoformat()} ({what})" if hasattr(value, "isoformat") else f"a {what}"
            raise ManifestError(
                path, number, f"{_short(where)}: {shown} is not JSON data; quote it"
            )


def _short(where: str) -> str:
    return where if len(where) <= 80 else f"{where[:40]}...{where[-30:]}"


def _parse(
    text: str, path: str, on_position: Callable[[int], None] | None = None
) -> list[tuple[int, Any]]:
    if text.lstrip()[:1] in ("{", "["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":
                if text.lstrip()[:1] == "[":
                    raise ManifestError(path, 1, f"invalid JSON: {exc}") from exc
                return list(_yaml_documents(text, path))  # YAML flow style, e.g. {a: 1}
            return list(_json_stream(text, path))
        return list(enumerate(value, start=1)) if isinstance(value, list) else [(1, value)]
    return list(_yaml_documents(text, path, on_position))


def _json_stream(text: str, path: str) -> Iterator[tuple[int, Any]]:
    """JSON values one after another: JSON lines (``log show -o json``), or the
    indented objects ``kubectl get -w -o json --output-watch-events`` prints."""
    decoder = json.JSONDecoder()
    position, number = 0, 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return
        number += 1
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            line = text.count("\n", 0, position) + 1  # where the broken value starts
            raise ManifestError(path, number, f"invalid JSON on line {line}: {exc.msg}") from exc
        yield number, value


def _yaml_documents(
    text: str, path: str, on_position: Callable[[int], None] | None = None
) -> Iterator[tuple[int, Any]]:
    number = 0
    try:
        for document in yaml_loader.load_all(text, on_position):
            number += 1
            yield number, document
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(path, number + 1, f"invalid YAML{where}: {problem}") from exc


def records_from_documents(
    documents: Iterable[tuple[int, Any]],
    path: str,
    *,
    default_namespace: str,
    secret_key: bytes,
    source: str,
    observed_at: float,
    origins: list[tuple[str, int]] | None = None,
) -> list[Record]:
    records = []
    for number, document in documents:
        if document is None:
            continue  # an empty YAML document, e.g. after a trailing ---
        before = len(records)
        if isinstance(document, dict) and all(field in document for field in JSON_FIELDS):
            records.append(_logged(document, path, number, secret_key))
        else:
            records.extend(
                _record(
                    event, obj, path, number, default_namespace, secret_key, source, observed_at
                )
                for event, obj in _events_of(document, path, number)
            )
        if origins is not None:
            origins.extend([(path, number)] * (len(records) - before))
    return records


def _logged(document: dict, path: str, number: int, secret_key: bytes) -> Record:
    """A line of ``ironlb log show -o json``: the record as it was (source, time,
    kind, SYNC markers and ironlb's own records included), numbered anew."""
    try:
        record = Record.from_json(document)
    except InvalidRecord as exc:
        raise ManifestError(path, number, str(exc)) from None
    group, _version, kind = split_kind(record.kind)
    redacted = redact(group, kind, record.object, secret_key)
    return attrs.evolve(record, seq=0, object=redacted)


def _events_of(document: Any, path: str, number: int) -> Iterator[tuple[EventType, dict]]:
    if not isinstance(document, dict):
        raise ManifestError(path, number, f"expected an object, found {_shape(document)}")
    # A watch event, or a line of `ironlb log show -o json`; never an object
    # (those carry apiVersion at the top).
    if "object" in document and "type" in document and "apiVersion" not in document:
        event = document["type"]
        if event in SKIPPED_WATCH_TYPES:
            return
        if event in ("SYNC_START", "SYNC_END"):
            raise ManifestError(
                path,
                number,
                "type: SYNC markers are not imported; copy logs with `ironlb log copy`",
            )
        if event not in WATCH_TYPES:
            raise ManifestError(path, number, f"type: unknown watch event type {event!r}")
        obj = document["object"]
        if not isinstance(obj, dict):
            raise ManifestError(path, number, f"object: expected an object, found {_shape(obj)}")
        yield WATCH_TYPES[event], obj
        return
    kind = document.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(document.get("items"), list):
        item_api = document.get("apiVersion")
        for index, item in enumerate(document["items"]):
            if not isinstance(item, dict):
                raise ManifestError(
                    path, number, f"items[{index}]: expected an object, found {_shape(item)}"
                )
            if "kind" not in item and kind != "List":
                item = {**item, "kind": kind[: -len("List")]}
                if "apiVersion" not in item and isinstance(item_api, str):
                    item["apiVersion"] = item_api
            yield EventType.ADDED, item
        return
    yield EventType.ADDED, document


def _record(
    event: EventType,
    obj: dict,
    path: str,
    number: int,
    default_namespace: str,
    secret_key: bytes,
    source: str,
    observed_at: float,
) -> Record:
    def fail(field: str, message: str) -> ManifestError:
        name = (
            obj.get("metadata", {}).get("name") if isinstance(obj.get("metadata"), dict) else None
        )
        what = f"{obj.get('kind', 'object')} {name!r}: " if isinstance(name, str) else ""
        return ManifestError(path, number, f"{what}{field}: {message}")

    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        raise fail("kind", "missing or not a string")
    if "/" in kind:
        raise fail("kind", f"{kind!r} is not a Kind (a Kind has no '/')")
    api_version = obj.get("apiVersion", DEFAULT_API_VERSIONS.get(kind))
    if (
        not isinstance(api_version, str)
        or api_version.count("/") > 1
        or not all(api_version.split("/"))
    ):
        raise fail("apiVersion", "missing or not of the form [group/]version")
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        raise fail("metadata", "missing or not an object")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise fail("metadata.name", "missing or not a string")
    namespace = metadata.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise fail("metadata.namespace", "not a string")
    if kind in CLUSTER_SCOPED:
        key = name
    else:
        namespace = namespace or default_namespace
        key = f"{namespace}/{name}"
    resource_version = metadata.get("resourceVersion")
    if resource_version is not None and not isinstance(resource_version, str):
        raise fail("metadata.resourceVersion", "not a string")

    cleaned = _clean(obj, api_version, namespace if kind not in CLUSTER_SCOPED else None)
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    redacted = redact(group, kind, cleaned, secret_key)  # the object itself if nothing to hide
    return Record(
        0, observed_at, source, event, f"{api_version}/{kind}", key, resource_version, redacted
    )


def _clean(obj: Mapping[str, Any], api_version: str, namespace: str | None) -> dict[str, Any]:
    cleaned = dict(obj)
    cleaned["apiVersion"] = api_version
    metadata = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    if namespace is not None:
        metadata["namespace"] = namespace
    cleaned["metadata"] = metadata
    return cleaned


def _shape(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__
