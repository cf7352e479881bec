"""Races with real concurrency (meaningful on PostgreSQL; SQLite serialises them anyway)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

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
from tests.test_payment_support import (
    ChannelWithCalls,
    make_fine,
    open_payment,
    paid_unsettled_order,
    pay_in_sandbox,
    wait_for_status,
)


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
    fine, order, headers, body = await _paid_order_whose_notify_is_held(api, live, resident)
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


async def test_one_payer_switching_channel_five_times_at_once_gets_one_new_order(api: httpx.AsyncClient,
                                                                                resident: Session) -> None:
    fine = await make_fine(api)
    old = (await open_payment(api, resident.headers, fine)).json()
    answers = await asyncio.gather(*(open_payment(api, resident.headers, fine, channel="alipay") for _ in range(5)))
    assert all(a.status_code in (200, 201, 409) for a in answers), [a.text for a in answers]
    created = [a.json()["order_no"] for a in answers if a.status_code == 201]
    assert len(created) == 1, [a.text for a in answers]
    assert {a.json()["order_no"] for a in answers if a.status_code == 200} <= set(created)
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} <= {"bill_being_paid"}
    orders = await PaymentOrder.filter(bill_ref=fine["decision_no"]).order_by("id")
    assert [(o.order_no, o.status) for o in orders] == [(old["order_no"], "closed"), (created[0], "paying")]


async def _paid_order_whose_notify_is_held(api: httpx.AsyncClient, live: LiveServer,
                                           resident: Session) -> tuple[dict, dict, dict[str, str], bytes]:
    """A WeChat Pay order the payer has paid, its notify not delivered yet: (fine, order, notify)."""
    fine = await make_fine(api)
    order = (await open_payment(api, resident.headers, fine)).json()
    await api.post("/sandbox/wechatpay/faults", json={"notifies": [{"kind": "drop", "order_no": order["order_no"]}]})
    await pay_in_sandbox(api, order["order_no"])
    state = live.sandbox("wechatpay")
    headers, body = signed_wechat_notify(state, state.transaction(state.orders[order["order_no"]]))
    return fine, order, headers, body


async def _settled_once(api: httpx.AsyncClient, live: LiveServer, resident: Session, fine: dict,
                        order: dict) -> list[dict]:
    """The order settled with one confirmation and one settlement, alone on its bill; its confirmation's detail."""
    await wait_for_status(api, resident.headers, order["order_no"], "settled")
    db_order = await PaymentOrder.get(order_no=order["order_no"])
    confirmed = await PaymentOrderEvent.filter(order_id=db_order.id, event="payment_confirmed")
    assert len(confirmed) == 1
    assert await SettlementOutbox.filter(order_id=db_order.id).count() == 1
    assert await PaymentOrder.filter(bill_ref=fine["decision_no"]).count() == 1
    assert live.sandbox("traffic").book.counters()["by_bill"][fine["decision_no"]] == 1
    return [e.detail for e in confirmed]


async def test_the_old_orders_notify_landing_during_a_switch_settles_it_once(
    api: httpx.AsyncClient, live: LiveServer, resident: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notify lands between the switch's read of the order and WeChat Pay's ORDERPAID answer."""
    fine, order, headers, body = await _paid_order_whose_notify_is_held(api, live, resident)
    channels = live.app.ctx.services.payments.orders.channels
    wechatpay = channels["wechatpay"]
    notified: list[httpx.Response] = []

    async def close_as_the_notify_lands(order_no: str) -> None:
        notified.append(await api.post("/notify/wechatpay", content=body, headers=headers))
        await wechatpay.close(order_no)

    monkeypatch.setitem(channels, "wechatpay", ChannelWithCalls(wechatpay, close=close_as_the_notify_lands))
    switched = await open_payment(api, resident.headers, fine, channel="alipay")
    assert switched.status_code == 409 and switched.json()["error"]["code"] == "bill_already_paid", switched.text
    assert [n.status_code in (200, 204) for n in notified] == [True]
    assert await _settled_once(api, live, resident, fine, order) == [{"source": "notify"}]


async def test_a_notify_after_the_switch_recorded_the_payment_changes_nothing(
    api: httpx.AsyncClient, live: LiveServer, resident: Session
) -> None:
    fine, order, headers, body = await _paid_order_whose_notify_is_held(api, live, resident)
    switched = await open_payment(api, resident.headers, fine, channel="alipay")
    assert switched.status_code == 409 and switched.json()["error"]["code"] == "bill_already_paid", switched.text
    late = await api.post("/notify/wechatpay", content=body, headers=headers)
    assert late.status_code in (200, 204), late.text
    assert await _settled_once(api, live, resident, fine, order) == [{"source": "close"}]


async def test_switches_and_notifies_racing_for_a_paid_order_settle_it_once(
    api: httpx.AsyncClient, live: LiveServer, resident: Session
) -> None:
    fine, order, headers, body = await _paid_order_whose_notify_is_held(api, live, resident)
    answers = await asyncio.gather(
        *(open_payment(api, resident.headers, fine, channel="alipay") for _ in range(3)),
        *(api.post("/notify/wechatpay", content=body, headers=headers) for _ in range(3)),
    )
    switches, notifies = answers[:3], answers[3:]
    assert all(a.status_code == 409 for a in switches), [a.text for a in switches]
    # bill_being_paid: the notify was recorded before that switch read the order.
    assert {a.json()["error"]["code"] for a in switches} <= {"bill_already_paid", "bill_being_paid"}
    assert all(n.status_code in (200, 204) for n in notifies), [n.text for n in notifies]
    assert len(await _settled_once(api, live, resident, fine, order)) == 1
