"""The Cache port over redis.asyncio, or over fakeredis as the in-process stand-in.

Both speak the same client API, so there is one implementation; the stand-in only serves the
single-process embedded default (state is per process).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis


class RedisCache:
    def __init__(self, client: Any, *, prefix: str = ""):
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "") -> RedisCache:
        if url:
            client = redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        else:
            import fakeredis

            client = fakeredis.FakeAsyncRedis()
        return cls(client, prefix=prefix)

    @property
    def client(self) -> Any:
        """The underlying client, for adapters that need more than the port offers."""
        return self._client

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
