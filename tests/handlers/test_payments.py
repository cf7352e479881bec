"""Payments over HTTP against the live service and its channel and agency sandboxes."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.adapters._paycrypto import aes_gcm_encrypt
from app.services.payments import PaymentRequest
from models.payments import ChannelNotification, IdempotencyRecord, PaymentOrder, PaymentOrderEvent
from tests.conftest import LiveServer, Session, login
from tests.test_payment_support import make_fine, make_notice, open_payment, pay_in_sandbox, wait_for_status


async def test_fine_is_paid_settled_once_and_receipted(api: httpx.AsyncClient, live: LiveServer, resident: Session) -> None:
    fine = await make_fine(api, fine=20_000, overdue_days=2)
    found = await api.get("/api/v1/fines", params={"decision_no": fine["decision_no"], "plate": fine["plate"]},
                          headers=resident.headers)
    assert found.status_code == 200, found.text
    assert found.json()["amount_due"] == 20_000 + 1_200  # 3% a day for two days

    created = await open_payment(api, resident.headers, fine, amount=1)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["amount"] == 21_200  # the client's amount is ignored
    assert order["status"] == "paying"
    assert {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"} <= set(order["pay_params"])

    await pay_in_sandbox(api, order["order_no"])
    settled = await wait_for_status(api, resident.headers, order["order_no"], "settled")
    receipt = settled["receipt"]
    assert len(receipt["bill_code"]) == 8 and len(receipt["bill_no"]) == 10 and len(receipt["check_code"]) == 6
    assert receipt["amount"] == 21_200
    assert receipt["items"] == [{"name": "罚款", "amount": 20_000}, {"name": "加处罚款", "amount": 1_200}]
    counters = live.sandbox("traffic").book.counters()
    assert counters["by_bill"][fine["decision_no"]] == 1


async def test_tax_notice_lookup_and_payment(api: httpx.AsyncClient, resident: Session) -> None:
    notice = await make_notice(api, kind="fee", amounts=(3_000, 2_000))
    found = await api.get(f"/api/v1/bills/{notice['notice_code']}", headers=resident.headers)
    assert found.status_code == 200, found.text
    assert found.json()["amount_due"] == 5_000
    created = await api.post("/api/v1/payments", headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
                             json={"bill_type": "fee", "bill_ref": notice["notice_code"], "channel": "wechatpay"})
    assert created.status_code == 201, created.text
    await pay_in_sandbox(api, created.json()["order_no"])
    settled = await wait_for_status(api, resident.headers, created.json()["order_no"], "settled")
    assert settled["receipt"]["items"] == [{"name": "项目1", "amount": 3000}, {"name": "项目2", "amount": 2000}]


# --------------------------------------------------------------------------- who may do what
async def test_payment_routes_need_a_login(api: httpx.AsyncClient) -> None:
    for method, path in (("GET", "/api/v1/fines?decision_no=1&plate=x"), ("GET", "/api/v1/bills/1"),
                         ("POST", "/api/v1/payments"), ("GET", "/api/v1/payments/P1")):
        response = await api.request(method, path)
        assert response.status_code == 401, path


async def test_someone_elses_payment_is_not_found(api: httpx.AsyncClient, resident: Session) -> None:
    fine = await make_fine(api)
    order = (await open_payment(api, resident.headers, fine)).json()
    stranger = await login(api)
    response = await api.get(f"/api/v1/payments/{order['order_no']}", headers=stranger.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "payment_not_found"
    missing = await api.get("/api/v1/payments/P2026NOSUCHORDER", headers=resident.headers)
    assert missing.status_code == 404


async def test_admin_payment_routes_are_for_operators(api: httpx.AsyncClient, resident: Session,
                                                      operator: Session) -> None:
    fine = await make_fine(api)
    order = (await open_payment(api, resident.headers, fine)).json()
    for method, path, body in (
        ("GET", f"/api/v1/admin/payments/{order['order_no']}", None),
        ("POST", f"/api/v1/admin/payments/{order['order_no']}/refunds", {"amount": 1, "reason": "x"}),
        ("GET", "/api/v1/admin/reconciliations", None),
        ("POST", "/api/v1/admin/reconciliations", {"date": "2026-01-01"}),
        ("GET", "/api/v1/admin/payment-stats", None),
    ):
        response = await api.request(method, path, json=body, headers=resident.headers)
        assert response.status_code == 403, path
    shown = await api.get(f"/api/v1/admin/payments/{order['order_no']}", headers=operator.headers)
    assert shown.status_code == 200 and shown.json()["status"] == "paying"
    missing = await api.get("/api/v1/admin/payments/P2026NOSUCHORDER", headers=operator.headers)
    assert missing.status_code == 404
    no_refund = await api.post("/api/v1/admin/payments/P2026NOSUCHORDER/refunds", json={"amount": 1, "reason": "x"},
                               headers=operator.headers)
    assert no_refund.status_code == 404 and no_refund.json()["error"]["code"] == "payment_not_found"
    no_item = await api.post("/api/v1/admin/reconciliation-items/999999999/resolve", headers=operator.headers)
    assert no_item.status_code == 404 and no_item.json()["error"]["code"] == "reconciliation_item_not_found"
    stats = await api.get("/api/v1/admin/payment-stats", headers=operator.headers)
    assert stats.status_code == 200 and stats.json()["orders"]["paying"] >= 1


# --------------------------------------------------------------------------- bad input
async def test_bill_references_are_checked(api: httpx.AsyncClient, resident: Session) -> None:
    fine = await make_fine(api)
    cases = [
        ({"decision_no": "12AB", "plate": fine["plate"]}, 400, "invalid_bill_ref"),
        ({"decision_no": "1" * 16, "plate": fine["plate"]}, 404, "bill_not_found"),
        ({"decision_no": fine["decision_no"], "plate": "粤Z99999"}, 404, "bill_not_found"),
        ({"decision_no": fine["decision_no"]}, 422, "validation_failed"),
    ]
    for params, status, code in cases:
        response = await api.get("/api/v1/fines", params=params, headers=resident.headers)
        assert response.status_code == status, (params, response.text)
        assert response.json()["error"]["code"] == code
    by_name = await api.get("/api/v1/fines", params={"decision_no": fine["decision_no"], "name": "李四"},
                            headers=resident.headers)
    assert by_name.status_code == 200
    assert (await api.get("/api/v1/bills/ABC", headers=resident.headers)).json()["error"]["code"] == "invalid_bill_ref"
    unknown = await api.get("/api/v1/bills/" + "9" * 20, headers=resident.headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "bill_not_found"


async def test_payment_creation_rejects_bad_requests(api: httpx.AsyncClient, resident: Session) -> None:
    fine = await make_fine(api)
    unknown_channel = await open_payment(api, resident.headers, fine, channel="paypal")
    assert unknown_channel.status_code == 422
    assert unknown_channel.json()["error"]["code"] == "unknown_channel"
    no_key = await api.post("/api/v1/payments", headers=resident.headers, json={
        "bill_type": "fine", "bill_ref": fine["decision_no"], "plate": fine["plate"], "channel": "wechatpay"})
    assert no_key.status_code == 400 and no_key.json()["error"]["code"] == "idempotency_key_required"
    bad_ref = await api.post("/api/v1/payments", headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
                             json={"bill_type": "fine", "bill_ref": "x", "plate": "y", "channel": "wechatpay"})
    assert bad_ref.status_code == 400 and bad_ref.json()["error"]["code"] == "invalid_bill_ref"
    bad_type = await api.post("/api/v1/payments", headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
                              json={"bill_type": "parking", "bill_ref": "1", "channel": "wechatpay"})
    assert bad_type.status_code == 422
    orders = await PaymentOrder.filter(bill_ref=fine["decision_no"]).count()
    assert orders == 0  # nothing half-written


async def test_idempotency_key_replays_and_conflicts(api: httpx.AsyncClient, resident: Session) -> None:
    fine = await make_fine(api)
    key = uuid.uuid4().hex
    first = await open_payment(api, resident.headers, fine, key=key)
    again = await open_payment(api, resident.headers, fine, key=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = await make_fine(api)
    conflict = await open_payment(api, resident.headers, other, key=key)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_key_reused"
    assert await PaymentOrder.filter(bill_ref=other["decision_no"]).count() == 0


async def test_one_live_order_per_bill(api: httpx.AsyncClient, resident: Session) -> None:
    fine = await make_fine(api)
    first = (await open_payment(api, resident.headers, fine)).json()
    same_payer = await open_payment(api, resident.headers, fine)
    assert same_payer.status_code == 200 and same_payer.json()["order_no"] == first["order_no"]
    other_payer = await login(api)
    refused = await open_payment(api, other_payer.headers, fine)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "bill_being_paid"
    await pay_in_sandbox(api, first["order_no"])
    await wait_for_status(api, resident.headers, first["order_no"], "settled")
    paid = await open_payment(api, other_payer.headers, fine)
    assert paid.status_code == 409
    # Paid: said so, without naming someone else's order (tests/handlers/test_payment_paid_bills.py).
    assert paid.json()["error"] == {"code": "bill_already_paid", "message": "This bill has already been paid.",
                                    "context": {}}


# --------------------------------------------------------------------------- notifies
def signed_wechat_notify(state: Any, transaction: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    nonce = secrets.token_hex(6)
    body = json.dumps({
        "id": "EV-" + secrets.token_hex(8), "create_time": "2026-11-21T10:00:00+08:00",
        "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
        "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM", "associated_data": "transaction",
                     "nonce": nonce, "ciphertext": aes_gcm_encrypt(state.config.apiv3_key, nonce,
                                                                  json.dumps(transaction).encode(), "transaction")},
    }).encode()
    return state.sign(body, public_key_mode=False) | {"Content-Type": "application/json"}, body


async def test_notify_for_unknown_order_or_garbage_is_rejected(api: httpx.AsyncClient, live: LiveServer) -> None:
    state = live.sandbox("wechatpay")
    headers, body = signed_wechat_notify(state, {
        "appid": state.config.appid, "mchid": state.config.mchid, "out_trade_no": "P20261121000000NOSUCH00",
        "transaction_id": "4200000000", "trade_type": "JSAPI", "trade_state": "SUCCESS",
        "success_time": "2026-11-21T10:00:00+08:00", "amount": {"total": 100, "payer_total": 100, "currency": "CNY"},
        "payer": {"openid": "o1"},
    })
    response = await api.post("/notify/wechatpay", content=body, headers=headers)
    assert response.status_code >= 400 and response.json()["code"] == "FAIL"
    garbage = await api.post("/notify/wechatpay", content=b"not json", headers={"Content-Type": "application/json"})
    assert garbage.status_code >= 400
    unknown_channel = await api.post("/notify/paypal", content=b"{}")
    assert unknown_channel.status_code == 404


async def test_forged_notifies_change_nothing(api: httpx.AsyncClient, live: LiveServer, resident: Session) -> None:
    fine = await make_fine(api)
    order = (await open_payment(api, resident.headers, fine)).json()
    variants = ["bad_signature", "wrong_amount", "wrong_mchid", "wrong_appid", "stale_timestamp", "signtest"]
    faults = {"notifies": [{"kind": "forge", "variant": v, "order_no": order["order_no"]} for v in variants]
              + [{"kind": "delay", "seconds": 1800, "order_no": order["order_no"]}]}
    assert (await api.post("/sandbox/wechatpay/faults", json=faults)).status_code == 200
    await pay_in_sandbox(api, order["order_no"])
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        deliveries = (await api.get("/sandbox/wechatpay/notifies", params={"order_no": order["order_no"]})).json()
        forged = [d for d in deliveries["deliveries"] if d["kind"].startswith("forged:")]
        if len(forged) == len(variants) or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.1)
    assert len(forged) == len(variants) and not any(d["accepted"] for d in forged)
    # The genuine notify is still held back: the forgeries alone moved nothing.
    current = await api.get(f"/api/v1/payments/{order['order_no']}", headers=resident.headers)
    assert current.json()["status"] == "paying"
    settled = await wait_for_status(api, resident.headers, order["order_no"], "settled")
    assert settled["amount"] == fine["amount_due"]
    assert live.sandbox("traffic").book.counters()["by_bill"][fine["decision_no"]] == 1


async def test_duplicated_notifies_settle_once(api: httpx.AsyncClient, live: LiveServer, resident: Session) -> None:
    fine = await make_fine(api)
    order = (await open_payment(api, resident.headers, fine)).json()
    await api.post("/sandbox/wechatpay/faults", json={"notifies": [
        {"kind": "duplicate", "copies": 5, "order_no": order["order_no"]}]})
    await pay_in_sandbox(api, order["order_no"])
    await wait_for_status(api, resident.headers, order["order_no"], "settled")
    assert live.sandbox("traffic").book.counters()["by_bill"][fine["decision_no"]] == 1
    db_order = await PaymentOrder.get(order_no=order["order_no"])
    assert await ChannelNotification.filter(order_no=order["order_no"]).count() == 1
    assert await PaymentOrderEvent.filter(order_id=db_order.id, event="payment_confirmed").count() == 1


async def test_dropped_notify_is_found_by_query(api: httpx.AsyncClient, live: LiveServer, resident: Session) -> None:
    fine = await make_fine(api)
    order = (await open_payment(api, resident.headers, fine)).json()
    await api.post("/sandbox/wechatpay/faults", json={"notifies": [{"kind": "drop", "order_no": order["order_no"]}]})
    await pay_in_sandbox(api, order["order_no"])
    # Bring the next poll forward instead of waiting out the poll delay.
    await PaymentOrder.filter(order_no=order["order_no"]).update(next_poll_at=datetime.now(UTC))
    live.app.ctx.services.payments.worker.wake()
    await wait_for_status(api, resident.headers, order["order_no"], "settled")
    history = await PaymentOrderEvent.filter(order__order_no=order["order_no"], event="payment_confirmed").first()
    assert history is not None and history.detail == {"source": "query"}


async def test_expired_order_is_closed_only_after_a_query(api: httpx.AsyncClient, live: LiveServer, resident: Session) -> None:
    fine = await make_fine(api)
    order = (await open_payment(api, resident.headers, fine)).json()
    past = datetime.now(UTC) - timedelta(seconds=1)
    await PaymentOrder.filter(order_no=order["order_no"]).update(expires_at=past, next_poll_at=past)
    live.app.ctx.services.payments.worker.wake()
    closed = await wait_for_status(api, resident.headers, order["order_no"], "closed")
    assert closed["status"] == "closed"
    channel_view = (await api.get(f"/sandbox/wechatpay/orders/{order['order_no']}")).json()
    assert channel_view["order"]["trade_state"] == "CLOSED"
    # The bill is free again.
    again = await open_payment(api, resident.headers, fine)
    assert again.status_code == 201 and again.json()["order_no"] != order["order_no"]


async def test_fee_paid_through_alipay_is_settled(api: httpx.AsyncClient, live: LiveServer, resident: Session) -> None:
    notice = await make_notice(api, kind="fee", amounts=(8_800,))
    created = await api.post("/api/v1/payments", headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
                             json={"bill_type": "fee", "bill_ref": notice["notice_code"], "channel": "alipay"})
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["amount"] == 8_800 and order["pay_params"]
    await pay_in_sandbox(api, order["order_no"], channel="alipay")
    settled = await wait_for_status(api, resident.headers, order["order_no"], "settled")
    assert settled["receipt"]["amount"] == 8_800
    assert live.sandbox("tax").book.counters()["by_bill"][notice["notice_code"]] == 1


async def test_settled_payment_sends_the_receipt_message(api: httpx.AsyncClient, live: LiveServer,
                                                         resident: Session) -> None:
    template = live.settings.wechat.template_payment_receipt
    await api.post("/sandbox/wechat/subscribe", json={"openid": resident.openid, "template_id": template})
    fine = await make_fine(api, fine=12_345)
    order = (await open_payment(api, resident.headers, fine)).json()
    await pay_in_sandbox(api, order["order_no"])
    settled = await wait_for_status(api, resident.headers, order["order_no"], "settled")
    for _ in range(50):
        messages = (await api.get("/sandbox/wechat/messages", params={"openid": resident.openid})).json()["messages"]
        if messages:
            break
        await asyncio.sleep(0.1)
    assert len(messages) == 1
    data = messages[0]["data"]
    assert data["amount2"]["value"] == "123.45元"
    assert data["character_string4"]["value"] == settled["receipt"]["receipt_no"]
    assert messages[0]["page"] == f"pages/payment/payment?order_no={order['order_no']}"


async def test_idempotency_keys_are_forgotten_after_a_day(api: httpx.AsyncClient, live: LiveServer,
                                                          resident: Session) -> None:
    first, second = await make_fine(api), await make_fine(api)
    key = "k-" + str(first["decision_no"])
    assert (await open_payment(api, resident.headers, first, key=key)).status_code == 201
    assert (await open_payment(api, resident.headers, second, key=key)).status_code == 409
    await IdempotencyRecord.filter(key=key).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert await live.app.ctx.services.payments.orders.sweep_idempotency_keys(datetime.now(UTC)) >= 1
    reused = await open_payment(api, resident.headers, second, key=key)
    assert reused.status_code == 201 and reused.json()["order_no"]
    listed = (await api.get("/api/v1/payments", headers=resident.headers)).json()["payments"]
    assert {p["bill_ref"] for p in listed} >= {first["decision_no"], second["decision_no"]}


async def test_agency_down_is_a_clear_503(api: httpx.AsyncClient, resident: Session) -> None:
    fine = await make_fine(api)
    await api.post("/sandbox/traffic/faults", json={"lookup": {"mode": "error", "times": 1}})
    response = await api.get("/api/v1/fines", params={"decision_no": fine["decision_no"], "plate": fine["plate"]},
                             headers=resident.headers)
    assert response.status_code == 503 and response.json()["error"]["code"] == "agency_unavailable"


async def test_channel_failure_on_create_can_be_retried_with_the_same_key(api: httpx.AsyncClient,
                                                                          resident: Session) -> None:
    fine = await make_fine(api)
    await api.post("/sandbox/wechatpay/faults", json={"calls": [{"operation": "create", "fault": "server_error"}]})
    key = uuid.uuid4().hex
    failed = await open_payment(api, resident.headers, fine, key=key)
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "channel_unavailable"
    order_no = failed.json()["error"]["context"]["order_no"]
    retried = await open_payment(api, resident.headers, fine, key=key)
    assert retried.status_code == 200, retried.text
    assert retried.json()["order_no"] == order_no and retried.json()["pay_params"]["paySign"]
    assert await PaymentOrder.filter(bill_ref=fine["decision_no"]).count() == 1


async def test_payment_reported_after_close_still_counts(api: httpx.AsyncClient, live: LiveServer,
                                                         resident: Session) -> None:
    fine = await make_fine(api)
    order = (await open_payment(api, resident.headers, fine)).json()
    past = datetime.now(UTC) - timedelta(seconds=1)
    await PaymentOrder.filter(order_no=order["order_no"]).update(expires_at=past, next_poll_at=past)
    live.app.ctx.services.payments.worker.wake()
    await wait_for_status(api, resident.headers, order["order_no"], "closed")
    # The channel reports a success after all (Alipay-style late payment): it is recorded and settled.
    state = live.sandbox("wechatpay")
    transaction = state.transaction(state.orders[order["order_no"]]) | {
        "trade_state": "SUCCESS", "transaction_id": "4200000000LATE" + secrets.token_hex(4),
        "success_time": datetime.now(UTC).isoformat(timespec="seconds")}
    headers, body = signed_wechat_notify(state, transaction)
    answer = await api.post("/notify/wechatpay", content=body, headers=headers)
    assert answer.status_code in (200, 204), answer.text
    settled = await wait_for_status(api, resident.headers, order["order_no"], "settled")
    assert settled["paid_at"] is not None
    assert live.sandbox("traffic").book.counters()["by_bill"][fine["decision_no"]] == 1


async def test_a_key_left_half_done_by_a_crash_can_be_used_again(api: httpx.AsyncClient, resident: Session) -> None:
    fine = await make_fine(api)
    key = uuid.uuid4().hex
    body = {"bill_type": "fine", "bill_ref": fine["decision_no"], "channel": "wechatpay", "plate": fine["plate"]}
    fingerprint = PaymentRequest(bill_type="fine", bill_ref=fine["decision_no"], channel="wechatpay",
                                 party=fine["plate"]).fingerprint()
    record = await IdempotencyRecord.create(user_id=resident.user_id, key=key, request_hash=fingerprint,
                                            expires_at=datetime.now(UTC) + timedelta(days=1))
    busy = await api.post("/api/v1/payments", json=body, headers=resident.headers | {"Idempotency-Key": key})
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "idempotency_key_in_progress"
    await IdempotencyRecord.filter(id=record.id).update(created_at=datetime.now(UTC) - timedelta(minutes=3))
    again = await api.post("/api/v1/payments", json=body, headers=resident.headers | {"Idempotency-Key": key})
    assert again.status_code == 201, again.text


async def test_forged_alipay_notifies_change_nothing(api: httpx.AsyncClient, live: LiveServer, resident: Session) -> None:
    fine = await make_fine(api)
    order = (await open_payment(api, resident.headers, fine, channel="alipay")).json()
    variants = ["bad_signature", "wrong_amount", "wrong_appid", "wrong_seller_id"]
    faults = {"notifies": [{"kind": "forge", "variant": v, "order_no": order["order_no"]} for v in variants]}
    assert (await api.post("/sandbox/alipay/faults", json=faults)).status_code == 200
    await pay_in_sandbox(api, order["order_no"], channel="alipay")
    await wait_for_status(api, resident.headers, order["order_no"], "settled")
    deliveries = (await api.get("/sandbox/alipay/notifies", params={"order_no": order["order_no"]})).json()["deliveries"]
    forged = [d for d in deliveries if d["kind"].startswith("forged:")]
    assert len(forged) == len(variants) and not any(d["accepted"] for d in forged)
    db_order = await PaymentOrder.get(order_no=order["order_no"])
    assert await PaymentOrderEvent.filter(order_id=db_order.id, event="payment_confirmed").count() == 1


async def test_operators_search_orders_newest_first(api: httpx.AsyncClient, resident: Session,
                                                    operator: Session) -> None:
    fine = await make_fine(api)
    first = (await open_payment(api, resident.headers, fine)).json()
    notice = await make_notice(api, kind="fee", amounts=(1_500,))
    second = await api.post("/api/v1/payments", headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
                            json={"bill_type": "fee", "bill_ref": notice["notice_code"], "channel": "alipay"})
    assert second.status_code == 201, second.text
    second_order = second.json()
    search = "/api/v1/admin/payments"

    by_ref = await api.get(search, params={"bill_ref": fine["decision_no"]}, headers=operator.headers)
    assert by_ref.status_code == 200, by_ref.text
    [found] = by_ref.json()["items"]
    assert found["order_no"] == first["order_no"] and found["user_id"] == resident.user_id
    assert found["channel"] == "wechatpay" and by_ref.json()["total"] == 1

    shown = await api.get(f"{search}/{second_order['order_no']}", headers=operator.headers)
    day = shown.json()["created_at"][:10]  # the Beijing day, as the order shows it
    on_the_day = await api.get(search, params={"date": day, "channel": "alipay", "status": "paying", "limit": 200},
                               headers=operator.headers)
    rows = on_the_day.json()["items"]
    assert second_order["order_no"] in {r["order_no"] for r in rows}
    assert {(r["channel"], r["status"], r["created_at"][:10]) for r in rows} == {("alipay", "paying", day)}
    long_ago = await api.get(search, params={"date": "2020-01-01"}, headers=operator.headers)
    assert long_ago.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}

    newest = (await api.get(search, params={"limit": 2}, headers=operator.headers)).json()["items"]
    assert len(newest) == 2 and newest[0]["created_at"] >= newest[1]["created_at"]
    paged = (await api.get(search, params={"limit": 1, "offset": 1}, headers=operator.headers)).json()["items"]
    assert [o["order_no"] for o in paged] == [newest[1]["order_no"]]

    for params in ({"limit": 201}, {"status": "bogus"}, {"date": "yesterday"}):
        assert (await api.get(search, params=params, headers=operator.headers)).status_code == 422, params
    refused = await api.get(search, headers=resident.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
