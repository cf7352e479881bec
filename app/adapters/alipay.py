"""Alipay open platform for the mini-program, as a PaymentChannel, on app.adapters.http.

python-alipay-sdk blocks on urllib, so this is a small async client of its own: every gateway call
is form-encoded and signed RSA2 over the sorted parameters; every answer is verified over the exact
text of its `<method>_response` node with Alipay's public key; notifies are verified over the sorted
parameters without `sign` and `sign_type`, and answered with a plain `success` or `fail`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import re
import time
import zipfile
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from app.adapters._paycrypto import (
    alipay_sign_content,
    fen_to_yuan,
    key_text,
    load_private_key,
    load_public_key,
    rsa_sign,
    rsa_verify,
    yuan_to_fen,
)
from app.adapters.http import HttpClient, HttpFailure, HttpTimeout, exact_url
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
TradeState = Literal["unpaid", "paid", "closed", "refunded", "failed"]
TRADE_STATES: dict[str, TradeState] = {
    "WAIT_BUYER_PAY": "unpaid", "TRADE_SUCCESS": "paid", "TRADE_FINISHED": "paid", "TRADE_CLOSED": "closed",
}
# Alipay sub_codes -> our stable codes; whatever is not listed is "channel_rejected".
ERROR_CODES: dict[str, str] = {
    "ACQ.TRADE_NOT_EXIST": "order_not_found",
    "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL": "refund_exceeds_paid",
    "ACQ.CONTEXT_INCONSISTENT": "order_no_used",
    "ACQ.TRADE_HAS_CLOSE": "order_closed",
    "isv.invalid-signature": "channel_auth_failed",
    "isv.invalid-app-id": "channel_misconfigured",
    "isv.invalid-timestamp": "channel_auth_failed",
}
RETRYABLE_SUB_CODES = {
    "ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR", "isp.unknow-error", "ACQ.REASON_TRADE_REFUND_FEE_ERR",
}
BILL_TOTALS = re.compile(r"交易合计：(\d+)笔，退款合计：(\d+)笔")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class AlipayChannel:
    name: ChannelName = "alipay"

    def __init__(
        self,
        *,
        gateway_url: str,
        app_id: str,
        seller_id: str,
        app_private_key: str,
        alipay_public_key: str,
        notify_url: str,
        timeout: float = 5.0,
        http: HttpClient | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.gateway_url = gateway_url
        self.app_id = app_id
        self.seller_id = seller_id
        self.notify_url = notify_url
        self._app_key = load_private_key(app_private_key)
        self._alipay_key = load_public_key(alipay_public_key)
        self._timeout = timeout
        self._http = http or HttpClient()
        self._owns_http = http is None
        self._clock = clock

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.close()

    # ----------------------------------------------------------------- PaymentChannel
    async def create(self, order: ChannelOrder) -> dict[str, Any]:
        biz: dict[str, Any] = {
            "out_trade_no": order.order_no,
            "total_amount": fen_to_yuan(order.amount),
            "subject": order.description[:256],
            "product_code": "JSAPI_PAY",
            # Absolute, not timeout_express: the relative one starts only when the payer opens the cashier.
            "time_expire": order.expires_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        }
        if order.payer_openid:
            biz["buyer_open_id"] = order.payer_openid
        data = await self._call("create", "alipay.trade.create", biz, notify=True)
        trade_no = data.get("trade_no")
        if not isinstance(trade_no, str) or not trade_no:
            raise ChannelError("Alipay answered without a trade_no", code="channel_bad_response")
        return {"tradeNO": trade_no}  # what my.tradePay takes

    async def query(self, order_no: str) -> ChannelTransaction:
        data = await self._call("query", "alipay.trade.query", {"out_trade_no": order_no})
        try:
            raw_state = str(data["trade_status"])
            state: TradeState = TRADE_STATES.get(raw_state, "unpaid")
            paid_at = _beijing(data.get("send_pay_date"))
            if raw_state == "TRADE_CLOSED" and paid_at is not None:
                state = "refunded"  # closed after being paid: the full amount went back
            return ChannelTransaction(
                order_no=str(data["out_trade_no"]), state=state,
                amount=yuan_to_fen(str(data["total_amount"])), channel_txn_id=data.get("trade_no"),
                paid_at=paid_at, raw_state=raw_state,
            )
        except (KeyError, ValueError) as exc:
            raise ChannelError("Alipay sent an unreadable trade", code="channel_bad_response") from exc

    async def close(self, order_no: str) -> None:
        try:
            await self._call("close", "alipay.trade.close", {"out_trade_no": order_no})
        except ChannelError as exc:
            if exc.code != "trade_status_error":
                raise
            # Already closed, or paid meanwhile: ask which.
            if (await self.query(order_no)).state in ("paid", "refunded"):
                raise ChannelOrderAlreadyPaid() from None

    async def refund(
        self, *, order_no: str, refund_no: str, amount: int, total: int, reason: str
    ) -> ChannelRefund:
        biz = {
            "out_trade_no": order_no, "out_request_no": refund_no, "refund_amount": fen_to_yuan(amount),
            "refund_reason": reason[:256],
        }
        data = await self._call("refund", "alipay.trade.refund", biz)
        # Alipay refunds synchronously; a repeat with the same out_request_no answers fund_change N.
        return ChannelRefund(refund_no=refund_no, order_no=order_no, state="succeeded", amount=amount,
                             channel_refund_id=data.get("trade_no"))

    async def query_refund(self, *, order_no: str, refund_no: str) -> ChannelRefund:
        data = await self._call("query_refund", "alipay.trade.fastpay.refund.query",
                                {"out_trade_no": order_no, "out_request_no": refund_no})
        if not data.get("refund_amount"):
            # No such refund at Alipay: it never happened and may be sent again with the same number.
            return ChannelRefund(refund_no=refund_no, order_no=order_no, state="failed", amount=0)
        try:
            amount = yuan_to_fen(str(data["refund_amount"]))
        except ValueError as exc:
            raise ChannelError("Alipay sent an unreadable refund", code="channel_bad_response") from exc
        succeeded = data.get("refund_status", "REFUND_SUCCESS") == "REFUND_SUCCESS"
        return ChannelRefund(refund_no=refund_no, order_no=order_no, state="succeeded" if succeeded else "processing",
                             amount=amount, channel_refund_id=data.get("trade_no"))

    def verify_notify(self, headers: Mapping[str, str], body: bytes) -> ChannelNotify:
        try:
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise NotifyRejected("malformed_body") from None
        signature = params.get("sign", "")
        if not signature:
            raise NotifyRejected("missing_signature")
        if params.get("sign_type", "RSA2") != "RSA2":
            raise NotifyRejected("unsupported_signature_type")
        if not rsa_verify(self._alipay_key, alipay_sign_content(params, exclude=("sign", "sign_type")), signature):
            raise NotifyRejected("bad_signature")
        if params.get("app_id") != self.app_id:
            raise NotifyRejected("app_mismatch")
        if params.get("seller_id") != self.seller_id:
            raise NotifyRejected("merchant_mismatch")
        try:
            event_id, order_no = params["notify_id"], params["out_trade_no"]
            if params.get("out_biz_no") and params.get("refund_fee"):
                # Alipay's refund_fee is the trade's cumulative refund, not this refund's amount.
                refund = ChannelRefund(
                    refund_no=params["out_biz_no"], order_no=order_no, state="succeeded",
                    amount=yuan_to_fen(params["refund_fee"]), channel_refund_id=params.get("trade_no"),
                    total=yuan_to_fen(params["total_amount"]) if params.get("total_amount") else None,
                )
                return ChannelNotify(event_id=event_id, kind="refund", refund=refund)
            raw_state = params["trade_status"]
            transaction = ChannelTransaction(
                order_no=order_no, state=TRADE_STATES.get(raw_state, "unpaid"),
                amount=yuan_to_fen(params["total_amount"]), channel_txn_id=params.get("trade_no"),
                paid_at=_beijing(params.get("gmt_payment")), raw_state=raw_state,
                app_id=params["app_id"], merchant_id=params["seller_id"],
            )
        except (KeyError, ValueError):
            raise NotifyRejected("malformed_body") from None
        return ChannelNotify(event_id=event_id, kind="payment", transaction=transaction)

    def answer_notify(self, *, accepted: bool) -> NotifyAnswer:
        if accepted:
            return NotifyAnswer(status=200, body=b"success", content_type="text/plain; charset=utf-8")
        return NotifyAnswer(status=400, body=b"fail", content_type="text/plain; charset=utf-8")

    async def download_bill(self, day: date) -> list[ChannelBillRow]:
        data = await self._call("bill", "alipay.data.dataservice.bill.downloadurl.query",
                                {"bill_type": "trade", "bill_date": day.isoformat()})
        url = data.get("bill_download_url")
        if not isinstance(url, str) or not url:
            raise ChannelError("the bill answer lacks bill_download_url", code="channel_bad_response")
        try:
            # The URL is short-lived and unsigned; fetch it at once.
            response = await self._http.request("GET", exact_url(url), timeout=self._timeout)
        except HttpTimeout:
            raise ChannelError("Alipay bill download timed out", code="channel_timeout") from None
        except HttpFailure as exc:
            raise ChannelError(f"Alipay bill download failed: {exc.reason}", code="channel_unreachable") from None
        if response.status != 200:
            raise ChannelError(f"Alipay bill download answered {response.status}",
                               code="channel_unavailable" if response.status >= 500 else "bill_unavailable")
        return await asyncio.to_thread(parse_trade_bill_zip, response.content)

    # ----------------------------------------------------------------- transport
    def sign_request(self, method: str, biz: Mapping[str, Any], *, notify: bool = False) -> dict[str, str]:
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": datetime.fromtimestamp(self._clock(), SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        if notify:
            params["notify_url"] = self.notify_url
        params["sign"] = rsa_sign(self._app_key, alipay_sign_content(params))
        return params

    async def _call(
        self, operation: str, method: str, biz: Mapping[str, Any], *, notify: bool = False
    ) -> dict[str, Any]:
        params = self.sign_request(method, biz, notify=notify)
        try:
            response = await self._http.request("POST", self.gateway_url, content=urlencode(params).encode(),
                                                headers=FORM, timeout=self._timeout)
        except HttpTimeout:
            raise ChannelError(f"Alipay {operation} timed out", code="channel_timeout") from None
        except HttpFailure as exc:
            raise ChannelError(f"Alipay {operation} failed: {exc.reason}", code="channel_unreachable") from None
        if response.status >= 500:
            raise ChannelError(f"Alipay {operation} answered {response.status}", code="channel_unavailable")
        if response.status != 200:
            raise ChannelError(f"Alipay {operation} answered {response.status}", code="channel_rejected",
                               retryable=False)
        data = self._verified_node(operation, method, response.text)
        code, sub_code = str(data.get("code", "")), str(data.get("sub_code", ""))
        if code == "10000":
            return data
        log.info("alipay %s answered %s %s", operation, code, sub_code or "-")
        if sub_code == "ACQ.TRADE_HAS_SUCCESS":
            raise ChannelOrderAlreadyPaid()
        said, message = sub_code or code or None, str(data.get("sub_msg") or data.get("msg") or "") or None
        if sub_code == "ACQ.TRADE_STATUS_ERROR":
            raise ChannelError(f"Alipay {operation}: {sub_code}", code="trade_status_error", retryable=False,
                               channel_code=said, channel_message=message)
        retryable = code == "20000" or sub_code in RETRYABLE_SUB_CODES
        ours = "channel_unavailable" if retryable else ERROR_CODES.get(sub_code, "channel_rejected")
        raise ChannelError(f"Alipay {operation}: {code} {sub_code}".strip(), code=ours, retryable=retryable,
                           channel_code=said, channel_message=message)

    def _verified_node(self, operation: str, method: str, text: str) -> dict[str, Any]:
        """The `<method>_response` object, after checking Alipay's signature over its exact text."""
        key = '"' + method.replace(".", "_") + '_response"'
        start = text.find(key)
        if start < 0:
            key, start = '"error_response"', text.find('"error_response"')
        try:
            if start < 0:
                raise ValueError("no response node")
            begin = text.index(":", start + len(key)) + 1
            while text[begin] in " \t\r\n":
                begin += 1
            node, end = json.JSONDecoder().raw_decode(text, begin)
            signature = json.loads(text).get("sign")
        except (ValueError, IndexError):
            raise ChannelError(f"Alipay {operation}: unreadable answer", code="channel_bad_response") from None
        if not isinstance(node, dict):
            raise ChannelError(f"Alipay {operation}: unreadable answer", code="channel_bad_response")
        if signature is None and node.get("code") != "10000":
            return node  # Alipay leaves some refusals (e.g. a bad request signature) unsigned
        if not isinstance(signature, str) or not rsa_verify(self._alipay_key, text[begin:end].encode(), signature):
            # The call may have taken effect; only its answer cannot be trusted.
            raise ChannelError(f"Alipay {operation}: answer not signed by Alipay", code="channel_bad_signature")
        return node


