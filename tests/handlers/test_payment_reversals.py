"""Refunding a settled payment: the agency reverses the settlement (冲正) first, then the channel refunds.

Over HTTP against the sandboxes, with the payment worker running in the service (stopped where a
test plays the worker's part itself).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from models.payments import PaymentOrder, PaymentOrderEvent, PaymentRefund, SettlementReversal
from tests.conftest import LiveServer, Session
from tests.test_payment_support import make_notice, open_payment, settled_order, wait_for_status


def channel_refunds(live: LiveServer, order_no: str) -> list[Any]:
    return [r for r in live.sandbox("wechatpay").refunds.values() if r.out_trade_no == order_no]


async def refund_in_full(api: httpx.AsyncClient, operator: Session, order: dict[str, Any],
                         reason: str = "撤销处罚") -> httpx.Response:
    return await api.post(f"/api/v1/admin/payments/{order['order_no']}/refunds",
                          json={"amount": order["amount"] - order["refunded_amount"], "reason": reason},
                          headers=operator.headers)


async def wait_for_reversal(order_no: str, wanted: str, *, attempts: int = 1, within: float = 20.0) -> SettlementReversal:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        reversal = await SettlementReversal.get_or_none(order__order_no=order_no)
        if reversal is not None and reversal.status == wanted and reversal.attempts >= attempts:
            return reversal
        await asyncio.sleep(0.1)
    raise AssertionError(f"the reversal of {order_no} never became {wanted} after {attempts} attempt(s)")


async def ask_again_now(live: LiveServer, reversal: SettlementReversal) -> None:
    """The worker's backoff, cut short."""
    await SettlementReversal.filter(id=reversal.id, status="pending").update(next_attempt_at=datetime.now(UTC))
    live.app.ctx.services.payments.worker.wake()


async def test_a_settled_fine_is_reversed_at_the_agency_then_refunded(
    api: httpx.AsyncClient, live: LiveServer, resident: Session, operator: Session
) -> None:
    order = await settled_order(api, resident, fine=10_000, overdue_days=1)
    fine = order["fine"]
    assert order["amount"] == 10_300  # with a day of 加处罚款
    answer = await refund_in_full(api, operator, order)
    assert answer.status_code == 201, answer.text
    opened = answer.json()
    assert opened["status"] == "awaiting_reversal" and opened["amount"] == 10_300
    assert opened["reversal"]["reversal_id"] == "V" + order["order_no"][1:]
    assert opened["reversal"]["settlement_id"] == "S" + order["order_no"][1:]

    refunded = await wait_for_status(api, resident.headers, order["order_no"], "refunded")
    assert refunded["refunded_amount"] == 10_300 and refunded["receipt"]["voided_at"]
    shown = (await api.get(f"/api/v1/admin/payments/{order['order_no']}", headers=operator.headers)).json()
    assert shown["reversal"]["status"] == "confirmed" and shown["reversal"]["attempts"] == 1
    assert shown["reversal"]["voided_receipt_no"] == order["receipt"]["receipt_no"]
    assert [(r["status"], r["failure_code"]) for r in shown["refunds"]] == [("succeeded", None)]
    assert [h["event"] for h in shown["history"]][-3:] == ["reversal_requested", "settlement_reversed",
                                                           "refund_completed"]
    # The agency reversed once, the channel refunded once.
    counters = live.sandbox("traffic").book.counters()
    assert counters["reversals"]["by_bill"][fine["decision_no"]] == 1
    assert counters["by_bill"][fine["decision_no"]] == 1
    assert [r.refund for r in channel_refunds(live, order["order_no"])] == [10_300]
    # The fine is owed again, late fee and all, and can be paid anew.
    owed = await api.get("/api/v1/fines", params={"decision_no": fine["decision_no"], "plate": fine["plate"]},
                         headers=resident.headers)
    assert owed.status_code == 200, owed.text
    assert (owed.json()["status"], owed.json()["amount_due"]) == ("unpaid", 10_300)
    again = await open_payment(api, resident.headers, fine)
    assert again.status_code == 201, again.text


