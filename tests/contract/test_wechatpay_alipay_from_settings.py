"""Adapters and sandboxes built from the same Settings agree, in both WeChat Pay key modes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sanic import Request, Sanic
from sanic.response import HTTPResponse, raw

from app.adapters.alipay import build_alipay_channel
from app.adapters.http import HttpClient
from app.adapters.wechatpay import build_wechatpay_channel
from app.config import ConfigError, Settings, load_settings
from app.ports import ChannelNotify, ChannelOrder, NotifyRejected, PaymentChannel
from app.sandbox import alipay as alipay_sandbox
from app.sandbox import wechatpay as wechatpay_sandbox
from tests.conftest import free_port


async def _serve(settings: Settings) -> AsyncIterator[tuple[dict[str, PaymentChannel], list[ChannelNotify]]]:
    Sanic.test_mode = True
    app = Sanic(f"channels_from_settings_{uuid.uuid4().hex[:8]}")
    app.blueprint(wechatpay_sandbox.create_blueprint(settings))
    app.blueprint(alipay_sandbox.create_blueprint(settings))
    http = HttpClient()
    channels: dict[str, PaymentChannel] = {
        "wechatpay": build_wechatpay_channel(settings, http), "alipay": build_alipay_channel(settings, http),
    }
    accepted: list[ChannelNotify] = []

    @app.post("/notify/<name:str>")
    async def notify(request: Request, name: str) -> HTTPResponse:
        channel = channels[name]
        try:
            accepted.append(channel.verify_notify(request.headers, request.body))
            answer = channel.answer_notify(accepted=True)
        except NotifyRejected:
            answer = channel.answer_notify(accepted=False)
        return raw(answer.body, status=answer.status, content_type=answer.content_type)

    server = await app.create_server(host="127.0.0.1", port=settings.service.port, return_asyncio_server=True,
                                     access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield channels, accepted
    finally:
        await http.close()
        await server.before_stop()
        await server.close()
        await server.after_stop()


@pytest.mark.parametrize("public_key_id", ["", Settings().wechatpay.public_key_id])
async def test_a_payment_on_each_channel_is_notified_and_verified(public_key_id: str) -> None:
    settings = Settings().with_overrides(
        service={"port": free_port()}, sandbox={"time_compression": 1000.0},
        wechatpay={"public_key_id": public_key_id},
    )
    async for channels, accepted in _serve(settings):
        base = f"http://127.0.0.1:{settings.service.port}"
        async with httpx.AsyncClient(timeout=5) as client:
            for name in ("wechatpay", "alipay"):
                order = ChannelOrder(order_no=f"S{uuid.uuid4().hex[:16]}", amount=4321, description="规费",
                                     expires_at=datetime.now(UTC) + timedelta(minutes=5), payer_openid="o-1")
                await channels[name].create(order)
                paid = await client.post(f"{base}/sandbox/{name}/confirm",
                                         json={"order_no": order.order_no, "outcome": "pay"})
                assert paid.status_code == 200, paid.text
        for _ in range(500):
            if len(accepted) == 2:
                break
            await asyncio.sleep(0.01)
        assert [n.transaction.amount for n in accepted if n.transaction] == [4321, 4321]


def _production(**sections: Any) -> Settings:
    env = {
        "APP_SERVICE_ENVIRONMENT": "production", "APP_SANDBOX_ENABLED": "false",
        "APP_SECURITY_FIELD_ENCRYPTION_KEY": "cHJvZHVjdGlvbi1maWVsZC1rZXktMzItYnl0ZXMtbG9uZyE=",
    }
    return load_settings(env=env | {f"APP_{s.upper()}_{k.upper()}": v for s, kv in sections.items()
                                    for k, v in kv.items()})


def test_production_refuses_the_sandbox_channel_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        _production()
    message = str(caught.value)
    assert "wechatpay.base_url / apiv3_key" in message
    assert "wechatpay.merchant_private_key is the sandbox key" in message
    assert "alipay.app_private_key is the sandbox key" in message


def test_production_accepts_channel_keys_from_the_environment() -> None:
    with pytest.raises(ConfigError) as caught:
        _production(
            wechatpay={"base_url": "https://api.mch.weixin.qq.com", "apiv3_key": "x" * 32,
                       "merchant_private_key": "-----BEGIN PRIVATE KEY-----..."},
            alipay={"gateway_url": "https://openapi.alipay.com/gateway.do",
                    "app_private_key": "-----BEGIN PRIVATE KEY-----..."},
        )
    assert "wechatpay" not in str(caught.value) and "alipay" not in str(caught.value)
