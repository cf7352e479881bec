"""Refunds, settlement retries and double payments, over HTTP against the sandboxes.

Refunds of settled payments (which go through a reversal at the agency) are in test_payment_reversals.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from models.payments import PaymentOrder, PaymentRefund, SettlementOutbox
from tests.conftest import LiveServer, Session
from tests.test_payment_support import (
    make_fine,
    open_payment,
    paid_unsettled_order,
    pay_in_sandbox,
    settled_order,
    wait_for_status,
)


async def test_operator_refunds_part_then_the_rest(api: httpx.AsyncClient, live: LiveServer, resident: Session,
                                                   operator: Session) -> None:
    order = await paid_unsettled_order(api, live, resident, fine=10_000)
    path = f"/api/v1/admin/payments/{order['order_no']}/refunds"
    too_much = await api.post(path, json={"amount": 10_001, "reason": "错收"}, headers=operator.headers)
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "refund_exceeds_paid"
    assert too_much.json()["error"]["context"]["refundable"] == 10_000
    part = await api.post(path, json={"amount": 4_000, "reason": "部分退款"}, headers=operator.headers)
    assert part.status_code == 201, part.text
    back = await wait_for_status(api, resident.headers, order["order_no"], "paid")
    assert back["refunded_amount"] == 4_000
    rest_too_much = await api.post(path, json={"amount": 6_001, "reason": "x"}, headers=operator.headers)
    assert rest_too_much.status_code == 409
    rest = await api.post(path, json={"amount": 6_000, "reason": "全部退款"}, headers=operator.headers)
    assert rest.status_code == 201
    refunded = await wait_for_status(api, resident.headers, order["order_no"], "refunded")
    assert refunded["refunded_amount"] == 10_000
    refunds = await PaymentRefund.filter(order__order_no=order["order_no"]).order_by("id")
    assert [r.status for r in refunds] == ["succeeded", "succeeded"]
    again = await api.post(path, json={"amount": 1, "reason": "x"}, headers=operator.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] in ("refund_exceeds_paid", "refund_not_allowed")
    # The agency never booked it, so it was never asked to reverse anything.
    shown = (await api.get(f"/api/v1/admin/payments/{order['order_no']}", headers=operator.headers)).json()
    assert shown["reversal"] is None and shown["settlement"]["status"] == "refused"


async def test_a_settled_payment_is_refunded_in_full_only(api: httpx.AsyncClient, resident: Session,
                                                          operator: Session) -> None:
    order = await settled_order(api, resident, fine=10_000)
    path = f"/api/v1/admin/payments/{order['order_no']}/refunds"
    part = await api.post(path, json={"amount": 4_000, "reason": "部分退款"}, headers=operator.headers)
    assert part.status_code == 409, part.text
    assert part.json()["error"]["code"] == "partial_refund_not_allowed"
    assert part.json()["error"]["context"] == {"refundable": 10_000}
    too_much = await api.post(path, json={"amount": 10_001, "reason": "错收"}, headers=operator.headers)
    assert too_much.json()["error"]["code"] == "refund_exceeds_paid"
    # Nothing was written, nothing moved: still settled, no refund, no reversal asked.
    db_order = await PaymentOrder.get(order_no=order["order_no"])
    assert db_order.status == "settled"
    assert not await PaymentRefund.filter(order_id=db_order.id).exists()
    shown = (await api.get(f"/api/v1/admin/payments/{order['order_no']}", headers=operator.headers)).json()
    assert shown["reversal"] is None and shown["refunds"] == []


async def test_refund_of_an_unpaid_order_is_refused(api: httpx.AsyncClient, resident: Session, operator: Session) -> None:
    bill = await make_fine(api)
    order = (await open_payment(api, resident.headers, bill)).json()
    response = await api.post(f"/api/v1/admin/payments/{order['order_no']}/refunds",
                              json={"amount": 1, "reason": "x"}, headers=operator.headers)
    assert response.status_code == 409 and response.json()["error"]["code"] == "refund_not_allowed"
    invalid = await api.post(f"/api/v1/admin/payments/{order['order_no']}/refunds",
                             json={"amount": -5, "reason": "x"}, headers=operator.headers)
    assert invalid.status_code == 422


async def test_agency_outage_is_retried_until_settled_once(api: httpx.AsyncClient, live: LiveServer,
                                                          resident: Session) -> None:
    bill = await make_fine(api)
    order = (await open_payment(api, resident.headers, bill)).json()
    # The agency takes the first settlement and then times out, then answers 5xx once.
    faults = {"settle": {"mode": "accept_then_timeout", "times": 1, "delay": 6}}
    await api.post("/sandbox/traffic/faults", json=faults)
    await pay_in_sandbox(api, order["order_no"])
    await wait_for_status(api, resident.headers, order["order_no"], "paid")
    outbox = None
    for _ in range(100):
        outbox = await SettlementOutbox.get(order__order_no=order["order_no"])
        if outbox.attempts >= 1:
            break
        await asyncio.sleep(0.1)
    assert outbox is not None and outbox.last_error == "agency_timeout"
    await api.post("/sandbox/traffic/faults", json={"settle": {"mode": "error", "times": 1}})
    for _ in range(2):
        await SettlementOutbox.filter(id=outbox.id, status="pending").update(next_attempt_at=datetime.now(UTC))
        live.app.ctx.services.payments.worker.wake()
        await asyncio.sleep(0.5)
    await wait_for_status(api, resident.headers, order["order_no"], "settled")
    counters = live.sandbox("traffic").book.counters()
    assert counters["by_bill"][bill["decision_no"]] == 1
    fine_state = (await api.get(f"/sandbox/traffic/fines/{bill['decision_no']}")).json()
    assert fine_state["settlement_id"] == "S" + order["order_no"][1:]


# The channel's own refusal (WeChat Pay v3 error `code` / Alipay `sub_code`, and its message).
REFUSALS = {"wechatpay": ("USER_ACCOUNT_ABNORMAL", "退款请求失败"),
            "alipay": ("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足")}


@pytest.mark.parametrize("channel", ["wechatpay", "alipay"])
async def test_a_refund_the_channel_refuses_says_why_in_the_channels_own_words(
    api: httpx.AsyncClient, live: LiveServer, resident: Session, operator: Session, channel: str
) -> None:
    """201 with the refund `failed` (the order `paid`, refundable again) and, for the operator,
    the channel's code and message instead of a null failure_code."""
    order = await paid_unsettled_order(api, live, resident, channel=channel)
    code, message = REFUSALS[channel]
    await api.post(f"/sandbox/{channel}/faults",
                   json={"calls": [{"operation": "refund", "fault": "refuse", "code": code, "message": message}]})
    path = f"/api/v1/admin/payments/{order['order_no']}/refunds"
    refused = await api.post(path, json={"amount": order["amount"], "reason": "多缴"}, headers=operator.headers)
    assert refused.status_code == 201, refused.text
    assert (refused.json()["status"], refused.json()["failure_code"], refused.json()["failure_message"]) == (
        "failed", code, message)
    shown = (await api.get(f"/api/v1/admin/payments/{order['order_no']}", headers=operator.headers)).json()
    assert shown["status"] == "paid"
    assert [(r["status"], r["failure_code"], r["failure_message"]) for r in shown["refunds"]] == [
        ("failed", code, message)]
    again = await api.post(path, json={"amount": order["amount"], "reason": "多缴"}, headers=operator.headers)
    assert again.status_code == 201 and again.json()["failure_code"] is None, again.text


