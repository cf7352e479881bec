"""Service-level races: many writers confirming one payment, two workers claiming one outbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from tortoise.transactions import in_transaction

from app.services.payments.ledger import confirm_payment
from app.services.payments.worker import PaymentWorker
from models.payments import PaymentOrder, PaymentOrderEvent, SettlementOutbox
from tests.conftest import LiveServer, Session
from tests.test_payment_support import make_fine, open_payment


async def test_ten_concurrent_confirmations_make_one_transition(api: httpx.AsyncClient, resident: Session) -> None:
    fine = await make_fine(api)
    order_no = (await open_payment(api, resident.headers, fine)).json()["order_no"]

    async def confirm() -> bool:
        order = await PaymentOrder.get(order_no=order_no)
        async with in_transaction() as conn:
            return await confirm_payment(order, conn=conn, now=datetime.now(UTC), amount=order.amount,
                                         channel_txn_id="4200race", paid_at=None, source="test")

    results = await asyncio.gather(*(confirm() for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]
    order = await PaymentOrder.get(order_no=order_no)
    assert await PaymentOrderEvent.filter(order_id=order.id, event="payment_confirmed").count() == 1
    assert await SettlementOutbox.filter(order_id=order.id).count() == 1


async def test_two_workers_never_deliver_one_settlement_twice(api: httpx.AsyncClient, live: LiveServer,
                                                              resident: Session) -> None:
    service = live.app.ctx.services.payments
    await service.worker.stop()
    try:
        numbers = []
        for _ in range(12):
            fine = await make_fine(api, fine=1_500)
            numbers.append((await open_payment(api, resident.headers, fine)).json()["order_no"])
        for number in numbers:
            order = await PaymentOrder.get(order_no=number)
            async with in_transaction() as conn:
                await confirm_payment(order, conn=conn, now=datetime.now(UTC), amount=order.amount,
                                      channel_txn_id="4200" + number[-8:], paid_at=None, source="test")
        before = live.sandbox("traffic").book.attempts + live.sandbox("tax").book.attempts
        workers = [
            PaymentWorker(settings=service.settings, channels=live.app.ctx.adapters.channels,
                          agencies=live.app.ctx.adapters.agencies, clock=service.clock, refunds=service.refunds)
            for _ in range(2)
        ]
        claimed = await asyncio.gather(*(w.deliver_settlements() for w in workers))
        assert sum(claimed) >= len(numbers)
        after = live.sandbox("traffic").book.attempts + live.sandbox("tax").book.attempts
        assert after - before == sum(claimed)  # every claim delivered by exactly one worker
        statuses = await PaymentOrder.filter(order_no__in=numbers).values_list("status", flat=True)
        assert set(statuses) == {"settled"}
        book = live.sandbox("traffic").book
        assert all(book.accepted_by_bill[o.bill_ref] == 1 for o in await PaymentOrder.filter(order_no__in=numbers))
    finally:
        await service.worker.start()