async def test_a_settled_tax_notice_is_reversed_then_refunded(api: httpx.AsyncClient, live: LiveServer,
                                                              resident: Session, operator: Session) -> None:
    notice = await make_notice(api, kind="tax", amounts=(6_000,))
    created = await api.post("/api/v1/payments", headers=resident.headers | {"Idempotency-Key": notice["notice_code"]},
                             json={"bill_type": "tax", "bill_ref": notice["notice_code"], "channel": "alipay"})
    assert created.status_code == 201, created.text
    order_no = created.json()["order_no"]
    await api.post("/sandbox/alipay/confirm", json={"order_no": order_no, "outcome": "pay"})
    order = await wait_for_status(api, resident.headers, order_no, "settled")
    assert (await refund_in_full(api, operator, order, reason="多缴")).status_code == 201
    await wait_for_status(api, resident.headers, order_no, "refunded")
    assert live.sandbox("tax").book.counters()["reversals"]["by_bill"][notice["notice_code"]] == 1
    assert live.sandbox("tax").notices[notice["notice_code"]].status == "unpaid"


async def test_when_the_agency_refuses_no_money_moves(api: httpx.AsyncClient, live: LiveServer, resident: Session,
                                                      operator: Session) -> None:
    order = await settled_order(api, resident, fine=5_000)
    fine = live.sandbox("traffic").fines[order["fine"]["decision_no"]]
    fine.reversible = False  # e.g. the case is closed and the receipt reported to the treasury
    assert (await refund_in_full(api, operator, order)).status_code == 201
    await wait_for_reversal(order["order_no"], "refused")
    back = await wait_for_status(api, resident.headers, order["order_no"], "settled")
    assert back["refunded_amount"] == 0 and back["receipt"]["voided_at"] is None
    shown = (await api.get(f"/api/v1/admin/payments/{order['order_no']}", headers=operator.headers)).json()
    assert shown["reversal"]["status"] == "refused" and shown["reversal"]["last_error"] == "reversal_not_allowed"
    assert [(r["status"], r["failure_code"]) for r in shown["refunds"]] == [("failed", "reversal_refused")]
    assert [h["event"] for h in shown["history"]][-2:] == ["reversal_requested", "reversal_refused"]
    assert channel_refunds(live, order["order_no"]) == []
    assert fine.status == "paid"

    # Once the agency allows it, the operator asks again: the same reversal id, now reversed.
    fine.reversible = True
    assert (await refund_in_full(api, operator, order)).status_code == 201
    await wait_for_status(api, resident.headers, order["order_no"], "refunded")
    reversal = await SettlementReversal.get(order__order_no=order["order_no"])
    assert (reversal.status, reversal.attempts, reversal.reversal_id) == ("confirmed", 2, "V" + order["order_no"][1:])
    statuses = await PaymentRefund.filter(order__order_no=order["order_no"]).order_by("id").values_list("status", flat=True)
    assert statuses == ["failed", "succeeded"]
    assert len(channel_refunds(live, order["order_no"])) == 1


async def test_an_agency_timeout_is_asked_again_under_the_same_id(api: httpx.AsyncClient, live: LiveServer,
                                                                  resident: Session, operator: Session) -> None:
    order = await settled_order(api, resident, fine=4_000)
    decision_no = order["fine"]["decision_no"]
    # The agency reverses and then does not answer within the service's agency timeout.
    await api.post("/sandbox/traffic/faults", json={"reverse": {"mode": "accept_then_timeout", "times": 1, "delay": 6}})
    assert (await refund_in_full(api, operator, order)).status_code == 201
    reversal = await wait_for_reversal(order["order_no"], "pending", within=15)
    assert reversal.last_error == "agency_timeout"
    assert live.sandbox("traffic").fines[decision_no].status == "unpaid"  # it did reverse
    # Meanwhile nothing reached the channel, and the order is still being refunded.
    assert channel_refunds(live, order["order_no"]) == []
    assert (await PaymentOrder.get(order_no=order["order_no"])).status == "refunding"
    refund = await PaymentRefund.get(order__order_no=order["order_no"])
    assert refund.status == "awaiting_reversal"
    # Then one 5xx, and then the answer: the repeat is answered from the agency's record.
    await api.post("/sandbox/traffic/faults", json={"reverse": {"mode": "error", "times": 1}})
    await ask_again_now(live, reversal)
    reversal = await wait_for_reversal(order["order_no"], "pending", attempts=2)
    assert reversal.last_error == "agency_unavailable"
    await ask_again_now(live, reversal)
    await wait_for_status(api, resident.headers, order["order_no"], "refunded")
    reversal = await SettlementReversal.get(id=reversal.id)
    assert (reversal.status, reversal.attempts) == ("confirmed", 3)
    counters = live.sandbox("traffic").book.counters()["reversals"]
    assert counters["by_bill"][decision_no] == 1
    assert len(channel_refunds(live, order["order_no"])) == 1


