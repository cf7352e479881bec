"""WeChat Pay API v3 for the mini-program (JSAPI), as a PaymentChannel.

Our own small client on app.adapters.http + cryptography rather than wechatpayv3's AsyncWeChatPay, because
the library does not fit what the service must guarantee: it raises bare Exception on any failure
(we need ChannelError with retryable), has no timestamp freshness check and no SIGNTEST rejection
for notifies, cannot check a notify against both a platform certificate and a public key during
the 7-day switch (int('0x' + 'PUB_KEY_ID_...') in certificate mode), downloads certificates to
disk with aiofiles, and logs request headers (our Authorization) at debug level. The protocol is
small: the signing helpers are in app/adapters/_paycrypto.py, shared with the sandbox.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import hashlib
import io
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric import rsa

from app.adapters._paycrypto import (
    WECHATPAY_SIGNTEST_PREFIX,
    CryptoError,
    aes_gcm_decrypt,
    certificate_public_key,
    certificate_serial,
    key_text,
    load_certificate,
    load_private_key,
    load_public_key,
    nonce_str,
    rsa_sign,
    rsa_verify,
    wechatpay_authorization,
    wechatpay_pay_sign_message,
    wechatpay_response_message,
    yuan_to_fen,
)
from app.adapters.http import HttpClient, HttpFailure, HttpResponse, HttpTimeout, exact_url
from app.config import Settings, project_path
from app.ports import (
    ChannelBillRow,
    ChannelError,
    ChannelName,
    ChannelNotify,
    ChannelOrder,
    ChannelOrderAlreadyPaid,
    ChannelRefund,
    ChannelTransaction,
    NotifyAnswer,
    NotifyRejected,
)

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"
# An unknown serial in a notify may be a new platform certificate, or a forger's: fetch the list
# again, but not more often than this, so forged notifies cannot make us hammer /v3/certificates.
CERTIFICATE_REFRESH_INTERVAL = 60.0

TRADE_STATES: dict[str, Literal["unpaid", "paid", "closed", "refunded", "failed"]] = {
    "SUCCESS": "paid", "REFUND": "refunded", "NOTPAY": "unpaid", "USERPAYING": "unpaid",
    "CLOSED": "closed", "REVOKED": "closed", "PAYERROR": "failed",
}
REFUND_STATES: dict[str, Literal["processing", "succeeded", "failed"]] = {
    "SUCCESS": "succeeded", "PROCESSING": "processing", "ABNORMAL": "processing", "CLOSED": "failed",
}
# WeChat's error codes -> our stable codes; whatever is not listed is "channel_rejected".
ERROR_CODES: dict[str, str] = {
    "ORDER_NOT_EXIST": "order_not_found", "RESOURCE_NOT_EXISTS": "order_not_found",
    "NOT_ENOUGH": "refund_exceeds_paid", "OUT_TRADE_NO_USED": "order_no_used",
    "ORDER_CLOSED": "order_closed", "SIGN_ERROR": "channel_auth_failed",
    "APPID_MCHID_NOT_MATCH": "channel_misconfigured", "MCH_NOT_EXISTS": "channel_misconfigured",
    "PARAM_ERROR": "channel_rejected", "INVALID_REQUEST": "channel_rejected",
}
RETRYABLE_CODES = {"SYSTEM_ERROR", "BANK_ERROR", "FREQUENCY_LIMITED", "FREQUENCY_LIMIT_EXCEED"}


class WeChatPayChannel:
    name: ChannelName = "wechatpay"

    def __init__(
        self,
        *,
        base_url: str,
        mchid: str,
        appid: str,
        merchant_serial_no: str,
        merchant_private_key: str,
        apiv3_key: str,
        notify_url: str,
        platform_certificates: tuple[str, ...] = (),
        public_key: str | None = None,
        public_key_id: str | None = None,
        timeout: float = 5.0,
        notify_max_age: int = 300,
        http: HttpClient | None = None,
        clock: Callable[[], float] = time.time,
    ):
        if (public_key is None) != (public_key_id is None):
            raise ValueError("public_key and public_key_id go together")
        self.base_url = base_url.rstrip("/")
        self.mchid = mchid
        self.appid = appid
        self.notify_url = notify_url
        self.notify_max_age = notify_max_age
        self._merchant_serial = merchant_serial_no
        self._merchant_key = load_private_key(merchant_private_key)
        self._apiv3_key = apiv3_key
        self._public_key_id = public_key_id
        self._verifying_keys: dict[str, rsa.RSAPublicKey] = {}
        if public_key is not None and public_key_id is not None:
            self._verifying_keys[public_key_id] = load_public_key(public_key)
        for pem in platform_certificates:
            certificate = load_certificate(pem)
            self._verifying_keys[certificate_serial(certificate)] = certificate_public_key(certificate)
        self._certificates_stale = public_key is None and not platform_certificates
        self._timeout = timeout
        self._http = http or HttpClient()
        self._owns_http = http is None
        self._clock = clock
        self._refresh_lock = asyncio.Lock()
        self._refresh_task: asyncio.Task[None] | None = None
        self._last_notify_refresh = float("-inf")

    async def aclose(self) -> None:
        if self._refresh_task is not None:
            self._refresh_task.cancel()
        if self._owns_http:
            await self._http.close()

    # ----------------------------------------------------------------- PaymentChannel
    async def create(self, order: ChannelOrder) -> dict[str, Any]:
        if not order.payer_openid:
            raise ChannelError("WeChat Pay JSAPI needs the payer's openid", code="payer_required", retryable=False)
        body = {
            "appid": self.appid,
            "mchid": self.mchid,
            "description": truncate_utf8(order.description, 127),
            "out_trade_no": order.order_no,
            "time_expire": order.expires_at.astimezone(SHANGHAI).isoformat(timespec="seconds"),
            "notify_url": self.notify_url,
            "amount": {"total": order.amount, "currency": "CNY"},
            "payer": {"openid": order.payer_openid},
        }
        data = await self._call("create", "POST", "/v3/pay/transactions/jsapi", body)
        prepay_id = data.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise ChannelError("WeChat Pay answered without a prepay_id", code="channel_bad_response")
        return self.pay_params(prepay_id)

    def pay_params(self, prepay_id: str) -> dict[str, str]:
        """What wx.requestPayment needs; paySign = RSA over appId, timeStamp, nonceStr, package."""
        timestamp, nonce, package = str(int(self._clock())), nonce_str(), f"prepay_id={prepay_id}"
        signature = rsa_sign(self._merchant_key, wechatpay_pay_sign_message(self.appid, timestamp, nonce, package))
        return {
            "appId": self.appid, "timeStamp": timestamp, "nonceStr": nonce, "package": package,
            "signType": "RSA", "paySign": signature,
        }

    async def query(self, order_no: str) -> ChannelTransaction:
        path = f"/v3/pay/transactions/out-trade-no/{quote(order_no, safe='')}?mchid={self.mchid}"
        return self._transaction(await self._call("query", "GET", path))

    async def close(self, order_no: str) -> None:
        path = f"/v3/pay/transactions/out-trade-no/{quote(order_no, safe='')}/close"
        await self._call("close", "POST", path, {"mchid": self.mchid})

    async def refund(
        self, *, order_no: str, refund_no: str, amount: int, total: int, reason: str
    ) -> ChannelRefund:
        body = {
            "out_trade_no": order_no,
            "out_refund_no": refund_no,
            "reason": reason[:80],
            "notify_url": self.notify_url,
            "amount": {"refund": amount, "total": total, "currency": "CNY"},
        }
        return self._refund(await self._call("refund", "POST", "/v3/refund/domestic/refunds", body))

    async def query_refund(self, *, order_no: str, refund_no: str) -> ChannelRefund:
        path = f"/v3/refund/domestic/refunds/{quote(refund_no, safe='')}"
        return self._refund(await self._call("query_refund", "GET", path))

    def verify_notify(self, headers: Mapping[str, str], body: bytes) -> ChannelNotify:
        lower = {k.lower(): v for k, v in headers.items()}
        signature = lower.get("wechatpay-signature", "")
        timestamp, nonce = lower.get("wechatpay-timestamp", ""), lower.get("wechatpay-nonce", "")
        serial = lower.get("wechatpay-serial", "")
        if not signature or not timestamp or not nonce or not serial:
            raise NotifyRejected("missing_signature_headers")
        # WeChat Pay probes merchants with deliberately invalid signatures: they must fail.
        if signature.startswith(WECHATPAY_SIGNTEST_PREFIX):
            raise NotifyRejected("signtest_probe")
        if lower.get("wechatpay-signature-type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
            raise NotifyRejected("unsupported_signature_type")
        if not (timestamp.isascii() and timestamp.isdigit()) or abs(self._clock() - int(timestamp)) > self.notify_max_age:
            raise NotifyRejected("stale_timestamp")
        key = self._verifying_keys.get(serial)
        if key is None:
            # Perhaps a new platform certificate: fetch the list before the channel's next retry.
            self._refresh_soon()
            raise NotifyRejected("unknown_serial")
        if not rsa_verify(key, wechatpay_response_message(timestamp, nonce, body), signature):
            raise NotifyRejected("bad_signature")
        try:
            envelope = json.loads(body)
            resource = envelope["resource"]
            if resource.get("algorithm") != "AEAD_AES_256_GCM":
                raise NotifyRejected("unsupported_algorithm")
            plaintext = aes_gcm_decrypt(
                self._apiv3_key, resource["nonce"], resource["ciphertext"], resource.get("associated_data", "")
            )
            data = json.loads(plaintext)
            event_id, event_type = str(envelope["id"]), str(envelope["event_type"])
        except CryptoError:
            raise NotifyRejected("decryption_failed") from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise NotifyRejected("malformed_body") from None
        if not isinstance(data, dict):
            raise NotifyRejected("malformed_body")
        if data.get("mchid") != self.mchid:
            raise NotifyRejected("merchant_mismatch")
        try:
            if event_type.startswith("TRANSACTION."):
                if data.get("appid") != self.appid:
                    raise NotifyRejected("app_mismatch")
                return ChannelNotify(event_id=event_id, kind="payment", transaction=self._transaction(data))
            if event_type.startswith("REFUND."):
                if "refund_status" in data and "status" not in data:
                    data["status"] = data["refund_status"]
                return ChannelNotify(event_id=event_id, kind="refund", refund=self._refund(data))
        except ChannelError:
            raise NotifyRejected("malformed_body") from None
        raise NotifyRejected("unsupported_event")

    def answer_notify(self, *, accepted: bool) -> NotifyAnswer:
        if accepted:
            return NotifyAnswer(status=204, body=b"", content_type="application/json")
        body = json.dumps({"code": "FAIL", "message": "失败"}, ensure_ascii=False).encode()
        return NotifyAnswer(status=400, body=body, content_type="application/json")

    async def download_bill(self, day: date) -> list[ChannelBillRow]:
        path = f"/v3/bill/tradebill?bill_date={day.isoformat()}&bill_type=ALL"
        data = await self._call("bill", "GET", path)
        url, hash_type, hash_value = data.get("download_url"), data.get("hash_type"), data.get("hash_value")
        if not isinstance(url, str) or hash_type != "SHA1" or not isinstance(hash_value, str):
            raise ChannelError("the trade bill answer lacks download_url or hash", code="channel_bad_response")
        content = await self._send("download", "GET", url, b"")
        if hashlib.sha1(content.content, usedforsecurity=False).hexdigest().lower() != hash_value.lower():
            # A truncated or altered file: the caller may simply download again.
            raise ChannelError("the bill does not match its SHA1 hash", code="bill_hash_mismatch")
        raw = content.content
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return await asyncio.to_thread(parse_trade_bill, raw.decode("utf-8-sig"))

    # ----------------------------------------------------------------- certificates
    def _refresh_soon(self) -> None:
        if self._refresh_task is not None and not self._refresh_task.done():
            return
        if time.monotonic() - self._last_notify_refresh < CERTIFICATE_REFRESH_INTERVAL:
            return
        self._last_notify_refresh = time.monotonic()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._certificates_stale = True
            return
        self._refresh_task = loop.create_task(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh_certificates()
        except ChannelError as exc:
            self._certificates_stale = True
            log.warning("wechatpay platform certificates could not be refreshed: %s", exc.code)

    async def refresh_certificates(self) -> None:
        """Fetch the platform certificates (/v3/certificates) and trust those that decrypt."""
        async with self._refresh_lock:
            response = await self._send("certificates", "GET", f"{self.base_url}/v3/certificates", b"")
            fetched: dict[str, rsa.RSAPublicKey] = {}
            try:
                for item in json.loads(response.content)["data"]:
                    sealed = item["encrypt_certificate"]
                    pem = aes_gcm_decrypt(self._apiv3_key, sealed["nonce"], sealed["ciphertext"],
                                          sealed.get("associated_data", ""))
                    certificate = load_certificate(pem)
                    if certificate.not_valid_after_utc < datetime.now(UTC):
                        continue  # expired: WeChat no longer signs with it
                    fetched[certificate_serial(certificate)] = certificate_public_key(certificate)
            except (CryptoError, ValueError, KeyError, TypeError) as exc:
                raise ChannelError("the platform certificates could not be read", code="channel_bad_response") from exc
            # The certificates' own key must sign the answer that carried them.
            self._verify_response(response, extra=fetched)
            self._verifying_keys.update(fetched)
            self._certificates_stale = False

    # ----------------------------------------------------------------- transport
    async def _call(
        self, operation: str, method: str, target: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if self._certificates_stale and self._public_key_id is None:
            await self.refresh_certificates()
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() if body is not None else b""
        response = await self._send(operation, method, f"{self.base_url}{target}", payload)
        serial = response.headers.get("Wechatpay-Serial", "")
        if serial and serial not in self._verifying_keys and not serial.startswith(PUBLIC_KEY_ID_PREFIX):
            await self.refresh_certificates()  # signed by a platform certificate we have not seen yet
        self._verify_response(response)
        if response.status == 204 or not response.content:
            return {}
        try:
            data = json.loads(response.content)
        except ValueError:
            raise ChannelError(f"WeChat Pay {operation}: the answer is not JSON", code="channel_bad_response") from None
        if not isinstance(data, dict):
            raise ChannelError(f"WeChat Pay {operation}: unexpected answer", code="channel_bad_response")
        return data

    async def _send(self, operation: str, method: str, url: str, payload: bytes) -> HttpResponse:
        """Sign and send; non-2xx answers become ChannelError with the right retryable.

        `url` is already percent-encoded and goes out byte for byte: the signature covers it."""
        timestamp, nonce = str(int(self._clock())), nonce_str()
        parts = urlsplit(url)
        signed_url = parts.path + (f"?{parts.query}" if parts.query else "")  # exactly as sent
        headers = {
            "Authorization": wechatpay_authorization(
                mchid=self.mchid, serial_no=self._merchant_serial, private_key=self._merchant_key,
                method=method, url=signed_url, timestamp=timestamp, nonce=nonce, body=payload,
            ),
            "Accept": "application/json",
            "User-Agent": "gov-miniapp-wechatpay/1.0",
        }
        if payload:
            headers["Content-Type"] = "application/json"
        if self._public_key_id:
            headers["Wechatpay-Serial"] = self._public_key_id
        try:
            response = await self._http.request(method, exact_url(url), content=payload or None, headers=headers,
                                                timeout=self._timeout)
        except HttpTimeout:
            raise ChannelError(f"WeChat Pay {operation} timed out", code="channel_timeout") from None
        except HttpFailure as exc:
            message = f"WeChat Pay {operation} failed: {exc.reason}"
            raise ChannelError(message, code="channel_unreachable") from None
        if 200 <= response.status < 300:
            return response
        raise self._error_for(operation, response)

    def _error_for(self, operation: str, response: HttpResponse) -> ChannelError:
        try:
            answer = json.loads(response.content)
            code, message = str(answer.get("code", "")), str(answer.get("message", ""))
        except (ValueError, AttributeError):
            code = message = ""
        log.info("wechatpay %s answered %s %s", operation, response.status, code or "-")
        if code == "ORDERPAID":
            return ChannelOrderAlreadyPaid()
        retryable = response.status >= 500 or response.status == 429 or code in RETRYABLE_CODES
        ours = "channel_unavailable" if retryable else ERROR_CODES.get(code, "channel_rejected")
        return ChannelError(f"WeChat Pay {operation}: {response.status} {code}".strip(), code=ours,
                            retryable=retryable, channel_code=code or None, channel_message=message or None)

    def _verify_response(
        self, response: HttpResponse, extra: Mapping[str, rsa.RSAPublicKey] | None = None
    ) -> None:
        headers = response.headers
        serial = headers.get("Wechatpay-Serial", "")
        key = (extra or {}).get(serial) or self._verifying_keys.get(serial)
        signature = headers.get("Wechatpay-Signature", "")
        message = wechatpay_response_message(
            headers.get("Wechatpay-Timestamp", ""), headers.get("Wechatpay-Nonce", ""), response.content
        )
        if key is None or not rsa_verify(key, message, signature):
            if key is None:
                self._certificates_stale = True
            # The call may have taken effect; only its answer cannot be trusted.
            raise ChannelError("WeChat Pay's answer is not signed by a key we trust", code="channel_bad_signature")

    # ----------------------------------------------------------------- mapping
    def _transaction(self, data: Mapping[str, Any]) -> ChannelTransaction:
        try:
            raw_state = str(data["trade_state"])
            amount = data["amount"]["total"]
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise TypeError("amount.total")
            paid_at = _parse_time(data.get("success_time"))
            return ChannelTransaction(
                order_no=str(data["out_trade_no"]),
                state=TRADE_STATES.get(raw_state, "unpaid"),
                amount=amount,
                channel_txn_id=data.get("transaction_id"),
                paid_at=paid_at,
                raw_state=raw_state,
                app_id=data.get("appid"),
                merchant_id=data.get("mchid"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ChannelError("WeChat Pay sent an unreadable transaction", code="channel_bad_response") from exc

    def _refund(self, data: Mapping[str, Any]) -> ChannelRefund:
        try:
            raw_state = str(data["status"])
            amount = data["amount"]["refund"]
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise TypeError("amount.refund")
            state = REFUND_STATES.get(raw_state, "processing")
            return ChannelRefund(
                refund_no=str(data["out_refund_no"]),
                order_no=str(data["out_trade_no"]),
                state=state,
                amount=amount,
                channel_refund_id=data.get("refund_id"),
                # A refund WeChat Pay gives up on carries no reason, only its status (CLOSED).
                failure_code=raw_state if state == "failed" else None,
            )
        except (KeyError, TypeError) as exc:
            raise ChannelError("WeChat Pay sent an unreadable refund", code="channel_bad_response") from exc


def truncate_utf8(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes (WeChat Pay counts bytes), never cutting a character in two."""
    return text.encode()[:limit].decode(errors="ignore")


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


