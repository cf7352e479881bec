"""A bill that is already paid, by us or at the agency itself: a clear 409, never a second order."""

from __future__ import annotations

import httpx
import pytest

from models.payments import PaymentOrder
from tests.conftest import LiveServer, Session, login
from tests.test_payment_support import (
    make_fine,
    make_notice,
    open_payment,
    paid_unsettled_order,
    settled_order,
)

OTHER = {"wechatpay": "alipay", "alipay": "wechatpay"}


def assert_already_paid(answer: httpx.Response, context: dict[str, str]) -> None:
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "bill_already_paid", answer.text
    assert answer.json()["error"]["context"] == context


@pytest.mark.parametrize("status", ["settled", "paid"])
async def test_a_bill_we_took_the_money_for_is_already_paid_for_its_payer_and_for_others(
    api: httpx.AsyncClient, live: LiveServer, resident: Session, status: str
) -> None:
    """Not `bill_being_paid`, as if someone were still paying: the payer is named their order;
    anyone else is told the bill is paid, but not whose payment paid it."""
    if status == "settled":
        order = await settled_order(api, resident)
        fine = order["fine"]
    else:  # the agency has not booked it: its lookup still says unpaid
        order = await paid_unsettled_order(api, live, resident)
        fine = (await PaymentOrder.get(order_no=order["order_no"])).bill_ref
        fine = {"decision_no": fine, "plate": live.sandbox("traffic").fines[fine].plate}
    for channel in ("wechatpay", "alipay"):
        assert_already_paid(await open_payment(api, resident.headers, fine, channel=channel),
                            {"order_no": order["order_no"]})
    someone_else = await login(api)
    assert_already_paid(await open_payment(api, someone_else.headers, fine), {})
    assert await PaymentOrder.filter(bill_ref=fine["decision_no"]).count() == 1


async def test_a_paid_order_that_no_longer_holds_the_bill_still_answers_already_paid(
    api: httpx.AsyncClient, live: LiveServer, resident: Session
) -> None:
    """An order closed first and paid after (the channel's late confirmation wins) has given up
    the bill's live key; the money it holds still makes the bill paid."""
    order = await paid_unsettled_order(api, live, resident)
    await PaymentOrder.filter(order_no=order["order_no"]).update(live_bill_key=None)
    bill_ref = (await PaymentOrder.get(order_no=order["order_no"])).bill_ref
    fine = {"decision_no": bill_ref, "plate": live.sandbox("traffic").fines[bill_ref].plate}
    assert_already_paid(await open_payment(api, resident.headers, fine), {"order_no": order["order_no"]})
    assert_already_paid(await open_payment(api, (await login(api)).headers, fine), {})
    assert await PaymentOrder.filter(bill_ref=bill_ref).count() == 1


async def test_a_fine_paid_at_the_agency_itself_shows_paid_and_cannot_be_paid_again(
    api: httpx.AsyncClient, live: LiveServer, resident: Session
) -> None:
    """Paid at a bank counter: the traffic police say `paid`; nothing is due and no order opens."""
    fine = await make_fine(api, fine=20_000, overdue_days=2)
    live.sandbox("traffic").fines[fine["decision_no"]].status = "paid"
    found = await api.get("/api/v1/fines", params={"decision_no": fine["decision_no"], "plate": fine["plate"]},
                          headers=resident.headers)
    assert found.status_code == 200, found.text
    assert (found.json()["status"], found.json()["amount_due"]) == ("paid", 0)
    for channel in ("wechatpay", "alipay"):
        assert_already_paid(await open_payment(api, resident.headers, fine, channel=channel), {})
    assert await PaymentOrder.filter(bill_ref=fine["decision_no"]).count() == 0


async def test_a_notice_paid_at_the_tax_bureau_itself_shows_paid_and_cannot_be_paid_again(
    api: httpx.AsyncClient, live: LiveServer, resident: Session
) -> None:
    notice = await make_notice(api, amounts=(5_000,))
    live.sandbox("tax").notices[notice["notice_code"]].status = "paid"
    found = await api.get(f"/api/v1/bills/{notice['notice_code']}", headers=resident.headers)
    assert found.status_code == 200, found.text
    assert (found.json()["status"], found.json()["amount_due"]) == ("paid", 0)
    answer = await api.post("/api/v1/payments", headers=resident.headers | {"Idempotency-Key": notice["notice_code"]},
                            json={"bill_type": "fee", "bill_ref": notice["notice_code"], "channel": "alipay"})
    assert_already_paid(answer, {})
    assert await PaymentOrder.filter(bill_ref=notice["notice_code"]).count() == 0


@pytest.mark.parametrize("channel", ["wechatpay", "alipay"])
async def test_an_open_order_is_not_handed_out_again_once_the_agency_says_paid(
    api: httpx.AsyncClient, live: LiveServer, resident: Session, channel: str
) -> None:
    """The payer opened an order, then paid at the counter: asking again (same channel or the
    other) must not give them pay_params that would take the money a second time."""
    fine = await make_fine(api)
    opened = await open_payment(api, resident.headers, fine, channel=channel)
    assert opened.status_code == 201, opened.text
    live.sandbox("traffic").fines[fine["decision_no"]].status = "paid"
    assert_already_paid(await open_payment(api, resident.headers, fine, channel=channel), {})
    assert_already_paid(await open_payment(api, resident.headers, fine, channel=OTHER[channel]), {})
    assert await PaymentOrder.filter(bill_ref=fine["decision_no"]).count() == 1
