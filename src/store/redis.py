"""The Redis store: one log per key, as a Redis Stream whose entry IDs are the seqs.

``redis://[user:password@]host:port/db?key=NAME`` (``rediss://`` for TLS,
``unix:///path/redis.sock?db=N&key=NAME``); default key ``ironlb``. Several logs
live side by side under different keys (the controller's, one per speaker node).
Keys, all in one Redis Cluster hash slot: ``{NAME}:log`` (the stream, entry ID
``SEQ-0``, field ``r`` holding the codec's bytes), ``{NAME}:seq`` (the last seq),
``{NAME}:snapshots`` (a hash from seq to snapshot bytes).

Appends are one Lua script per batch: it checks that the log ends where this
writer believes it does, then adds every record and moves the seq, atomically. A
second writer therefore fails loudly instead of interleaving seqs. Connection
errors are retried with exponential backoff (up to about a minute); if a reply was
lost after Redis applied a batch, the retry finds the batch already there and
reports success, so a batch is never appended twice and an acknowledged one never
lost by ironlb. Surviving a crash of Redis itself is Redis's persistence:
``appendonly yes`` with ``appendfsync always`` loses nothing acknowledged,
``everysec`` up to a second (docs/event-log.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from ironlb.events.codec import decode, encode_many
from ironlb.events.record import Record

from .base import InvalidStoreURL, Snapshot, Store, StoreError, StoreStats, check_copy_seqs

DEFAULT_KEY = "ironlb"
PAGE = 2000

_APPEND = """
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if last ~= tonumber(ARGV[1]) then
  return redis.error_reply('IRONLB_CONFLICT ' .. last)
end
local first = tonumber(ARGV[2])
for i = 3, #ARGV do
  redis.call('XADD', KEYS[1], (first + i - 3) .. '-0', 'r', ARGV[i])
end
local newest = first + #ARGV - 3
redis.call('SET', KEYS[2], newest)
return newest
"""


def split_url(url: str) -> tuple[str, str]:
    """The URL redis-py understands, and the log's key."""
    parts = urlsplit(url)
    options = parse_qsl(parts.query, keep_blank_values=True)
    keys = [value for name, value in options if name == "key"]
    if len(keys) > 1:
        raise InvalidStoreURL(f"{url}: option 'key' given twice")
    key = keys[0] if keys else DEFAULT_KEY
    if not key:
        raise InvalidStoreURL(f"{url}: the key may not be empty")
    rest = urlencode([(n, v) for n, v in options if n != "key"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), key


class RedisStore(Store):
    def __init__(self, url: str, *, readonly: bool = False) -> None:
        self.url = url
        self.readonly = readonly
        connection_url, key = split_url(url)
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
            self._stream, self._seq_key, self._snapshots = (
                f"{{{key}}}:log",
                f"{{{key}}}:seq",
                f"{{{key}}}:snapshots",
            )
            self._append = self._redis.register_script(_APPEND)
            self._last = self._read_last()
        except redis.RedisError as exc:
            raise StoreError(f"{url}: {exc}") from exc
        except ValueError as exc:
            raise InvalidStoreURL(f"{url}: {exc}") from exc

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
        expected = self._last
        try:
            self._last = int(
                self._append(keys=[self._stream, self._seq_key], args=[expected, start, *payloads])
            )
        except redis.ResponseError as exc:
            if not str(exc).startswith("IRONLB_CONFLICT"):
                raise StoreError(f"{self.url}: {exc}") from exc
            if self._already_written(start, payloads):
                self._last = start + len(payloads) - 1  # a retried batch Redis had applied
                return
            self._last = self._read_last()
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
            for _entry_id, fields in entries:
                yield decode(fields[b"r"])
            begin = int(entries[-1][0].split(b"-")[0]) + 1

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
        self._redis.close()
