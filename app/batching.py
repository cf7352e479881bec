"""Calls that arrive together run as one batch: group commit for writes, one query for reads.

Under load many requests reach the same database step in the same moment. Each of them paying
for its own transaction (or its own round trip) costs far more CPU than the work itself, and on
SQLite they queue for the one connection anyway. A Coalescer collects the calls made while its
previous batch is running (or within the same event-loop turn), hands them to `run` as one
list, and answers every caller with its own result. A caller is answered only after its batch
has finished, so nothing is acknowledged before it is committed.

With `in_flight=2` a second batch may start while the first runs: a helper process then always
has its next batch waiting, and one group commit's WAL flush overlaps the next group's queries.

If a batch fails, its calls are run again one by one, so one bad call (a unique-key clash, say)
fails only its own caller. `run` must therefore be safe to repeat after a failure: keep it to
work that rolls back with the transaction.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

Call = TypeVar("Call")
Result = TypeVar("Result")
Key = TypeVar("Key", bound=Hashable)

log = logging.getLogger("app.batching")


class Coalescer(Generic[Call, Result]):
    def __init__(
        self, run: Callable[[list[Call]], Awaitable[Sequence[Result]]], *, max_batch: int = 200, in_flight: int = 1
    ):
        self._run = run
        self._max_batch = max_batch
        # Batches that may run at once: 1 for a database step (one group commit after another);
        # 2 keeps a helper process busy with the next batch while the loop reads the last one.
        self._in_flight = in_flight
        self._pending: list[tuple[Call, asyncio.Future[Result]]] = []
        self._runners: set[asyncio.Task[None]] = set()

    async def __call__(self, call: Call) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((call, future))
        if len(self._runners) < self._in_flight:
            self._runners.add(asyncio.create_task(self._drain()))
        # A caller that gives up (its client hung up) stops waiting; its call still runs with
        # the batch, like a request that finishes after the client has gone.
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
                await self._run_batch(batch)
        finally:
            # At once, not in a done callback: a call made before that would run finds no runner.
            self._runners.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _run_batch(self, batch: list[tuple[Call, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._run([call for call, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            for one in batch:  # find the call that failed; the others go through
                await self._run_batch([one])
            return
        if len(results) != len(batch):
            error = RuntimeError(f"batch returned {len(results)} results for {len(batch)} calls")
            for _, future in batch:
                _settle(future, error=error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)

    async def drain(self) -> None:
        """Wait until every call made so far has run (at shutdown)."""
        while self._runners:
            await asyncio.wait(list(self._runners))


def _settle(
    future: asyncio.Future[Result], *, result: Result | None = None, error: BaseException | None = None
) -> None:
    if future.done():  # its caller stopped waiting
        if error is not None:
            log.info("a batched call failed after its caller left: %s", type(error).__name__)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]


class SharedCall(Generic[Key, Result]):
    """Calls with the same key made while one is running wait for that one's result.

    For refreshing a cached value: when it runs out under load, every request in flight would
    otherwise run its own identical query at once. The run is shielded, so a caller that gives
    up does not cancel it for the others; a failure reaches every caller, and the next call
    runs again.
    """

    def __init__(self, run: Callable[[Key], Awaitable[Result]]):
        self._run = run
        self._running: dict[Key, asyncio.Future[Result]] = {}

    async def __call__(self, key: Key) -> Result:
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(self._run(key))
            self._running[key] = running
            running.add_done_callback(functools.partial(self._finished, key))
        return await asyncio.shield(running)

    def _finished(self, key: Key, done: asyncio.Future[Result]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved: every caller may have given up before it ended