async def test_a_refund_wechat_pay_closes_later_is_failed_with_its_status(
    api: httpx.AsyncClient, live: LiveServer, resident: Session, operator: Session
) -> None:
    """WeChat Pay accepts the refund, then gives up on it (status CLOSED, no reason given)."""
    order = await paid_unsettled_order(api, live, resident)
    await api.post("/sandbox/wechatpay/faults", json={"refund_outcome": "CLOSED"})
    try:
        opened = await api.post(f"/api/v1/admin/payments/{order['order_no']}/refunds",
                                json={"amount": order["amount"], "reason": "多缴"}, headers=operator.headers)
        assert opened.status_code == 201 and opened.json()["status"] == "processing", opened.text
        for _ in range(100):
            refund = await PaymentRefund.get(refund_no=opened.json()["refund_no"])
            if refund.status != "processing":
                break
            await asyncio.sleep(0.1)
    finally:
        await api.post("/sandbox/wechatpay/faults", json={"refund_outcome": "SUCCESS"})
    assert (refund.status, refund.failure_code, refund.failure_message) == ("failed", "CLOSED", None)
    await wait_for_status(api, resident.headers, order["order_no"], "paid")


async def test_payment_for_a_bill_settled_elsewhere_is_refunded(api: httpx.AsyncClient, live: LiveServer,
                                                                resident: Session) -> None:
    bill = await make_fine(api)
    order = (await open_payment(api, resident.headers, bill)).json()
    # Meanwhile the fine was paid at a bank counter: the agency will refuse our settlement.
    live.sandbox("traffic").fines[bill["decision_no"]].status = "paid"
    await pay_in_sandbox(api, order["order_no"])
    refunded = await wait_for_status(api, resident.headers, order["order_no"], "refunded")
    assert refunded["refunded_amount"] == refunded["amount"]
    refund = await PaymentRefund.get(order__order_no=order["order_no"])
    assert refund.kind == "double_payment" and refund.status == "succeeded"
    assert live.sandbox("traffic").book.counters()["by_bill"].get(bill["decision_no"], 0) == 0


