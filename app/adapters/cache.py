"""The Cache port: Redis through redis.asyncio, or an in-process stand-in.

open_cache(url) picks one: a Redis URL gives RedisCache; an empty URL gives MemoryCache, the
stand-in for the single-process embedded default (its state is per process, which is why
several workers need Redis). Both pass the same test suite: CI runs it once on each.

RedisCache pipelines automatically: a redis-py round trip costs ~100 µs of client CPU, about as
much as a whole cheap request, so commands issued while a batch is being collected share one
non-transactional pipeline (one write, one connection) and each caller gets its own reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from redis.exceptions import NoScriptError, RedisError, ResponseError


def open_cache(url: str, *, prefix: str = "") -> RedisCache | MemoryCache:
    return RedisCache.from_url(url, prefix=prefix) if url else MemoryCache()


def is_cache_outage(error: BaseException) -> bool:
    """Redis was unreachable or did not answer in time (not a command it refused)."""
    return isinstance(error, (redis.ConnectionError, redis.TimeoutError))


# INCR and PEXPIRE NX as one command, so it can share a pipeline with other callers' commands
# and stay atomic per key (a script runs alone on the server); MULTI/EXEC inside a shared
# pipeline would need QUEUED replies parsed and would tie other callers' commands to its outcome.
_INCR_SCRIPT = "local n = redis.call('INCR', KEYS[1]) redis.call('PEXPIRE', KEYS[1], ARGV[1], 'NX') return n"
_INCR_SHA = hashlib.sha1(_INCR_SCRIPT.encode(), usedforsecurity=False).hexdigest()

# A group's claims as one command: N SET NX cost redis-py N packings and N parsed replies.
_CLAIM_SCRIPT = (
    "local created = {} "
    "for i, key in ipairs(KEYS) do "
    "created[i] = redis.call('SET', key, '1', 'PX', ARGV[i], 'NX') and 1 or 0 "
    "end return created"
)
_CLAIM_SHA = hashlib.sha1(_CLAIM_SCRIPT.encode(), usedforsecurity=False).hexdigest()

_Queued = tuple[tuple[Any, ...], asyncio.Future[Any]]


class RedisCache:
    """The Cache port on Redis, auto-pipelined.

    A command is queued with a future; one flusher task at a time sends what is queued (up to
    BATCH_LIMIT commands) as one pipeline, resolves each future with its own reply or its own
    error (WRONGTYPE fails that command only), then sends what queued up meanwhile. A lone caller
    pays one event-loop iteration; under concurrency the round trip is shared. A connection
    error fails the batch and everything queued behind it, so callers learn of an outage within
    one socket timeout rather than one per batch. A cancelled caller's command is dropped if it
    was not sent yet, and its reply is read and discarded if it was.
    """

    BATCH_LIMIT = 256

    def __init__(self, client: Any, *, prefix: str = ""):
        self._client = client
        self._prefix = prefix
        self._queue: deque[_Queued] = deque()
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "") -> RedisCache:
        return cls(redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0), prefix=prefix)

    def key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> bytes | None:
        return await self._command("GET", self.key(key))

    async def get_many(self, *keys: str) -> list[bytes | None]:
        if not keys:
            return []
        return list(await self._command("MGET", *(self.key(k) for k in keys)))

    async def set(
        self, key: str, value: bytes | str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        args: tuple[Any, ...] = ("SET", self.key(key), value)
        if ttl:
            args += ("PX", int(ttl * 1000))
        if only_if_absent:
            args += ("NX",)
        return await self._command(*args) is not None

    async def claim_many(self, claims: Sequence[tuple[str, float]]) -> list[bool]:
        if not claims:
            return []
        args = (
            len(claims),
            *(self.key(key) for key, _ in claims),
            *(max(int(ttl * 1000), 1) for _, ttl in claims),
        )
        return [bool(created) for created in await self._script(_CLAIM_SHA, _CLAIM_SCRIPT, args)]

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._command("DEL", *(self.key(k) for k in keys)))

    async def incr(self, key: str, *, ttl: float) -> int:
        return int(await self._script(_INCR_SHA, _INCR_SCRIPT, (1, self.key(key), int(ttl * 1000))))

    async def _script(self, sha: str, script: str, args: tuple[Any, ...]) -> Any:
        try:
            return await self._command("EVALSHA", sha, *args)
        except NoScriptError:  # a fresh or flushed server: EVAL runs it and caches it for next time
            return await self._command("EVAL", script, *args)

    async def ttl(self, key: str) -> float:
        ms = int(await self._command("PTTL", self.key(key)))
        return ms / 1000 if ms >= 0 else float(ms)

    async def ping(self) -> bool:
        try:
            return bool(await self._command("PING"))
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.wait([self._flusher])  # what is queued still goes out (socket timeouts bound it)
        await self._client.aclose()

    def _command(self, *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((args, future))
        if self._flusher is None:
            # The task's first step runs on the next loop iteration, after every caller already
            # runnable in this one has queued its command.
            self._flusher = loop.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        pool = self._client.connection_pool
        connection = None
        batch: list[_Queued] = []
        try:
            while True:
                if not self._queue:
                    # The callers just answered run first and often issue their next command: it
                    # joins this flush instead of waiting for a new one.
                    await asyncio.sleep(0)
                if not (batch := self._take_batch()):
                    break
                try:
                    if connection is None:
                        connection = await pool.get_connection()
                    await self._round_trip(connection, batch)
                except (RedisError, OSError) as error:  # refused, timed out or dropped: redis-py has disconnected
                    _fail(batch, error)
                    _fail(self._queue, error)
                    self._queue.clear()
        except BaseException:  # cancelled mid round trip: the connection is out of step
            if connection is not None:
                await connection.disconnect(nowait=True)
            lost = redis.ConnectionError("the cache's pipeline was interrupted")
            _fail(batch, lost)
            _fail(self._queue, lost)
            self._queue.clear()
            raise
        finally:
            self._flusher = None  # before the await below: a command queued during it starts a new flusher
            if connection is not None:
                await pool.release(connection)

    def _take_batch(self) -> list[_Queued]:
        batch: list[_Queued] = []
        queue = self._queue
        while queue and len(batch) < self.BATCH_LIMIT:
            queued = queue.popleft()
            if not queued[1].done():  # a caller cancelled before the batch left: not worth sending
                batch.append(queued)
        return batch

    @staticmethod
    async def _round_trip(connection: Any, batch: list[_Queued]) -> None:
        packed: list[bytes] = []
        sent: list[asyncio.Future[Any]] = []
        for args, future in batch:
            if future.done():  # cancelled while the connection was being made
                continue
            try:
                packed += connection.pack_command(*args)
            except RedisError as error:  # a value redis-py cannot encode: that caller's mistake only
                future.set_exception(error)
            else:
                sent.append(future)
        if not sent:
            return
        await connection.send_packed_command(packed)
        for future in sent:
            try:
                reply = await connection.read_response()
            except ResponseError as error:  # this command's own error; the replies stay in step
                if not future.done():
                    future.set_exception(error)
            else:
                if not future.done():
                    future.set_result(reply)


def _fail(queued: Any, error: BaseException) -> None:
    for _, future in queued:
        if not future.done():
            future.set_exception(_own_copy(error))


def _own_copy(error: BaseException) -> Exception:
    """A fresh exception per caller: one instance raised in many tasks would pile up their tracebacks."""
    copy: Exception = redis.ConnectionError(str(error))
    if isinstance(error, RedisError):
        try:
            copy = type(error)(*error.args)
        except TypeError:
            pass
    copy.__cause__ = error
    return copy


class MemoryCache:
    """Redis semantics for the port's few commands, in a dict: values are bytes, keys expire."""

    _SWEEP_EVERY = 1000  # writes between sweeps of expired keys, so memory stays bounded

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._writes = 0

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        entry = self._data.get(key)
        if entry is not None and entry[1] is not None and entry[1] <= time.monotonic():
            del self._data[key]
            return None
        return entry

    def _store(self, key: str, value: bytes, expires: float | None) -> None:
        self._data[key] = (value, expires)
        self._writes += 1
        if self._writes % self._SWEEP_EVERY == 0:
            now = time.monotonic()
            for stale in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
                del self._data[stale]

    async def get(self, key: str) -> bytes | None:
        entry = self._live(key)
        return entry[0] if entry else None

    async def get_many(self, *keys: str) -> list[bytes | None]:
        return [await self.get(key) for key in keys]

    async def set(
        self, key: str, value: bytes | str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        if only_if_absent and self._live(key) is not None:
            return False
        data = value.encode() if isinstance(value, str) else bytes(value)
        self._store(key, data, time.monotonic() + ttl if ttl else None)
        return True

    async def claim_many(self, claims: Sequence[tuple[str, float]]) -> list[bool]:
        return [await self.set(key, b"1", ttl=max(ttl, 0.001), only_if_absent=True) for key, ttl in claims]

    async def delete(self, *keys: str) -> int:
        removed = 0
        for key in keys:
            if self._live(key) is not None:
                del self._data[key]
                removed += 1
        return removed

    async def incr(self, key: str, *, ttl: float) -> int:
        entry = self._live(key)
        count = int(entry[0]) + 1 if entry else 1
        # Like INCR + PEXPIRE NX: the window starts with the counter and is not extended.
        self._store(key, str(count).encode(), entry[1] if entry else time.monotonic() + ttl)
        return count

    async def ttl(self, key: str) -> float:
        entry = self._live(key)
        if entry is None:
            return -2.0
        return -1.0 if entry[1] is None else max(0.0, entry[1] - time.monotonic())

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()
