"""Races with real concurrency (meaningful on PostgreSQL; SQLite serialises them anyway)."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from app.services.payments.states import LIVE_STATES
from models.payments import (
    ChannelNotification,
    PaymentOrder,
    PaymentOrderEvent,
    PaymentRefund,
    SettlementOutbox,
    SettlementReversal,
)
from tests.conftest import LiveServer, Session, login, make_operator
from tests.handlers.test_payments import signed_wechat_notify
from tests.test_payment_support import make_fine, open_payment, paid_unsettled_order, pay_in_sandbox, wait_for_status


async def test_five_payers_racing_for_one_bill_make_one_live_order(api: httpx.AsyncClient) -> None:
    fine = await make_fine(api)
    payers = [await login(api) for _ in range(5)]
    answers = await asyncio.gather(*(open_payment(api, p.headers, fine) for p in payers))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409, 409, 409], [a.text for a in answers]
    live_orders = await PaymentOrder.filter(bill_ref=fine["decision_no"],
                                            status__in=[s.value for s in LIVE_STATES]).count()
    assert live_orders == 1


async def test_one_payer_racing_with_five_keys_gets_one_order(api: httpx.AsyncClient, resident: Session) -> None:
    fine = await make_fine(api)
    answers = await asyncio.gather(*(open_payment(api, resident.headers, fine) for _ in range(5)))
    ok = [a for a in answers if a.status_code in (200, 201)]
    assert ok and all(a.status_code in (200, 201, 409) for a in answers)
    assert len({a.json()["order_no"] for a in ok}) == 1
    assert await PaymentOrder.filter(bill_ref=fine["decision_no"]).count() == 1


async def test_same_key_racing_executes_once(api: httpx.AsyncClient, resident: Session) -> None:
    fine = await make_fine(api)
    key = uuid.uuid4().hex
    answers = await asyncio.gather(*(open_payment(api, resident.headers, fine, key=key) for _ in range(5)))
    assert all(a.status_code in (201, 409) for a in answers)
    conflicts = [a.json()["error"]["code"] for a in answers if a.status_code == 409]
    assert set(conflicts) <= {"idempotency_key_in_progress"}
    assert await PaymentOrder.filter(bill_ref=fine["decision_no"]).count() == 1


async def test_concurrent_duplicate_notifies_make_one_transition(api: httpx.AsyncClient, live: LiveServer,
                                                                  resident: Session) -> None:
    fine = await make_fine(api)
    order = (await open_payment(api, resident.headers, fine)).json()
    await api.post("/sandbox/wechatpay/faults", json={"notifies": [{"kind": "drop", "order_no": order["order_no"]}]})
    await pay_in_sandbox(api, order["order_no"])
    state = live.sandbox("wechatpay")
    headers, body = signed_wechat_notify(state, state.transaction(state.orders[order["order_no"]]))
    answers = await asyncio.gather(*(api.post("/notify/wechatpay", content=body, headers=headers) for _ in range(10)))
    assert all(a.status_code in (200, 204) for a in answers), [a.text for a in answers]
    await wait_for_status(api, resident.headers, order["order_no"], "settled")
    db_order = await PaymentOrder.get(order_no=order["order_no"])
    assert await PaymentOrderEvent.filter(order_id=db_order.id, event="payment_confirmed").count() == 1
    assert await ChannelNotification.filter(order_no=order["order_no"]).count() == 1
    assert await SettlementOutbox.filter(order_id=db_order.id).count() == 1
    assert live.sandbox("traffic").book.counters()["by_bill"][fine["decision_no"]] == 1


async def test_concurrent_refunds_never_exceed_the_payment(api: httpx.AsyncClient, live: LiveServer,
                                                           resident: Session, operator: Session) -> None:
    order = await paid_unsettled_order(api, live, resident, fine=10_000)
    path = f"/api/v1/admin/payments/{order['order_no']}/refunds"
    answers = await asyncio.gather(*(api.post(path, json={"amount": 6_000, "reason": "并发"}, headers=operator.headers)
                                     for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409]
    await wait_for_status(api, resident.headers, order["order_no"], "paid")
    refunds = await PaymentRefund.filter(order__order_no=order["order_no"])
    assert sum(r.amount for r in refunds) == 6_000


async def test_operators_racing_to_refund_a_settled_payment_make_one_reversal(
    api: httpx.AsyncClient, live: LiveServer, resident: Session
) -> None:
    fine = await make_fine(api, fine=8_000)
    order = (await open_payment(api, resident.headers, fine)).json()
    await pay_in_sandbox(api, order["order_no"])
    await wait_for_status(api, resident.headers, order["order_no"], "settled")
    operators = [await make_operator(api, live) for _ in range(2)]
    path = f"/api/v1/admin/payments/{order['order_no']}/refunds"
    answers = await asyncio.gather(*(api.post(path, json={"amount": 8_000, "reason": "撤销处罚"}, headers=o.headers)
                                     for o in operators * 2))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409], [a.text for a in answers]
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"refund_not_allowed"}
    await wait_for_status(api, resident.headers, order["order_no"], "refunded")
    db_order = await PaymentOrder.get(order_no=order["order_no"])
    assert await SettlementReversal.filter(order_id=db_order.id).count() == 1
    assert await PaymentOrderEvent.filter(order_id=db_order.id, event="reversal_requested").count() == 1
    assert [r.status for r in await PaymentRefund.filter(order_id=db_order.id)] == ["succeeded"]
    reversals = live.sandbox("traffic").book.counters()["reversals"]
    assert reversals["by_bill"][fine["decision_no"]] == 1
    channel_refunds = [r for r in live.sandbox("wechatpay").refunds.values() if r.out_trade_no == order["order_no"]]
    assert len(channel_refunds) == 1 and channel_refunds[0].refund == 8_000