def _beijing(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)


def parse_trade_bill_zip(content: bytes) -> list[ChannelBillRow]:
    """Read the zipped GBK trade bill: the 业务明细 CSV, its # comment lines, and its totals line."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            name = next(n for n in archive.namelist() if n.endswith("业务明细.csv"))
            text = archive.read(name).decode("gbk")
    except (zipfile.BadZipFile, StopIteration, UnicodeDecodeError, EOFError) as exc:
        raise ChannelError("the Alipay bill is damaged", code="bill_unreadable") from exc
    return parse_trade_bill(text)


def parse_trade_bill(text: str) -> list[ChannelBillRow]:
    lines = text.splitlines()
    totals = next((BILL_TOTALS.search(line) for line in lines if BILL_TOTALS.search(line)), None)
    table = [line for line in lines if line and not line.startswith("#")]
    reader = list(csv.reader(table))
    if not reader or "商户订单号" not in [c.strip() for c in reader[0]]:
        raise ChannelError("the Alipay bill has no header", code="bill_unreadable")
    column = {name.strip(): i for i, name in enumerate(reader[0])}
    rows: list[ChannelBillRow] = []
    for number, line in enumerate(reader[1:], start=2):
        values = [v.strip() for v in line]
        try:
            kind = values[column["业务类型"]]
            moment = _beijing(values[column["完成时间"]])
            if moment is None:
                raise ValueError("完成时间")
            order_no, txn_id = values[column["商户订单号"]], values[column["支付宝交易号"]]
            if kind == "退款":
                rows.append(ChannelBillRow(
                    order_no=order_no, channel_txn_id=txn_id, kind="refund", occurred_at=moment,
                    amount=abs(yuan_to_fen(values[column["商家实收（元）"]])),
                    refund_no=values[column["退款批次号/请求号"]] or None,
                ))
            else:
                rows.append(ChannelBillRow(
                    order_no=order_no, channel_txn_id=txn_id, kind="payment", occurred_at=moment,
                    amount=yuan_to_fen(values[column["订单金额（元）"]]),
                ))
        except (KeyError, IndexError, ValueError) as exc:
            raise ChannelError(f"Alipay bill line {number} is unreadable", code="bill_unreadable") from exc
    payments = sum(1 for r in rows if r.kind == "payment")
    if totals is None or (int(totals.group(1)), int(totals.group(2))) != (payments, len(rows) - payments):
        raise ChannelError("the Alipay bill's totals do not match its rows", code="bill_unreadable")
    return rows


def build_alipay_channel(settings: Settings, http: HttpClient) -> AlipayChannel:
    alipay = settings.alipay
    return AlipayChannel(
        gateway_url=alipay.gateway_url or f"{settings.sandbox_base('alipay')}/gateway.do",
        app_id=alipay.app_id,
        seller_id=alipay.seller_id,
        app_private_key=key_text(alipay.app_private_key, alipay.app_private_key_path),
        alipay_public_key=alipay.alipay_public_key or project_path(alipay.alipay_public_key_path).read_text(),
        notify_url=alipay.notify_url or f"{settings.service.base_url}/notify/alipay",
        timeout=alipay.timeout,
        http=http,
    )
