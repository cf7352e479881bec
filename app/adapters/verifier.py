"""PresentationVerifier adapters: LC1 codes checked inline, or in a helper process in batches.

Checking a code costs ~150-250 µs of CPU, most of it ES256. ProcessVerifier moves that work to
`python -m app.lc1.worker` on another core: codes arriving together travel as one frame over a
pipe (app.batching.Coalescer keeps one batch in flight while the next collects), and the event
loop pays only for encoding the frame and rebuilding the answers. A thread would not do: every
return from a verifier thread waits up to the GIL switch interval.

Faults never fail an inspection. Whatever the child cannot answer (not running, died, wrote
garbage, too slow) is verified inline, the child is killed, and a new one is started on a later
call, at most once per `restart_interval`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from subprocess import PIPE
from typing import Any, cast

from app.batching import Coalescer
from app.lc1 import worker
from app.lc1.trust_list import TrustList, trust_list_payload
from app.lc1.verifier import MAX_PAYLOAD_CHARS, VerificationResult, verify

log = logging.getLogger("app.adapters.verifier")

_Call = tuple[str, TrustList, datetime, int]
# `python -m app.lc1.worker` must find this very `app` package, whatever the service's cwd.
_ROOT = Path(worker.__file__).resolve().parents[2]
_TRUST_LISTS_KEPT = 4
_STOP_GRACE_SECONDS = 1.0


class InlineVerifier:
    """Verifies on the event loop: for tests, tools, and as the fallback of ProcessVerifier."""

    async def verify(self, payload: str, trust_list: TrustList, now: datetime, *, skew: int) -> VerificationResult:
        return verify(payload, trust_list, now, skew=skew)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class ProcessVerifier:
    """Verifies in a helper process; answers exactly as `verify` would, inline when it must.

    frames_sent and codes_verified_inline count batches that went to the child and codes the
    child could not answer (faults and restarts), for tests and metrics.
    """

    def __init__(
        self,
        *,
        timeout: float = 2.0,
        restart_interval: float = 5.0,
        start_timeout: float = 10.0,
        max_batch: int = 200,
        command: Sequence[str] = (sys.executable, "-m", worker.__name__),
    ):
        self._command = tuple(command)  # tests start misbehaving helpers through it
        self._timeout = timeout
        self._restart_interval = restart_interval
        self._start_timeout = start_timeout
        # Two batches in flight: the child starts the next as soon as it has answered one.
        self._coalescer: Coalescer[_Call, VerificationResult] = Coalescer(
            self._run_batch, max_batch=max_batch, in_flight=2
        )
        self._running = False
        self._child: _Child | None = None
        self._spawning: asyncio.Task[None] | None = None
        self._next_spawn_at = 0.0
        self._spawn_failure_logged = False
        self.frames_sent = 0
        self.codes_verified_inline = 0

    @property
    def pid(self) -> int | None:
        """The helper process serving calls now, if any."""
        return self._child.pid if self._child is not None else None

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._next_spawn_at = 0.0
        await self._spawn()

    async def stop(self) -> None:
        self._running = False
        spawning, self._spawning = self._spawning, None
        if spawning is not None:
            spawning.cancel()
            with suppress(asyncio.CancelledError):
                await spawning
        child, self._child = self._child, None
        if child is not None:
            await child.close(grace=_STOP_GRACE_SECONDS)

    async def verify(self, payload: str, trust_list: TrustList, now: datetime, *, skew: int) -> VerificationResult:
        if self._child is None:
            self._restart_later()
            if self._running:
                self.codes_verified_inline += 1
            return verify(payload, trust_list, now, skew=skew)
        if not (isinstance(payload, str) and payload.isascii() and len(payload) <= MAX_PAYLOAD_CHARS):
            # Refused before any cryptography (too large, or not base45), cheaper than a trip.
            return verify(payload, trust_list, now, skew=skew)
        return await self._coalescer((payload, trust_list, now, skew))

    # ----------------------------------------------------------------------- batches
    async def _run_batch(self, calls: list[_Call]) -> list[VerificationResult]:
        child = self._child
        if child is None:
            return self._inline(calls)
        self.frames_sent += 1
        try:
            answers = await child.ask(calls, within=self._timeout)
            results = worker.unpack_results(answers, [trust_list for _, trust_list, _, _ in calls])
        except _ChildGone as exc:
            self._fault(child, str(exc))
            return self._inline(calls)
        except Exception as exc:  # an answer that does not fit the batch, or a frame we could not build
            self._fault(child, f"failed a batch ({type(exc).__name__})")
            return self._inline(calls)
        failed = [index for index, result in enumerate(results) if result is None]
        if failed:
            log.warning("the LC1 verifier process could not check %d codes; they were checked inline", len(failed))
            for index in failed:
                results[index] = self._inline([calls[index]])[0]
        return results  # type: ignore[return-value]  # every None was replaced

    def _inline(self, calls: list[_Call]) -> list[VerificationResult]:
        self.codes_verified_inline += len(calls)
        return [verify(payload, trust_list, now, skew=skew) for payload, trust_list, now, skew in calls]

    def _fault(self, child: _Child, why: str) -> None:
        child.kill()
        if child is not self._child:  # already replaced, or stopping
            return
        self._child = None
        self._next_spawn_at = time.monotonic() + self._restart_interval
        log.warning("the LC1 verifier process (pid %s) %s; checking codes inline until it is restarted", child.pid, why)

    # ----------------------------------------------------------------------- the child's life
    def _restart_later(self) -> None:
        if self._running and self._spawning is None and time.monotonic() >= self._next_spawn_at:
            self._spawning = asyncio.create_task(self._spawn())
            self._spawning.add_done_callback(self._spawned)

    def _spawned(self, task: asyncio.Task[None]) -> None:
        if self._spawning is task:
            self._spawning = None

    async def _spawn(self) -> None:
        self._next_spawn_at = time.monotonic() + self._restart_interval
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _ChildProtocol(loop),
                *self._command,
                stdin=PIPE,
                stdout=PIPE,
                stderr=None,
                cwd=_ROOT,
            )
        except Exception as exc:  # any failure to start means the same: verify inline
            self._spawn_failed(f"could not be started ({type(exc).__name__})")
            return
        child = _Child(transport, protocol)
        try:
            done, _ = await asyncio.wait([protocol.ready], timeout=self._start_timeout)
        except asyncio.CancelledError:
            child.kill()
            raise
        why = protocol.ready.result() if done else f"did not start within {self._start_timeout:g} s"
        if why is not None or not self._running:
            child.kill()
            if why is not None:
                self._spawn_failed(why)
            return
        self._child = child
        self._spawn_failure_logged = False

    def _spawn_failed(self, why: str) -> None:
        if not self._spawn_failure_logged:
            self._spawn_failure_logged = True
            log.warning("the LC1 verifier process %s; checking codes inline", why)


class _ChildGone(Exception):
    """The child stopped answering: it exited, closed its output, or broke the framing."""


class _ChildProtocol(asyncio.SubprocessProtocol):
    """Frames from the child's stdout. A fault arrives as a value (why, or _ChildGone), never as a
    future's exception, so none is left unretrieved when nobody waits any more."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._frames = worker.FrameReader()
        self.ready: asyncio.Future[str | None] = loop.create_future()  # None, or why it failed
        self.exited: asyncio.Future[None] = loop.create_future()
        # One per batch sent and not yet answered, oldest first: the child answers in order.
        self.answers: deque[asyncio.Future[Any]] = deque()
        self.broken: str | None = None

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        if self.broken is not None:
            return
        try:
            messages = self._frames.feed(data)  # type: ignore[arg-type]  # pipes carry bytes
        except worker.FrameError:
            self._break("wrote garbage")
            return
        for message in messages:
            self._deliver(message)

    def _deliver(self, message: Any) -> None:
        if not self.ready.done():
            if message == [worker.READY, []]:
                self.ready.set_result(None)
            else:
                self._break("wrote garbage before it was ready")
            return
        if not self.answers:
            self._break("answered a batch nobody asked for")
            return
        answer = self.answers.popleft()
        if not answer.done():  # else it timed out: the child is being killed anyway
            answer.set_result(message)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._break("closed its output")

    def process_exited(self) -> None:
        self._break("exited")
        if not self.exited.done():
            self.exited.set_result(None)

    def give_up(self, answer: asyncio.Future[Any], why: str) -> None:
        if not answer.done():
            answer.set_result(_ChildGone(why))

    def _break(self, why: str) -> None:
        if self.broken is None:
            self.broken = why
        if not self.ready.done():
            self.ready.set_result(why)
        while self.answers:
            answer = self.answers.popleft()
            if not answer.done():
                answer.set_result(_ChildGone(self.broken))


