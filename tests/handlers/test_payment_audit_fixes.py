"""Payments found wanting by an outside-in audit: a paid order whose create answer was lost, a payer
who hangs up mid-request, and an operator facing an agency that never answers a reversal."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from models.payments import PaymentOrder, PaymentOrderEvent, PaymentRefund, SettlementReversal
from tests.conftest import LiveServer, Session
from tests.handlers.test_payment_reversals import refund_in_full, wait_for_reversal
from tests.test_payment_support import make_fine, open_payment, pay_in_sandbox, settled_order, wait_for_status


async def test_a_payment_for_an_order_whose_create_answer_was_lost_still_counts(
    api: httpx.AsyncClient, live: LiveServer, resident: Session
) -> None:
    fine = await make_fine(api)
    order = (await open_payment(api, resident.headers, fine)).json()
    # As after a create call that timed out once the channel had taken the order: still `created` here.
    await PaymentOrder.filter(order_no=order["order_no"]).update(status="created")
    await pay_in_sandbox(api, order["order_no"])
    settled = await wait_for_status(api, resident.headers, order["order_no"], "settled")
    assert settled["paid_at"] is not None
    assert live.sandbox("traffic").book.counters()["by_bill"][fine["decision_no"]] == 1


async def test_a_payer_who_hangs_up_gets_the_answer_when_retrying_the_same_key(
    api: httpx.AsyncClient, live: LiveServer, resident: Session
) -> None:
    fine = await make_fine(api)
    key = uuid.uuid4().hex
    await api.post("/sandbox/wechatpay/faults", json={"calls": [
        {"operation": "create", "fault": "slow", "hang_seconds": 1.5}]})
    try:
        try:
            body = {"bill_type": "fine", "bill_ref": fine["decision_no"], "plate": fine["plate"], "channel": "wechatpay"}
            await api.post("/api/v1/payments", json=body, headers=resident.headers | {"Idempotency-Key": key},
                           timeout=0.3)
        except httpx.TimeoutException:
            pass
        else:
            raise AssertionError("the slow create should have outlasted the client's patience")
        await asyncio.sleep(2.0)
        retried = await open_payment(api, resident.headers, fine, key=key)
    finally:
        await api.delete("/sandbox/wechatpay/faults")
    assert retried.status_code in (200, 201), retried.text
    assert retried.json()["status"] == "paying" and retried.json()["pay_params"]["paySign"]
    assert await PaymentOrder.filter(bill_ref=fine["decision_no"]).count() == 1


async def agency_silent(api: httpx.AsyncClient) -> None:
    response = await api.post("/sandbox/traffic/faults", json={"reverse": {"mode": "error", "times": 1000}})
    assert response.status_code == 200, response.text


async def test_an_operator_asks_a_silent_agency_again_now(api: httpx.AsyncClient, live: LiveServer,
                                                          resident: Session, operator: Session) -> None:
    order = await settled_order(api, resident, fine=2_600)
    await agency_silent(api)
    try:
        assert (await refund_in_full(api, operator, order)).status_code == 201
        reversal = await wait_for_reversal(order["order_no"], "pending")
        assert reversal.last_error == "agency_unavailable"
    finally:
        await api.delete("/sandbox/traffic/faults")
    # Deep in the backoff: without the operator the next attempt is far away.
    await SettlementReversal.filter(id=reversal.id).update(next_attempt_at=datetime.now(UTC) + timedelta(hours=1))
    path = f"/api/v1/admin/payments/{order['order_no']}/reversal/retry"
    assert (await api.post(path, headers=resident.headers)).status_code == 403
    answer = await api.post(path, headers=operator.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "pending" and answer.json()["reversal_id"] == reversal.reversal_id
    await wait_for_status(api, resident.headers, order["order_no"], "refunded")
    asked = await PaymentOrderEvent.get(order_id=reversal.order_id, event="reversal_retry_requested")
    assert asked.detail["operator_id"] == operator.user_id and asked.detail["last_error"] == "agency_unavailable"
    again = await api.post(path, headers=operator.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "reversal_not_pending"
    assert again.json()["error"]["context"]["status"] == "confirmed"


async def test_an_operator_abandons_a_reversal_and_no_money_moves(api: httpx.AsyncClient, live: LiveServer,
                                                                  resident: Session, operator: Session) -> None:
    order = await settled_order(api, resident, fine=2_700)
    decision_no = order["fine"]["decision_no"]
    path = f"/api/v1/admin/payments/{order['order_no']}/reversal/abandon"
    none_yet = await api.post(path, json={"reason": "x"}, headers=operator.headers)
    assert none_yet.status_code == 404 and none_yet.json()["error"]["code"] == "reversal_not_found"
    await agency_silent(api)
    try:
        assert (await refund_in_full(api, operator, order)).status_code == 201
        reversal = await wait_for_reversal(order["order_no"], "pending")
        assert (await api.post(path, json={"reason": "x"}, headers=resident.headers)).status_code == 403
        assert (await api.post(path, json={}, headers=operator.headers)).status_code == 422
        answer = await api.post(path, json={"reason": "缴费单位长期无应答"}, headers=operator.headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "abandoned"
        # Nothing reached the channel, the agency still holds the payment, and so does the order.
        assert [r for r in live.sandbox("wechatpay").refunds.values() if r.out_trade_no == order["order_no"]] == []
        assert live.sandbox("traffic").fines[decision_no].status == "paid"
        current = await wait_for_status(api, resident.headers, order["order_no"], "settled", within=2)
        assert current["receipt"]["voided_at"] is None
        refund = await PaymentRefund.get(order__order_no=order["order_no"])
        assert (refund.status, refund.failure_code) == ("failed", "reversal_abandoned")
        event = await PaymentOrderEvent.get(order_id=reversal.order_id, event="reversal_abandoned")
        assert (event.from_status, event.to_status) == ("refunding", "settled")
        assert event.detail["operator_id"] == operator.user_id and event.detail["reason"] == "缴费单位长期无应答"
        stats = (await api.get("/api/v1/admin/payment-stats", headers=operator.headers)).json()
        assert order["order_no"] not in {r["order_no"] for r in stats["overdue_reversals"]}
        twice = await api.post(path, json={"reason": "again"}, headers=operator.headers)
        assert twice.status_code == 409 and twice.json()["error"]["code"] == "reversal_not_pending"
    finally:
        await api.delete("/sandbox/traffic/faults")
    # The agency is back: a new refund asks again under the same reversal id, and goes through.
    assert (await refund_in_full(api, operator, order)).status_code == 201
    await wait_for_status(api, resident.headers, order["order_no"], "refunded")
    assert (await SettlementReversal.get(id=reversal.id)).status == "confirmed"
    assert live.sandbox("traffic").book.counters()["reversals"]["by_bill"][decision_no] == 1
