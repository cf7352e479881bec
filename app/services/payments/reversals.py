"""Settlement reversals (冲正): a settled payment is refunded only after its agency undoes the settlement.

The agency first, the channel second. Then at every moment either the agency counts the bill as
paid and we still hold the money, or the agency counts it as owed again and the refund is on its
way. The other order could leave the payer with their money back and the bill marked paid, and
nothing takes a channel refund back if the agency then refuses.

A reversal is an outbox row, written in the transaction that moves the order to `refunding`
together with the refund waiting for it (`awaiting_reversal`). The payment worker delivers it with
the settlement backoff; the agency deduplicates by our reversal id (`V` + order number), so a
timeout or a crash only means asking again under the same id. The agency's yes releases the
refund to the channel in the transaction that records it; its definite no fails the refund
(`reversal_refused`) and puts the order back to `settled`, no money moved.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.ports import AgencyError, AgencyReversal, BillingAgency, Clock
from app.services.payments.errors import OrderNotFound, ReversalNotFound, ReversalNotPending
from app.services.payments.ledger import (
    REFUND_POLL,
    backoff,
    local_iso,
    reversal_id_for,
    settlement_id_for,
    try_advance,
)
from models.payments import PaymentOrder, PaymentOrderEvent, PaymentReceipt, PaymentRefund, SettlementReversal

log = logging.getLogger("app.payments.reversals")

# The failure_code of a refund the agency would not let go ahead.
REVERSAL_REFUSED = "reversal_refused"
# The failure_code of a refund whose reversal an operator stopped asking for.
REVERSAL_ABANDONED = "reversal_abandoned"


def reversal_view(reversal: SettlementReversal) -> dict[str, Any]:
    return {
        "reversal_id": reversal.reversal_id,
        "settlement_id": reversal.settlement_id,
        "amount": reversal.amount,
        "status": reversal.status,
        "attempts": reversal.attempts,
        "last_error": reversal.last_error,
        "requested_at": local_iso(reversal.requested_at),
        "answered_at": local_iso(reversal.answered_at),
        "voided_receipt_no": reversal.voided_receipt_no,
    }


async def open_reversal(
    order: PaymentOrder, *, conn: BaseDBAsyncClient, now: datetime, reason: str, requested_by: int | None
) -> SettlementReversal:
    """Queue the reversal of a settled order's settlement; the caller's transaction holds it.

    An order has one reversal id for good: after a refusal, asking again re-arms the same row,
    and the agency (which stores only the reversals it made) judges the same id afresh.
    """
    arm: dict[str, Any] = {
        "status": "pending", "next_attempt_at": now, "last_error": None, "answered_at": None,
        "reason": reason[:80], "requested_by": requested_by, "requested_at": now,
        "amount": order.paid_amount or order.amount,
    }
    existing = await SettlementReversal.filter(order_id=order.id).using_db(conn).first()
    if existing is None:
        return await SettlementReversal.create(
            order_id=order.id, reversal_id=reversal_id_for(order.order_no),
            settlement_id=settlement_id_for(order.order_no), using_db=conn, **arm,
        )
    await SettlementReversal.filter(id=existing.id).using_db(conn).update(**arm)
    for name, value in arm.items():
        setattr(existing, name, value)
    return existing


async def settlement_reversed(order_id: int, *, conn: BaseDBAsyncClient) -> bool:
    """Whether the agency has confirmed the reversal of this order's settlement."""
    return await SettlementReversal.filter(order_id=order_id, status="confirmed").using_db(conn).exists()


