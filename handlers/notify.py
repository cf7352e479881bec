"""Payment channel callbacks. Public by nature: the channel's signature is the authentication."""

from __future__ import annotations

from sanic import Blueprint
from sanic.response import HTTPResponse, raw

from app.context import Request
from handlers._endpoint import PUBLIC, endpoint, services

bp = Blueprint("notify", url_prefix="/notify")


async def _answer(request: Request, channel: str) -> HTTPResponse:
    answer = await services(request).payments.handle_notify(channel, request.headers, request.body)
    return raw(answer.body, status=answer.status, content_type=answer.content_type)


@bp.post("/wechatpay")
@endpoint(auth=PUBLIC, summary="WeChat Pay v3 payment and refund notifies", tags=("payments",))
async def wechatpay_notify(request: Request) -> HTTPResponse:
    return await _answer(request, "wechatpay")


@bp.post("/alipay")
@endpoint(auth=PUBLIC, summary="Alipay asynchronous notifies (answered `success`)", tags=("payments",))
async def alipay_notify(request: Request) -> HTTPResponse:
    return await _answer(request, "alipay")
