"""The WeChat mini-program server API over app.adapters.http (async; wechatpy's client is blocking).

The access token comes from /cgi-bin/stable_token, is cached in the shared cache until five
minutes before it expires, and is fetched again (force_refresh) when WeChat says it is invalid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from app.adapters.http import HttpClient, HttpError
from app.config import Secret
from app.ports import Cache, FaceCheckResult, WeChatError, WeChatSession

_TOKEN_ERRORS = {40001, 40014, 42001}
_TOKEN_KEY = "wechat:access_token"


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
    ) -> dict[str, Any]:
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
            raise WeChatError(-1, "unreadable answer") from None
        errcode = int(data.get("errcode") or 0)
        if errcode:
            raise WeChatError(errcode, str(data.get("errmsg", "")))
        return data

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
        token, expires_in = str(data["access_token"]), int(data.get("expires_in", 7200))
        await self._cache.set(_TOKEN_KEY, token, ttl=max(60, expires_in - 300))
        return token

    async def _with_token(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
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
        return WeChatSession(openid=data["openid"], session_key=data["session_key"], unionid=data.get("unionid"))

    async def get_phone_number(self, code: str) -> str:
        data = await self._with_token("/wxa/business/getuserphonenumber", {"code": code})
        info = data["phone_info"]
        if info.get("watermark", {}).get("appid") != self._appid:
            raise WeChatError(-1, "phone watermark is for another app")
        return str(info["purePhoneNumber"])

    async def face_get_verify_id(self, *, out_seq_no: str, cert_name: str, cert_no: str, openid: str) -> str:
        data = await self._with_token(
            "/cityservice/face/identify/getverifyid",
            {
                "out_seq_no": out_seq_no,
                "cert_info": {"cert_type": "IDENTITY_CARD", "cert_name": cert_name, "cert_no": cert_no},
                "openid": openid,
            },
        )
        return str(data["verify_id"])

    async def face_query_verify_info(
        self, *, verify_id: str, out_seq_no: str, cert_hash: str, openid: str
    ) -> FaceCheckResult:
        data = await self._with_token(
            "/cityservice/face/identify/queryverifyinfo",
            {"verify_id": verify_id, "out_seq_no": out_seq_no, "cert_hash": cert_hash, "openid": openid},
        )
        return FaceCheckResult(verify_ret=int(data["verify_ret"]))

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
        await self._with_token("/cgi-bin/message/subscribe/send", body)