class _Child:
    """One helper process, and the trust lists it has been sent."""

    def __init__(self, transport: asyncio.SubprocessTransport, protocol: _ChildProtocol):
        self.transport = transport
        self.protocol = protocol
        self.pid: int = transport.get_pid()
        self._stdin = cast(asyncio.WriteTransport, transport.get_pipe_transport(0))
        self._seq = 0
        # id(trust list) -> (version, the list): the strong reference keeps the id from being reused.
        self._lists: dict[int, tuple[int, TrustList]] = {}
        self._next_version = 0
        self._forget: list[int] = []

    async def ask(self, calls: list[_Call], *, within: float) -> list[Any]:
        """Send one batch and wait for its answers; raises _ChildGone."""
        protocol = self.protocol
        if protocol.broken is not None:
            raise _ChildGone(protocol.broken)
        frame = self._request(calls)
        seq = self._seq
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        protocol.answers.append(answer)
        # A timer handle, not asyncio.timeout: cheaper, and the Coalescer's task is never cancelled.
        timer = loop.call_later(within, protocol.give_up, answer, f"did not answer within {within:g} s")
        self._stdin.write(frame)
        try:
            message = await answer
        finally:
            timer.cancel()
        if isinstance(message, _ChildGone):
            raise message
        answered, answers = message
        if answered != seq:
            raise worker.FrameError("answer to another batch")
        return answers  # type: ignore[no-any-return]

    def _request(self, calls: list[_Call]) -> bytes:
        lists = self._lists
        new: dict[int, Any] = {}  # trust lists this child has not seen yet
        items: list[Any] = []
        for payload, trust_list, now, skew in calls:
            known = lists.get(id(trust_list))
            if known is None:
                self._next_version += 1
                known = lists[id(trust_list)] = (self._next_version, trust_list)
                new[self._next_version] = _payload_or_none(trust_list)
            items += (known[0], payload, now.timestamp(), skew)
        forget, self._forget = self._forget, []
        # Evicted lists stay in the child for this frame (its items may use them); forgotten with the next.
        while len(lists) > _TRUST_LISTS_KEPT:
            self._forget.append(lists.pop(next(iter(lists)))[0])
        self._seq += 1
        return worker.encode_frame([self._seq, new, forget, items])

    def kill(self) -> None:
        with suppress(ProcessLookupError):
            self.transport.kill()
        self.transport.close()

    async def close(self, *, grace: float) -> None:
        """End of input first, so the child finishes its batch and exits; then SIGKILL; then reap."""
        self._stdin.close()
        await asyncio.wait([self.protocol.exited], timeout=grace)
        self.kill()
        await asyncio.wait([self.protocol.exited], timeout=grace)


def _payload_or_none(trust_list: TrustList) -> Any:
    try:
        return trust_list_payload(trust_list)
    except Exception:  # a key the document format cannot hold: the child answers ERROR, we verify inline
        log.warning("a trust list could not be sent to the LC1 verifier process", exc_info=True)
        return None
