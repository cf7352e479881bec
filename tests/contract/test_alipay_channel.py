"""AlipayChannel against the Alipay sandbox, over real HTTP on loopback.

Each test starts a Sanic app on a random port holding the sandbox blueprint and a notify route
that does what our /notify/alipay does with the adapter: verify, then answer `success` or `fail`.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from sanic import Request, Sanic
from sanic.response import HTTPResponse, raw

from app.adapters.alipay import AlipayChannel
from app.ports import ChannelError, ChannelNotify, ChannelOrder, ChannelOrderAlreadyPaid, NotifyRejected
from app.sandbox.alipay import CERTS, AlipaySandbox, AlipaySandboxConfig, create_blueprint


@dataclass
class Harness:
    base: str
    channel: AlipayChannel
    sandbox: AlipaySandbox
    http: httpx.AsyncClient
    accepted: list[ChannelNotify] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    async def helper(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, f"{self.base}/sandbox/alipay{path}", **kwargs)

    async def faults(self, spec: dict[str, Any]) -> None:
        response = await self.helper("POST", "/faults", json=spec)
        assert response.status_code == 200, response.text

    async def pay(self, order: ChannelOrder) -> None:
        response = await self.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay"})
        assert response.status_code == 200, response.text

    async def open_order(self, amount: int = 20000) -> tuple[ChannelOrder, dict[str, Any]]:
        order = ChannelOrder(
            order_no="A" + uuid.uuid4().hex[:20], amount=amount, description="非税收入 缴款码 44010020261121000001",
            expires_at=datetime.now(UTC) + timedelta(minutes=15),
        )
        return order, await self.channel.create(order)


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@pytest_asyncio.fixture
async def ali() -> AsyncIterator[Harness]:
    Sanic.test_mode = True
    app = Sanic(f"alipay_contract_{uuid.uuid4().hex[:8]}")
    bp = create_blueprint(AlipaySandboxConfig.from_directory(time_compression=10_000.0))
    app.blueprint(bp)
    holder: dict[str, Harness] = {}

    @app.post("/notify/alipay")
    async def notify(request: Request) -> HTTPResponse:
        harness = holder["h"]
        try:
            harness.accepted.append(harness.channel.verify_notify(request.headers, request.body))
            answer = harness.channel.answer_notify(accepted=True)
        except NotifyRejected as rejected:
            harness.rejected.append(rejected.reason)
            answer = harness.channel.answer_notify(accepted=False)
        return raw(answer.body, status=answer.status, content_type=answer.content_type)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    channel = AlipayChannel(
        gateway_url=f"{base}/sandbox/alipay/gateway.do", app_id=bp.ctx.state.config.app_id,
        seller_id=bp.ctx.state.config.seller_id, app_private_key=(CERTS / "app_private_key.pem").read_text(),
        alipay_public_key=(CERTS / "alipay_public_key.pem").read_text(), notify_url=f"{base}/notify/alipay",
        timeout=0.5,
    )
    http = httpx.AsyncClient(timeout=5)
    holder["h"] = Harness(base=base, channel=channel, sandbox=bp.ctx.state, http=http)
    try:
        yield holder["h"]
    finally:
        await http.aclose()
        await channel.aclose()
        await server.before_stop()
        await server.close()
        await server.after_stop()


async def test_create_confirm_notify_and_query(ali: Harness):
    order, params = await ali.open_order(amount=12345)
    trade_no = params["tradeNO"]
    assert (await ali.channel.query(order.order_no)).state == "unpaid"
    response = await ali.helper("POST", "/confirm", json={"trade_no": trade_no, "outcome": "pay"})
    assert response.json()["trade_status"] == "TRADE_SUCCESS"
    await until(lambda: len(ali.accepted) == 1)
    tx = ali.accepted[0].transaction
    assert tx is not None
    assert (tx.order_no, tx.state, tx.amount, tx.channel_txn_id) == (order.order_no, "paid", 12345, trade_no)
    assert (tx.app_id, tx.merchant_id) == (ali.channel.app_id, ali.channel.seller_id)
    queried = await ali.channel.query(order.order_no)
    assert (queried.state, queried.amount, queried.channel_txn_id) == ("paid", 12345, trade_no)
    deliveries = (await ali.helper("GET", "/notifies")).json()["deliveries"]
    assert [(d["kind"], d["status"], d["accepted"]) for d in deliveries] == [("genuine", 200, True)]


async def test_create_is_repeatable_but_a_changed_amount_is_refused(ali: Harness):
    order, first = await ali.open_order()
    assert (await ali.channel.create(order)) == first
    changed = ChannelOrder(order_no=order.order_no, amount=order.amount + 1, description=order.description,
                           expires_at=order.expires_at)
    with pytest.raises(ChannelError) as caught:
        await ali.channel.create(changed)
    assert (caught.value.code, caught.value.retryable) == ("order_no_used", False)


async def test_decline_leaves_the_trade_waiting_without_a_notify(ali: Harness):
    order, _ = await ali.open_order()
    await ali.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "decline"})
    assert (await ali.channel.query(order.order_no)).state == "unpaid"
    await asyncio.sleep(0.05)
    assert ali.accepted == [] and ali.rejected == []


async def test_close_unpaid_twice_then_close_paid_says_already_paid(ali: Harness):
    unpaid, _ = await ali.open_order()
    await ali.channel.close(unpaid.order_no)
    await ali.channel.close(unpaid.order_no)
    assert (await ali.channel.query(unpaid.order_no)).state == "closed"
    paid, _ = await ali.open_order()
    await ali.pay(paid)
    with pytest.raises(ChannelOrderAlreadyPaid):
        await ali.channel.close(paid.order_no)


async def test_closing_a_paid_trade_answers_trade_status_error_as_alipay_does(ali: Harness):
    """alipay.trade.close closes only a trade awaiting payment; the adapter's query tells paid from closed."""
    paid, _ = await ali.open_order()
    await ali.pay(paid)
    params = ali.channel.sign_request("alipay.trade.close", {"out_trade_no": paid.order_no})
    answer = (await ali.http.post(ali.channel.gateway_url, data=params)).json()["alipay_trade_close_response"]
    assert (answer["code"], answer["sub_code"]) == ("40004", "ACQ.TRADE_STATUS_ERROR")
    assert ali.sandbox.trades[paid.order_no].trade_status == "TRADE_SUCCESS"


