"""The Cache port: Redis through redis.asyncio, or an in-process stand-in.

open_cache(url) picks one: a Redis URL gives RedisCache; an empty URL gives MemoryCache, the
stand-in for the single-process embedded default (its state is per process, which is why
several workers need Redis). Both pass the same test suite: CI runs it once on each.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as redis


def open_cache(url: str, *, prefix: str = "") -> RedisCache | MemoryCache:
    return RedisCache.from_url(url, prefix=prefix) if url else MemoryCache()


class RedisCache:
    def __init__(self, client: Any, *, prefix: str = ""):
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "") -> RedisCache:
        return cls(redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0), prefix=prefix)

    def key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> bytes | None:
        return await self._client.get(self.key(key))

    async def get_many(self, *keys: str) -> list[bytes | None]:
        return list(await self._client.mget([self.key(k) for k in keys]))

    async def set(
        self, key: str, value: bytes | str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        px = int(ttl * 1000) if ttl else None
        return bool(await self._client.set(self.key(key), value, px=px, nx=only_if_absent))

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._client.delete(*(self.key(k) for k in keys)))

    async def incr(self, key: str, *, ttl: float) -> int:
        full = self.key(key)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(full)
            pipe.pexpire(full, int(ttl * 1000), nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def ttl(self, key: str) -> float:
        ms = await self._client.pttl(self.key(key))
        return ms / 1000 if ms >= 0 else float(ms)

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (redis.RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._client.aclose()


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
