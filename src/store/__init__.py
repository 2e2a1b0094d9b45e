"""The log: one protocol, backends chosen by URL.

``memory://[NAME]``, ``file:///abs/dir?fsync=interval|batch|never&segment_mb=64&retain=N``
(a bare path means the same), and ``redis://`` (docs/event-log.md).
"""

from .base import (
    CorruptLog,
    HistoryDropped,
    InvalidStoreURL,
    Snapshot,
    Store,
    StoreError,
    StoreLocked,
    StoreStats,
)
from .url import open_store, same_log

__all__ = [
    "CorruptLog",
    "HistoryDropped",
    "InvalidStoreURL",
    "Snapshot",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoreStats",
    "open_store",
    "same_log",
]
