"""``file:///dir``: the embedded default log, append-only segment files in one directory.

Theory of operation
-------------------
* Records live in segment files named for the seq of their first record
  (``00000000000000000001.log``). A segment starts with a 16-byte header (magic,
  first seq); then frames follow back to back.
* A frame is a 12-byte header ``length | crc32(payload) | crc32(length, crc)``
  followed by the payload (one codec-encoded record). The header has its own
  checksum so a damaged length is recognised as damage and never taken for a
  short, torn write at the end of the log.
* Batches are atomic: in segments of format 2 (magic ``IRONLOG\x02``) the length's
  top bit marks the last frame of each appended batch. Readers yield a batch's
  records only once its last frame is there, and recovery cuts an incomplete batch
  at the end of the newest segment as a torn tail, so a batch (a relist between its
  SYNC markers, say) is all there or not at all. Segments of format 1 (written
  before batches were marked) read as before: every frame a batch of its own.
* A segment is rolled when it reaches ``segment_mb``; the old one is fsynced
  before the new one is created, so only the newest segment can ever end in a
  torn write, whatever the fsync policy.
* Opening as the writer takes an exclusive ``flock`` on ``LOCK`` and recovers:
  every complete record is kept, a torn tail of the newest segment (short frame,
  zero fill after a crash, or a damaged final record) is cut and the number of
  bytes dropped is reported. Damage anywhere else is :class:`CorruptLog` naming
  segment and offset; nothing is ever skipped silently.
* ``SEGMENTS`` (a manifest, replaced atomically) names the first and the newest
  segment: a segment deleted from either end is reported (``CorruptLog``), never a
  silently shorter log; one deleted from the middle shows as a gap in seqs.
  Rolling writes the new segment before the manifest, retention the manifest
  before deleting, so a crash between the two leaves a manifest within the files.
* Readers take no lock. A reader in another process sees the writer's appends as
  soon as they are written: each batch is one ``write`` of whole frames, and a
  frame not fully visible yet is simply not read yet.
* fsync policies: ``batch`` (fdatasync before append returns), ``interval``
  (a background flush at most every 100 ms; the default), ``never``. Every
  policy survives a crash of the process (the data is in the kernel once append
  returns); they differ on power loss.

Size: one class of about 450 lines, on purpose: every method shares the writer's
state (the active segment's descriptor and size, the lock, the flusher, the
readers' resume point) under one lock; the segment format and the directory's
files live beside it (``segments``, ``directory``).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from ironlb.events import codec
from ironlb.events.errors import InvalidRecord
from ironlb.events.record import Record

from ..base import (
    CorruptLog,
    Snapshot,
    Store,
    StoreError,
    StoreLocked,
    StoreStats,
    check_copy_seqs,
)
from .directory import (
    check_manifest,
    fsync_dir,
    segment_files,
    snapshot_files,
    write_manifest,
)
from .segments import (
    FRAME_HEADER,
    FSYNC_INTERVAL_S,
    FSYNC_POLICIES,
    MANIFEST,
    SEGMENT_HEADER,
    SEGMENT_MAGIC,
    SEGMENT_MAGIC_V1,
    SNAPSHOT_HEADER,
    SNAPSHOT_MAGIC,
    SNAPSHOTS_KEPT,
    Scan,
    TornTail,
    encode_frame,
    segment_name,
)

log = logging.getLogger("ironlb.store.file")


class FileStore(Store):
    """A log in a directory; see the module docstring for the format and guarantees."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        fsync: str = "interval",
        segment_mb: float = 64,
        retain: int | None = None,
        url: str | None = None,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise StoreError(f"fsync={fsync!r}: choose one of {', '.join(FSYNC_POLICIES)}")
        if segment_mb <= 0:
            raise StoreError(f"segment_mb={segment_mb}: must be positive")
        if retain is not None and retain < 0:
            raise StoreError(f"retain={retain}: must be zero or more")
        self.path = Path(path).absolute()
        self.url = url or f"file://{self.path}"
        self.readonly = readonly
        self.fsync_policy = fsync
        self.segment_bytes = max(int(segment_mb * (1 << 20)), SEGMENT_HEADER.size + 1)
        self.retain = retain
        self.recovered: TornTail | None = None
        self._lock = threading.RLock()
        self._lock_fd: int | None = None
        self._active_fd: int | None = None
        self._active_first = 0
        self._active_size = 0
        self._last_seq = 0
        self._dirty = False
        self._closed = threading.Event()
        self._flusher: threading.Thread | None = None
        # Where the previous read stopped: (segment first seq, next seq, byte offset),
        # so a follower does not rescan a segment from its start on every poll.
        self._resume: tuple[int, int, int] | None = None
        # Readers' view of the newest segment: (first seq, size, frames, end).
        self._tail_cache: tuple[int, int, int, int] | None = None
        if readonly:
            if not self.path.is_dir():
                raise StoreError(f"no log at {self.path}: the directory does not exist")
            segments = segment_files(self.path)
            if not segments and not any(
                (self.path / name).exists() for name in ("LOCK", MANIFEST)
            ):  # a directory no writer ever opened: reading it as an empty log would lie
                raise StoreError(
                    f"{self.path} is not a log (no segments, never opened by a writer): a "
                    "directory of manifests? `ironlb plan` reads it, `ironlb log import` logs it"
                )
            check_manifest(self.path, segments)
        else:
            self._open_writer()

    # --- opening and recovery ------------------------------------------------

    def _open_writer(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path} is a file, not a log directory")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / "snapshots").mkdir(exist_ok=True)
            fd = os.open(self.path / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            where = exc.filename or self.path
            raise StoreError(
                f"cannot create the log at {self.path}: {exc.strerror} ({where})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLocked(
                f"{self.path} is already open for writing (pid {holder}); a log has one writer"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        try:
            self._recover()
        except BaseException:
            self.close()
            raise
        if self.fsync_policy == "interval":
            self._flusher = threading.Thread(
                target=self._flush_loop, name=f"ironlb-fsync {self.path.name}", daemon=True
            )
            self._flusher.start()

    def _recover(self) -> None:
        segments = segment_files(self.path)
        while segments:
            first, path = segments[-1]
            size = path.stat().st_size
            if size >= SEGMENT_HEADER.size:
                break
            # A crash while creating a segment can leave it without a full header.
            with open(path, "rb") as fh:
                leftover = fh.read()
            magic_part = leftover[: len(SEGMENT_MAGIC)]
            if any(leftover) and magic_part != SEGMENT_MAGIC[: len(magic_part)]:
                raise CorruptLog(path.name, 0, "not an ironlb log segment")
            self.recovered = TornTail(path.name, 0, size, "incomplete segment header")
            path.unlink()
            segments.pop()
        if not segments:
            self._last_seq = 0
            return
        check_manifest(self.path, segments)
        first, path = segments[-1]
        batched = self._check_segment_header(first, path)
        scan = Scan(path, is_last=True, offset=SEGMENT_HEADER.size, batched=batched)
        last_payload: bytes | None = None
        for _pos, payload in scan:
            last_payload = payload
        if last_payload is not None:
            record = self._decode(
                path, scan.end - len(last_payload) - FRAME_HEADER.size, last_payload
            )
            expected = first + scan.frames - 1
            if record.seq != expected:
                raise CorruptLog(
                    path.name,
                    scan.end - len(last_payload) - FRAME_HEADER.size,
                    f"record has seq {record.seq}, expected {expected}",
                )
        if scan.tail is not None:
            with open(path, "r+b") as fh:
                fh.truncate(scan.tail.offset)
                os.fsync(fh.fileno())
            self.recovered = scan.tail
            log.warning(
                "%s: cut a torn tail of %d bytes at offset %d of %s (%s)",
                self.path,
                scan.tail.dropped_bytes,
                scan.tail.offset,
                path.name,
                scan.tail.reason,
            )
        self._active_fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._active_first = first
        self._active_size = scan.end
        self._last_seq = first + scan.frames - 1

    def _check_segment_header(self, first: int, path: Path) -> bool:
        """Check a segment's header; whether its frames mark batch ends (format 2)."""
        with open(path, "rb") as fh:
            header = fh.read(SEGMENT_HEADER.size)
        if len(header) < SEGMENT_HEADER.size:
            raise CorruptLog(path.name, 0, "incomplete segment header")
        magic, seq = SEGMENT_HEADER.unpack(header)
        if magic not in (SEGMENT_MAGIC, SEGMENT_MAGIC_V1):
            raise CorruptLog(path.name, 0, "not an ironlb log segment (bad magic)")
        if seq != first:
            raise CorruptLog(
                path.name, 0, f"segment header says first seq {seq}, name says {first}"
            )
        return magic == SEGMENT_MAGIC

    # --- the manifest ----------------------------------------------------------

    # --- writing -------------------------------------------------------------

    def append(self, records: Sequence[Record]) -> range:
        self._check_writable()
        with self._lock:
            first = self._last_seq + 1
            if not records:
                return range(first, first)
            payloads = codec.encode_many(records, first_seq=first)
            self._write(first, payloads)
            return range(first, first + len(records))

    def append_keeping_seqs(self, records: Sequence[Record]) -> range:
        self._check_writable()
        with self._lock:
            if not records:
                return range(self._last_seq + 1, self._last_seq + 1)
            check_copy_seqs(records, self._last_seq)
            self._write(records[0].seq, codec.encode_many(records))
            return range(records[0].seq, records[-1].seq + 1)

    def _write(self, first: int, payloads: list[bytes]) -> None:
        if self._active_fd is None or self._active_size >= self.segment_bytes:
            self._roll(first)
        last = len(payloads) - 1
        buf = b"".join([encode_frame(p, batch_end=i == last) for i, p in enumerate(payloads)])
        fd = self._active_fd
        assert fd is not None
        try:
            view = memoryview(buf)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError as exc:
            # Never leave half a batch behind: later appends would bury it mid-log.
            os.ftruncate(fd, self._active_size)
            raise StoreError(f"{self.path}: append failed: {exc.strerror}") from exc
        self._active_size += len(buf)
        self._last_seq = first + len(payloads) - 1
        if self.fsync_policy == "batch":
            os.fdatasync(fd)
        else:
            self._dirty = True

    def _roll(self, first: int) -> None:
        if self._active_fd is not None:
            os.fdatasync(self._active_fd)  # sealed segments are always complete
            os.close(self._active_fd)
            self._active_fd = None
        path = self.path / segment_name(first)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        os.write(fd, SEGMENT_HEADER.pack(SEGMENT_MAGIC, first))
        os.fsync(fd)
        fsync_dir(self.path)
        oldest = segment_files(self.path)[0][0]
        write_manifest(self.path, oldest, first)
        self._active_fd = fd
        self._active_first = first
        self._active_size = SEGMENT_HEADER.size

    def _flush_loop(self) -> None:
        while not self._closed.wait(FSYNC_INTERVAL_S):
            self.flush()

    def flush(self) -> None:
        """Make everything appended so far durable now, whatever the policy."""
        with self._lock:
            if self._dirty and self._active_fd is not None:
                os.fdatasync(self._active_fd)
                self._dirty = False

    def _check_writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.path} was opened read-only")
        if self._closed.is_set():
            raise StoreError(f"{self.path} is closed")

    # --- reading -------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        if not self.readonly:
            return self._last_seq
        segments = segment_files(self.path)
        if not segments:
            return 0
        first, path = segments[-1]
        return first + self._count_frames(first, path) - 1

    @property
    def first_seq(self) -> int:
        segments = segment_files(self.path)
        if segments:
            return segments[0][0]
        return self.last_seq + 1

    def _count_frames(self, first: int, path: Path) -> int:
        """Frames in the newest segment, scanning only what grew since last time."""
        size = path.stat().st_size
        cached = self._tail_cache
        if cached and cached[0] == first and cached[1] == size:
            return cached[2]
        frames, offset = (
            (cached[2], cached[3]) if cached and cached[0] == first else (0, SEGMENT_HEADER.size)
        )
        if size < SEGMENT_HEADER.size:
            return 0
        batched = self._check_segment_header(first, path)
        scan = Scan(path, is_last=True, offset=offset, batched=batched)
        scan.skip(1 << 62)
        frames += scan.frames
        self._tail_cache = (first, size, frames, scan.offset)
        return frames

    def read(self, start: int | None = None, until: int | None = None) -> Iterator[Record]:
        begin = self._check_start(start)
        return self._read(begin, until)

    def _read(self, begin: int, until: int | None) -> Iterator[Record]:
        segments = segment_files(self.path)
        index = 0
        for i, (first, _path) in enumerate(segments):
            if first <= begin:
                index = i
        seq = begin
        for i in range(index, len(segments)):
            first, path = segments[i]
            if seq < first:
                raise CorruptLog(path.name, 0, f"segment starts at seq {first}, expected {seq}")
            if i + 1 < len(segments) and segments[i + 1][0] <= seq:
                continue
            is_last = i == len(segments) - 1
            batched = self._check_segment_header(first, path)
            scan = Scan(path, is_last=is_last, offset=SEGMENT_HEADER.size, batched=batched)
            resume = self._resume
            if resume and resume[0] == first and resume[1] == seq:
                scan.offset = resume[2]
            elif seq > first:
                scan.skip(seq - first)
                if scan.frames < seq - first:
                    return  # asked past the end
            limit = until if until is not None else seq + (1 << 62)
            decode = codec.decode
            resume_at = scan.offset
            try:
                for pos, payload in scan:
                    if seq > limit:
                        return
                    try:
                        record = decode(payload)
                    except InvalidRecord as exc:
                        raise CorruptLog(path.name, pos, str(exc)) from exc
                    if record.seq != seq:
                        raise CorruptLog(
                            path.name, pos, f"record has seq {record.seq}, expected {seq}"
                        )
                    resume_at = pos + FRAME_HEADER.size + len(payload)
                    seq += 1
                    yield record
            finally:
                # Where to pick up next time, so a follower never rescans the segment.
                self._resume = (first, seq, resume_at)
            if seq > limit:
                return

    @staticmethod
    def _decode(path: Path, pos: int, payload: bytes | memoryview) -> Record:
        try:
            return codec.decode(payload)
        except InvalidRecord as exc:
            raise CorruptLog(path.name, pos, str(exc)) from exc

    def wait(self, after_seq: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self.last_seq > after_seq:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(0.01, remaining))

    # --- snapshots and retention ---------------------------------------------

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self._check_writable()
        self._check_snapshot_seq(snapshot)
        directory = self.path / "snapshots"
        final = directory / f"{snapshot.seq:020d}.snap"
        temporary = directory / f".{final.name}.tmp"
        header = SNAPSHOT_HEADER.pack(
            SNAPSHOT_MAGIC, snapshot.seq, len(snapshot.data), zlib.crc32(snapshot.data)
        )
        with open(temporary, "wb") as fh:
            fh.write(header)
            fh.write(snapshot.data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, final)
        fsync_dir(directory)
        for _seq, old in snapshot_files(self.path)[:-SNAPSHOTS_KEPT]:
            old.unlink(missing_ok=True)
        if self.retain is not None:
            self.drop_history(snapshot.seq + 1 - self.retain)

    def load_snapshot(self) -> Snapshot | None:
        for seq, path in reversed(snapshot_files(self.path)):
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue
            if len(raw) >= SNAPSHOT_HEADER.size:
                magic, header_seq, length, crc = SNAPSHOT_HEADER.unpack_from(raw)
                data = raw[SNAPSHOT_HEADER.size :]
                if (
                    magic == SNAPSHOT_MAGIC
                    and header_seq == seq
                    and len(data) == length
                    and zlib.crc32(data) == crc
                ):
                    return Snapshot(seq, data)
            log.warning("%s: snapshot %s is damaged; using an older one", self.path, path.name)
        return None

    def drop_history(self, before: int) -> int:
        self._check_writable()
        with self._lock:
            floor = self._snapshot_floor(before)
            segments = segment_files(self.path)
            doomed = [
                path
                for (_first, path), (next_first, _next) in itertools.pairwise(segments)
                if next_first <= floor
            ]
            if doomed:
                write_manifest(self.path, segments[len(doomed)][0], segments[-1][0])
            dropped = False
            for path in doomed:
                path.unlink()
                dropped = True
            if dropped:
                fsync_dir(self.path)
            return self.first_seq

    # --- housekeeping --------------------------------------------------------

    def stats(self) -> StoreStats:
        segments = segment_files(self.path)
        size = 0
        for _first, path in segments:
            with contextlib.suppress(FileNotFoundError):
                size += path.stat().st_size
        return StoreStats(self.first_seq, self.last_seq, size, len(segments))

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._flusher is not None:
            self._flusher.join()
        with self._lock:
            if self._active_fd is not None:
                if self._dirty:
                    os.fdatasync(self._active_fd)
                os.close(self._active_fd)
                self._active_fd = None
            if self._lock_fd is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
                self._lock_fd = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
