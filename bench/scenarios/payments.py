"""Order creation (issue 5): the paths a payer hits before and after paying.

- payments-create: a fresh fine and Idempotency-Key per request (one live order per bill), so each
  request does the real work: agency lookup over the signed protocol, the order row with its
  unique live-bill key, the WeChat Pay JSAPI prepay call and the paySign.
- payments-create-replay: the same key and body again (a client retrying): answered from the
  stored response without touching the agency or the channel.
- payments-fine-lookup: GET /api/v1/fines, one signed agency call per request.
- payments-status: GET /api/v1/payments/{order_no}, the mini-program's polling.
Notify handling is measured in payments_notify.py.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any
from urllib.parse import quote

from bench.harness import BenchContext, Request, Scenario, Session, client_ip

PAYERS = 8


async def _payers(ctx: BenchContext) -> list[Session]:
    return await ctx.once("payments:payers", lambda: ctx.login_many(PAYERS))


async def _fines(ctx: BenchContext, count: int) -> list[dict[str, Any]]:
    semaphore = asyncio.Semaphore(24)

    async def one() -> dict[str, Any]:
        plate = "粤B" + secrets.token_hex(3).upper()[:5]
        async with semaphore:
            response = await ctx.sandbox.post("/sandbox/traffic/fines",
                                           json={"plate": plate, "party_name": "李四", "fine": 20_000})
        response.raise_for_status()
        return {"decision_no": response.json()["decision_no"], "plate": plate}

    return list(await asyncio.gather(*(one() for _ in range(count))))


def _create_request(payer: Session, fine: dict[str, Any], key: str) -> Request:
    return Request(
        headers=payer.headers | {"Idempotency-Key": key, "X-Forwarded-For": client_ip()},
        body={"bill_type": "fine", "bill_ref": fine["decision_no"], "plate": fine["plate"], "channel": "wechatpay"},
    )


async def fresh_orders(ctx: BenchContext, count: int) -> list[Request]:
    payers = await _payers(ctx)
    fines = await _fines(ctx, count)
    return [_create_request(payers[i % len(payers)], fine, secrets.token_hex(16)) for i, fine in enumerate(fines)]


async def _opened(ctx: BenchContext) -> list[tuple[Request, str]]:
    async def make() -> list[tuple[Request, str]]:
        opened = []
        for request in await fresh_orders(ctx, 50):
            response = await ctx.http.post("/api/v1/payments", json=request.body, headers=dict(request.headers))
            if response.status_code != 201:
                raise RuntimeError(f"opening a payment failed: {response.status_code} {response.text}")
            opened.append((request, response.json()["order_no"]))
        return opened

    return await ctx.once("payments:opened", make)


async def replays(ctx: BenchContext, count: int) -> list[Request]:
    return [request for request, _ in await _opened(ctx)]


async def status_reads(ctx: BenchContext, count: int) -> list[Request]:
    return [Request(path=f"/api/v1/payments/{order_no}", headers={"Authorization": request.headers["Authorization"]})
            for request, order_no in await _opened(ctx)]


async def fine_lookups(ctx: BenchContext, count: int) -> list[Request]:
    payers = await _payers(ctx)
    fines = await ctx.once("payments:lookup-fines", lambda: _fines(ctx, 50))
    return [Request(path=f"/api/v1/fines?decision_no={f['decision_no']}&plate={quote(f['plate'])}",
                    headers=payers[i % len(payers)].headers) for i, f in enumerate(fines)]


def scenarios(ctx: BenchContext) -> list[Scenario]:
    return [
        Scenario(name="payments-create", method="POST", path="/api/v1/payments", requests=fresh_orders,
                 single_use=True, note="agency lookup + order row + JSAPI prepay + paySign per request"),
        Scenario(name="payments-create-replay", method="POST", path="/api/v1/payments", requests=replays,
                 note="same Idempotency-Key and body: the stored answer"),
        Scenario(name="payments-fine-lookup", method="GET", path="/api/v1/fines", requests=fine_lookups,
                 note="one signed agency call (HMAC request and answer) per request"),
        Scenario(name="payments-status", method="GET", path="/api/v1/payments", requests=status_reads,
                 note="the mini-program polling its order"),
    ]
