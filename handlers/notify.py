"""Payment channel callbacks. Public by nature: the channel's signature is the authentication."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint
from sanic.response import HTTPResponse, raw

from app.context import Request
from handlers._endpoint import PUBLIC, endpoint, services

bp = Blueprint("notify", url_prefix="/notify")

# A channel reads our answer in its own format (the adapters' answer_notify), not our envelope;
# only a body over service.max_body_bytes is refused before the channel's adapter sees it.
_TOO_LARGE: dict[str, dict[str, Any]] = {
    "413": {
        "description": "Error: body_too_large",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
}
_WECHATPAY_ANSWERS: dict[str, dict[str, Any]] = {
    "204": {"description": "Accepted (WeChat Pay: a 2xx without a body)"},
    "4XX": {
        "description": "Rejected, in WeChat Pay's format: the channel sends it again later",
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"const": "FAIL"}, "message": {"type": "string"}},
        }}},
    },
    **_TOO_LARGE,
}
_ALIPAY_ANSWERS: dict[str, dict[str, Any]] = {
    "200": {"description": "Accepted", "content": {"text/plain": {"schema": {"const": "success"}}}},
    "4XX": {
        "description": "Rejected: Alipay sends it again later",
        "content": {"text/plain": {"schema": {"const": "fail"}}},
    },
    **_TOO_LARGE,
}


async def _answer(request: Request, channel: str) -> HTTPResponse:
    answer = await services(request).payments.handle_notify(channel, request.headers, request.body)
    return raw(answer.body, status=answer.status, content_type=answer.content_type)


@bp.post("/wechatpay")
@endpoint(auth=PUBLIC, summary="WeChat Pay v3 payment and refund notifies", tags=("payments",), status=204,
          responses=_WECHATPAY_ANSWERS)
async def wechatpay_notify(request: Request) -> HTTPResponse:
    return await _answer(request, "wechatpay")


@bp.post("/alipay")
@endpoint(auth=PUBLIC, summary="Alipay asynchronous notifies (answered `success`)", tags=("payments",),
          responses=_ALIPAY_ANSWERS)
async def alipay_notify(request: Request) -> HTTPResponse:
    return await _answer(request, "alipay")
