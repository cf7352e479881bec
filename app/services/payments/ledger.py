"""Order transitions as compare-and-set updates, with their history row and side records.

Every change of an order's status goes through `advance`: an UPDATE guarded by the status we
read, so of two racing writers exactly one wins and the other sees the new state. The caller
holds the transaction; whatever must happen with the change (settlement outbox, refund row) is
written in that same transaction.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient

from app.services.payments.states import InvalidTransition, OrderStatus, next_status
from models.payments import PaymentOrder, PaymentOrderEvent, SettlementOutbox

SHANGHAI = ZoneInfo("Asia/Shanghai")
# How long a refund at the channel waits before the poller asks about it.
REFUND_POLL = timedelta(seconds=30)
# Close-order answers meaning nothing there can be paid any more: closed, or never opened.
CLOSED_AT_CHANNEL = frozenset({"order_not_found", "not_found", "order_closed"})


def local_iso(moment: datetime | None) -> str | None:
    """A stored UTC time as the payer reads it: ISO 8601 in Asia/Shanghai."""
    return moment.astimezone(SHANGHAI).isoformat() if moment is not None else None


def new_order_no(now: datetime) -> str:
    """P + Shanghai timestamp + 10 random hex digits: 25 characters, valid for both channels."""
    return f"P{now.astimezone(SHANGHAI):%Y%m%d%H%M%S}{secrets.token_hex(5).upper()}"


def settlement_id_for(order_no: str) -> str:
    return "S" + order_no[1:]


def reversal_id_for(order_no: str) -> str:
    return "V" + order_no[1:]


def bill_key(agency: str, bill_ref: str) -> str:
    return f"{agency}:{bill_ref}"


async def advance(
    order: PaymentOrder,
    event: str,
    *,
    conn: BaseDBAsyncClient,
    now: datetime,
    changes: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Apply `event` to the order; False if the order's state no longer allows it.

    Re-reads and retries when another writer changed the order between our read and our write,
    so the answer reflects the order's latest state. Raises InvalidTransition only for a state
    the event can never leave from, which callers treat as "already handled".
    """
    changes = dict(changes or {})
    for _ in range(3):
        current = OrderStatus(order.status)
        target = next_status(current, event)
        updated = await (
            PaymentOrder.filter(id=order.id, status=current.value)
            .using_db(conn)
            .update(status=target.value, updated_at=now, **changes)
        )
        if updated == 1:
            await PaymentOrderEvent.create(
                order_id=order.id, event=event, from_status=current.value, to_status=target.value,
                detail=detail or {}, using_db=conn,
            )
            order.status = target.value
            for name, value in changes.items():
                setattr(order, name, value)
            return True
        fresh = await PaymentOrder.filter(id=order.id).using_db(conn).get()
        order.status = fresh.status
    return False


async def try_advance(order: PaymentOrder, event: str, **kwargs: Any) -> bool:
    """`advance`, answering False instead of raising when the state can never take the event."""
    try:
        return await advance(order, event, **kwargs)
    except InvalidTransition:
        return False


async def confirm_payment(
    order: PaymentOrder,
    *,
    conn: BaseDBAsyncClient,
    now: datetime,
    amount: int,
    channel_txn_id: str | None,
    paid_at: datetime | None,
    source: str,
) -> bool:
    """Record that the channel took the money, and queue the settlement in the same transaction."""
    changes: dict[str, Any] = {
        "paid_amount": amount,
        "channel_txn_id": channel_txn_id,
        "paid_at": paid_at or now,
        "next_poll_at": None,
    }
    if not await try_advance(order, "payment_confirmed", conn=conn, now=now, changes=changes,
                             detail={"source": source}):
        return False
    await SettlementOutbox.create(
        order_id=order.id,
        settlement_id=settlement_id_for(order.order_no),
        status="pending",
        next_attempt_at=now,
        using_db=conn,
    )
    return True


def backoff(delays: tuple[float, ...], attempt: int) -> timedelta:
    """The wait before attempt number `attempt + 1` (the last delay repeats)."""
    if not delays:
        return timedelta(seconds=60)
    return timedelta(seconds=delays[min(attempt, len(delays) - 1)])
