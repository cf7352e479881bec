"""Refunds: operator-initiated or for a double payment; never more than what was paid.

A paid order not settled with its agency is refunded at the channel straight away. A settled
order is refunded only in full, and only after the agency reversed its settlement (reversals.py):
its refund waits as `awaiting_reversal` until the agency says yes.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.ports import ChannelError, ChannelRefund, Clock, PaymentChannel
from app.services.payments.errors import (
    OrderNotFound,
    PartialRefundNotAllowed,
    RefundExceedsPaid,
    RefundNotAllowed,
)
from app.services.payments.ledger import REFUND_POLL, local_iso, try_advance
from app.services.payments.reversals import ReversalDesk, open_reversal, reversal_view, settlement_reversed
from app.services.payments.states import OrderStatus
from models.payments import PaymentOrder, PaymentRefund, SettlementOutbox, SettlementReversal

log = logging.getLogger("app.payments.refunds")


def refund_view(refund: PaymentRefund) -> dict[str, Any]:
    return {
        "refund_no": refund.refund_no,
        "amount": refund.amount,
        "reason": refund.reason,
        "kind": refund.kind,
        "status": refund.status,
        "failure_code": refund.failure_code,
        "failure_message": refund.failure_message,
        "created_at": local_iso(refund.created_at),
        "completed_at": local_iso(refund.completed_at),
    }


async def open_refund(
    order: PaymentOrder, *, conn: BaseDBAsyncClient, now: datetime, amount: int, reason: str, kind: str,
    requested_by: int | None = None,
) -> PaymentRefund:
    """Write the refund and move the order to `refunding`; the caller's transaction holds both.

    For a settled order the refund must be the whole rest of the payment, and it waits behind a
    reversal of the settlement written here too (the agency reverses a settlement as a whole).
    """
    available = (order.paid_amount or 0) - order.refunded_amount
    if amount <= 0 or amount > available:
        raise RefundExceedsPaid(context={"refundable": max(available, 0)})
    reverse_first = order.status == OrderStatus.SETTLED.value
    if reverse_first and amount != available:
        raise PartialRefundNotAllowed(context={"refundable": available})
    event = "reversal_requested" if reverse_first else "refund_requested"
    if not await try_advance(order, event, conn=conn, now=now, detail={"kind": kind, "amount": amount}):
        raise RefundNotAllowed(context={"status": order.status})
    count = await PaymentRefund.filter(order_id=order.id).using_db(conn).count()
    refund = await PaymentRefund.create(
        refund_no=f"R{order.order_no[1:]}{count + 1:02d}", order_id=order.id, amount=amount,
        reason=reason[:80], kind=kind, requested_by=requested_by,
        status="awaiting_reversal" if reverse_first else "processing",
        # First asked right after commit by the caller; the poller follows up if that call is lost.
        next_poll_at=None if reverse_first else now + REFUND_POLL, using_db=conn,
    )
    if reverse_first:
        await open_reversal(order, conn=conn, now=now, reason=reason, requested_by=requested_by)
    return refund


async def apply_refund_outcome(
    refund: PaymentRefund, outcome: ChannelRefund, *, conn: BaseDBAsyncClient, now: datetime
) -> bool:
    """Record a final refund outcome once, and move the order on; False if already recorded."""
    if outcome.state == "processing":
        return False
    status = "succeeded" if outcome.state == "succeeded" else "failed"
    failure: dict[str, Any] = {}
    if status == "failed":
        failure = {"failure_code": (outcome.failure_code or "")[:40] or None,
                   "failure_message": (outcome.failure_message or "")[:200] or None}
    updated = await PaymentRefund.filter(id=refund.id, status="processing").using_db(conn).update(
        status=status, completed_at=now, next_poll_at=None, channel_refund_id=outcome.channel_refund_id, **failure
    )
    if updated != 1:
        return False
    order = await PaymentOrder.filter(id=refund.order_id).using_db(conn).get()
    # Once the agency has reversed the settlement, the money is ours alone again: back to paid.
    at_agency = order.settled_at is not None and not await settlement_reversed(order.id, conn=conn)
    came_from = "settled" if at_agency else "paid"
    if status == "succeeded":
        refunded = order.refunded_amount + refund.amount
        full = refunded >= (order.paid_amount or 0)
        event = "refund_completed" if full else f"partial_refund_completed_{came_from}"
        changes: dict[str, Any] = {"refunded_amount": refunded}
        if full:
            changes["live_bill_key"] = None
        await try_advance(order, event, conn=conn, now=now, changes=changes, detail={"refund_no": refund.refund_no})
    else:
        await try_advance(order, f"refund_failed_{came_from}", conn=conn, now=now, detail={"refund_no": refund.refund_no})
    return True


class RefundDesk:
    def __init__(self, *, channels: dict[str, PaymentChannel], clock: Clock, reversals: ReversalDesk) -> None:
        self.channels = channels
        self.clock = clock
        self.reversals = reversals

    async def request_refund(
        self, *, order_no: str, amount: int, reason: str, operator_id: int | None, kind: str = "operator"
    ) -> dict[str, Any]:
        """The refund as opened: `processing` at the channel, or `awaiting_reversal` for a settled order
        (the payment worker asks the agency; the admin view shows the reversal and the outcome)."""
        now = self.clock.now()
        async with in_transaction() as conn:
            order = await PaymentOrder.filter(order_no=order_no).using_db(conn).select_for_update().first()
            if order is None:
                raise OrderNotFound()
            if order.status not in (OrderStatus.PAID.value, OrderStatus.SETTLED.value):
                raise RefundNotAllowed(context={"status": order.status})
            if order.status == OrderStatus.PAID.value and await SettlementOutbox.filter(
                order_id=order.id, status="pending"
            ).using_db(conn).exists():
                # The agency may be booking it right now: wait for its answer first.
                raise RefundNotAllowed("The agency has not answered the settlement yet.",
                                       context={"status": order.status, "settlement": "pending"})
            refund = await open_refund(order, conn=conn, now=now, amount=amount, reason=reason, kind=kind,
                                       requested_by=operator_id)
        if refund.status == "awaiting_reversal":
            reversal = await SettlementReversal.get(order_id=order.id)
            return refund_view(refund) | {"reversal": reversal_view(reversal)}
        await self.submit(refund, order_no=order.order_no, total=order.paid_amount or order.amount,
                          channel=order.channel)
        await refund.refresh_from_db()
        return refund_view(refund)

    async def reverse_then_refund(self, reversal: SettlementReversal) -> None:
        """One attempt at a queued reversal; once the agency has reversed, the refund goes to the channel."""
        refund = await self.reversals.deliver(reversal)
        if refund is None:
            return
        order = await PaymentOrder.get(id=refund.order_id)
        await self.submit(refund, order_no=order.order_no, total=order.paid_amount or order.amount,
                          channel=order.channel)

    async def submit(self, refund: PaymentRefund, *, order_no: str, total: int, channel: str) -> None:
        """Ask the channel; a retry reuses the refund number, so the channel refunds once."""
        try:
            outcome = await self.channels[channel].refund(
                order_no=order_no, refund_no=refund.refund_no, amount=refund.amount, total=total,
                reason=refund.reason,
            )
        except ChannelError as exc:
            if exc.retryable:
                await PaymentRefund.filter(id=refund.id, status="processing").update(
                    next_poll_at=self.clock.now() + REFUND_POLL
                )
                return
            # The channel's own words, for the operator: what to fix before refunding again.
            outcome = ChannelRefund(refund_no=refund.refund_no, order_no=order_no, state="failed",
                                    amount=refund.amount, failure_code=exc.channel_code or exc.code,
                                    failure_message=exc.channel_message)
            log.warning("refund refused by channel", extra={"refund_no": refund.refund_no, "code": exc.code})
        await self.record(refund, outcome)

    async def record(self, refund: PaymentRefund, outcome: ChannelRefund) -> None:
        now = self.clock.now()
        if outcome.state == "processing":
            await PaymentRefund.filter(id=refund.id, status="processing").update(next_poll_at=now + REFUND_POLL)
            return
        async with in_transaction() as conn:
            await apply_refund_outcome(refund, outcome, conn=conn, now=now)

    async def poll(self, refund: PaymentRefund) -> None:
        order = await PaymentOrder.get(id=refund.order_id)
        try:
            outcome = await self.channels[order.channel].query_refund(order_no=order.order_no,
                                                                      refund_no=refund.refund_no)
        except ChannelError as exc:
            if exc.code in ("order_not_found", "refund_not_found", "not_found"):
                # The first request never reached the channel: submit it again, same number.
                await self.submit(refund, order_no=order.order_no, total=order.paid_amount or order.amount,
                                  channel=order.channel)
                return
            await PaymentRefund.filter(id=refund.id, status="processing").update(
                next_poll_at=self.clock.now() + REFUND_POLL
            )
            return
        await self.record(refund, outcome)

    async def list_for_order(self, order_no: str) -> list[dict[str, Any]]:
        order = await PaymentOrder.get_or_none(order_no=order_no)
        if order is None:
            raise OrderNotFound()
        return [refund_view(r) for r in await PaymentRefund.filter(order_id=order.id).order_by("id")]