async def test_alipay_payment_refund(api: httpx.AsyncClient, resident: Session, operator: Session) -> None:
    bill = await make_fine(api, fine=7_000)
    order = (await open_payment(api, resident.headers, bill, channel="alipay")).json()
    await pay_in_sandbox(api, order["order_no"], channel="alipay")
    await wait_for_status(api, resident.headers, order["order_no"], "settled")
    refund = await api.post(f"/api/v1/admin/payments/{order['order_no']}/refunds",
                            json={"amount": 7_000, "reason": "撤销处罚"}, headers=operator.headers)
    assert refund.status_code == 201, refund.text
    await wait_for_status(api, resident.headers, order["order_no"], "refunded")
    shown = (await api.get(f"/api/v1/admin/payments/{order['order_no']}", headers=operator.headers)).json()
    assert [r["status"] for r in shown["refunds"]] == ["succeeded"]
    assert [(h["event"], h["to"]) for h in shown["history"]] == [
        ("channel_opened", "paying"), ("payment_confirmed", "paid"), ("settlement_accepted", "settled"),
        ("reversal_requested", "refunding"), ("settlement_reversed", "refunding"), ("refund_completed", "refunded")]
    assert shown["reversal"]["status"] == "confirmed"


async def test_alipay_second_partial_refund_notify_is_accepted(api: httpx.AsyncClient, live: LiveServer,
                                                               resident: Session, operator: Session) -> None:
    order = await paid_unsettled_order(api, live, resident, fine=9_000, channel="alipay")
    path = f"/api/v1/admin/payments/{order['order_no']}/refunds"
    for amount in (2_000, 3_000):
        response = await api.post(path, json={"amount": amount, "reason": "部分退款"}, headers=operator.headers)
        assert response.status_code == 201, response.text
        await wait_for_status(api, resident.headers, order["order_no"], "paid")
    # Alipay states the cumulative refund (2,000 then 5,000): both notifies are genuine and accepted.
    for _ in range(50):
        deliveries = (await api.get("/sandbox/alipay/notifies", params={"order_no": order["order_no"]})).json()
        refund_notifies = [d for d in deliveries["deliveries"] if d["kind"] == "genuine"]
        if len(refund_notifies) >= 3 and all(d["accepted"] for d in refund_notifies):
            break
        await asyncio.sleep(0.2)
    assert len(refund_notifies) >= 3 and all(d["accepted"] for d in refund_notifies), refund_notifies
    shown = (await api.get(f"/api/v1/admin/payments/{order['order_no']}", headers=operator.headers)).json()
    assert shown["refunded_amount"] == 5_000


async def test_a_database_outage_is_one_warning_for_the_worker_not_a_traceback_a_round(live, caplog):
    import logging
    import sqlite3

    from tortoise.exceptions import OperationalError

    worker = live.app.ctx.services.payments.worker

    def locked() -> OperationalError:
        try:
            raise OperationalError("locked") from sqlite3.OperationalError("database is locked")
        except OperationalError as wrapped:
            return wrapped

    with caplog.at_level(logging.WARNING, logger="app.payments.worker"):
        for _ in range(3):
            worker._report_failed_round(locked())
        worker._report_failed_round(ValueError("a bug"))
    warnings = [r for r in caplog.records if "did not answer" in r.getMessage()]
    failures = [r for r in caplog.records if r.getMessage() == "payment worker round failed"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING and not warnings[0].exc_info
    assert len(failures) == 1 and failures[0].exc_info
    worker._database_down = False
