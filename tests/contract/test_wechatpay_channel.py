"""WeChatPayChannel against the WeChat Pay sandbox, over real HTTP on loopback.

Each test starts a Sanic app on a random port holding the sandbox blueprint and a notify route
that does what our /notify/wechatpay does with the adapter: verify, then answer in WeChat's format.
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

from app.adapters.wechatpay import WeChatPayChannel
from app.ports import ChannelError, ChannelNotify, ChannelOrder, ChannelOrderAlreadyPaid, NotifyRejected
from app.sandbox.wechatpay import CERTS, WeChatPaySandbox, WeChatPaySandboxConfig, create_blueprint


@dataclass
class Harness:
    base: str
    channel: WeChatPayChannel
    sandbox: WeChatPaySandbox
    http: httpx.AsyncClient
    accepted: list[ChannelNotify] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    async def helper(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, f"{self.base}/sandbox/wechatpay{path}", **kwargs)

    async def faults(self, spec: dict[str, Any]) -> None:
        response = await self.helper("POST", "/faults", json=spec)
        assert response.status_code == 200, response.text

    async def open_order(self, amount: int = 20000, order_no: str | None = None) -> tuple[ChannelOrder, dict[str, str]]:
        order = ChannelOrder(
            order_no=order_no or "P" + uuid.uuid4().hex[:20],
            amount=amount,
            description="交通违法罚款 440100202611210001",
            expires_at=datetime.now(UTC) + timedelta(minutes=15),
            payer_openid="o-sandbox-payer",
        )
        return order, await self.channel.create(order)


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def _read(name: str) -> str:
    return (CERTS / name).read_text()


async def _start(mode: str) -> AsyncIterator[Harness]:
    Sanic.test_mode = True
    app = Sanic(f"wechatpay_contract_{uuid.uuid4().hex[:8]}")
    config = WeChatPaySandboxConfig.from_directory(time_compression=1000.0, refund_seconds=5.0)
    bp = create_blueprint(config)
    app.blueprint(bp)
    holder: dict[str, Harness] = {}

    @app.post("/notify/wechatpay")
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
    keys: dict[str, Any] = (
        {"public_key": _read("wechatpay_public_key.pem"), "public_key_id": config.public_key_id}
        if mode == "public_key" else {}
    )
    if mode == "public_key":
        bp.ctx.state.notify_signing = "public_key"
    channel = WeChatPayChannel(
        base_url=f"{base}/sandbox/wechatpay", mchid=config.mchid, appid=config.appid,
        merchant_serial_no=bp.ctx.state.merchant_serial, merchant_private_key=_read("merchant_private_key.pem"),
        apiv3_key=config.apiv3_key, notify_url=f"{base}/notify/wechatpay", timeout=0.5, **keys,
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


@pytest_asyncio.fixture(params=["certificate", "public_key"])
async def wx(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async for harness in _start(request.param):
        yield harness


@pytest_asyncio.fixture
async def wx_cert() -> AsyncIterator[Harness]:
    async for harness in _start("certificate"):
        yield harness


async def test_pay_params_carry_a_pay_sign_the_sandbox_accepts(wx: Harness):
    order, params = await wx.open_order()
    assert params["package"].startswith("prepay_id=wx") and params["signType"] == "RSA"
    forged = {**params, "nonceStr": params["nonceStr"] + "0"}
    response = await wx.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay",
                                                         "pay_params": forged})
    assert response.status_code == 422 and response.json()["error"]["code"] == "pay_sign_invalid"
    prepay_id = params["package"].removeprefix("prepay_id=")
    response = await wx.helper("POST", "/confirm", json={"prepay_id": prepay_id, "outcome": "pay",
                                                         "pay_params": params})
    assert response.status_code == 200 and response.json()["trade_state"] == "SUCCESS"


async def test_create_confirm_notify_and_query(wx: Harness):
    order, _ = await wx.open_order(amount=12345)
    unpaid = await wx.channel.query(order.order_no)
    assert (unpaid.state, unpaid.amount, unpaid.channel_txn_id) == ("unpaid", 12345, None)

    await wx.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay"})
    await until(lambda: len(wx.accepted) == 1)
    notify = wx.accepted[0]
    assert notify.kind == "payment" and notify.event_id.startswith("EV-")
    tx = notify.transaction
    assert tx is not None
    assert (tx.order_no, tx.state, tx.amount, tx.raw_state) == (order.order_no, "paid", 12345, "SUCCESS")
    assert (tx.app_id, tx.merchant_id) == (wx.channel.appid, wx.channel.mchid)
    assert tx.paid_at is not None and tx.paid_at.tzinfo is not None
    queried = await wx.channel.query(order.order_no)
    assert (queried.state, queried.channel_txn_id) == ("paid", tx.channel_txn_id)
    deliveries = (await wx.helper("GET", "/notifies", params={"order_no": order.order_no})).json()["deliveries"]
    assert [(d["kind"], d["status"], d["accepted"]) for d in deliveries] == [("genuine", 204, True)]


async def test_create_is_repeatable_with_the_same_body_but_not_with_another(wx_cert: Harness):
    order, first = await wx_cert.open_order()
    again = await wx_cert.channel.create(order)
    assert again["package"] == first["package"]
    changed = ChannelOrder(order_no=order.order_no, amount=order.amount + 1, description=order.description,
                           expires_at=order.expires_at, payer_openid=order.payer_openid)
    with pytest.raises(ChannelError) as caught:
        await wx_cert.channel.create(changed)
    assert (caught.value.code, caught.value.retryable) == ("order_no_used", False)


async def test_decline_leaves_the_order_unpaid_and_sends_no_notify(wx_cert: Harness):
    order, _ = await wx_cert.open_order()
    response = await wx_cert.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "decline"})
    assert response.json()["trade_state"] == "PAYERROR"
    assert (await wx_cert.channel.query(order.order_no)).state == "failed"
    await asyncio.sleep(0.05)
    assert wx_cert.accepted == [] and wx_cert.rejected == []


async def test_close_unpaid_then_closing_a_paid_order_says_already_paid(wx: Harness):
    unpaid, _ = await wx.open_order()
    await wx.channel.close(unpaid.order_no)
    assert (await wx.channel.query(unpaid.order_no)).state == "closed"
    await wx.channel.close(unpaid.order_no)  # closing twice is harmless

    paid, _ = await wx.open_order()
    await wx.helper("POST", "/confirm", json={"order_no": paid.order_no, "outcome": "pay"})
    with pytest.raises(ChannelOrderAlreadyPaid) as caught:
        await wx.channel.close(paid.order_no)
    assert caught.value.retryable is False


async def test_query_of_an_unknown_order_is_not_retryable(wx_cert: Harness):
    with pytest.raises(ChannelError) as caught:
        await wx_cert.channel.query("NO-SUCH-ORDER-1")
    assert (caught.value.code, caught.value.retryable) == ("order_not_found", False)


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        ("bad_signature", "bad_signature"),
        ("wrong_mchid", "merchant_mismatch"),
        ("wrong_appid", "app_mismatch"),
        ("stale_timestamp", "stale_timestamp"),
        ("signtest", "signtest_probe"),
        ("unknown_serial", "unknown_serial"),
    ],
)
async def test_forged_notifies_are_rejected_with_their_reason_and_the_genuine_one_still_lands(
    wx: Harness, variant: str, reason: str
):
    order, _ = await wx.open_order()
    await wx.faults({"notifies": [{"kind": "forge", "variant": variant, "order_no": order.order_no}]})
    await wx.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay"})
    await until(lambda: len(wx.accepted) == 1)
    assert wx.rejected == [reason]
    deliveries = (await wx.helper("GET", "/notifies", params={"order_no": order.order_no})).json()["deliveries"]
    assert [(d["kind"], d["status"]) for d in deliveries] == [(f"forged:{variant}", 400), ("genuine", 204)]
    assert wx.accepted[0].transaction and wx.accepted[0].transaction.amount == order.amount


async def test_a_correctly_signed_notify_with_another_amount_reaches_the_domain_check(wx_cert: Harness):
    # The signature is genuine, so only the order comparison in the payments domain can catch it.
    order, _ = await wx_cert.open_order(amount=5000)
    await wx_cert.faults({"notifies": [{"kind": "forge", "variant": "wrong_amount"}, {"kind": "drop"}]})
    await wx_cert.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay"})
    await until(lambda: len(wx_cert.accepted) == 1)
    tx = wx_cert.accepted[0].transaction
    assert tx is not None and tx.order_no == order.order_no and tx.amount == 5001


async def test_verify_notify_rejects_tampering_staleness_and_probes_directly():
    sandbox = WeChatPaySandbox(WeChatPaySandboxConfig.from_directory())
    now = [1_800_000_000.0]
    channel = WeChatPayChannel(
        base_url="http://127.0.0.1:9/sandbox/wechatpay", mchid=sandbox.config.mchid, appid=sandbox.config.appid,
        merchant_serial_no=sandbox.merchant_serial, merchant_private_key=_read("merchant_private_key.pem"),
        apiv3_key=sandbox.config.apiv3_key, notify_url="http://127.0.0.1:9/notify",
        platform_certificates=(_read("platform_cert.pem"),), notify_max_age=300, clock=lambda: now[0],
    )
    body = b'{"id":"EV-1","event_type":"TRANSACTION.SUCCESS","resource":{}}'
    headers = sandbox.sign(body, public_key_mode=False, timestamp=int(now[0]))
    with pytest.raises(NotifyRejected) as caught:
        channel.verify_notify(headers, body)
    assert caught.value.reason == "unsupported_algorithm"  # signature fine, resource empty
    now[0] += 301
    with pytest.raises(NotifyRejected) as caught:
        channel.verify_notify(headers, body)
    assert caught.value.reason == "stale_timestamp"
    now[0] -= 301
    with pytest.raises(NotifyRejected) as caught:
        channel.verify_notify(headers, body + b" ")
    assert caught.value.reason == "bad_signature"
    # str.isdigit() takes "²" (a header is Latin-1), which int() refuses: still a stale timestamp.
    for odd in ("\u00b2", "1\u00b9", "\u0661\u0662"):
        with pytest.raises(NotifyRejected) as caught:
            channel.verify_notify({**headers, "Wechatpay-Timestamp": odd}, body)
        assert caught.value.reason == "stale_timestamp"
    with pytest.raises(NotifyRejected) as caught:
        channel.verify_notify({k: v for k, v in headers.items() if k != "Wechatpay-Nonce"}, body)
    assert caught.value.reason == "missing_signature_headers"


async def test_duplicate_notifies_arrive_with_one_event_id(wx_cert: Harness):
    order, _ = await wx_cert.open_order()
    await wx_cert.faults({"notifies": [{"kind": "duplicate", "copies": 3}]})
    await wx_cert.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay"})
    await until(lambda: len(wx_cert.accepted) == 4)
    assert len({n.event_id for n in wx_cert.accepted}) == 1


async def test_a_reordered_notify_arrives_after_the_next_one(wx_cert: Harness):
    first, _ = await wx_cert.open_order()
    second, _ = await wx_cert.open_order()
    await wx_cert.faults({"notifies": [{"kind": "reorder", "order_no": first.order_no, "seconds": 3600}]})
    await wx_cert.helper("POST", "/confirm", json={"order_no": first.order_no, "outcome": "pay"})
    await asyncio.sleep(0.05)
    await wx_cert.helper("POST", "/confirm", json={"order_no": second.order_no, "outcome": "pay"})
    await until(lambda: len(wx_cert.accepted) == 2)
    assert [n.transaction.order_no for n in wx_cert.accepted if n.transaction] == [second.order_no, first.order_no]


async def test_a_rejected_notify_is_retried_on_the_schedule(wx_cert: Harness):
    order, _ = await wx_cert.open_order()
    wx_cert.channel.notify_max_age = -1  # every notify looks stale until we fix the clock window
    await wx_cert.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay"})
    await until(lambda: len(wx_cert.rejected) >= 2)
    wx_cert.channel.notify_max_age = 300
    await until(lambda: len(wx_cert.accepted) == 1)
    deliveries = (await wx_cert.helper("GET", "/notifies", params={"order_no": order.order_no})).json()["deliveries"]
    assert [d["attempt"] for d in deliveries][:3] == [1, 2, 3]
    assert deliveries[-1]["accepted"] is True


async def test_refund_then_over_refund_is_refused_and_the_refund_notify_lands(wx: Harness):
    order, _ = await wx.open_order(amount=10000)
    await wx.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay"})
    refund = await wx.channel.refund(order_no=order.order_no, refund_no="R-" + order.order_no, amount=6000,
                                     total=10000, reason="重复缴费")
    assert (refund.state, refund.amount) == ("processing", 6000)
    again = await wx.channel.refund(order_no=order.order_no, refund_no="R-" + order.order_no, amount=6000,
                                    total=10000, reason="重复缴费")
    assert again.channel_refund_id == refund.channel_refund_id  # retry-safe by out_refund_no
    with pytest.raises(ChannelError) as caught:
        await wx.channel.refund(order_no=order.order_no, refund_no="R2-" + order.order_no, amount=4001,
                                total=10000, reason="多退")
    assert (caught.value.code, caught.value.retryable) == ("refund_exceeds_paid", False)
    assert (caught.value.channel_code, caught.value.channel_message) == ("NOT_ENOUGH", "可退款余额不足")
    await until(lambda: any(n.kind == "refund" for n in wx.accepted))
    refund_notify = next(n.refund for n in wx.accepted if n.kind == "refund")
    assert refund_notify is not None and (refund_notify.state, refund_notify.amount) == ("succeeded", 6000)
    done = await wx.channel.query_refund(order_no=order.order_no, refund_no="R-" + order.order_no)
    assert done.state == "succeeded"
    assert (await wx.channel.query(order.order_no)).state == "refunded"


async def test_refund_of_an_unpaid_order_is_refused(wx_cert: Harness):
    order, _ = await wx_cert.open_order()
    with pytest.raises(ChannelError) as caught:
        await wx_cert.channel.refund(order_no=order.order_no, refund_no="R-x1", amount=1, total=order.amount,
                                     reason="x")
    assert caught.value.retryable is False


async def test_a_refused_refund_carries_wechat_pays_own_code_and_message(wx_cert: Harness):
    order, _ = await wx_cert.open_order(amount=500)
    await wx_cert.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay"})
    await wx_cert.faults({"calls": [{"operation": "refund", "fault": "refuse", "code": "USER_ACCOUNT_ABNORMAL",
                                     "message": "退款请求失败"}]})
    with pytest.raises(ChannelError) as caught:
        await wx_cert.channel.refund(order_no=order.order_no, refund_no="RF-" + order.order_no, amount=500,
                                     total=500, reason="x")
    assert (caught.value.code, caught.value.retryable) == ("channel_rejected", False)
    assert (caught.value.channel_code, caught.value.channel_message) == ("USER_ACCOUNT_ABNORMAL", "退款请求失败")
    assert wx_cert.sandbox.orders[order.order_no].refunded == 0  # refused before anything moved


async def test_bill_download_checks_the_hash_and_shows_injected_mismatches(wx: Harness):
    orders = [(await wx.open_order(amount=1000 + i))[0] for i in range(4)]
    for order in orders:
        await wx.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay"})
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    clean = await wx.channel.download_bill(today)
    assert sorted((r.order_no, r.amount) for r in clean) == sorted((o.order_no, o.amount) for o in orders)

    a, b, c, _ = orders
    await wx.faults({"bill": {"missing": [a.order_no], "amount_diff": {b.order_no: -7},
                              "duplicate": [c.order_no], "extra": 2}})
    rows = await wx.channel.download_bill(today)
    by_order: dict[str, list[int]] = {}
    for row in rows:
        by_order.setdefault(row.order_no, []).append(row.amount)
    assert a.order_no not in by_order
    assert by_order[b.order_no] == [b.amount - 7]
    assert by_order[c.order_no] == [c.amount, c.amount]
    assert len([o for o in by_order if o not in {x.order_no for x in orders}]) == 2

    await wx.faults({"bill": {"corrupt_hash": True}})
    with pytest.raises(ChannelError) as caught:
        await wx.channel.download_bill(today)
    assert (caught.value.code, caught.value.retryable) == ("bill_hash_mismatch", True)


@pytest.mark.parametrize("operation", ["create", "query", "close", "refund"])
async def test_a_5xx_or_a_timeout_surfaces_as_a_retryable_channel_error(wx_cert: Harness, operation: str):
    order, _ = await wx_cert.open_order()
    if operation == "refund":
        await wx_cert.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay"})
    calls = {
        "create": lambda: wx_cert.channel.create(order),
        "query": lambda: wx_cert.channel.query(order.order_no),
        "close": lambda: wx_cert.channel.close(order.order_no),
        "refund": lambda: wx_cert.channel.refund(order_no=order.order_no, refund_no="R-" + order.order_no,
                                                 amount=1, total=order.amount, reason="x"),
    }
    for fault in ("server_error", "bad_gateway", "timeout"):
        await wx_cert.faults({"calls": [{"operation": operation, "fault": fault, "hang_seconds": 1.0}]})
        with pytest.raises(ChannelError) as caught:
            await calls[operation]()
        assert caught.value.retryable is True
        assert caught.value.code == ("channel_timeout" if fault == "timeout" else "channel_unavailable")


async def test_a_timeout_after_commit_is_retryable_and_the_retry_finds_the_same_order(wx_cert: Harness):
    order = ChannelOrder(order_no="P" + uuid.uuid4().hex[:16], amount=300, description="规费",
                         expires_at=datetime.now(UTC) + timedelta(minutes=15), payer_openid="o1")
    await wx_cert.faults({"calls": [{"operation": "create", "fault": "timeout_after_commit", "hang_seconds": 1.0}]})
    with pytest.raises(ChannelError) as caught:
        await wx_cert.channel.create(order)
    assert caught.value.retryable is True
    params = await wx_cert.channel.create(order)
    assert params["package"] == f"prepay_id={wx_cert.sandbox.orders[order.order_no].prepay_id}"


async def test_requests_signed_with_another_key_get_sign_error(wx_cert: Harness):
    intruder = WeChatPayChannel(
        base_url=wx_cert.channel.base_url, mchid=wx_cert.channel.mchid, appid=wx_cert.channel.appid,
        merchant_serial_no=wx_cert.sandbox.merchant_serial, merchant_private_key=_read("platform_private_key.pem"),
        apiv3_key=wx_cert.sandbox.config.apiv3_key, notify_url="http://127.0.0.1:9/n",
        platform_certificates=(_read("platform_cert.pem"),),
    )
    try:
        with pytest.raises(ChannelError) as caught:
            await intruder.query("ANY-ORDER-1")
        assert (caught.value.code, caught.value.retryable) == ("channel_auth_failed", False)
    finally:
        await intruder.aclose()


async def test_answers_signed_by_an_untrusted_key_are_refused(wx_cert: Harness):
    order, _ = await wx_cert.open_order()
    sandbox = wx_cert.sandbox
    # The sandbox goes on naming its certificate but signs with another key.
    sandbox.platform_certificates[-1] = (sandbox.public_key_signer, sandbox.platform_certificates[-1][1])
    with pytest.raises(ChannelError) as caught:
        await wx_cert.channel.query(order.order_no)
    assert caught.value.code == "channel_bad_signature"


async def test_sandbox_fault_knobs_validate_their_input(wx_cert: Harness):
    for spec in ({"calls": [{"operation": "explode", "fault": "timeout"}]},
                 {"calls": [{"operation": "refund", "fault": "refuse", "code": 7}]},
                 {"calls": [{"operation": "refund", "fault": "refuse", "message": ""}]},
                 {"notifies": [{"kind": "forge", "variant": "nonsense"}]},
                 {"bill": {"extra": -1}}, {"surprise": []}):
        response = await wx_cert.helper("POST", "/faults", json=spec)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_fault"


async def test_the_sandbox_refuses_a_stale_authorization(wx_cert: Harness):
    wx_cert.channel._clock = lambda: datetime.now(UTC).timestamp() - 600
    with pytest.raises(ChannelError) as caught:
        await wx_cert.channel.query("ANY-ORDER-2")
    assert caught.value.code == "channel_auth_failed"


async def test_a_rotated_platform_certificate_is_fetched_and_then_trusted(wx_cert: Harness):
    first, _ = await wx_cert.open_order()  # loads the original certificate from /v3/certificates
    response = await wx_cert.helper("POST", "/faults", json={"rotate_platform_certificate": True})
    new_serial = response.json()["platform_serial"]
    await wx_cert.helper("POST", "/confirm", json={"order_no": first.order_no, "outcome": "pay"})
    # The first delivery names a serial we do not know yet; the retry finds it trusted.
    await until(lambda: len(wx_cert.accepted) == 1)
    assert wx_cert.rejected == ["unknown_serial"]
    assert new_serial in wx_cert.channel._verifying_keys
    second, _ = await wx_cert.open_order()  # answers signed by the new certificate verify too
    assert (await wx_cert.channel.query(second.order_no)).state == "unpaid"


async def test_answers_signed_by_a_new_certificate_trigger_a_refresh_before_verifying(wx_cert: Harness):
    order, _ = await wx_cert.open_order()
    await wx_cert.helper("POST", "/faults", json={"rotate_platform_certificate": True})
    assert (await wx_cert.channel.query(order.order_no)).state == "unpaid"
    assert wx_cert.sandbox.platform_serial in wx_cert.channel._verifying_keys


async def test_during_the_switch_to_public_key_mode_both_signatures_are_accepted(wx_cert: Harness):
    sandbox = wx_cert.sandbox
    both = WeChatPayChannel(
        base_url=wx_cert.channel.base_url, mchid=sandbox.config.mchid, appid=sandbox.config.appid,
        merchant_serial_no=sandbox.merchant_serial, merchant_private_key=_read("merchant_private_key.pem"),
        apiv3_key=sandbox.config.apiv3_key, notify_url=wx_cert.channel.notify_url,
        platform_certificates=(_read("platform_cert.pem"),), public_key=_read("wechatpay_public_key.pem"),
        public_key_id=sandbox.config.public_key_id,
    )
    wx_cert.channel = both
    try:
        for signing in ("certificate", "public_key"):
            await wx_cert.faults({"notify_signing": signing})
            order, _ = await wx_cert.open_order()
            await wx_cert.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay"})
        await until(lambda: len(wx_cert.accepted) == 2)
        assert wx_cert.rejected == []
    finally:
        await both.aclose()


async def test_a_delayed_notify_arrives_late_and_a_dropped_one_never(wx_cert: Harness):
    delayed, _ = await wx_cert.open_order()
    dropped, _ = await wx_cert.open_order()
    await wx_cert.faults({"notifies": [
        {"kind": "delay", "seconds": 400, "order_no": delayed.order_no},  # 0.4 s at 1000x
        {"kind": "drop", "order_no": dropped.order_no},
    ]})
    for order in (delayed, dropped):
        await wx_cert.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay"})
    await asyncio.sleep(0.2)
    assert wx_cert.accepted == []
    await until(lambda: len(wx_cert.accepted) == 1)
    assert wx_cert.accepted[0].transaction and wx_cert.accepted[0].transaction.order_no == delayed.order_no
    log = (await wx_cert.helper("GET", "/notifies", params={"order_no": dropped.order_no})).json()["deliveries"]
    assert [d["kind"] for d in log] == ["dropped"]
    assert (await wx_cert.channel.query(dropped.order_no)).state == "paid"  # the poller's way to find out


async def test_a_refund_the_channel_closes_is_reported_failed(wx_cert: Harness):
    order, _ = await wx_cert.open_order(amount=700)
    await wx_cert.helper("POST", "/confirm", json={"order_no": order.order_no, "outcome": "pay"})
    await until(lambda: len(wx_cert.accepted) == 1)
    await wx_cert.faults({"refund_outcome": "CLOSED"})
    await wx_cert.channel.refund(order_no=order.order_no, refund_no="RC-" + order.order_no, amount=700, total=700,
                                 reason="x")
    await until(lambda: len(wx_cert.accepted) == 2)
    refund = wx_cert.accepted[1].refund
    assert refund is not None and (refund.state, refund.failure_code) == ("failed", "CLOSED")
    queried = await wx_cert.channel.query_refund(order_no=order.order_no, refund_no="RC-" + order.order_no)
    assert (queried.state, queried.failure_code) == ("failed", "CLOSED")
    assert (await wx_cert.channel.query(order.order_no)).state == "paid"


async def test_a_slow_answer_within_the_timeout_is_still_an_answer(wx_cert: Harness):
    order, _ = await wx_cert.open_order()
    await wx_cert.faults({"calls": [{"operation": "query", "fault": "slow", "hang_seconds": 0.2}]})
    started = asyncio.get_running_loop().time()
    assert (await wx_cert.channel.query(order.order_no)).state == "unpaid"
    assert asyncio.get_running_loop().time() - started >= 0.2
