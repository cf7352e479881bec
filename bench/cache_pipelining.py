"""Client CPU per Redis command: RedisCache (auto-pipelined) against one redis-py call per command.

    python bench/cache_pipelining.py                          # redis://127.0.0.1:6379/12, 50 tasks
    python bench/cache_pipelining.py --url redis://127.0.0.1:6379/9 --tasks 50 --seconds 5

`direct` issues the calls the adapter made before it pipelined (mget, set px nx, incr + pexpire nx in
MULTI/EXEC); `pipelined` is app.adapters.cache.RedisCache. Each runs `--tasks` concurrent callers
doing get_many(2 keys) + set(nx, ttl) in a loop, then, per command, one caller with the event loop
idle between its commands (a lone request). The two alternate for `--rounds` and the medians are
shown. CPU is this process's time.process_time(), so the Redis server's own work is not counted.
The keys live under a random prefix and are deleted at the end; the database is not flushed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `app` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as redis

from app.adapters.cache import RedisCache


class DirectCache:
    """One redis-py call per command: what RedisCache did before it pipelined."""

    def __init__(self, client: Any, prefix: str):
        self._client = client
        self._prefix = prefix

    async def get_many(self, *keys: str) -> list[bytes | None]:
        return list(await self._client.mget([self._prefix + k for k in keys]))

    async def set(self, key: str, value: str, *, ttl: float, only_if_absent: bool = False) -> bool:
        return bool(await self._client.set(self._prefix + key, value, px=int(ttl * 1000), nx=only_if_absent))

    async def incr(self, key: str, *, ttl: float) -> int:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(self._prefix + key)
            pipe.pexpire(self._prefix + key, int(ttl * 1000), nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def close(self) -> None:
        await self._client.aclose()


async def concurrent(cache: Any, tasks: int, seconds: float) -> tuple[float, float]:
    """(commands/s, client CPU µs per command) for `tasks` callers looping get_many + set nx."""
    commands = 0
    stop = time.perf_counter() + seconds

    async def caller(n: int) -> None:
        nonlocal commands
        i = 0
        while time.perf_counter() < stop:
            await cache.get_many(f"session:{n}", f"profile:{n}")
            await cache.set(f"nonce:{n}:{i}", "1", ttl=30, only_if_absent=True)
            commands += 2
            i += 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller(n) for n in range(tasks)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return commands / wall, cpu / commands * 1e6


async def idle() -> None:
    """Let the event loop go round a few times, as a request does between its cache commands."""
    for _ in range(3):
        await asyncio.sleep(0)


async def sequential(call: Callable[[int], Awaitable[Any]], count: int) -> tuple[float, float]:
    """(latency µs, client CPU µs) per command for one caller, the loop idle between its commands."""
    for i in range(200):
        await call(i)
        await idle()
    latency = 0.0
    cpu = time.process_time()
    for i in range(count):
        started = time.perf_counter()
        await call(i)
        latency += time.perf_counter() - started
        await idle()
    cpu = time.process_time() - cpu
    idle_cpu = time.process_time()
    for _ in range(count):
        await idle()
    cpu -= time.process_time() - idle_cpu
    return latency / count * 1e6, cpu / count * 1e6


async def measure(name: str, url: str, tasks: int, seconds: float, count: int) -> dict[str, tuple[float, float]]:
    """Row label -> (commands/s or latency µs, CPU µs per command) for one implementation."""
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    client = redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
    cache: Any = DirectCache(client, prefix) if name == "direct" else RedisCache(client, prefix=prefix)
    lone = {
        "get_many": lambda i: cache.get_many("session:0", "profile:0"),
        "set nx": lambda i: cache.set(f"lone:{i}", "1", ttl=30, only_if_absent=True),
        "incr": lambda i: cache.incr("counter", ttl=30),
    }
    try:
        await cache.get_many("warm-up")
        rows = {f"{tasks} tasks get_many+set nx": await concurrent(cache, tasks, seconds)}
        for label, call in lone.items():
            rows[f"1 caller {label}"] = await sequential(call, count)
        return rows
    finally:
        async for key in client.scan_iter(match=prefix + "*", count=1000):
            await client.delete(key)
        await cache.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--count", type=int, default=3000, help="commands per sequential measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each; medians are shown")
    args = parser.parse_args()
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for name in ("direct", "pipelined"):
            for label, row in asyncio.run(measure(name, args.url, args.tasks, args.seconds, args.count)).items():
                runs.setdefault((name, label), []).append(row)
    print(f"{'':10} {'':26} {'commands/s | latency µs':>24} {'CPU µs/command':>15}")
    for (name, label), rows in sorted(runs.items(), key=lambda item: (item[0][1], item[0][0])):
        speed = statistics.median(row[0] for row in rows)
        cpu = statistics.median(row[1] for row in rows)
        print(f"{name:10} {label:26} {speed:24.1f} {cpu:15.1f}")


if __name__ == "__main__":
    main()
