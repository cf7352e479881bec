"""Both channels through the whole service: order, payer confirms in the sandbox, the signed notify
reaches /notify/<channel>, forged ones are turned away in the channel's own answer format."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer, Session
from tests.test_payment_support import make_fine, open_payment, pay_in_sandbox, wait_for_status


async def _deliveries(api: httpx.AsyncClient, channel: str, order_no: str) -> list[dict]:
    response = await api.get(f"/sandbox/{channel}/notifies", params={"order_no": order_no})
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


async def test_an_alipay_payment_is_confirmed_by_its_notify_and_settled(
    api: httpx.AsyncClient, live: LiveServer, resident: Session
) -> None:
    fine = await make_fine(api, fine=15_000)
    created = await open_payment(api, resident.headers, fine, channel="alipay")
    assert created.status_code == 201, created.text
    order = created.json()
    trade_no = order["pay_params"]["tradeNO"]
    assert live.sandbox("alipay").trades[order["order_no"]].trade_no == trade_no
    confirmed = await api.post("/sandbox/alipay/confirm", json={"trade_no": trade_no, "outcome": "pay"})
    assert confirmed.status_code == 200, confirmed.text
    await wait_for_status(api, resident.headers, order["order_no"], "settled")
    deliveries = await _deliveries(api, "alipay", order["order_no"])
    assert [(d["kind"], d["status"], d["accepted"]) for d in deliveries] == [("genuine", 200, True)]


@pytest.mark.parametrize(
    ("channel", "variant"),
    [
        ("alipay", "wrong_seller_id"),
        ("alipay", "wrong_amount"),
        ("alipay", "bad_signature"),
        ("wechatpay", "wrong_amount"),
        ("wechatpay", "signtest"),
        ("wechatpay", "stale_timestamp"),
    ],
)
async def test_forged_notifies_are_refused_and_the_genuine_one_still_pays(
    api: httpx.AsyncClient, resident: Session, channel: str, variant: str
) -> None:
    fine = await make_fine(api, fine=9_900)
    created = await open_payment(api, resident.headers, fine, channel=channel)
    assert created.status_code == 201, created.text
    order_no = created.json()["order_no"]
    knob = await api.post(f"/sandbox/{channel}/faults",
                          json={"notifies": [{"kind": "forge", "variant": variant, "order_no": order_no}]})
    assert knob.status_code == 200, knob.text
    await pay_in_sandbox(api, order_no, channel=channel)
    await wait_for_status(api, resident.headers, order_no, {"paid", "settled"})
    forged, genuine = await _deliveries(api, channel, order_no)
    assert forged["kind"] == f"forged:{variant}" and forged["accepted"] is False
    assert forged["status"] == 400  # WeChat: {"code": "FAIL"}; Alipay: "fail"
    assert genuine["accepted"] is True