async def test_a_crash_between_reversal_and_refund_is_finished_by_the_worker(
    api: httpx.AsyncClient, live: LiveServer, resident: Session, operator: Session
) -> None:
    order = await settled_order(api, resident, fine=3_500)
    service = live.app.ctx.services.payments
    await service.worker.stop()
    try:
        assert (await refund_in_full(api, operator, order)).status_code == 201
        job = await SettlementReversal.get(order__order_no=order["order_no"])
        # A worker gets the agency's yes, records it, and dies before it reaches the channel.
        released = await service.reversals.deliver(job)
        assert released is not None and released.status == "processing"
        assert await service.reversals.deliver(job) is None  # recorded once: a second answer changes nothing
        assert channel_refunds(live, order["order_no"]) == []
        db_order = await PaymentOrder.get(order_no=order["order_no"])
        assert db_order.status == "refunding"
    finally:
        await service.worker.start()
    # The refund poller finds the refund the channel never heard of and submits it, same number.
    await PaymentRefund.filter(id=released.id).update(next_poll_at=datetime.now(UTC))
    service.worker.wake()
    await wait_for_status(api, resident.headers, order["order_no"], "refunded")
    assert [r.out_refund_no for r in channel_refunds(live, order["order_no"])] == [released.refund_no]
    assert live.sandbox("traffic").book.counters()["reversals"]["by_bill"][order["fine"]["decision_no"]] == 1


async def test_two_workers_answering_one_reversal_refund_once(api: httpx.AsyncClient, live: LiveServer,
                                                              resident: Session, operator: Session) -> None:
    order = await settled_order(api, resident, fine=2_200)
    service = live.app.ctx.services.payments
    await service.worker.stop()
    try:
        assert (await refund_in_full(api, operator, order)).status_code == 201
        job = await SettlementReversal.get(order__order_no=order["order_no"])
        # Both hold the same job (a lease ran out mid-call): both ask, one answer is recorded.
        await asyncio.gather(service.refunds.reverse_then_refund(job), service.refunds.reverse_then_refund(job))
    finally:
        await service.worker.start()
    await wait_for_status(api, resident.headers, order["order_no"], "refunded")
    counters = live.sandbox("traffic").book.counters()["reversals"]
    assert counters["by_bill"][order["fine"]["decision_no"]] == 1
    assert len(channel_refunds(live, order["order_no"])) == 1
    assert (await SettlementReversal.get(id=job.id)).attempts == 1
    assert await PaymentOrderEvent.filter(order_id=job.order_id, event="settlement_reversed").count() == 1


async def test_overdue_reversals_and_reconciliation_show_them(api: httpx.AsyncClient, live: LiveServer,
                                                              resident: Session, operator: Session) -> None:
    order = await settled_order(api, resident, fine=1_800)
    await api.post("/sandbox/traffic/faults", json={"reverse": {"mode": "error", "times": 1}})
    assert (await refund_in_full(api, operator, order)).status_code == 201
    reversal = await wait_for_reversal(order["order_no"], "pending")
    await SettlementReversal.filter(id=reversal.id).update(
        requested_at=datetime(2020, 1, 1, tzinfo=UTC), next_attempt_at=datetime(2099, 1, 1, tzinfo=UTC))
    stats = (await api.get("/api/v1/admin/payment-stats", headers=operator.headers)).json()
    overdue = [r for r in stats["overdue_reversals"] if r["order_no"] == order["order_no"]]
    assert len(overdue) == 1 and overdue[0]["last_error"] == "agency_unavailable"
    # The agency reversed it through its own back office while ours was still waiting: reported.
    entry = live.sandbox("traffic").book.by_id["S" + order["order_no"][1:]]
    entry["reversal_id"] = "V-counter"
    try:
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        run = (await api.post("/api/v1/admin/reconciliations", json={"date": today}, headers=operator.headers)).json()
    finally:
        entry["reversal_id"] = None
    mine = [i for i in run["items"] if i["order_no"] == order["order_no"]]
    assert [(i["kind"], i["detail"]["reversed_at_agency"], i["detail"]["reversed_here"]) for i in mine] == [
        ("reversal_mismatch", True, False)]
    await ask_again_now(live, reversal)
    await wait_for_status(api, resident.headers, order["order_no"], "refunded")
    run = (await api.post("/api/v1/admin/reconciliations", json={"date": today}, headers=operator.headers)).json()
    assert [i for i in run["items"] if i["order_no"] == order["order_no"]] == []
