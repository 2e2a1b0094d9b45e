"""``file:///dir``: the embedded default log (see ``store`` for the format and its
guarantees): segments, the directory's files, and the store over them."""

from .segments import (
    BATCH_END,
    FRAME_HEADER,
    FSYNC_POLICIES,
    LENGTH_MASK,
    SEGMENT_HEADER,
    TornTail,
    encode_frame,
)
from .store import FileStore

__all__ = [
    "BATCH_END",
    "FRAME_HEADER",
    "FSYNC_POLICIES",
    "LENGTH_MASK",
    "SEGMENT_HEADER",
    "FileStore",
    "TornTail",
    "encode_frame",
]
