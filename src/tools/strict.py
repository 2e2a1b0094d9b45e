"""``validate`` and ``plan`` are strict: every metallb.io object of the input is
checked against the CRDs' schemas (tools/schema.py), and what the API server would
refuse is an error naming the file, the document, the object and the field."""

from __future__ import annotations

from collections.abc import Sequence

from ..events.record import EventType, Record, split_kind
from ..reconcile.config import ConfigError
from .schema import problems


def schema_errors(
    records: Sequence[Record], origins: Sequence[tuple[str, int] | None]
) -> list[ConfigError]:
    """One error per problem of each metallb.io object (the newest version of each
    object only: a log's history is not re-judged)."""
    newest: dict[tuple[str, str], tuple[Record, tuple[str, int] | None]] = {}
    for record, origin in zip(records, origins, strict=True):
        group, _version, kind = split_kind(record.kind)
        if group != "metallb.io" or record.type in (EventType.SYNC_START, EventType.SYNC_END):
            continue
        if record.type is EventType.DELETED:
            newest.pop((kind, record.key), None)
        else:
            newest[(kind, record.key)] = (record, origin)
    errors = []
    for (kind, key), (record, origin) in sorted(newest.items()):
        api_version = record.kind.rsplit("/", 1)[0]
        for field, message in problems(api_version, kind, record.object):
            file, document = origin if origin is not None else (None, None)
            errors.append(
                ConfigError(f"{kind}/{key}", field, message, file=file, document=document)
            )
    return errors
