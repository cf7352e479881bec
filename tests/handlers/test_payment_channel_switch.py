"""A payer switching channel for a bill they are paying: the open order is closed at its channel
first, and only then replaced; a payment the close reveals is recorded and answered 409."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.ports import ChannelError, ChannelOrder
from models.payments import PaymentOrder, PaymentOrderEvent, SettlementOutbox
from tests.conftest import LiveServer, Session, login
from tests.test_payment_support import ChannelWithCalls, make_fine, open_payment, pay_in_sandbox, wait_for_status

OTHER = {"wechatpay": "alipay", "alipay": "wechatpay"}


def trade_state(live: LiveServer, channel: str, order_no: str) -> str:
    """The order's state as the channel sandbox holds it."""
    if channel == "wechatpay":
        return str(live.sandbox("wechatpay").orders[order_no].trade_state)
    return str(live.sandbox("alipay").trades[order_no].trade_status)


@pytest.mark.parametrize("first", ["wechatpay", "alipay"])
async def test_switching_channel_closes_the_open_order_then_opens_a_new_one(
    api: httpx.AsyncClient, live: LiveServer, resident: Session, first: str
) -> None:
    fine = await make_fine(api)
    old = (await open_payment(api, resident.headers, fine, channel=first)).json()
    switched = await open_payment(api, resident.headers, fine, channel=OTHER[first])
    assert switched.status_code == 201, switched.text
    new = switched.json()
    assert new["order_no"] != old["order_no"] and new["status"] == "paying" and new["amount"] == old["amount"]
    assert trade_state(live, first, old["order_no"]) in ("CLOSED", "TRADE_CLOSED")
    closed = await PaymentOrder.get(order_no=old["order_no"])
    assert closed.status == "closed" and closed.live_bill_key is None and closed.closed_at is not None
    event = await PaymentOrderEvent.get(order_id=closed.id, event="channel_switched")
    assert event.detail == {"channel_state": "closed", "replaced_by": new["order_no"], "new_channel": OTHER[first]}
    # The old order can no longer be paid at its channel; the same channel again resumes the new one.
    refused = await api.post(f"/sandbox/{first}/confirm", json={"order_no": old["order_no"], "outcome": "pay"})
    assert refused.status_code == 409
    again = await open_payment(api, resident.headers, fine, channel=OTHER[first])
    assert again.status_code == 200 and again.json()["order_no"] == new["order_no"]
    await pay_in_sandbox(api, new["order_no"], channel=OTHER[first])
    await wait_for_status(api, resident.headers, new["order_no"], "settled")
    assert live.sandbox("traffic").book.counters()["by_bill"][fine["decision_no"]] == 1


async def test_only_the_payer_of_the_open_order_may_switch_it(api: httpx.AsyncClient, live: LiveServer,
                                                              resident: Session) -> None:
    fine = await make_fine(api)
    old = (await open_payment(api, resident.headers, fine)).json()
    someone_else = await login(api)
    refused = await open_payment(api, someone_else.headers, fine, channel="alipay")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "bill_being_paid"
    assert trade_state(live, "wechatpay", old["order_no"]) == "NOTPAY"
    assert (await PaymentOrder.get(order_no=old["order_no"])).status == "paying"


@pytest.mark.parametrize("first", ["wechatpay", "alipay"])
async def test_a_switch_that_finds_the_old_order_paid_records_it_and_answers_409(
    api: httpx.AsyncClient, live: LiveServer, resident: Session, first: str
) -> None:
    """The payer paid just before switching and the notify has not come (WeChat Pay answers the
    close with ORDERPAID, Alipay with ACQ.TRADE_STATUS_ERROR and a query shows TRADE_SUCCESS)."""
    fine = await make_fine(api)
    old = (await open_payment(api, resident.headers, fine, channel=first)).json()
    await api.post(f"/sandbox/{first}/faults", json={"notifies": [{"kind": "drop", "order_no": old["order_no"]}]})
    await pay_in_sandbox(api, old["order_no"], channel=first)
    switched = await open_payment(api, resident.headers, fine, channel=OTHER[first])
    assert switched.status_code == 409, switched.text
    assert switched.json()["error"]["code"] == "bill_already_paid"
    assert switched.json()["error"]["context"] == {"order_no": old["order_no"]}
    await wait_for_status(api, resident.headers, old["order_no"], "settled")
    db_order = await PaymentOrder.get(order_no=old["order_no"])
    confirmed = await PaymentOrderEvent.filter(order_id=db_order.id, event="payment_confirmed")
    assert [e.detail for e in confirmed] == [{"source": "close"}]
    assert await SettlementOutbox.filter(order_id=db_order.id).count() == 1
    assert await PaymentOrder.filter(bill_ref=fine["decision_no"]).count() == 1
    assert live.sandbox("traffic").book.counters()["by_bill"][fine["decision_no"]] == 1