def parse_trade_bill(text: str) -> list[ChannelBillRow]:
    """Parse a trade bill: a header, rows with every field prefixed by a backtick, then a summary.

    Amounts are yuan; times are Beijing time. Refund rows carry the merchant refund number. The
    summary's row count must match, or the file is treated as damaged.
    """
    lines = list(csv.reader(io.StringIO(text)))
    if not lines or "商户订单号" not in lines[0]:
        raise ChannelError("the trade bill has no header", code="bill_unreadable")
    column = {name.strip(): i for i, name in enumerate(lines[0])}
    rows: list[ChannelBillRow] = []
    summary: list[str] | None = None
    for index, line in enumerate(lines[1:], start=1):
        if not line:
            continue
        if line[0].startswith("总交易单数"):
            summary = lines[index + 1] if index + 1 < len(lines) else None
            break
        values = [v[1:] if v.startswith("`") else v for v in line]
        try:
            state = values[column["交易状态"]]
            moment = datetime.strptime(values[column["交易时间"]], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
            if state == "REFUND":
                rows.append(ChannelBillRow(
                    order_no=values[column["商户订单号"]], channel_txn_id=values[column["微信订单号"]],
                    kind="refund", amount=yuan_to_fen(values[column["申请退款金额"]]),
                    occurred_at=moment, refund_no=values[column["商户退款单号"]],
                ))
            else:
                rows.append(ChannelBillRow(
                    order_no=values[column["商户订单号"]], channel_txn_id=values[column["微信订单号"]],
                    kind="payment", amount=yuan_to_fen(values[column["订单金额"]]), occurred_at=moment,
                ))
        except (KeyError, IndexError, ValueError) as exc:
            raise ChannelError(f"trade bill line {index + 1} is unreadable", code="bill_unreadable") from exc
    if summary is None or not summary or summary[0].lstrip("`") != str(len(rows)):
        raise ChannelError("the trade bill's summary does not match its rows", code="bill_unreadable")
    return rows


def build_wechatpay_channel(settings: Settings, http: HttpClient) -> WeChatPayChannel:
    wechatpay = settings.wechatpay
    public_key = project_path(wechatpay.public_key_path).read_text() if wechatpay.public_key_id else None
    return WeChatPayChannel(
        base_url=wechatpay.base_url or settings.sandbox_base("wechatpay"),
        mchid=wechatpay.mchid,
        appid=wechatpay.appid or settings.wechat.appid,
        merchant_serial_no=wechatpay.merchant_serial_no,
        merchant_private_key=key_text(wechatpay.merchant_private_key, wechatpay.merchant_private_key_path),
        apiv3_key=wechatpay.apiv3_key.reveal(),
        notify_url=wechatpay.notify_url or f"{settings.service.base_url}/notify/wechatpay",
        platform_certificates=tuple(project_path(p).read_text() for p in wechatpay.platform_certificate_paths),
        public_key=public_key,
        public_key_id=wechatpay.public_key_id or None,
        timeout=wechatpay.timeout,
        notify_max_age=wechatpay.notify_max_age,
        http=http,
    )
