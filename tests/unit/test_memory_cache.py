"""The in-process stand-in's own housekeeping (its Redis semantics: tests/contract/test_cache_port.py)."""

import asyncio

from app.adapters.cache import MemoryCache


async def test_expired_keys_are_swept():
    cache = MemoryCache()
    for n in range(MemoryCache._SWEEP_EVERY - 1):
        await cache.set(f"k{n}", "v", ttl=0.001)
    await asyncio.sleep(0.01)
    await cache.set("last", "v")
    assert len(cache._data) == 1
