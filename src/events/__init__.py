"""Records and the sources that produce them.

Only the leaf modules (the record and the errors) are re-exported here, because
the pure reconciler imports this package: importing ``ironlb.events`` must never
load msgpack, kubernetes or pyroute2. Sources and the codec are imported by their
own module names (``ironlb.events.codec``, ``ironlb.events.importer``).
"""

from .errors import InvalidRecord, LbError, ManifestError, SchemaTooNew
from .record import EventType, Identity, Record, identity_of, split_kind

__all__ = [
    "EventType",
    "Identity",
    "InvalidRecord",
    "LbError",
    "ManifestError",
    "Record",
    "SchemaTooNew",
    "identity_of",
    "split_kind",
]
