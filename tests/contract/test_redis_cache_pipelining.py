"""RedisCache's auto-pipelining: concurrent callers share round trips and keep their own replies.

Most tests need a real Redis (APP_REDIS_URL); a relay in front of it holds back replies or goes
away on demand, as a slow or lost server would.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as redis

from app.adapters.cache import RedisCache
from tests.conftest import free_port

REDIS_URL = os.environ.get("APP_REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="APP_REDIS_URL is not set")


class CountingCache(RedisCache):
    """RedisCache that records the size of every pipeline it sends."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []

    async def _round_trip(self, connection: Any, batch: list[Any]) -> None:  # type: ignore[override]
        self.batches.append(len(batch))
        await RedisCache._round_trip(connection, batch)


class Relay:
    """A TCP relay in front of Redis: can hold back the server's replies, or drop every connection."""

    def __init__(self, host: str, port: int):
        self._target = (host, port)
        self.port = free_port()
        self.replies = asyncio.Event()
        self.replies.set()
        self.requests = 0  # chunks forwarded to the server
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()
        self._writers.clear()

    async def _link(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self._target)
        self._writers += [client_writer, server_writer]
        await asyncio.gather(
            self._pump(client_reader, server_writer, upstream=True),
            self._pump(server_reader, client_writer, upstream=False),
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool) -> None:
        try:
            while data := await reader.read(65536):
                if upstream:
                    self.requests += 1
                else:
                    await self.replies.wait()
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


@pytest.fixture
async def raw() -> AsyncIterator[redis.Redis]:
    client = redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def cache(raw: redis.Redis) -> AsyncIterator[CountingCache]:
    prefix = f"test-pipelining:{uuid.uuid4().hex[:8]}:"
    counting = CountingCache(redis.from_url(REDIS_URL, socket_timeout=2.0, socket_connect_timeout=2.0), prefix=prefix)
    yield counting
    await counting.close()
    keys = [key async for key in raw.scan_iter(match=prefix + "*")]
    if keys:
        await raw.delete(*keys)


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    target = urlsplit(REDIS_URL)
    server = Relay(target.hostname or "127.0.0.1", target.port or 6379)
    await server.start()
    yield server
    server.replies.set()
    if server._server is not None and server._server.is_serving():
        await server.stop()


def relayed_cache(relay: Relay) -> CountingCache:
    url = urlsplit(REDIS_URL)._replace(netloc=f"127.0.0.1:{relay.port}").geturl()
    return CountingCache(redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0), prefix="relayed:")


async def until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("condition not reached")


@needs_redis
async def test_concurrent_mixed_commands_share_pipelines_and_get_their_own_replies(cache):
    async def caller(n: int) -> None:
        assert await cache.set(f"k{n}", f"v{n}", ttl=30)
        assert await cache.set(f"k{n}", "other", only_if_absent=True) is False
        assert await cache.get_many(f"k{n}", f"missing{n}", f"k{n}") == [f"v{n}".encode(), None, f"v{n}".encode()]
        assert [await cache.incr(f"c{n}", ttl=30), await cache.incr(f"c{n}", ttl=30)] == [1, 2]
        assert 0 < await cache.ttl(f"c{n}") <= 30
        assert await cache.delete(f"k{n}", f"c{n}") == 2
        assert await cache.get(f"k{n}") is None

    await asyncio.gather(*(caller(n) for n in range(600)))
    assert max(cache.batches) == RedisCache.BATCH_LIMIT
    assert sum(cache.batches) >= 600 * 8
    assert len(cache.batches) < 600 * 8 / 50


