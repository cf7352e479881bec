"""Bills and orders: look up what is owed, open an order exactly once, show it to its payer."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.config import PaymentSettings
from app.ports import (
    AgencyBill,
    AgencyError,
    BillingAgency,
    ChannelError,
    ChannelOrder,
    ChannelOrderAlreadyPaid,
    Clock,
    PaymentChannel,
)
from app.services.payments.errors import (
    AgencyUnavailable,
    BillAlreadyPaid,
    BillBeingPaid,
    BillNotFound,
    BillNotPayable,
    ChannelRefused,
    ChannelUnavailable,
    IdempotencyKeyInProgress,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    InvalidBillReference,
    OrderNotFound,
    UnknownChannel,
)
from app.services.payments.ledger import (
    CLOSED_AT_CHANNEL,
    bill_key,
    confirm_payment,
    local_iso,
    new_order_no,
    try_advance,
)
from app.services.payments.reconcile import day_bounds
from app.services.payments.reversals import reversal_view
from app.services.payments.states import MONEY_HELD_STATES, OrderStatus
from models.payments import (
    IdempotencyRecord,
    PaymentOrder,
    PaymentOrderEvent,
    PaymentReceipt,
    SettlementOutbox,
    SettlementReversal,
)

log = logging.getLogger("app.payments")

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
AGENCY_OF_BILL = {"fine": "traffic", "tax": "tax", "fee": "tax"}
# A key whose first request has not answered in this long was abandoned (longer than any request).
ABANDONED_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class PaymentRequest:
    bill_type: str
    bill_ref: str
    channel: str
    party: str | None = None  # plate or name, for fines

    def fingerprint(self) -> str:
        canonical = json.dumps(
            {"bill_type": self.bill_type, "bill_ref": self.bill_ref, "channel": self.channel,
             "party": self.party},
            sort_keys=True, ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def bill_view(bill: AgencyBill) -> dict[str, Any]:
    return {
        "bill_type": bill.bill_type,
        "bill_ref": bill.bill_ref,
        "agency": bill.agency,
        "description": bill.description,
        "payer_name_masked": bill.payer_name_masked,
        "principal": bill.principal,
        "late_fee": bill.late_fee,
        # Nothing is owed on a bill already paid (perhaps at the agency's own counter) or cancelled.
        "amount_due": bill.amount_due if bill.status == "unpaid" else 0,
        "due_date": bill.due_date.isoformat() if bill.due_date else None,
        "status": bill.status,
        "details": bill.extra,
    }


def order_view(order: PaymentOrder, receipt: PaymentReceipt | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "order_no": order.order_no,
        "bill_type": order.bill_type,
        "bill_ref": order.bill_ref,
        "channel": order.channel,
        "amount": order.amount,
        "principal": order.principal,
        "late_fee": order.late_fee,
        "status": order.status,
        "refunded_amount": order.refunded_amount,
        "expires_at": local_iso(order.expires_at),
        "paid_at": local_iso(order.paid_at),
        "settled_at": local_iso(order.settled_at),
        "created_at": local_iso(order.created_at),
        "receipt": None,
    }
    if receipt is not None:
        # voided_at: the agency cancelled the receipt (冲红) when it reversed the settlement.
        view["receipt"] = {"receipt_no": receipt.receipt_no, **receipt.data, "voided_at": local_iso(receipt.voided_at)}
    return view


class OrderDesk:
    """Bill lookups, order creation (idempotent, one live order per bill) and order reads."""

    def __init__(
        self,
        *,
        settings: PaymentSettings,
        channels: dict[str, PaymentChannel],
        agencies: dict[str, BillingAgency],
        clock: Clock,
        wake_worker: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.channels = channels
        self.agencies = agencies
        self.clock = clock
        self.wake_worker = wake_worker
        # Order creations still running for a caller who hung up (kept referenced until done).
        self._unfinished: set[asyncio.Future[Any]] = set()
        # ASCII: a configured \d must not take full-width or other scripts' digits to the agency.
        self.ref_patterns = {
            "traffic": re.compile(settings.traffic_ref_pattern, re.ASCII),
            "tax": re.compile(settings.tax_ref_pattern, re.ASCII),
        }

    # ------------------------------------------------------------------ bills
    async def lookup_bill(self, *, bill_type: str, bill_ref: str, party: str | None = None) -> AgencyBill:
        agency_name = AGENCY_OF_BILL.get(bill_type)
        if agency_name is None or agency_name not in self.agencies:
            raise InvalidBillReference("Unknown bill type.", context={"bill_type": bill_type})
        if not self.ref_patterns[agency_name].fullmatch(bill_ref):
            raise InvalidBillReference()
        try:
            bill = await self.agencies[agency_name].lookup(bill_ref, second_factor=party)
        except AgencyError as exc:
            if exc.code == "bill_not_found":
                raise BillNotFound() from None
            log.warning("agency lookup failed", extra={"agency": agency_name, "code": exc.code})
            raise AgencyUnavailable() from None
        if bill.bill_type != bill_type and not (bill_type in ("tax", "fee") and bill.agency == "tax"):
            raise BillNotFound()
        return bill

    async def find_fine(self, *, decision_no: str, party: str) -> dict[str, Any]:
        return bill_view(await self.lookup_bill(bill_type="fine", bill_ref=decision_no, party=party))

    async def find_notice(self, *, notice_code: str) -> dict[str, Any]:
        return bill_view(await self.lookup_bill(bill_type="tax", bill_ref=notice_code))

    # ------------------------------------------------------------------ orders
    async def create_payment(
        self, *, user_id: int, payer_openid: str | None, idempotency_key: str | None, request: PaymentRequest
    ) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 201 for a new order, 200 for the payer's live order found again under a
        new key; a replay of a key answers the status and body stored for it."""
        if not idempotency_key or not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise IdempotencyKeyRequired()
        if request.channel not in self.channels:
            raise UnknownChannel(context={"channel": request.channel, "offered": sorted(self.channels)})
        # A client that hangs up cancels its request; the work it started still runs to its end
        # and stores its answer, so a retry under the same key gets that answer instead of
        # `idempotency_key_in_progress` for minutes, and no step is cut off half-way.
        work = asyncio.ensure_future(self._create_once(
            user_id=user_id, payer_openid=payer_openid, idempotency_key=idempotency_key, request=request
        ))
        self._unfinished.add(work)
        work.add_done_callback(self._forget)
        return await asyncio.shield(work)

    def _forget(self, work: asyncio.Future[Any]) -> None:
        self._unfinished.discard(work)
        if not work.cancelled():
            work.exception()  # retrieved: a caller who hung up cannot see it anyway

    async def _create_once(
        self, *, user_id: int, payer_openid: str | None, idempotency_key: str, request: PaymentRequest
    ) -> tuple[int, dict[str, Any]]:
        replay = await self._claim_key(user_id, idempotency_key, request.fingerprint())
        if replay is not None:
            return replay
        try:
            status, body = await self._open_order(user_id=user_id, payer_openid=payer_openid, request=request)
        except Exception:
            # Nothing was promised: let the client retry the same key.
            await IdempotencyRecord.filter(user_id=user_id, key=idempotency_key).delete()
            raise
        await IdempotencyRecord.filter(user_id=user_id, key=idempotency_key).update(
            response_status=status, response_body=body
        )
        return status, body

    async def _claim_key(self, user_id: int, key: str, fingerprint: str) -> tuple[int, dict[str, Any]] | None:
        now = self.clock.now()
        for _ in range(2):
            try:
                await IdempotencyRecord.create(
                    user_id=user_id, key=key, request_hash=fingerprint,
                    expires_at=now + timedelta(seconds=self.settings.idempotency_ttl),
                )
                return None
            except IntegrityError:
                record = await IdempotencyRecord.get_or_none(user_id=user_id, key=key)
                if record is None:
                    continue
                if record.expires_at <= now:
                    await IdempotencyRecord.filter(id=record.id, expires_at__lte=now).delete()
                    continue
                if record.request_hash != fingerprint:
                    raise IdempotencyKeyReused() from None
                if record.response_status is None:
                    if record.created_at < now - ABANDONED_AFTER:
                        # The first request died mid-way (a crash): it promised nothing, start over.
                        await IdempotencyRecord.filter(id=record.id, response_status=None).delete()
                        continue
                    raise IdempotencyKeyInProgress() from None
                return record.response_status, dict(record.response_body or {})
        raise IdempotencyKeyInProgress()

    async def _open_order(
        self, *, user_id: int, payer_openid: str | None, request: PaymentRequest
    ) -> tuple[int, dict[str, Any]]:
        bill = await self.lookup_bill(bill_type=request.bill_type, bill_ref=request.bill_ref, party=request.party)
        key = bill_key(bill.agency, bill.bill_ref)
        # Money taken for the bill, by us or at the agency itself (e.g. a bank counter): no order is
        # opened or handed out again, which would take the money twice.
        await self._refuse_if_paid(key, bill, user_id=user_id)
        existing = await PaymentOrder.get_or_none(live_bill_key=key)
        if existing is not None and not self._switches_channel(existing, user_id=user_id, channel=request.channel):
            return await self._resume(existing, user_id=user_id, channel=request.channel)
        if bill.status != "unpaid" or bill.amount_due <= 0:
            raise BillNotPayable(context={"status": bill.status})
        # The old order must be dead at its channel before the bill may be paid another way.
        closed_as = await self._close_at_channel(existing) if existing is not None else None
        now = self.clock.now()
        order_no = new_order_no(now)
        try:
            async with in_transaction() as conn:
                if existing is not None:
                    await self._close_replaced(existing, conn=conn, now=now, detail={
                        "channel_state": closed_as, "replaced_by": order_no, "new_channel": request.channel,
                    })
                order = await PaymentOrder.create(
                    order_no=order_no,
                    user_id=user_id,
                    payer_openid=payer_openid,
                    bill_type=bill.bill_type,
                    bill_ref=bill.bill_ref,
                    agency=bill.agency,
                    bill_key=key,
                    live_bill_key=key,
                    description=bill.description[:120],
                    channel=request.channel,
                    amount=bill.amount_due,  # from the agency, never from the client
                    principal=bill.principal,
                    late_fee=bill.late_fee,
                    status=OrderStatus.CREATED.value,
                    expires_at=now + timedelta(seconds=self.settings.order_ttl),
                    next_poll_at=now + timedelta(seconds=self.settings.created_grace),
                    using_db=conn,
                )
        except IntegrityError:
            raise BillBeingPaid() from None
        pay_params = await self._open_at_channel(order)
        return 201, {"order_no": order.order_no, "amount": order.amount, "status": order.status, "pay_params": pay_params}

    @staticmethod
    async def _refuse_if_paid(key: str, bill: AgencyBill, *, user_id: int) -> None:
        """409 bill_already_paid if an order of ours holds the bill's money or the agency says paid.

        Only the payer is named the order (context.order_no): another caller learns that the bill
        is paid, which its lookup shows anyway, but not whose payment it was."""
        held = await PaymentOrder.filter(
            bill_key=key, status__in=[s.value for s in MONEY_HELD_STATES]
        ).order_by("id").only("id", "order_no", "user_id")
        own = next((order for order in held if order.user_id == user_id), None)
        if own is not None:
            raise BillAlreadyPaid(context={"order_no": own.order_no})
        if held or bill.status == "paid":
            raise BillAlreadyPaid()

    @staticmethod
    def _switches_channel(order: PaymentOrder, *, user_id: int, channel: str) -> bool:
        """The payer of an unpaid order asks to pay its bill through the other channel."""
        return (
            order.user_id == user_id
            and order.channel != channel
            and order.status in (OrderStatus.CREATED.value, OrderStatus.PAYING.value)
        )

    async def _close_at_channel(self, order: PaymentOrder) -> str:
        """Close the payer's open order at its channel: "closed", or "missing" if it was never opened there.

        Changes nothing here unless the channel says the order was paid: then that payment is
        recorded as its notify would record it, and the bill is already paid (409)."""
        try:
            await self.channels[order.channel].close(order.order_no)
        except ChannelOrderAlreadyPaid:
            await self._adopt_payment(order)
            raise BillAlreadyPaid(context={"order_no": order.order_no}) from None
        except ChannelError as exc:
            if exc.code in CLOSED_AT_CHANNEL:
                return "closed" if exc.code == "order_closed" else "missing"
            log.warning("channel close failed", extra={"order_no": order.order_no, "code": exc.code})
            if exc.retryable:
                raise ChannelUnavailable() from None
            raise ChannelRefused(context={"code": exc.code}) from None
        return "closed"

    async def _adopt_payment(self, order: PaymentOrder) -> None:
        """The payer paid just before switching: confirm it through confirm_payment, the notify's path,
        so whichever of this, the notify and the poller comes first settles it, and only once."""
        try:
            txn = await self.channels[order.channel].query(order.order_no)
        except ChannelError:
            txn = None
        if txn is not None and txn.state == "paid" and txn.amount == order.amount:
            async with in_transaction() as conn:
                changed = await confirm_payment(order, conn=conn, now=self.clock.now(), amount=txn.amount,
                                                channel_txn_id=txn.channel_txn_id, paid_at=txn.paid_at,
                                                source="close")
            if changed:
                self.wake_worker()
            return
        # Paid, but the details could not be read: the poller asks at once and records it.
        log.warning("closed order reported paid; left to the poller", extra={"order_no": order.order_no})
        await PaymentOrder.filter(
            id=order.id, status__in=[OrderStatus.CREATED.value, OrderStatus.PAYING.value]
        ).update(next_poll_at=self.clock.now())
        self.wake_worker()

    @staticmethod
    async def _close_replaced(order: PaymentOrder, *, conn: BaseDBAsyncClient, now: datetime, detail: dict[str, Any]) -> None:
        """Close the order the channel just closed, freeing its bill in the new order's transaction."""
        if await try_advance(order, "channel_switched", conn=conn, now=now,
                             changes={"live_bill_key": None, "next_poll_at": None, "closed_at": now}, detail=detail):
            return
        # Moved meanwhile: closed by the poller is fine; anything else keeps the bill.
        if order.status in {s.value for s in MONEY_HELD_STATES}:
            raise BillAlreadyPaid(context={"order_no": order.order_no})
        if order.status not in (OrderStatus.CLOSED.value, OrderStatus.FAILED.value):
            raise BillBeingPaid()

    async def _resume(self, order: PaymentOrder, *, user_id: int, channel: str) -> tuple[int, dict[str, Any]]:
        """The payer asks again for a bill they are paying: hand back the same order (WeChat's rule)."""
        resumable = (
            order.user_id == user_id
            and order.channel == channel
            and order.status in (OrderStatus.CREATED.value, OrderStatus.PAYING.value)
            and order.expires_at > self.clock.now()
        )
        if not resumable:
            raise BillBeingPaid()
        # Still `created`: the first call's outcome at the channel is unknown, so open it again
        # under the same order number; the channel keeps one order per number.
        pay_params = order.pay_params if order.pay_params else await self._open_at_channel(order)
        return 200, {"order_no": order.order_no, "amount": order.amount, "status": order.status,
                     "pay_params": pay_params}

    async def _open_at_channel(self, order: PaymentOrder) -> dict[str, Any]:
        channel = self.channels[order.channel]
        try:
            pay_params = await channel.create(
                ChannelOrder(
                    order_no=order.order_no, amount=order.amount, description=order.description,
                    expires_at=order.expires_at, payer_openid=order.payer_openid,
                )
            )
        except ChannelError as exc:
            if exc.retryable:
                # The channel may hold the order; the poller settles the question by query.
                log.warning("channel create outcome unknown", extra={"order_no": order.order_no, "code": exc.code})
                raise ChannelUnavailable(context={"order_no": order.order_no}) from None
            async with in_transaction() as conn:
                await try_advance(order, "channel_refused", conn=conn, now=self.clock.now(),
                                  changes={"live_bill_key": None, "next_poll_at": None},
                                  detail={"code": exc.code})
            raise ChannelRefused(context={"code": exc.code}) from None
        now = self.clock.now()
        async with in_transaction() as conn:
            opened = await try_advance(
                order, "channel_opened", conn=conn, now=now,
                changes={"pay_params": pay_params, "next_poll_at": now + timedelta(seconds=self.settings.poll_delays[0])},
            )
        if not opened and order.status in (OrderStatus.CLOSED.value, OrderStatus.FAILED.value):
            # Replaced while the channel was opening it (the payer switched channel): handing
            # these out would let the bill be paid twice.
            raise BillBeingPaid()
        return pay_params

    async def get_payment(self, *, user_id: int, order_no: str) -> dict[str, Any]:
        order = await PaymentOrder.get_or_none(order_no=order_no)
        # Someone else's order answers exactly like a missing one.
        if order is None or order.user_id != user_id:
            raise OrderNotFound()
        receipt = await PaymentReceipt.get_or_none(order_id=order.id)
        return order_view(order, receipt)

    async def admin_view(self, *, order_no: str) -> dict[str, Any]:
        order = await PaymentOrder.get_or_none(order_no=order_no)
        if order is None:
            raise OrderNotFound()
        receipt = await PaymentReceipt.get_or_none(order_id=order.id)
        settlement = await SettlementOutbox.get_or_none(order_id=order.id)
        reversal = await SettlementReversal.get_or_none(order_id=order.id)
        events = await PaymentOrderEvent.filter(order_id=order.id).order_by("id")
        return order_view(order, receipt) | {
            "user_id": order.user_id,
            "channel_txn_id": order.channel_txn_id,
            "settlement": None if settlement is None else {
                "settlement_id": settlement.settlement_id, "status": settlement.status,
                "attempts": settlement.attempts, "last_error": settlement.last_error,
            },
            "reversal": None if reversal is None else reversal_view(reversal),
            "history": [
                {"event": e.event, "from": e.from_status, "to": e.to_status, "detail": e.detail,
                 "at": local_iso(e.created_at)}
                for e in events
            ],
        }

    async def search_orders(
        self,
        *,
        status: str | None,
        channel: str | None,
        bill_ref: str | None,
        day: date | None,
        limit: int,
        offset: int,
    ) -> dict[str, Any]:
        """Orders for operators, newest first; `day` is the Beijing calendar day the order was opened."""
        query = PaymentOrder.all()
        if status:
            query = query.filter(status=status)
        if channel:
            query = query.filter(channel=channel)
        if bill_ref:
            query = query.filter(bill_ref=bill_ref)
        if day is not None:
            start, end = day_bounds(day)
            query = query.filter(created_at__gte=start, created_at__lt=end)
        total = await query.count()
        orders = await query.order_by("-created_at", "-id").offset(offset).limit(limit)
        return {
            "items": [order_view(order) | {"user_id": order.user_id} for order in orders],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    async def list_payments(self, *, user_id: int, limit: int = 50) -> list[dict[str, Any]]:
        orders = await PaymentOrder.filter(user_id=user_id).order_by("-id").limit(limit)
        return [order_view(order) for order in orders]

    async def sweep_idempotency_keys(self, now: datetime) -> int:
        return await IdempotencyRecord.filter(expires_at__lte=now).delete()
