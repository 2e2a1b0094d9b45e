"""``validate`` and ``plan`` are strict: every metallb.io object of the input is
checked against the CRDs' schemas (tools/schema.py), and what the API server would
refuse is an error naming the file, the document, the object and the field."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import attrs

from ..events.record import EventType, Record, split_kind
from ..reconcile.config import ConfigError
from .inputs import Origin
from .schema import problems


class MetallbObjects:
    """The metallb.io objects of an input, noted as it streams past the fold: what the
    strict checks judge, without holding the rest (Services, EndpointSlices) of a big
    log."""

    def __init__(self) -> None:
        self.records: list[Record] = []  # every metallb.io record, in order
        self.last_seq = 0
        # (kind, key) -> the newest version and where it came from (deleted: gone)
        self._newest: dict[tuple[str, str], tuple[Record, Origin | None]] = {}

    def note(self, record: Record, origin: Origin | None) -> None:
        self.last_seq = record.seq
        group, _version, kind = split_kind(record.kind)
        if group != "metallb.io" or record.type in (EventType.SYNC_START, EventType.SYNC_END):
            return
        self.records.append(record)
        if record.type is EventType.DELETED:
            self._newest.pop((kind, record.key), None)
        else:
            self._newest[(kind, record.key)] = (record, origin)

    def passing(self, stream: Iterable[tuple[Record, Origin | None]]) -> Iterator[Record]:
        """The records of ``stream``, each noted on its way to the fold."""
        for record, origin in stream:
            self.note(record, origin)
            yield record

    def schema_errors(self) -> list[ConfigError]:
        """One error per problem of each metallb.io object (the newest version of each
        object only: a log's history is not re-judged)."""
        errors = []
        for (kind, key), (record, origin) in sorted(self._newest.items()):
            api_version = record.kind.rsplit("/", 1)[0]
            for field, message in problems(api_version, kind, record.object):
                file, document = origin if origin is not None else (None, None)
                errors.append(
                    ConfigError(f"{kind}/{key}", field, message, file=file, document=document)
                )
        return errors

    def with_schema_errors(self, errors: Iterable[ConfigError]) -> list[ConfigError]:
        """The reconciler's ``errors`` (located) and then the schema's, less those
        about a field the reconciler already named: one out-of-range value is one
        error, in MetalLB's words, not two."""
        located = self.located(errors)
        named = {(error.object, error.field) for error in located if error.field}
        return located + [e for e in self.schema_errors() if (e.object, e.field) not in named]

    def located(self, errors: Iterable[ConfigError]) -> list[ConfigError]:
        """``errors`` with the file and document of the object each one names, when
        that object came from a file (the reconciler's errors know only the object)."""
        where = {
            f"{kind}/{key}": origin
            for (kind, key), (_record, origin) in self._newest.items()
            if origin is not None
        }
        located = []
        for error in errors:
            origin = where.get(error.object)
            if error.file is None and origin is not None:
                error = attrs.evolve(error, file=origin[0], document=origin[1])
            located.append(error)
        return located


def schema_errors(records: Sequence[Record], origins: Sequence[Origin | None]) -> list[ConfigError]:
    """``MetallbObjects.schema_errors`` of records already held."""
    objects = MetallbObjects()
    for record, origin in zip(records, origins, strict=True):
        objects.note(record, origin)
    return objects.schema_errors()