@needs_redis
async def test_a_failing_command_fails_only_its_caller(cache, raw):
    await raw.rpush(cache.key("list"), "x")
    await cache.set("plain", "v")
    before = len(cache.batches)
    results = await asyncio.gather(
        cache.get("plain"),
        cache.get("list"),
        cache.incr("list", ttl=30),
        cache.set("bad", None),  # type: ignore[arg-type]
        cache.get_many("plain", "list"),
        return_exceptions=True,
    )
    assert cache.batches[before] == 5  # one pipeline, from which the unencodable SET never left
    assert results[0] == b"v"
    assert isinstance(results[1], redis.ResponseError) and "WRONGTYPE" in str(results[1])
    assert isinstance(results[2], redis.ResponseError) and "WRONGTYPE" in str(results[2])
    assert isinstance(results[3], redis.DataError)
    assert results[4] == [b"v", None]  # MGET answers nil for a key of another type
    assert await cache.get("plain") == b"v"


@needs_redis
async def test_incr_loads_its_script_when_the_server_lost_it(cache, raw):
    await raw.script_flush()
    assert [await cache.incr("c", ttl=30) for _ in range(2)] == [1, 2]


@needs_redis
async def test_a_caller_cancelled_before_the_batch_leaves_is_not_sent(cache):
    first = asyncio.ensure_future(cache.set("a", "1"))
    dropped = asyncio.ensure_future(cache.set("b", "1"))
    third = asyncio.ensure_future(cache.set("c", "1"))
    await asyncio.sleep(0)  # the three are queued; the flusher runs on the next iteration
    dropped.cancel()
    assert await first and await third
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert await cache.get_many("a", "b", "c") == [b"1", None, b"1"]


@needs_redis
async def test_a_caller_cancelled_in_flight_leaves_the_others_and_the_connection_in_step(relay):
    cache = relayed_cache(relay)
    try:
        await cache.set("x", "1")
        relay.replies.clear()
        sent = relay.requests
        calls = [asyncio.ensure_future(cache.get_many("x", f"y{n}")) for n in range(3)]
        await until(lambda: relay.requests > sent)
        calls[1].cancel()
        relay.replies.set()
        assert await calls[0] == await calls[2] == [b"1", None]
        with pytest.raises(asyncio.CancelledError):
            await calls[1]
        assert cache.batches[-1] == 3
        assert await cache.get("x") == b"1"  # the cancelled caller's reply was read and dropped
    finally:
        await cache.delete("x")
        await cache.close()


async def test_an_unreachable_server_fails_every_caller_promptly():
    cache = RedisCache.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        started = time.monotonic()
        results = await asyncio.gather(*(cache.get(f"k{n}") for n in range(20)), return_exceptions=True)
        assert all(isinstance(result, redis.ConnectionError) for result in results)
        assert len({id(result) for result in results}) == 20  # each caller raises its own exception
        assert await cache.ping() is False
        assert time.monotonic() - started < 1.0
    finally:
        await cache.close()


@needs_redis
async def test_a_lost_connection_fails_its_batch_promptly_and_the_next_call_reconnects(relay):
    cache = relayed_cache(relay)
    try:
        assert await cache.set("x", "1")
        relay.replies.clear()
        sent = relay.requests
        calls = [asyncio.ensure_future(cache.get(f"k{n}")) for n in range(10)]
        await until(lambda: relay.requests > sent)
        queued_behind = asyncio.ensure_future(cache.get("x"))
        started = time.monotonic()
        await relay.stop()
        results = await asyncio.gather(*calls, queued_behind, return_exceptions=True)
        assert all(isinstance(result, redis.ConnectionError) for result in results), results
        assert time.monotonic() - started < 1.0
        with pytest.raises(redis.ConnectionError):
            await cache.get("x")  # the server is still away

        relay.replies.set()
        await relay.start()
        assert await cache.get("x") == b"1"
        assert await cache.ping() is True
    finally:
        await cache.delete("x")
        await cache.close()


@needs_redis
async def test_close_lets_queued_commands_finish(cache):
    calls = [asyncio.ensure_future(cache.set(f"k{n}", "v")) for n in range(5)]
    await asyncio.sleep(0)
    await cache.close()
    assert all(await asyncio.gather(*calls))
