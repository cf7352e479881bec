"""The WeChat mini-program server API over app.adapters.http (async; wechatpy's client is blocking).

The access token comes from /cgi-bin/stable_token, is cached in the shared cache until five
minutes before it expires, and is fetched again (force_refresh) when WeChat says it is invalid.

Failures are WeChatError: errcode -1 when WeChat did not answer (network, timeout, HTTP 5xx),
WeChat's errcode when it refused, and WeChatAnswerInvalid when something at its address answered
what WeChat never would (a proxy's page, `{}`, a list, a field missing or of the wrong type).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from app.adapters.http import HttpClient, HttpError
from app.config import Secret
from app.ports import Cache, FaceCheckResult, WeChatAnswerInvalid, WeChatError, WeChatSession

_TOKEN_ERRORS = {40001, 40014, 42001}
_TOKEN_KEY = "wechat:access_token"
_PHONE = re.compile(r"[0-9]{5,20}")


class _Answer:
    """A WeChat answer's fields, each read as the type the call needs; anything else raises
    WeChatAnswerInvalid naming the field, so no KeyError or TypeError reaches the caller."""

    def __init__(self, data: Any, what: str):
        if not isinstance(data, dict):
            raise WeChatAnswerInvalid(f"{what} is not a JSON object")
        self._data = data
        self._what = what

    def text(self, name: str, *, max_length: int) -> str:
        value = self._data.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= max_length:
            raise WeChatAnswerInvalid(f"{self._what}: {name} is not a text of 1-{max_length} characters")
        return value

    def optional_text(self, name: str, *, max_length: int) -> str | None:
        return None if self._data.get(name) is None else self.text(name, max_length=max_length)

    def integer(self, name: str, *, default: int | None = None) -> int:
        value = self._data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise WeChatAnswerInvalid(f"{self._what}: {name} is not an integer")
        return value

    def object(self, name: str) -> _Answer:
        return _Answer(self._data.get(name), f"{self._what}: {name}")


class WeChatApiClient:
    def __init__(
        self, *, http: HttpClient, cache: Cache, appid: str, secret: Secret, base_url: str, timeout: float = 5.0
    ):
        self._http = http
        self._cache = cache
        self._appid = appid
        self._secret = secret
        self._base = base_url.rstrip("/")
        self._timeout = timeout

    async def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> _Answer:
        try:
            response = await self._http.request(
                method,
                self._base + path,
                params=params,
                content=orjson.dumps(json) if json is not None else None,
                headers={"Content-Type": "application/json"} if json is not None else None,
                timeout=self._timeout,
            )
        except HttpError as exc:
            raise WeChatError(-1, f"network: {exc.reason}") from None
        if response.status >= 500:
            raise WeChatError(-1, f"http {response.status}")
        try:
            data = response.json()
        except ValueError:
            raise WeChatAnswerInvalid(f"{path} answered HTTP {response.status} that is not JSON") from None
        answer = _Answer(data, path)
        errcode = answer.integer("errcode", default=0)
        if errcode:
            errmsg = data.get("errmsg")
            raise WeChatError(errcode, errmsg if isinstance(errmsg, str) else "")
        if not 200 <= response.status < 300:  # WeChat answers 200, errors included
            raise WeChatAnswerInvalid(f"{path} answered HTTP {response.status} without an errcode")
        return answer

    async def access_token(self, *, force_refresh: bool = False) -> str:
        if not force_refresh:
            cached = await self._cache.get(_TOKEN_KEY)
            if cached:
                return cached.decode()
        data = await self._request(
            "POST",
            "/cgi-bin/stable_token",
            json={
                "grant_type": "client_credential",
                "appid": self._appid,
                "secret": self._secret.reveal(),
                "force_refresh": force_refresh,
            },
        )
        token, expires_in = data.text("access_token", max_length=512), data.integer("expires_in", default=7200)
        await self._cache.set(_TOKEN_KEY, token, ttl=max(60, expires_in - 300))
        return token

    async def _with_token(self, path: str, body: dict[str, Any]) -> _Answer:
        token = await self.access_token()
        try:
            return await self._request("POST", path, params={"access_token": token}, json=body)
        except WeChatError as exc:
            if exc.errcode not in _TOKEN_ERRORS:
                raise
        await self._cache.delete(_TOKEN_KEY)
        token = await self.access_token(force_refresh=True)
        return await self._request("POST", path, params={"access_token": token}, json=body)

    async def code_to_session(self, code: str) -> WeChatSession:
        data = await self._request(
            "GET",
            "/sns/jscode2session",
            params={
                "appid": self._appid,
                "secret": self._secret.reveal(),
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        # 64: the users table's openid and unionid columns.
        return WeChatSession(
            openid=data.text("openid", max_length=64),
            session_key=data.text("session_key", max_length=256),
            unionid=data.optional_text("unionid", max_length=64),
        )

    async def get_phone_number(self, code: str) -> str:
        data = await self._with_token("/wxa/business/getuserphonenumber", {"code": code})
        info = data.object("phone_info")
        if info.object("watermark").text("appid", max_length=64) != self._appid:
            raise WeChatAnswerInvalid("phone watermark is for another app")
        phone = info.text("purePhoneNumber", max_length=20)
        if not _PHONE.fullmatch(phone):
            raise WeChatAnswerInvalid("purePhoneNumber is not digits")
        return phone

    async def face_get_verify_id(self, *, out_seq_no: str, cert_name: str, cert_no: str, openid: str) -> str:
        data = await self._with_token(
            "/cityservice/face/identify/getverifyid",
            {
                "out_seq_no": out_seq_no,
                "cert_info": {"cert_type": "IDENTITY_CARD", "cert_name": cert_name, "cert_no": cert_no},
                "openid": openid,
            },
        )
        return data.text("verify_id", max_length=256)  # the face_verifications key's length

    async def face_query_verify_info(
        self, *, verify_id: str, out_seq_no: str, cert_hash: str, openid: str
    ) -> FaceCheckResult:
        data = await self._with_token(
            "/cityservice/face/identify/queryverifyinfo",
            {"verify_id": verify_id, "out_seq_no": out_seq_no, "cert_hash": cert_hash, "openid": openid},
        )
        return FaceCheckResult(verify_ret=data.integer("verify_ret"))

    async def send_subscribe_message(
        self, *, openid: str, template_id: str, data: Mapping[str, str], page: str | None = None
    ) -> None:
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
            "miniprogram_state": "formal",
            "lang": "zh_CN",
        }
        if page:
            body["page"] = page
        answer = await self._with_token("/cgi-bin/message/subscribe/send", body)
        answer.integer("errcode")  # WeChat says errcode 0 when it sent the message; `{}` is not that
