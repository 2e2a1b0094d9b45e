"""The Redis store: one log per key, as a Redis Stream whose entry IDs are the seqs.

``redis://[user:password@]host:port/db?key=NAME`` (``rediss://`` for TLS,
``unix:///path/redis.sock?db=N&key=NAME``); default key ``ironlb``. Several logs
live side by side under different keys (the controller's, one per speaker node).
Keys, all in one Redis Cluster hash slot: ``{NAME}:log`` (the stream, entry ID
``SEQ-0``, field ``r`` holding the codec's bytes), ``{NAME}:seq`` (the last seq),
``{NAME}:snapshots`` (a hash from seq to snapshot bytes).

One writer per log, enforced with a lease: a writer holds ``{NAME}:writer`` (its
host, pid and a random token, with a TTL it renews every third of it); a second
writer is refused at open with an error naming the holder, and every append checks
the token inside the same Lua script that adds the records (a fencing token), so a
writer that lost its lease (paused past the TTL while another took over) stops
writing instead of interleaving. ``writer_lease=SECONDS`` (default 15) sets the TTL.

Appends are one Lua script per batch: it checks the lease and that the log ends
where this writer believes it does, then adds every record and moves the seq,
atomically. A log that ends *before* where the writer believes is history Redis
lost (a restart without the append-only file): an error, never seqs reused. Connection
errors are retried with exponential backoff (up to about a minute); if a reply was
lost after Redis applied a batch, the retry finds the batch already there and
reports success, so a batch is never appended twice and an acknowledged one never
lost by ironlb. Surviving a crash of Redis itself is Redis's persistence:
``appendonly yes`` with ``appendfsync always`` loses nothing acknowledged,
``everysec`` up to a second (docs/event-log.md).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Iterator, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from ironlb.events.codec import decode, encode_many
from ironlb.events.errors import InvalidRecord
from ironlb.events.record import Record

from .base import (
    CorruptLog,
    InvalidStoreURL,
    Snapshot,
    Store,
    StoreError,
    StoreStats,
    check_copy_seqs,
)

DEFAULT_KEY = "ironlb"
PAGE = 2000

DEFAULT_WRITER_LEASE = 15.0

# KEYS: stream, seq, writer. ARGV: expected last seq, first seq, writer value,
# lease ms, payloads...
_APPEND = """
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[3] then
  return redis.error_reply('IRONLB_FENCED ' .. holder)
end
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if last ~= tonumber(ARGV[1]) then
  return redis.error_reply('IRONLB_CONFLICT ' .. last)
end
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
local first = tonumber(ARGV[2])
for i = 5, #ARGV do
  redis.call('XADD', KEYS[1], (first + i - 5) .. '-0', 'r', ARGV[i])
end
local newest = first + #ARGV - 5
redis.call('SET', KEYS[2], newest)
return newest
"""

# Take the writer lease if free (or already ours); else the holder and its TTL.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if not holder or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, ''}
end
return {0, holder, redis.call('PTTL', KEYS[1])}
"""

# Renew the lease if still ours; 0 when it is someone else's now.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


def split_url(url: str) -> tuple[str, str, float]:
    """The URL redis-py understands, the log's key and the writer lease's seconds."""
    parts = urlsplit(url)
    options = parse_qsl(parts.query, keep_blank_values=True)
    ours = {"key", "writer_lease"}
    for name in ours:
        if sum(n == name for n, _ in options) > 1:
            raise InvalidStoreURL(f"{url}: option '{name}' given twice")
    found = {n: v for n, v in options if n in ours}
    key = found.get("key", DEFAULT_KEY)
    if not key:
        raise InvalidStoreURL(f"{url}: the key may not be empty")
    try:
        lease = float(found.get("writer_lease", DEFAULT_WRITER_LEASE))
    except ValueError:
        lease = -1.0
    if not 0.1 <= lease <= 3600:
        raise InvalidStoreURL(f"{url}: writer_lease must be seconds between 0.1 and 3600")
    rest = urlencode([(n, v) for n, v in options if n not in ours])
    connection = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
    return connection, key, lease