class ReversalDesk:
    """Delivers reversals to the agencies and records their answers, once each."""

    def __init__(self, *, agencies: dict[str, BillingAgency], clock: Clock, retry_delays: tuple[float, ...]) -> None:
        self.agencies = agencies
        self.clock = clock
        self.retry_delays = retry_delays
        self.figures = {"reversed": 0, "reversal_retries": 0, "reversals_refused": 0}

    async def deliver(self, job: SettlementReversal) -> PaymentRefund | None:
        """Ask the agency once; returns the refund its yes released, for the caller to submit."""
        order = await PaymentOrder.get(id=job.order_id)
        try:
            answer = await self.agencies[order.agency].reverse_settlement(
                reversal_id=job.reversal_id, settlement_id=job.settlement_id, bill_ref=order.bill_ref,
                amount=job.amount, reason=job.reason,
            )
        except AgencyError as exc:
            if exc.retryable:
                await self._ask_again_later(job, exc)
            else:
                await self._refused(job, order, exc)
            return None
        return await self._confirmed(job, order, answer)

    async def _confirmed(self, job: SettlementReversal, order: PaymentOrder, answer: AgencyReversal) -> PaymentRefund | None:
        now = self.clock.now()
        async with in_transaction() as conn:
            confirmed = await SettlementReversal.filter(id=job.id, status="pending").using_db(conn).update(
                status="confirmed", attempts=job.attempts + 1, last_error=None, answered_at=now,
                voided_receipt_no=answer.voided_receipt_no,
            )
            if confirmed != 1:
                return None  # another worker recorded it first
            await try_advance(order, "settlement_reversed", conn=conn, now=now,
                              detail={"reversal_id": job.reversal_id, "voided_receipt_no": answer.voided_receipt_no})
            await PaymentReceipt.filter(order_id=order.id, voided_at=None).using_db(conn).update(voided_at=now)
            refund = await PaymentRefund.filter(order_id=order.id, status="awaiting_reversal").using_db(conn).first()
            if refund is not None:
                # Submitted by the caller right after commit; the refund poller follows up if that is lost.
                await PaymentRefund.filter(id=refund.id).using_db(conn).update(
                    status="processing", next_poll_at=now + REFUND_POLL
                )
                refund.status = "processing"
        self.figures["reversed"] += 1
        if refund is None:
            log.error("settlement reversed with no refund waiting for it", extra={"order_no": order.order_no})
        return refund

    async def _refused(self, job: SettlementReversal, order: PaymentOrder, exc: AgencyError) -> None:
        now = self.clock.now()
        async with in_transaction() as conn:
            refused = await SettlementReversal.filter(id=job.id, status="pending").using_db(conn).update(
                status="refused", attempts=job.attempts + 1, last_error=exc.code[:255], answered_at=now
            )
            if refused != 1:
                return
            await try_advance(order, "reversal_refused", conn=conn, now=now,
                              detail={"reversal_id": job.reversal_id, "code": exc.code})
            await PaymentRefund.filter(order_id=order.id, status="awaiting_reversal").using_db(conn).update(
                status="failed", failure_code=REVERSAL_REFUSED, completed_at=now, next_poll_at=None
            )
        self.figures["reversals_refused"] += 1
        log.warning("agency refused the reversal", extra={"order_no": order.order_no, "code": exc.code})

    async def _ask_again_later(self, job: SettlementReversal, exc: AgencyError) -> None:
        # Like settlements, retries go on (the last delay repeating); overdue ones are listed for operators.
        self.figures["reversal_retries"] += 1
        attempts = job.attempts + 1
        await SettlementReversal.filter(id=job.id, status="pending").update(
            attempts=attempts, last_error=exc.code[:255],
            next_attempt_at=self.clock.now() + backoff(self.retry_delays, attempts - 1),
        )

    # ------------------------------------------------------------------ operators, for a silent agency
    async def retry_now(self, *, order_no: str, operator_id: int) -> dict[str, Any]:
        """Ask the agency again at the worker's next round instead of at the end of the backoff.

        Safe at any time: the agency deduplicates by the reversal id, and its answer is recorded once.
        """
        order, reversal = await self._pending_reversal(order_no)
        now = self.clock.now()
        async with in_transaction() as conn:
            if await SettlementReversal.filter(id=reversal.id, status="pending").using_db(conn).update(
                next_attempt_at=now
            ) != 1:
                raise ReversalNotPending(context={"status": await self._status(reversal.id)})
            # The order does not move; its history still says who asked, and when.
            await PaymentOrderEvent.create(
                order_id=order.id, event="reversal_retry_requested", from_status=order.status,
                to_status=order.status, detail=self._audit(reversal, operator_id=operator_id), using_db=conn,
            )
        reversal.next_attempt_at = now
        return reversal_view(reversal)

    async def abandon(self, *, order_no: str, operator_id: int, reason: str) -> dict[str, Any]:
        """Stop asking an agency that never answers: the refund fails, the order is `settled` again.

        No money has moved (the channel refund waits for the agency's yes). Should the agency have
        reversed after all, reconciliation reports a `reversal_mismatch`, and a new refund request
        asks again under the same reversal id, which the agency answers from its record.
        """
        order, reversal = await self._pending_reversal(order_no)
        now = self.clock.now()
        detail = self._audit(reversal, operator_id=operator_id) | {"reason": reason[:80]}
        async with in_transaction() as conn:
            if await SettlementReversal.filter(id=reversal.id, status="pending").using_db(conn).update(
                status="abandoned"
            ) != 1:
                raise ReversalNotPending(context={"status": await self._status(reversal.id)})
            await try_advance(order, "reversal_abandoned", conn=conn, now=now, detail=detail)
            await PaymentRefund.filter(order_id=order.id, status="awaiting_reversal").using_db(conn).update(
                status="failed", failure_code=REVERSAL_ABANDONED, completed_at=now, next_poll_at=None
            )
        log.warning("operator abandoned a settlement reversal", extra={"order_no": order.order_no,
                                                                        "operator_id": operator_id})
        reversal.status = "abandoned"
        return reversal_view(reversal)

    @staticmethod
    async def _pending_reversal(order_no: str) -> tuple[PaymentOrder, SettlementReversal]:
        order = await PaymentOrder.get_or_none(order_no=order_no)
        if order is None:
            raise OrderNotFound()
        reversal = await SettlementReversal.get_or_none(order_id=order.id)
        if reversal is None:
            raise ReversalNotFound()
        if reversal.status != "pending":
            raise ReversalNotPending(context={"status": reversal.status})
        return order, reversal

    @staticmethod
    async def _status(reversal_id: int) -> str | None:
        row = await SettlementReversal.get_or_none(id=reversal_id)
        return None if row is None else str(row.status)

    @staticmethod
    def _audit(reversal: SettlementReversal, *, operator_id: int) -> dict[str, Any]:
        return {"reversal_id": reversal.reversal_id, "operator_id": operator_id, "attempts": reversal.attempts,
                "last_error": reversal.last_error}

    async def view_for_order(self, order_id: int) -> dict[str, Any] | None:
        reversal = await SettlementReversal.get_or_none(order_id=order_id)
        return None if reversal is None else reversal_view(reversal)

    async def overdue(self, *, older_than: timedelta) -> list[dict[str, Any]]:
        """Reversals the agency has not answered within the window: the alert list."""
        cutoff = self.clock.now() - older_than
        rows = await SettlementReversal.filter(status="pending", requested_at__lte=cutoff).prefetch_related("order")
        return [{"order_no": row.order.order_no} | reversal_view(row) for row in rows]
