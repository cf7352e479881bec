"""The Coalescer: calls made together run as one batch, each caller gets its own answer."""

import asyncio

import pytest

from app.batching import Coalescer, SharedCall


class Recorder:
    def __init__(self, *, fail_on: set[int] | None = None, delay: float = 0.0):
        self.batches: list[list[int]] = []
        self.fail_on = fail_on or set()
        self.delay = delay

    async def __call__(self, calls: list[int]) -> list[int]:
        self.batches.append(list(calls))
        await asyncio.sleep(self.delay)
        if self.fail_on & set(calls):
            raise ValueError(f"bad call among {calls}")
        return [call * 10 for call in calls]


async def test_calls_made_together_run_as_one_batch_in_order():
    run = Recorder()
    coalescer = Coalescer(run)
    assert await asyncio.gather(*(coalescer(n) for n in range(5))) == [0, 10, 20, 30, 40]
    assert run.batches == [[0, 1, 2, 3, 4]]


async def test_calls_made_while_a_batch_runs_form_the_next_batch():
    run = Recorder(delay=0.02)
    coalescer = Coalescer(run)
    first = [asyncio.create_task(coalescer(n)) for n in range(3)]
    await asyncio.sleep(0.005)  # the first batch is running
    second = [asyncio.create_task(coalescer(n)) for n in range(3, 6)]
    assert await asyncio.gather(*first, *second) == [0, 10, 20, 30, 40, 50]
    assert run.batches == [[0, 1, 2], [3, 4, 5]]


async def test_batches_are_capped():
    run = Recorder()
    coalescer = Coalescer(run, max_batch=4)
    await asyncio.gather(*(coalescer(n) for n in range(10)))
    assert [len(b) for b in run.batches] == [4, 4, 2]


async def test_a_failing_call_fails_only_its_caller():
    run = Recorder(fail_on={2})
    coalescer = Coalescer(run)
    results = await asyncio.gather(*(coalescer(n) for n in range(4)), return_exceptions=True)
    assert results[:2] == [0, 10] and results[3] == 30
    assert isinstance(results[2], ValueError)
    # The failed batch, then each call alone.
    assert run.batches == [[0, 1, 2, 3], [0], [1], [2], [3]]


async def test_a_caller_that_leaves_does_not_stop_the_batch_or_the_others():
    run = Recorder(delay=0.02)
    coalescer = Coalescer(run)
    leaving = asyncio.create_task(coalescer(1))
    staying = asyncio.create_task(coalescer(2))
    await asyncio.sleep(0.005)
    leaving.cancel()
    assert await staying == 20
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert run.batches == [[1, 2]]  # the departed caller's call still ran


async def test_a_wrong_number_of_results_fails_every_caller():
    async def short(calls: list[int]) -> list[int]:
        return calls[:-1]

    coalescer = Coalescer(short)
    results = await asyncio.gather(coalescer(1), coalescer(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_drain_waits_for_calls_in_flight():
    run = Recorder(delay=0.02)
    coalescer = Coalescer(run)
    task = asyncio.create_task(coalescer(7))
    await asyncio.sleep(0)
    await coalescer.drain()
    assert run.batches == [[7]] and task.done() and task.result() == 70


async def test_two_batches_in_flight_overlap_and_the_next_waits_for_a_slot():
    running, most = 0, 0

    async def run(calls: list[int]) -> list[int]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1
        return [call * 10 for call in calls]

    coalescer = Coalescer(run, in_flight=2)
    first = [asyncio.create_task(coalescer(n)) for n in range(3)]
    await asyncio.sleep(0.005)  # the first batch is running
    second = asyncio.create_task(coalescer(3))  # starts a second batch at once
    await asyncio.sleep(0.005)
    third = [asyncio.create_task(coalescer(n)) for n in (4, 5)]  # both slots busy: they wait
    assert await asyncio.gather(*first, second, *third) == [0, 10, 20, 30, 40, 50]
    assert most == 2


async def test_a_call_made_as_the_last_batch_ends_is_not_stranded():
    """The runner leaves the set as it finishes, so a call made right then starts a new one."""
    run = Recorder()
    coalescer = Coalescer(run)

    async def one_after_another() -> list[int]:
        return [await coalescer(n) for n in range(20)]

    assert await asyncio.wait_for(one_after_another(), timeout=1) == [n * 10 for n in range(20)]


async def test_drain_waits_for_every_batch_in_flight():
    run = Recorder(delay=0.02)
    coalescer = Coalescer(run, in_flight=2)
    calls = [asyncio.create_task(coalescer(0))]
    await asyncio.sleep(0.005)
    calls.append(asyncio.create_task(coalescer(1)))
    await asyncio.sleep(0)
    await coalescer.drain()
    assert all(call.done() for call in calls) and run.batches == [[0], [1]]


# ----------------------------------------------------------------------------- SharedCall
class Reader:
    def __init__(self, *, fail: bool = False):
        self.runs: list[str] = []
        self.fail = fail
        self.release = asyncio.Event()

    async def __call__(self, key: str) -> str:
        self.runs.append(key)
        await self.release.wait()
        if self.fail:
            raise ValueError("the store did not answer")
        return key.upper()


async def test_calls_with_one_key_made_while_it_runs_share_that_run():
    read = Reader()
    shared = SharedCall(read)
    callers = [asyncio.create_task(shared("a")) for _ in range(20)] + [asyncio.create_task(shared("b"))]
    await asyncio.sleep(0)
    read.release.set()
    assert await asyncio.gather(*callers) == ["A"] * 20 + ["B"]
    assert read.runs == ["a", "b"]
    assert await shared("a") == "A" and read.runs == ["a", "b", "a"]  # a later call runs again


async def test_a_caller_that_gives_up_does_not_cancel_the_run_for_the_others():
    read = Reader()
    shared = SharedCall(read)
    leaving, staying = asyncio.create_task(shared("a")), asyncio.create_task(shared("a"))
    await asyncio.sleep(0)
    leaving.cancel()
    await asyncio.sleep(0)
    read.release.set()
    assert await staying == "A"
    assert leaving.cancelled() and read.runs == ["a"]


async def test_a_failed_run_fails_every_caller_and_the_next_call_runs_again():
    read = Reader(fail=True)
    shared = SharedCall(read)
    callers = [asyncio.create_task(shared("a")) for _ in range(3)]
    await asyncio.sleep(0)
    read.release.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(outcome, ValueError) for outcome in outcomes)
    read.fail = False
    assert await shared("a") == "A" and read.runs == ["a", "a"]
