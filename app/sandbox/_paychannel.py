"""What the two payment-channel sandboxes share: fault knobs and the notify dispatcher.

The WeChat Pay and Alipay sandboxes differ in protocol but fail the same ways: a call can time
out or answer 5xx, a notify can be duplicated, delayed, reordered, dropped or forged, and a bill
can carry mismatches. Tests set these knobs over HTTP (POST /sandbox/<channel>/faults) and read
back what was delivered (GET /sandbox/<channel>/notifies).

POST /sandbox/<channel>/faults takes (every group optional; calls and notifies add up, bill replaces):
    {"calls": [{"operation": "create" | "query" | "close" | "refund" | "query_refund" | "bill"
                             | "download" | "certificates" (WeChat Pay) | "*",
                "fault": "timeout" | "timeout_after_commit" | "server_error" | "bad_gateway" | "slow"
                         | "refuse",
                "count": 1 (null: until cleared), "probability": 1.0, "hang_seconds": 30,
                "code": null, "message": null (refuse: the channel's error code and message; each
                sandbox has a default)}],
     "notifies": [{"kind": "duplicate" | "delay" | "drop" | "forge" | "reorder",
                   "order_no": null (any order), "count": 1, "probability": 1.0,
                   "copies": 1 (duplicate), "seconds": 60 (delay, or the longest reorder hold, in
                   channel time), "variant": "bad_signature" (forge; see FORGE_VARIANTS)}],
     "bill": {"missing": [order_no], "amount_diff": {order_no: fen}, "duplicate": [order_no],
              "extra": 0, "corrupt_hash": false}}
A forged notify is sent once, before the genuine one; add a "drop" to suppress the genuine one.
DELETE /sandbox/<channel>/faults clears every knob; POST /sandbox/<channel>/reset clears all state.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.adapters.http import HttpClient, HttpFailure, HttpResponse, HttpTimeout

SHANGHAI = ZoneInfo("Asia/Shanghai")

CALL_FAULTS = ("timeout", "timeout_after_commit", "server_error", "bad_gateway", "slow", "refuse")
NOTIFY_FAULTS = ("duplicate", "delay", "drop", "forge", "reorder")


class FaultSpecError(ValueError):
    """A fault knob request the sandbox does not understand."""


@dataclass
class CallFault:
    """Make calls of one operation ("*" for any) time out or fail.

    timeout: hang before doing anything; timeout_after_commit: do the work, then hang (the
    caller cannot know it happened); server_error: the channel's own "system busy" answer,
    without doing anything; bad_gateway: a bare HTTP 502 from the proxy in front of it;
    slow: wait hang_seconds, then answer normally; refuse: the channel's own final refusal (its
    error `code` / Alipay `sub_code`, and message), without doing anything.
    """

    operation: str
    fault: str
    remaining: int | None = 1  # None: until reset
    probability: float = 1.0
    hang_seconds: float = 30.0  # real seconds: the client's own timeout must fire first
    code: str | None = None  # refuse: the channel's error code (None: the sandbox's default)
    message: str | None = None  # refuse: its message


@dataclass
class NotifyFault:
    """Bend the delivery of notifies (optionally only one order's)."""

    kind: str
    remaining: int | None = 1
    probability: float = 1.0
    order_no: str | None = None
    copies: int = 1  # duplicate: extra copies sent alongside the genuine one
    seconds: float = 60.0  # delay: channel-time before the first attempt; reorder: longest hold
    variant: str = "bad_signature"  # forge: which forgery precedes the genuine notify


@dataclass
class BillFaults:
    """Differences between the channel's bill and what really happened."""

    missing: set[str] = field(default_factory=set)  # paid orders left out of the bill
    amount_diff: dict[str, int] = field(default_factory=dict)  # order_no -> fen added
    duplicate: set[str] = field(default_factory=set)  # orders paid twice on the bill
    extra: int = 0  # payments on the bill that we never created
    corrupt_hash: bool = False  # the advertised hash does not match the file


def _count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FaultSpecError(f"{name} must be a positive integer or null")
    return value


def _objects(value: Any, name: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise FaultSpecError(f"{name} must be a list of objects")
    return value


def _probability(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise FaultSpecError("probability must be in (0, 1]")
    return float(value)


class FaultBook:
    def __init__(
        self, *, operations: tuple[str, ...], forge_variants: tuple[str, ...], rng: random.Random | None = None
    ):
        self.operations = operations
        self.forge_variants = forge_variants
        self.calls: list[CallFault] = []
        self.notifies: list[NotifyFault] = []
        self.bill = BillFaults()
        self._rng = rng or random.Random()

    def clear(self) -> None:
        self.calls.clear()
        self.notifies.clear()
        self.bill = BillFaults()

    def configure(self, spec: Mapping[str, Any]) -> None:
        """Add the knobs in spec; validates everything before changing anything."""
        if not isinstance(spec, Mapping):
            raise FaultSpecError("send a JSON object")
        unknown = set(spec) - {"calls", "notifies", "bill"}
        if unknown:
            raise FaultSpecError(f"unknown fault groups: {sorted(unknown)}")
        calls = [self._call(item) for item in _objects(spec.get("calls", []), "calls")]
        notifies = [self._notify(item) for item in _objects(spec.get("notifies", []), "notifies")]
        bill = self._bill(spec["bill"]) if "bill" in spec else None
        self.calls.extend(calls)
        self.notifies.extend(notifies)
        if bill is not None:
            self.bill = bill

    def _call(self, item: Mapping[str, Any]) -> CallFault:
        operation, fault = item.get("operation", "*"), item.get("fault")
        if operation != "*" and operation not in self.operations:
            raise FaultSpecError(f"operation must be * or one of {list(self.operations)}")
        if fault not in CALL_FAULTS:
            raise FaultSpecError(f"fault must be one of {list(CALL_FAULTS)}")
        hang = item.get("hang_seconds", 30.0)
        if isinstance(hang, bool) or not isinstance(hang, (int, float)) or not 0 <= hang <= 3600:
            raise FaultSpecError("hang_seconds must be a number from 0 to 3600")
        code, message = item.get("code"), item.get("message")
        for name, value, limit in (("code", code, 64), ("message", message, 200)):
            if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= limit):
                raise FaultSpecError(f"{name} must be a string of 1 to {limit} characters")
        return CallFault(
            operation=operation, fault=fault, remaining=_count(item.get("count", 1), "count"),
            probability=_probability(item.get("probability", 1.0)), hang_seconds=float(hang),
            code=code, message=message,
        )

    def _notify(self, item: Mapping[str, Any]) -> NotifyFault:
        kind = item.get("kind")
        if kind not in NOTIFY_FAULTS:
            raise FaultSpecError(f"kind must be one of {list(NOTIFY_FAULTS)}")
        variant = item.get("variant", self.forge_variants[0])
        if kind == "forge" and variant not in self.forge_variants:
            raise FaultSpecError(f"variant must be one of {list(self.forge_variants)}")
        copies, seconds = item.get("copies", 1), item.get("seconds", 60.0)
        if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= 20:
            raise FaultSpecError("copies must be between 1 and 20")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 86_400:
            raise FaultSpecError("seconds must be a number from 0 to 86400")
        order_no = item.get("order_no")
        if order_no is not None and not isinstance(order_no, str):
            raise FaultSpecError("order_no must be a string")
        return NotifyFault(
            kind=kind, remaining=_count(item.get("count", 1), "count"),
            probability=_probability(item.get("probability", 1.0)), order_no=order_no,
            copies=copies, seconds=float(seconds), variant=variant,
        )

    @staticmethod
    def _bill(item: Mapping[str, Any]) -> BillFaults:
        if not isinstance(item, Mapping):
            raise FaultSpecError("bill must be an object")
        unknown = set(item) - {"missing", "amount_diff", "duplicate", "extra", "corrupt_hash"}
        if unknown:
            raise FaultSpecError(f"unknown bill faults: {sorted(unknown)}")
        missing, duplicate = item.get("missing", []), item.get("duplicate", [])
        amount_diff, extra = item.get("amount_diff", {}), item.get("extra", 0)
        if not isinstance(missing, list) or not isinstance(duplicate, list) or not all(
            isinstance(v, str) for v in [*missing, *duplicate]
        ):
            raise FaultSpecError("missing and duplicate are lists of order numbers")
        if not isinstance(amount_diff, Mapping) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v != 0 for v in amount_diff.values()
        ):
            raise FaultSpecError("amount_diff maps order numbers to a non-zero fen difference")
        if isinstance(extra, bool) or not isinstance(extra, int) or not 0 <= extra <= 1000:
            raise FaultSpecError("extra must be between 0 and 1000")
        if not isinstance(item.get("corrupt_hash", False), bool):
            raise FaultSpecError("corrupt_hash must be true or false")
        return BillFaults(
            missing=set(missing), amount_diff=dict(amount_diff), duplicate=set(duplicate),
            extra=extra, corrupt_hash=bool(item.get("corrupt_hash", False)),
        )

    def take_call_fault(self, operation: str) -> CallFault | None:
        for fault in self.calls:
            if fault.operation not in ("*", operation) or self._rng.random() >= fault.probability:
                continue
            self._consume(self.calls, fault)
            return fault
        return None

    def take_notify_faults(self, order_no: str) -> list[NotifyFault]:
        taken = []
        for fault in list(self.notifies):
            if fault.order_no not in (None, order_no) or self._rng.random() >= fault.probability:
                continue
            self._consume(self.notifies, fault)
            taken.append(fault)
        return taken

    @staticmethod
    def _consume(rules: list[Any], rule: Any) -> None:
        if rule.remaining is None:
            return
        rule.remaining -= 1
        if rule.remaining <= 0:
            rules.remove(rule)

    def describe(self) -> dict[str, Any]:
        bill = asdict(self.bill)
        bill["missing"], bill["duplicate"] = sorted(bill["missing"]), sorted(bill["duplicate"])
        return {
            "calls": [asdict(f) for f in self.calls],
            "notifies": [asdict(f) for f in self.notifies],
            "bill": bill,
        }


async def hang(fault: CallFault) -> None:
    await asyncio.sleep(fault.hang_seconds)


# --------------------------------------------------------------------------- notify delivery
@dataclass(frozen=True)
class SignedNotify:
    headers: dict[str, str]
    body: bytes
    content_type: str


@dataclass
class Delivery:
    """One HTTP attempt to deliver a notify, as the test harness reads it back."""

    seq: int
    order_no: str
    event_id: str
    kind: str  # genuine, duplicate, forged:<variant>
    attempt: int
    at: str
    status: int | None = None
    accepted: bool = False
    error: str | None = None


@dataclass
class NotifyJob:
    """A notify to deliver. `sign()` builds a freshly signed copy for each attempt."""

    order_no: str
    event_id: str
    url: str
    sign: Callable[[], SignedNotify]
    forge: Callable[[str], SignedNotify]


class NotifyDispatcher:
    """Delivers notifies with the channel's retry schedule, bent by the fault book."""

    def __init__(
        self,
        *,
        schedule: tuple[float, ...],
        faults: FaultBook,
        accepted: Callable[[HttpResponse], bool],
        time_compression: float = 1.0,
        timeout: float = 5.0,
        log_size: int = 200_000,
    ):
        self.schedule = schedule
        self.faults = faults
        self.accepted = accepted
        self.time_compression = time_compression
        self.timeout = timeout
        self.log: deque[Delivery] = deque(maxlen=log_size)
        self._seq = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._held: list[asyncio.Event] = []
        self._client = HttpClient()

    def channel_sleep(self, channel_seconds: float) -> Awaitable[None]:
        """Sleep for a span of channel time, compressed for tests."""
        return asyncio.sleep(channel_seconds / self.time_compression)

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def submit(self, job: NotifyJob) -> None:
        faults = self.faults.take_notify_faults(job.order_no)
        self.spawn(self._run(job, faults))

    async def _run(self, job: NotifyJob, faults: list[NotifyFault]) -> None:
        kinds = {f.kind: f for f in faults}
        for forged in (f for f in faults if f.kind == "forge"):
            await self._attempt(job, job.forge(forged.variant), kind=f"forged:{forged.variant}", attempt=1)
        if "drop" in kinds:
            self._record(job, kind="dropped", attempt=0, status=None, accepted=False, error="dropped")
            return
        if "delay" in kinds:
            await self.channel_sleep(kinds["delay"].seconds)
        held = "reorder" in kinds
        if held:
            # Held back until the next notify has had its first attempt (or the hold runs out).
            released = asyncio.Event()
            self._held.append(released)
            try:
                await asyncio.wait_for(released.wait(), kinds["reorder"].seconds / self.time_compression)
            except TimeoutError:
                self._held = [e for e in self._held if e is not released]
        if "duplicate" in kinds:
            for _ in range(kinds["duplicate"].copies):
                self.spawn(self._attempt(job, job.sign(), kind="duplicate", attempt=1))
        delivered = await self._attempt(job, job.sign(), kind="genuine", attempt=1)
        if not held:
            self._release_held()
        if delivered:
            return
        for attempt, wait in enumerate(self.schedule, start=2):
            await self.channel_sleep(wait)
            if await self._attempt(job, job.sign(), kind="genuine", attempt=attempt):
                return

    def _release_held(self) -> None:
        held, self._held = self._held, []
        for released in held:
            released.set()

    async def _attempt(self, job: NotifyJob, notify: SignedNotify, *, kind: str, attempt: int) -> bool:
        headers = {**notify.headers, "Content-Type": notify.content_type}
        try:
            response = await self._client.request("POST", job.url, content=notify.body, headers=headers,
                                                  timeout=self.timeout)
        except HttpTimeout:
            self._record(job, kind=kind, attempt=attempt, status=None, accepted=False, error="timeout")
            return False
        except HttpFailure as exc:
            self._record(job, kind=kind, attempt=attempt, status=None, accepted=False, error=exc.reason)
            return False
        accepted = self.accepted(response)
        self._record(job, kind=kind, attempt=attempt, status=response.status, accepted=accepted)
        return accepted

    def _record(self, job: NotifyJob, *, kind: str, attempt: int, status: int | None,
                accepted: bool, error: str | None = None) -> None:
        self.log.append(Delivery(
            seq=next(self._seq), order_no=job.order_no, event_id=job.event_id, kind=kind,
            attempt=attempt, at=datetime.now(UTC).isoformat(), status=status, accepted=accepted,
            error=error,
        ))

    def deliveries(self, order_no: str | None = None) -> list[dict[str, Any]]:
        return [asdict(d) for d in self.log if order_no is None or d.order_no == order_no]

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.close()

    def reset(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._held.clear()
        self.log.clear()


def now_utc() -> datetime:
    return datetime.now(UTC)


def shanghai_day(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).date().isoformat()
