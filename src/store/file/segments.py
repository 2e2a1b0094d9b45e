"""The segment format: headers, frames with their checksums and batch ends, and
the scan that reads a segment's frames and finds a torn tail."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import attrs

from ..base import (
    CorruptLog,
)

SEGMENT_MAGIC = b"IRONLOG\x02"  # format 2: batch ends marked
SEGMENT_MAGIC_V1 = b"IRONLOG\x01"  # format 1: read, never written
BATCH_END = 1 << 31  # in a frame's length: the last frame of its batch
LENGTH_MASK = BATCH_END - 1
SEGMENT_HEADER = struct.Struct(">8sQ")  # magic, first seq
FRAME_PREFIX = struct.Struct(">II")  # payload length, crc32(payload)
FRAME_HEADER = struct.Struct(">III")  # ... plus crc32(prefix)
MAX_FRAME = 64 << 20  # no record is this large; a bigger length is damage
SNAPSHOT_MAGIC = b"IRONSNP\x01"
SNAPSHOT_HEADER = struct.Struct(">8sQQI")  # magic, seq, length, crc32(data)
FSYNC_POLICIES = ("batch", "interval", "never")
FSYNC_INTERVAL_S = 0.1
READ_CHUNK = 1 << 20
SNAPSHOTS_KEPT = 2
MANIFEST = "SEGMENTS"


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}.log"


def encode_frame(payload: bytes, *, batch_end: bool = True) -> bytes:
    length = len(payload) | (BATCH_END if batch_end else 0)
    prefix = FRAME_PREFIX.pack(length, zlib.crc32(payload))
    return prefix + struct.pack(">I", zlib.crc32(prefix)) + payload


@attrs.frozen
class TornTail:
    """What recovery cut from the end of the newest segment."""

    segment: str
    offset: int
    dropped_bytes: int
    reason: str


@attrs.define
class Scan:
    """Frames of one segment, read from ``offset`` up to the size seen at the start."""

    path: Path
    is_last: bool
    offset: int
    batched: bool = True  # format 2: frames carry batch ends
    end: int = 0  # where the last good frame of a complete batch ends
    frames: int = 0
    tail: TornTail | None = None

    def __iter__(self) -> Iterator[tuple[int, memoryview]]:
        """Yield ``(offset, payload)`` per intact frame of a complete batch; raise
        CorruptLog on damage."""
        pending: list[tuple[int, memoryview]] = []  # frames of a batch not ended yet
        batch_start = self.end = self.offset
        for pos, payload, last in self._frames():
            if not pending:
                batch_start = pos
            pending.append((pos, payload))
            if last or not self.batched:
                yield from pending
                self.frames += len(pending)
                pending.clear()
                self.end = pos + FRAME_HEADER.size + len(payload)
        if pending:  # the segment ends inside a batch: in flight, or torn by a crash
            if not self.is_last:
                raise CorruptLog(
                    self.path.name, batch_start, "incomplete batch in a sealed segment"
                )
            size = self.path.stat().st_size
            self.tail = TornTail(
                self.path.name, batch_start, size - batch_start, "incomplete batch"
            )

    def _frames(self) -> Iterator[tuple[int, memoryview, bool]]:
        """Every intact frame: ``(offset, payload, ends its batch)``."""
        crc32 = zlib.crc32
        unpack_header = FRAME_HEADER.unpack_from
        header_size = FRAME_HEADER.size
        pos = self.offset
        with open(self.path, "rb", buffering=0) as fh:
            fd = fh.fileno()
            size = os.fstat(fd).st_size
            view = memoryview(b"")
            view_at = view_end = pos
            while pos < size:
                if size - pos < header_size:
                    self._torn(fd, pos, size, "incomplete frame header")
                    break
                if pos + header_size > view_end:
                    view = memoryview(os.pread(fd, READ_CHUNK, pos))
                    view_at, view_end = pos, pos + len(view)
                rel = pos - view_at
                raw, payload_crc, header_crc = unpack_header(view, rel)
                if crc32(view[rel : rel + 8]) != header_crc:
                    if self.is_last and _zero_from(fd, pos, size):
                        self._torn(fd, pos, size, "zero-filled tail")
                        break
                    raise CorruptLog(self.path.name, pos, "frame header checksum mismatch")
                length = raw & LENGTH_MASK
                if not 0 < length <= MAX_FRAME:
                    raise CorruptLog(self.path.name, pos, f"impossible frame length {length}")
                end = pos + header_size + length
                if end > size:
                    self._torn(fd, pos, size, "incomplete record")
                    break
                if end > view_end:
                    view = memoryview(os.pread(fd, max(READ_CHUNK, end - pos), pos))
                    view_at, view_end = pos, pos + len(view)
                    rel = 0
                payload = view[rel + header_size : rel + header_size + length]
                if crc32(payload) != payload_crc:
                    if self.is_last and (end == size or _zero_from(fd, end, size)):
                        self._torn(fd, pos, size, "damaged final record")
                        break
                    raise CorruptLog(self.path.name, pos, "record checksum mismatch")
                yield pos, payload, bool(raw & BATCH_END)
                pos = end

    def skip(self, count: int) -> None:
        """Advance ``offset`` past ``count`` frames, checking headers but not payloads.

        When the frames run out first, stop after the last complete batch: frames of
        a batch still being written (or torn) do not count.
        """
        with open(self.path, "rb", buffering=0) as fh:
            fd = fh.fileno()
            size = os.fstat(fd).st_size
            pos = committed_pos = self.offset
            done = committed = 0
            while done < count:
                header = os.pread(fd, FRAME_HEADER.size, pos)
                if len(header) < FRAME_HEADER.size:
                    break
                raw, _crc, header_crc = FRAME_HEADER.unpack(header)
                length = raw & LENGTH_MASK
                if zlib.crc32(header[:8]) != header_crc or not 0 < length <= MAX_FRAME:
                    if self.is_last and _zero_from(fd, pos, size):
                        break
                    raise CorruptLog(self.path.name, pos, "frame header checksum mismatch")
                if pos + FRAME_HEADER.size + length > size:
                    break
                pos += FRAME_HEADER.size + length
                done += 1
                if raw & BATCH_END or not self.batched:
                    committed_pos, committed = pos, done
            if done < count:
                pos, done = committed_pos, committed
            self.frames += done
            self.offset = pos

    def _torn(self, fd: int, pos: int, size: int, reason: str) -> None:
        if not self.is_last:
            raise CorruptLog(self.path.name, pos, f"{reason} in a sealed segment")
        self.tail = TornTail(self.path.name, pos, size - pos, reason)


def _zero_from(fd: int, start: int, end: int) -> bool:
    pos = start
    while pos < end:
        block = os.pread(fd, min(READ_CHUNK, end - pos), pos)
        if not block or block.count(0) != len(block):
            return False
        pos += len(block)
    return True
