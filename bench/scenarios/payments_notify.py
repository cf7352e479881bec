"""Channel notify intake (issue 5): what WeChat Pay and Alipay retries and forgeries cost us.

Set-up pays real orders through the sandboxes (fine -> order -> confirm -> genuine notify), then
replays those notifies freshly signed with the sandbox keys: the same event again is the common
case under the channels' retry schedules (verify, decrypt, find the stored event, answer 2xx).
A forged signature measures the rejection path. Signatures are made just before each scenario,
well inside the 300-second freshness window.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bench.harness import BenchContext, Request, Scenario, Session, client_ip

PAID_ORDERS = 40  # per channel; their notifies are replayed round-robin
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _resident(ctx: BenchContext) -> Session:
    return await ctx.once("payments_notify:resident", ctx.login)


async def _paid_orders(ctx: BenchContext, channel: str) -> list[str]:
    async def make() -> list[str]:
        resident = await _resident(ctx)
        semaphore = asyncio.Semaphore(4)

        async def one() -> str:
            async with semaphore:
                plate = "粤B" + secrets.token_hex(3).upper()[:5]
                fine = await ctx.sandbox.post("/sandbox/traffic/fines", json={"plate": plate, "party_name": "李四",
                                                                           "fine": 20_000})
                fine.raise_for_status()
                opened = await ctx.http.post(
                    "/api/v1/payments",
                    json={"bill_type": "fine", "bill_ref": fine.json()["decision_no"], "plate": plate,
                          "channel": channel},
                    headers=resident.headers | {"Idempotency-Key": secrets.token_hex(16),
                                                "X-Forwarded-For": client_ip()},
                )
                if opened.status_code not in (200, 201):
                    raise RuntimeError(f"opening a payment failed: {opened.status_code} {opened.text}")
                order_no = opened.json()["order_no"]
                paid = await ctx.sandbox.post(f"/sandbox/{channel}/confirm", json={"order_no": order_no, "outcome": "pay"})
                paid.raise_for_status()
                for _ in range(100):
                    status = (await ctx.http.get(f"/api/v1/payments/{order_no}", headers=resident.headers)).json()
                    if status.get("status") in ("paid", "settled"):
                        return order_no
                    await asyncio.sleep(0.1)
                raise RuntimeError(f"order {order_no} was not paid by its notify")

        return list(await asyncio.gather(*(one() for _ in range(PAID_ORDERS))))

    return await ctx.once(f"payments_notify:{channel}", make)


async def _sandbox_view(ctx: BenchContext, channel: str, order_no: str) -> dict[str, Any]:
    response = await ctx.sandbox.get(f"/sandbox/{channel}/orders/{order_no}")
    response.raise_for_status()
    return response.json()


def _settings(ctx: BenchContext) -> Any:
    from app.config import load_settings

    return load_settings(env=ctx.env)


async def wechatpay_replays(ctx: BenchContext, count: int, *, forged: bool = False) -> list[Request]:
    from app.adapters._paycrypto import aes_gcm_encrypt, nonce_str
    from app.sandbox.wechatpay import WeChatPaySandbox, config_from_settings

    signer = WeChatPaySandbox(config_from_settings(_settings(ctx)))
    requests = []
    for order_no in await _paid_orders(ctx, "wechatpay"):
        view = await _sandbox_view(ctx, "wechatpay", order_no)
        order, event_id = view["order"], view["notifies"][0]["event_id"]
        success_time = datetime.fromisoformat(order["success_time"]).astimezone(SHANGHAI).isoformat(timespec="seconds")
        resource = {
            "appid": order["appid"], "mchid": order["mchid"], "out_trade_no": order_no,
            "transaction_id": order["transaction_id"], "trade_type": "JSAPI", "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": order["attach"],
            "success_time": success_time, "payer": {"openid": order["openid"]},
            "amount": {"total": order["total"], "payer_total": order["total"], "currency": "CNY",
                       "payer_currency": "CNY"},
        }
        nonce = nonce_str(12)
        body = json.dumps({
            "id": event_id, "create_time": success_time, "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
            "resource": {
                "original_type": "transaction", "algorithm": "AEAD_AES_256_GCM", "associated_data": "transaction",
                "nonce": nonce, "ciphertext": aes_gcm_encrypt(signer.config.apiv3_key, nonce,
                                                              json.dumps(resource, ensure_ascii=False).encode(),
                                                              "transaction"),
            },
        }, ensure_ascii=False).encode()
        headers = signer.sign(body, public_key_mode=signer.notify_signing == "public_key")
        if forged:
            body = body.replace(b'"summary": "', b'"summary": "X', 1)
        requests.append(Request(body=body, headers=headers | {"Content-Type": "application/json"}))
    return requests


async def wechatpay_forged(ctx: BenchContext, count: int) -> list[Request]:
    return await wechatpay_replays(ctx, count, forged=True)


async def alipay_replays(ctx: BenchContext, count: int) -> list[Request]:
    from app.sandbox.alipay import AlipaySandbox, SandboxTrade, config_from_settings

    signer = AlipaySandbox(config_from_settings(_settings(ctx)))
    requests = []
    for order_no in await _paid_orders(ctx, "alipay"):
        view = await _sandbox_view(ctx, "alipay", order_no)
        trade = dict(view["order"])
        for key in ("time_expire", "created_at", "paid_at", "closed_at"):
            trade[key] = datetime.fromisoformat(trade[key]) if trade[key] else None
        params = signer.notify_params(SandboxTrade(**trade), None, view["notifies"][0]["event_id"])
        notify = signer.signed_notify(params)
        requests.append(Request(body=notify.body, headers={"Content-Type": notify.content_type}))
    return requests


def scenarios(ctx: BenchContext) -> list[Scenario]:
    return [
        Scenario(
            name="notify-wechatpay-repeat", method="POST", path="/notify/wechatpay", requests=wechatpay_replays,
            note=f"RSA verify + AES-GCM + stored-event lookup; {PAID_ORDERS} paid orders' notifies re-sent",
        ),
        Scenario(
            name="notify-wechatpay-forged", method="POST", path="/notify/wechatpay", requests=wechatpay_forged,
            expect_errors=True, note="body altered after signing: rejected 4xx {code: FAIL}",
        ),
        Scenario(
            name="notify-alipay-repeat", method="POST", path="/notify/alipay", requests=alipay_replays,
            note=f"RSA2 verify over sorted form fields; {PAID_ORDERS} paid orders' notifies re-sent",
        ),
    ]