@pytest.mark.parametrize(
    ("variant", "reason"),
    [("bad_signature", "bad_signature"), ("wrong_appid", "app_mismatch"), ("wrong_seller_id", "merchant_mismatch")],
)
async def test_forged_notifies_are_rejected_and_the_genuine_one_lands(ali: Harness, variant: str, reason: str):
    order, _ = await ali.open_order()
    await ali.faults({"notifies": [{"kind": "forge", "variant": variant}]})
    await ali.pay(order)
    await until(lambda: len(ali.accepted) == 1)
    assert ali.rejected == [reason]
    deliveries = (await ali.helper("GET", "/notifies", params={"order_no": order.order_no})).json()["deliveries"]
    assert [(d["kind"], d["accepted"]) for d in deliveries] == [(f"forged:{variant}", False), ("genuine", True)]


async def test_a_signed_notify_with_another_amount_is_left_to_the_domain_check(ali: Harness):
    order, _ = await ali.open_order(amount=800)
    await ali.faults({"notifies": [{"kind": "forge", "variant": "wrong_amount"}, {"kind": "drop"}]})
    await ali.pay(order)
    await until(lambda: len(ali.accepted) == 1)
    assert ali.accepted[0].transaction and ali.accepted[0].transaction.amount == 801


async def test_unanswered_notifies_are_retried_with_the_same_notify_id(ali: Harness):
    order, _ = await ali.open_order()
    real_app_id = ali.channel.app_id
    ali.channel.app_id = "2021999999999999"  # our side refuses everything for a while
    await ali.pay(order)
    await until(lambda: len(ali.rejected) >= 3)
    ali.channel.app_id = real_app_id
    await until(lambda: len(ali.accepted) == 1, seconds=10)
    deliveries = (await ali.helper("GET", "/notifies", params={"order_no": order.order_no})).json()["deliveries"]
    assert len({d["event_id"] for d in deliveries}) == 1
    assert [d["attempt"] for d in deliveries][:3] == [1, 2, 3]


