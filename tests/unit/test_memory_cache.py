"""The in-process stand-in keeps Redis's semantics for the commands the service uses."""

import asyncio

from app.adapters.cache import MemoryCache


async def test_values_expire_and_report_their_ttl():
    cache = MemoryCache()
    assert await cache.set("k", "v", ttl=0.05)
    assert await cache.get("k") == b"v"
    assert 0 < await cache.ttl("k") <= 0.05
    await asyncio.sleep(0.06)
    assert await cache.get("k") is None
    assert await cache.ttl("k") == -2
    await cache.set("forever", b"x")
    assert await cache.ttl("forever") == -1


async def test_only_if_absent_and_delete():
    cache = MemoryCache()
    assert await cache.set("cti", "1", ttl=10, only_if_absent=True)
    assert not await cache.set("cti", "2", ttl=10, only_if_absent=True)
    assert await cache.get_many("cti", "missing") == [b"1", None]
    assert await cache.delete("cti", "missing") == 1
    assert await cache.set("cti", "3", only_if_absent=True)


async def test_counter_window_starts_with_the_counter():
    cache = MemoryCache()
    assert [await cache.incr("rl", ttl=0.05) for _ in range(3)] == [1, 2, 3]
    await asyncio.sleep(0.06)
    assert await cache.incr("rl", ttl=0.05) == 1


async def test_expired_keys_are_swept():
    cache = MemoryCache()
    for n in range(MemoryCache._SWEEP_EVERY - 1):
        await cache.set(f"k{n}", "v", ttl=0.001)
    await asyncio.sleep(0.01)
    await cache.set("last", "v")
    assert len(cache._data) == 1
