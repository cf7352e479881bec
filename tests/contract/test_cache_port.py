"""Both Cache implementations keep Redis's semantics for the commands the service uses.

MemoryCache always; RedisCache when APP_REDIS_URL names a server (the CI's second pass), under a
random key prefix so the live server's keys in the same database are left alone.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from app.adapters.cache import MemoryCache, RedisCache

REDIS_URL = os.environ.get("APP_REDIS_URL", "")


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[MemoryCache | RedisCache]:
    if request.param == "memory":
        yield MemoryCache()
        return
    if not REDIS_URL:
        pytest.skip("APP_REDIS_URL is not set")
    prefix = f"test-cache:{uuid.uuid4().hex[:8]}:"
    redis_cache = RedisCache.from_url(REDIS_URL, prefix=prefix)
    yield redis_cache
    keys = [key async for key in redis_cache._client.scan_iter(match=prefix + "*")]
    if keys:
        await redis_cache._client.delete(*keys)
    await redis_cache.close()


async def test_values_expire_and_report_their_ttl(cache):
    assert await cache.set("k", "v", ttl=0.05)
    assert await cache.get("k") == b"v"
    assert 0 < await cache.ttl("k") <= 0.05
    await asyncio.sleep(0.06)
    assert await cache.get("k") is None
    assert await cache.ttl("k") == -2
    await cache.set("forever", b"x")
    assert await cache.ttl("forever") == -1


async def test_only_if_absent_and_delete(cache):
    assert await cache.set("cti", "1", ttl=10, only_if_absent=True)
    assert not await cache.set("cti", "2", ttl=10, only_if_absent=True)
    assert await cache.get_many("cti", "missing") == [b"1", None]
    assert await cache.get_many() == []
    assert await cache.delete("cti", "missing") == 1
    assert await cache.delete() == 0
    assert await cache.set("cti", "3", only_if_absent=True)


async def test_claim_many_creates_only_absent_keys_each_with_its_own_ttl(cache):
    assert await cache.claim_many([]) == []
    await cache.set("held", "x", ttl=10)
    assert await cache.claim_many([("a", 0.05), ("held", 10), ("b", 10), ("a", 10)]) == [True, False, True, False]
    assert await cache.get("held") == b"x"  # an existing key is left as it was
    assert 0 < await cache.ttl("a") <= 0.05
    assert 9 < await cache.ttl("b") <= 10
    await asyncio.sleep(0.06)
    assert await cache.claim_many([("a", 10), ("b", 10)]) == [True, False]


async def test_concurrent_claims_of_one_key_have_one_winner(cache):
    results = await asyncio.gather(*(cache.claim_many([("cti", 10), (f"own{n}", 10)]) for n in range(20)))
    assert sum(first for first, _ in results) == 1
    assert all(own for _, own in results)


async def test_counter_window_starts_with_the_counter(cache):
    assert [await cache.incr("rl", ttl=0.05) for _ in range(3)] == [1, 2, 3]
    assert 0 < await cache.ttl("rl") <= 0.05
    await asyncio.sleep(0.06)
    assert await cache.incr("rl", ttl=0.05) == 1


async def test_ping(cache):
    assert await cache.ping() is True