async def test_refund_is_retry_safe_and_over_refund_is_refused(ali: Harness):
    order, _ = await ali.open_order(amount=10000)
    await ali.pay(order)
    first = await ali.channel.refund(order_no=order.order_no, refund_no="R1", amount=6000, total=10000, reason="退费")
    again = await ali.channel.refund(order_no=order.order_no, refund_no="R1", amount=6000, total=10000, reason="退费")
    assert first.state == again.state == "succeeded"
    assert len(ali.sandbox.refunds) == 1 and ali.sandbox.trades[order.order_no].refunded == 6000
    with pytest.raises(ChannelError) as caught:
        await ali.channel.refund(order_no=order.order_no, refund_no="R2", amount=4001, total=10000, reason="多退")
    assert (caught.value.code, caught.value.retryable) == ("refund_exceeds_paid", False)
    assert (caught.value.channel_code, caught.value.channel_message) == ("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
    queried = await ali.channel.query_refund(order_no=order.order_no, refund_no="R1")
    assert (queried.state, queried.amount) == ("succeeded", 6000)
    missing = await ali.channel.query_refund(order_no=order.order_no, refund_no="R9")
    assert missing.state == "failed"
    await until(lambda: any(n.kind == "refund" for n in ali.accepted))
    await ali.channel.refund(order_no=order.order_no, refund_no="R3", amount=4000, total=10000, reason="余额")
    assert (await ali.channel.query(order.order_no)).state == "refunded"


async def test_bill_download_parses_the_zip_and_shows_injected_mismatches(ali: Harness):
    orders = [(await ali.open_order(amount=500 + i))[0] for i in range(4)]
    for order in orders:
        await ali.pay(order)
    await ali.channel.refund(order_no=orders[0].order_no, refund_no="RB1", amount=100, total=500, reason="x")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    clean = await ali.channel.download_bill(today)
    assert sorted((r.order_no, r.kind, r.amount) for r in clean) == sorted(
        [(o.order_no, "payment", o.amount) for o in orders] + [(orders[0].order_no, "refund", 100)]
    )
    a, b, c, _ = orders
    await ali.faults({"bill": {"missing": [a.order_no], "amount_diff": {b.order_no: 3}, "duplicate": [c.order_no],
                               "extra": 1}})
    rows = [r for r in await ali.channel.download_bill(today) if r.kind == "payment"]
    assert a.order_no not in {r.order_no for r in rows}
    assert [r.amount for r in rows if r.order_no == b.order_no] == [b.amount + 3]
    assert len([r for r in rows if r.order_no == c.order_no]) == 2
    assert len([r for r in rows if r.order_no not in {o.order_no for o in orders}]) == 1
    await ali.faults({"bill": {"corrupt_hash": True}})
    with pytest.raises(ChannelError) as caught:
        await ali.channel.download_bill(today)
    assert caught.value.code == "bill_unreadable"


@pytest.mark.parametrize("operation", ["create", "query", "close", "refund"])
async def test_a_5xx_or_a_timeout_surfaces_as_a_retryable_channel_error(ali: Harness, operation: str):
    order, _ = await ali.open_order()
    if operation == "refund":
        await ali.pay(order)
    calls = {
        "create": lambda: ali.channel.create(order),
        "query": lambda: ali.channel.query(order.order_no),
        "close": lambda: ali.channel.close(order.order_no),
        "refund": lambda: ali.channel.refund(order_no=order.order_no, refund_no="RT", amount=1,
                                             total=order.amount, reason="x"),
    }
    for fault in ("server_error", "bad_gateway", "timeout"):
        await ali.faults({"calls": [{"operation": operation, "fault": fault, "hang_seconds": 1.0}]})
        with pytest.raises(ChannelError) as caught:
            await calls[operation]()
        assert caught.value.retryable is True
        assert caught.value.code == ("channel_timeout" if fault == "timeout" else "channel_unavailable")


async def test_a_refund_that_timed_out_after_commit_is_not_repeated_by_the_retry(ali: Harness):
    order, _ = await ali.open_order(amount=900)
    await ali.pay(order)
    await ali.faults({"calls": [{"operation": "refund", "fault": "timeout_after_commit", "hang_seconds": 1.0}]})
    with pytest.raises(ChannelError) as caught:
        await ali.channel.refund(order_no=order.order_no, refund_no="RX", amount=900, total=900, reason="x")
    assert caught.value.retryable is True
    retried = await ali.channel.refund(order_no=order.order_no, refund_no="RX", amount=900, total=900, reason="x")
    assert retried.state == "succeeded" and ali.sandbox.trades[order.order_no].refunded == 900


async def test_a_refused_refund_carries_alipays_own_sub_code_and_sub_msg(ali: Harness):
    order, _ = await ali.open_order(amount=800)
    await ali.pay(order)
    await ali.faults({"calls": [{"operation": "refund", "fault": "refuse", "code": "ACQ.SELLER_BALANCE_NOT_ENOUGH",
                                 "message": "卖家余额不足"}]})
    with pytest.raises(ChannelError) as caught:
        await ali.channel.refund(order_no=order.order_no, refund_no="RF", amount=800, total=800, reason="x")
    assert (caught.value.code, caught.value.retryable) == ("channel_rejected", False)
    assert (caught.value.channel_code, caught.value.channel_message) == ("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足")
    assert ali.sandbox.trades[order.order_no].refunded == 0  # refused before anything moved


async def test_requests_signed_with_another_key_are_refused(ali: Harness):
    intruder = AlipayChannel(
        gateway_url=ali.channel.gateway_url, app_id=ali.channel.app_id, seller_id=ali.channel.seller_id,
        app_private_key=(CERTS / "alipay_private_key.pem").read_text(),
        alipay_public_key=(CERTS / "alipay_public_key.pem").read_text(), notify_url="http://127.0.0.1:9/n",
    )
    try:
        with pytest.raises(ChannelError) as caught:
            await intruder.query("ANY")
        assert (caught.value.code, caught.value.retryable) == ("channel_auth_failed", False)
    finally:
        await intruder.aclose()


async def test_answers_not_signed_by_alipay_are_refused(ali: Harness):
    order, _ = await ali.open_order()
    ali.sandbox.alipay_key = ali.channel._app_key  # the sandbox signs with a key that is not Alipay's
    with pytest.raises(ChannelError) as caught:
        await ali.channel.query(order.order_no)
    assert caught.value.code == "channel_bad_signature"


async def test_unknown_trade_is_not_retryable(ali: Harness):
    with pytest.raises(ChannelError) as caught:
        await ali.channel.query("NOPE")
    assert (caught.value.code, caught.value.retryable) == ("order_not_found", False)