class RedisStore(Store):
    def __init__(self, url: str, *, readonly: bool = False) -> None:
        self.url = url
        self.readonly = readonly
        connection_url, key, self.writer_lease = split_url(url)
        retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=40)
        try:
            # One quick attempt first: a wrong URL or a Redis that is not running is an
            # error now, not after a minute of reconnection attempts.
            with redis.Redis.from_url(connection_url, socket_connect_timeout=5) as probe:
                probe.ping()
        except redis.RedisError as exc:
            raise StoreError(f"{url}: cannot reach Redis: {exc}") from exc
        except ValueError as exc:
            raise InvalidStoreURL(f"{url}: {exc}") from exc
        try:
            self._redis = redis.Redis.from_url(
                connection_url,
                retry=retry,
                retry_on_error=[redis.ConnectionError, redis.TimeoutError],
                socket_connect_timeout=5,
            )
            self._stream, self._seq_key, self._snapshots, self._writer_key = (
                f"{{{key}}}:log",
                f"{{{key}}}:seq",
                f"{{{key}}}:snapshots",
                f"{{{key}}}:writer",
            )
            self._append = self._redis.register_script(_APPEND)
            self._renew_script = self._redis.register_script(_RENEW)
            self._writer = f"{socket.gethostname()} pid {os.getpid()} {secrets.token_hex(8)}"
            self._lost_to: str | None = None  # who took the lease, once it was lost
            self._closed = threading.Event()
            if not readonly:
                self._acquire()
            self._last = self._read_last()
        except redis.RedisError as exc:
            raise StoreError(f"{url}: {exc}") from exc
        except ValueError as exc:
            raise InvalidStoreURL(f"{url}: {exc}") from exc

    # --- the writer lease ------------------------------------------------------

    @property
    def _lease_ms(self) -> int:
        return int(self.writer_lease * 1000)

    def _acquire(self) -> None:
        taken, holder, *ttl = self._redis.register_script(_ACQUIRE)(
            keys=[self._writer_key], args=[self._writer, self._lease_ms]
        )
        if not taken:
            left = f"; its lease ends in {int(ttl[0]) / 1000:.1f} s unless renewed" if ttl else ""
            raise StoreError(
                f"{self.url}: the log is being written by {_holder(holder)}{left}; "
                "a log has one writer"
            )
        threading.Thread(target=self._keep_lease, name="redis-writer-lease", daemon=True).start()

    def _keep_lease(self) -> None:
        """Renew every third of the TTL; note a lease someone else took."""
        while not self._closed.wait(self.writer_lease / 3):
            try:
                if not self._renew_script(
                    keys=[self._writer_key], args=[self._writer, self._lease_ms]
                ):
                    self._lost_to = _holder(self._redis.get(self._writer_key) or b"?")
                    return
            except redis.RedisError:
                continue  # Redis away: the next append's fencing check decides

    def _read_last(self) -> int:
        value = self._redis.get(self._seq_key)
        return int(value) if value is not None else 0

    # --- writing -------------------------------------------------------------

    def append(self, records: Sequence[Record]) -> range:
        start = self._last + 1
        if not records:
            return range(start, start)
        self._write(start, encode_many(records, start))
        return range(start, start + len(records))

    def append_keeping_seqs(self, records: Sequence[Record]) -> range:
        if not records:
            return range(self.last_seq + 1, self.last_seq + 1)
        self._last = self._read_last()
        check_copy_seqs(records, self._last)
        start = records[0].seq
        self._write(start, encode_many(records, start))
        return range(start, start + len(records))

    def _write(self, start: int, payloads: list[bytes]) -> None:
        if self.readonly:
            raise StoreError(f"{self.url}: opened read-only")
        if self._lost_to is not None:
            raise self._fenced(self._lost_to)
        expected = self._last
        keys = [self._stream, self._seq_key, self._writer_key]
        try:
            self._last = int(
                self._append(
                    keys=keys, args=[expected, start, self._writer, self._lease_ms, *payloads]
                )
            )
        except redis.ResponseError as exc:
            message = str(exc)
            if message.startswith("IRONLB_FENCED "):
                self._lost_to = _holder(message.removeprefix("IRONLB_FENCED "))
                raise self._fenced(self._lost_to) from None
            if not message.startswith("IRONLB_CONFLICT"):
                raise StoreError(f"{self.url}: {exc}") from exc
            if self._already_written(start, payloads):
                self._last = start + len(payloads) - 1  # a retried batch Redis had applied
                return
            now = self._read_last()
            if now < expected:
                raise StoreError(
                    f"{self.url}: Redis lost history: this log ended at seq {expected} and "
                    f"Redis now holds it up to seq {now} (a restart without the append-only "
                    "file?); refusing to reuse seqs"
                ) from None
            self._last = now
            raise StoreError(
                f"{self.url}: another process appended to this log (now at seq {self._last}); "
                "a log has one writer"
            ) from None
        except redis.RedisError as exc:
            raise StoreError(f"{self.url}: {exc}") from exc

    def _already_written(self, start: int, payloads: list[bytes]) -> bool:
        end = start + len(payloads) - 1
        entries = self._redis.xrange(self._stream, f"{start}-0", f"{end}-0")
        return [fields[b"r"] for _id, fields in entries] == payloads

    # --- reading -------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        try:
            return self._read_last()
        except redis.RedisError as exc:
            raise StoreError(f"{self.url}: {exc}") from exc

    @property
    def first_seq(self) -> int:
        # One transaction: read apart, an append between the two reads would make an
        # empty stream look like one whose records were all dropped.
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.xrange(self._stream, "-", "+", count=1)
            pipe.get(self._seq_key)
            oldest, last = pipe.execute()
        except redis.RedisError as exc:
            raise StoreError(f"{self.url}: {exc}") from exc
        if oldest:
            return int(oldest[0][0].split(b"-")[0])
        return (int(last) if last is not None else 0) + 1

    def read(self, start: int | None = None, until: int | None = None) -> Iterator[Record]:
        begin = self._check_start(start)
        end = self.last_seq if until is None else min(until, self.last_seq)
        return self._pages(begin, end)

    def _pages(self, begin: int, end: int) -> Iterator[Record]:
        while begin <= end:
            try:
                entries = self._redis.xrange(self._stream, f"{begin}-0", f"{end}-0", count=PAGE)
            except redis.RedisError as exc:
                raise StoreError(f"{self.url}: {exc}") from exc
            if not entries:
                return
            for entry_id, fields in entries:
                yield self._entry_record(entry_id, fields)
            begin = int(entries[-1][0].split(b"-")[0]) + 1

    def _entry_record(self, entry_id: bytes, fields: dict[bytes, bytes]) -> Record:
        """The record of one stream entry; damage is CorruptLog naming the entry."""
        seq_text = entry_id.split(b"-")[0].decode(errors="replace")
        where = int(seq_text) if seq_text.isdigit() else 0
        payload = fields.get(b"r")
        if payload is None:
            raise CorruptLog(self._stream, where, f"entry {seq_text} has no field 'r'")
        try:
            record = decode(payload)
        except InvalidRecord as exc:
            raise CorruptLog(self._stream, where, f"entry {seq_text}: {exc}") from exc
        if record.seq != where:
            raise CorruptLog(
                self._stream, where, f"entry {seq_text} holds a record of seq {record.seq}"
            )
        return record

    def wait(self, after_seq: int, timeout: float) -> bool:
        try:
            found = self._redis.xread(
                {self._stream: f"{after_seq}-0"}, count=1, block=max(1, int(timeout * 1000))
            )
        except redis.RedisError as exc:
            raise StoreError(f"{self.url}: {exc}") from exc
        return bool(found)

    # --- snapshots and retention ---------------------------------------------

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self._check_snapshot_seq(snapshot)
        self._redis.hset(self._snapshots, str(snapshot.seq), snapshot.data)

    def load_snapshot(self) -> Snapshot | None:
        seqs = [int(s) for s in self._redis.hkeys(self._snapshots)]
        if not seqs:
            return None
        newest = max(seqs)
        data = self._redis.hget(self._snapshots, str(newest))
        return None if data is None else Snapshot(newest, data)

    def drop_history(self, before: int) -> int:
        target = min(self._snapshot_floor(before), self.last_seq + 1)
        if target > self.first_seq:
            self._redis.xtrim(self._stream, minid=f"{target}-0", approximate=False)
        return self.first_seq

    # --- housekeeping --------------------------------------------------------

    def stats(self) -> StoreStats:
        size = self._redis.memory_usage(self._stream)
        return StoreStats(self.first_seq, self.last_seq, size, 0)

    def close(self) -> None:
        self._closed.set()
        if not self.readonly and self._lost_to is None:
            # Let the next writer in at once instead of after the TTL (if Redis is
            # away, the lease expires by itself).
            with contextlib.suppress(redis.RedisError):
                self._redis.register_script(_RELEASE)(keys=[self._writer_key], args=[self._writer])
        self._redis.close()

    def _fenced(self, holder: str) -> StoreError:
        return StoreError(
            f"{self.url}: this process lost its writer lease to {holder} and stops writing; "
            "a log has one writer"
        )


def _holder(value: bytes | str) -> str:
    """The holder's description without its token."""
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    return text.rsplit(" ", 1)[0] if text.count(" ") >= 3 else text