async def test_a_switch_the_channel_cannot_confirm_changes_nothing(
    api: httpx.AsyncClient, live: LiveServer, resident: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    fine = await make_fine(api)
    old = (await open_payment(api, resident.headers, fine)).json()
    await api.post("/sandbox/wechatpay/faults", json={"calls": [{"operation": "close", "fault": "server_error"}]})
    key = "switch-" + old["order_no"]
    failed = await open_payment(api, resident.headers, fine, channel="alipay", key=key)
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "channel_unavailable", failed.text
    channels = live.app.ctx.services.payments.orders.channels
    refusal = ChannelError("refused", code="channel_rejected", retryable=False)

    async def refuse(order_no: str) -> None:
        raise refusal

    with monkeypatch.context() as patch:
        patch.setitem(channels, "wechatpay", ChannelWithCalls(channels["wechatpay"], close=refuse))
        refused = await open_payment(api, resident.headers, fine, channel="alipay", key=key)
    assert refused.status_code == 502 and refused.json()["error"]["code"] == "channel_refused", refused.text
    kept = await PaymentOrder.get(order_no=old["order_no"])
    assert kept.status == "paying" and kept.live_bill_key is not None
    assert trade_state(live, "wechatpay", old["order_no"]) == "NOTPAY"
    assert await PaymentOrder.filter(bill_ref=fine["decision_no"]).count() == 1
    # Nothing was promised under the key: the same request goes through once the channel answers.
    retried = await open_payment(api, resident.headers, fine, channel="alipay", key=key)
    assert retried.status_code == 201, retried.text
    assert trade_state(live, "wechatpay", old["order_no"]) == "CLOSED"


async def test_an_order_the_channel_never_opened_is_switched_at_once(api: httpx.AsyncClient, live: LiveServer,
                                                                      resident: Session) -> None:
    fine = await make_fine(api)
    await api.post("/sandbox/wechatpay/faults", json={"calls": [{"operation": "create", "fault": "server_error"}]})
    failed = await open_payment(api, resident.headers, fine)
    assert failed.status_code == 503
    old_no = failed.json()["error"]["context"]["order_no"]
    assert old_no not in live.sandbox("wechatpay").orders
    switched = await open_payment(api, resident.headers, fine, channel="alipay")
    assert switched.status_code == 201, switched.text
    old = await PaymentOrder.get(order_no=old_no)
    assert old.status == "closed"
    event = await PaymentOrderEvent.get(order_id=old.id, event="channel_switched")
    assert event.from_status == "created" and event.detail["channel_state"] == "missing"


async def test_an_order_replaced_while_its_channel_was_opening_it_is_not_handed_out(
    api: httpx.AsyncClient, live: LiveServer, resident: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request's create reaches WeChat Pay only after the switch closed its order (which
    WeChat did not hold yet): its prepay must not reach the payer, or both could be paid."""
    fine = await make_fine(api)
    channels = live.app.ctx.services.payments.orders.channels
    wechatpay = channels["wechatpay"]
    reached, release = asyncio.Event(), asyncio.Event()

    async def slow_create(order: ChannelOrder) -> dict[str, Any]:
        reached.set()
        await release.wait()
        return dict(await wechatpay.create(order))

    monkeypatch.setitem(channels, "wechatpay", ChannelWithCalls(wechatpay, create=slow_create))
    first = asyncio.create_task(open_payment(api, resident.headers, fine))
    try:
        await asyncio.wait_for(reached.wait(), 10)
        switched = await open_payment(api, resident.headers, fine, channel="alipay")
    finally:
        release.set()
        late = await first
    assert switched.status_code == 201, switched.text
    assert late.status_code == 409 and late.json()["error"]["code"] == "bill_being_paid", late.text
    orders = await PaymentOrder.filter(bill_ref=fine["decision_no"]).order_by("id")
    assert [(o.channel, o.status) for o in orders] == [("wechatpay", "closed"), ("alipay", "paying")]
