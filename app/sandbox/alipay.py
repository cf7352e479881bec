"""Alipay open-platform sandbox: the gateway (gateway.do) with RSA2 on both sides.

Mounted under /sandbox/alipay, so the adapter's gateway URL is http://host:port/sandbox/alipay/gateway.do.
As openapi.alipay.com does, it checks the app's RSA2 signature over the sorted request parameters,
answers `{"<method>_response": {...}, "sign": "..."}` signed with Alipay's key over the exact
response text, keeps trades (WAIT_BUYER_PAY -> TRADE_SUCCESS / TRADE_CLOSED), refunds keyed by
out_request_no, zipped GBK bills behind a 30-second URL, and posts form-encoded RSA2 notifies to
the trade's notify_url until it answers `success` (4m, 10m, 10m, 1h, 2h, 6h, 15h).
Helper routes (not Alipay's) play the payer and expose state and fault knobs for tests.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import secrets
import time
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, raw
from sanic.response import json as json_response

from app.adapters._paycrypto import (
    alipay_sign_content,
    fen_to_yuan,
    load_private_key,
    load_public_key,
    rsa_sign,
    rsa_verify,
    yuan_to_fen,
)
from app.config import Settings
from app.sandbox._helpers import Fields, HelperError, answer_errors_in_envelope, conflict, not_found, read_object
from app.sandbox._paychannel import (
    SHANGHAI,
    FaultBook,
    FaultSpecError,
    NotifyDispatcher,
    NotifyJob,
    SignedNotify,
    hang,
    now_utc,
    shanghai_day,
)

CERTS = Path(__file__).resolve().parents[2] / "certs" / "sandbox" / "alipay"
SANDBOX_APP_ID = "2021000000000001"
SANDBOX_SELLER_ID = "2088000000000001"
# After the first attempt: 4m, 10m, 10m, 1h, 2h, 6h, 15h (8 notifies in about 25 hours).
NOTIFY_RETRY_SCHEDULE = (240, 600, 600, 3600, 7200, 21600, 54000)
OPERATIONS = ("create", "query", "close", "refund", "query_refund", "bill", "download")
METHODS = {
    "alipay.trade.create": "create",
    "alipay.trade.query": "query",
    "alipay.trade.close": "close",
    "alipay.trade.refund": "refund",
    "alipay.trade.fastpay.refund.query": "query_refund",
    "alipay.data.dataservice.bill.downloadurl.query": "bill",
}
FORGE_VARIANTS = ("bad_signature", "wrong_amount", "wrong_appid", "wrong_seller_id")
BILL_COLUMNS = [
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称", "操作员",
    "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）",
    "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号",
    "服务费（元）", "分润（元）", "备注",
]
# Allowed moves of a trade; anything else is a bug in the sandbox.
TRADE_TRANSITIONS: dict[str, frozenset[str]] = {
    "WAIT_BUYER_PAY": frozenset({"TRADE_SUCCESS", "TRADE_CLOSED"}),
    "TRADE_SUCCESS": frozenset({"TRADE_CLOSED", "TRADE_FINISHED"}),  # closed by a full refund
    "TRADE_FINISHED": frozenset(),
    "TRADE_CLOSED": frozenset(),
}
AMOUNT = re.compile(r"^\d{1,9}(\.\d{1,2})?$")


@dataclass(frozen=True)
class AlipaySandboxConfig:
    app_id: str
    seller_id: str
    app_public_key_pem: str  # verifies the app's request signatures
    alipay_private_key_pem: str  # signs answers and notifies
    time_compression: float = 1.0
    timestamp_window: int = 300
    bill_url_ttl: float = 30.0
    notify_timeout: float = 5.0

    @classmethod
    def from_directory(cls, directory: Path = CERTS, **overrides: Any) -> AlipaySandboxConfig:
        values: dict[str, Any] = {
            "app_id": SANDBOX_APP_ID,
            "seller_id": SANDBOX_SELLER_ID,
            "app_public_key_pem": (directory / "app_public_key.pem").read_text(),
            "alipay_private_key_pem": (directory / "alipay_private_key.pem").read_text(),
        }
        values.update(overrides)
        return cls(**values)


@dataclass
class SandboxTrade:
    out_trade_no: str
    trade_no: str
    total: int  # fen
    subject: str
    buyer_id: str
    notify_url: str | None
    time_expire: datetime | None
    fingerprint: str
    created_at: datetime
    trade_status: str = "WAIT_BUYER_PAY"
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    refunded: int = 0  # fen

    def move(self, to: str, at: datetime) -> None:
        if to not in TRADE_TRANSITIONS[self.trade_status]:
            raise ValueError(f"trade {self.out_trade_no}: {self.trade_status} -> {to} is not allowed")
        self.trade_status = to
        if to == "TRADE_SUCCESS":
            self.paid_at = at
        elif to == "TRADE_CLOSED":
            self.closed_at = at

    def view(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("time_expire", "created_at", "paid_at", "closed_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


@dataclass
class SandboxRefund:
    out_request_no: str
    out_trade_no: str
    trade_no: str
    amount: int  # fen
    reason: str
    refunded_at: datetime


def _beijing(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


@dataclass
class AlipaySandbox:
    """Everything the sandbox holds; lives on bp.ctx.state in the hosting process."""

    config: AlipaySandboxConfig
    trades: dict[str, SandboxTrade] = field(default_factory=dict)
    by_trade_no: dict[str, str] = field(default_factory=dict)
    refunds: dict[tuple[str, str], SandboxRefund] = field(default_factory=dict)
    bill_tokens: dict[str, tuple[bytes, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.app_public_key = load_public_key(self.config.app_public_key_pem)
        self.alipay_key = load_private_key(self.config.alipay_private_key_pem)
        self.faults = FaultBook(operations=OPERATIONS, forge_variants=FORGE_VARIANTS)
        self.dispatcher = NotifyDispatcher(
            schedule=NOTIFY_RETRY_SCHEDULE,
            faults=self.faults,
            accepted=lambda response: response.status == 200 and response.text.strip() == "success",
            time_compression=self.config.time_compression,
            timeout=self.config.notify_timeout,
        )

    # ----------------------------------------------------------------- gateway answers
    def answer(self, method: str, payload: dict[str, Any]) -> HTTPResponse:
        """The response node is signed over its exact text, as Alipay does."""
        node = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        signature = rsa_sign(self.alipay_key, node.encode())
        text = '{"' + method.replace(".", "_") + '_response":' + node + ',"sign":"' + signature + '"}'
        return raw(text.encode(), content_type="application/json; charset=utf-8")

    def success(self, method: str, **fields: Any) -> HTTPResponse:
        return self.answer(method, {"code": "10000", "msg": "Success", **fields})

    def failure(self, method: str, sub_code: str, sub_msg: str, *, code: str = "40004") -> HTTPResponse:
        msg = {"40004": "Business Failed", "40002": "Invalid Arguments", "20000": "Service Currently Unavailable"}
        return self.answer(method, {"code": code, "msg": msg.get(code, "Failed"), "sub_code": sub_code,
                                    "sub_msg": sub_msg})

    def check_request(self, params: dict[str, str]) -> tuple[str, str] | None:
        """Common-parameter checks and the RSA2 signature; returns (sub_code, sub_msg) on failure."""
        for name in ("app_id", "method", "charset", "sign_type", "sign", "timestamp", "version", "biz_content"):
            if not params.get(name):
                return "isv.missing-" + name.replace("_", "-"), f"缺少参数 {name}"
        if params["app_id"] != self.config.app_id:
            return "isv.invalid-app-id", "无效的AppID参数"
        if params["sign_type"] != "RSA2":
            return "isv.invalid-signature-type", "无效的签名类型"
        try:
            sent = datetime.strptime(params["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
        except ValueError:
            return "isv.invalid-timestamp", "非法的时间戳参数"
        if abs((now_utc() - sent).total_seconds()) > self.config.timestamp_window:
            return "isv.invalid-timestamp", "非法的时间戳参数"
        if not rsa_verify(self.app_public_key, alipay_sign_content(params), params["sign"]):
            return "isv.invalid-signature", "验签出错"
        return None

    # ----------------------------------------------------------------- notifies
    def notify_params(self, trade: SandboxTrade, refund: SandboxRefund | None, notify_id: str,
                      **bend: Any) -> dict[str, str]:
        params = {
            "notify_time": _beijing(now_utc()),
            "notify_type": "trade_status_sync",
            "notify_id": notify_id,
            "app_id": bend.get("app_id", self.config.app_id),
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_id": trade.buyer_id,
            "seller_id": bend.get("seller_id", self.config.seller_id),
            "trade_status": trade.trade_status,
            "total_amount": fen_to_yuan(trade.total + bend.get("amount_delta", 0)),
            "receipt_amount": fen_to_yuan(trade.total),
            "buyer_pay_amount": fen_to_yuan(trade.total),
            "subject": trade.subject,
            "gmt_create": _beijing(trade.created_at),
            "gmt_payment": _beijing(trade.paid_at),
        }
        if refund is not None:
            # Alipay reports the trade's cumulative refund_fee; out_biz_no names this refund.
            params.update(out_biz_no=refund.out_request_no, refund_fee=fen_to_yuan(trade.refunded),
                          gmt_refund=_beijing(refund.refunded_at))
            if trade.trade_status == "TRADE_CLOSED":
                params["gmt_close"] = _beijing(trade.closed_at)
        return {k: v for k, v in params.items() if v != ""}

    def signed_notify(self, params: dict[str, str]) -> SignedNotify:
        params = dict(params)
        params["sign"] = rsa_sign(self.alipay_key, alipay_sign_content(params, exclude=("sign", "sign_type")))
        return SignedNotify(headers={}, body=urlencode(params).encode(),
                            content_type="application/x-www-form-urlencoded; charset=utf-8")

    def send_notify(self, trade: SandboxTrade, refund: SandboxRefund | None = None) -> None:
        if not trade.notify_url:
            return
        notify_id = secrets.token_hex(17)
        # Resends carry the same notify_id and content; notify_time is refreshed.
        snapshot = SandboxTrade(**{**asdict(trade)})

        def forge(variant: str) -> SignedNotify:
            if variant == "wrong_amount":
                return self.signed_notify(self.notify_params(snapshot, refund, notify_id, amount_delta=1))
            if variant == "wrong_appid":
                return self.signed_notify(self.notify_params(snapshot, refund, notify_id, app_id="2021999999999999"))
            if variant == "wrong_seller_id":
                return self.signed_notify(self.notify_params(snapshot, refund, notify_id,
                                                             seller_id="2088999999999999"))
            genuine = self.signed_notify(self.notify_params(snapshot, refund, notify_id))
            tampered = dict(parse_qsl(genuine.body.decode(), keep_blank_values=True))
            tampered["subject"] = tampered.get("subject", "") + "X"  # changed after signing
            return SignedNotify(headers={}, body=urlencode(tampered).encode(), content_type=genuine.content_type)

        self.dispatcher.submit(NotifyJob(
            order_no=trade.out_trade_no, event_id=notify_id, url=trade.notify_url,
            sign=lambda: self.signed_notify(self.notify_params(snapshot, refund, notify_id)), forge=forge,
        ))

    def pay(self, trade: SandboxTrade) -> None:
        trade.move("TRADE_SUCCESS", now_utc())
        self.send_notify(trade)

    # ----------------------------------------------------------------- bills
    def bill_zip(self, bill_date: str) -> bytes:
        bill, rows = self.faults.bill, []
        day = bill_date.replace("-", "")

        def row(trade_no: str, trade: SandboxTrade, kind: str, order_amount: int, received: int,
                finished: datetime, request_no: str = "") -> list[str]:
            return [
                trade_no, trade.out_trade_no, kind, trade.subject, _beijing(trade.created_at), _beijing(finished),
                "", "", "", "", trade.buyer_id, fen_to_yuan(order_amount), fen_to_yuan(received), "0.00", "0.00",
                "0.00", "0.00", "0.00", "", "0.00", "0.00", request_no, "0.00", "0.00", "",
            ]

        for trade in self.trades.values():
            if not trade.paid_at or shanghai_day(trade.paid_at) != bill_date or trade.out_trade_no in bill.missing:
                continue
            amount = trade.total + bill.amount_diff.get(trade.out_trade_no, 0)
            rows.append(row(trade.trade_no, trade, "交易", amount, amount, trade.paid_at))
            if trade.out_trade_no in bill.duplicate:
                twin = day + "22001" + hashlib.sha256(trade.trade_no.encode()).hexdigest()[:15]
                rows.append(row(twin, trade, "交易", trade.total, trade.total, trade.paid_at + timedelta(minutes=1)))
        for n in range(bill.extra):
            ghost = SandboxTrade(
                out_trade_no=f"X{day}{n:05d}", trade_no=f"{day}22009{n:015d}", total=100 + n, subject="extra",
                buyer_id="2088000000009999", notify_url=None, time_expire=None, fingerprint="",
                created_at=datetime.fromisoformat(f"{bill_date}T12:00:00").replace(tzinfo=SHANGHAI),
            )
            rows.append(row(ghost.trade_no, ghost, "交易", ghost.total, ghost.total, ghost.created_at))
        refund_count = 0
        for refund in self.refunds.values():
            if shanghai_day(refund.refunded_at) == bill_date:
                trade = self.trades[refund.out_trade_no]
                rows.append(row(trade.trade_no, trade, "退款", trade.total, -refund.amount, refund.refunded_at,
                                refund.out_request_no))
                refund_count += 1
        out = io.StringIO()
        out.write(f"#支付宝业务明细查询\r\n#账号：[{self.config.seller_id}]\r\n")
        out.write(f"#起始日期：[{bill_date} 00:00:00]   终止日期：[{bill_date} 23:59:59]\r\n")
        out.write("#-----------------------------------------业务明细列表----------------------------------------\r\n")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(BILL_COLUMNS)
        writer.writerows(rows)
        out.write("#-----------------------------------------业务明细列表结束------------------------------------\r\n")
        out.write(f"#交易合计：{len(rows) - refund_count}笔，退款合计：{refund_count}笔\r\n")
        out.write(f"#导出时间：[{_beijing(now_utc())}]\r\n")
        detail = out.getvalue().encode("gbk")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{self.config.seller_id}0156_{day}_业务明细.csv", detail)
            summary = f"#支付宝业务汇总查询\r\n#交易合计：{len(rows) - refund_count}笔\r\n".encode("gbk")
            archive.writestr(f"{self.config.seller_id}0156_{day}_业务明细(汇总).csv", summary)
        content = buffer.getvalue()
        return content[: len(content) // 2] if bill.corrupt_hash else content

    def reset(self) -> None:
        self.trades.clear()
        self.by_trade_no.clear()
        self.refunds.clear()
        self.bill_tokens.clear()
        self.faults.clear()
        self.dispatcher.reset()


def _form(request: Request) -> dict[str, str]:
    params = dict(parse_qsl(request.query_string, keep_blank_values=True))
    if request.body:
        try:
            params.update(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return {}
    return params


def config_from_settings(settings: Settings) -> AlipaySandboxConfig:
    """The sandbox plays the Alipay our settings point at: same app, seller and keys."""
    return AlipaySandboxConfig.from_directory(
        app_id=settings.alipay.app_id,
        seller_id=settings.alipay.seller_id,
        time_compression=settings.sandbox.time_compression,
    )


def create_blueprint(settings: Settings | AlipaySandboxConfig | None = None) -> Blueprint:
    """The sandbox as a blueprint under /sandbox/alipay; its state is bp.ctx.state."""
    if isinstance(settings, Settings):
        config = config_from_settings(settings)
    else:
        config = settings or AlipaySandboxConfig.from_directory()
    bp = Blueprint("sandbox_alipay", url_prefix="/sandbox/alipay")
    state = AlipaySandbox(config)
    bp.ctx.state = state
    answer_errors_in_envelope(bp)

    @bp.listener("after_server_stop")
    async def close_dispatcher(app: Any) -> None:
        await state.dispatcher.aclose()

    # ------------------------------------------------------------- the gateway
    @bp.post("/gateway.do")
    async def gateway(request: Request) -> HTTPResponse:
        params = _form(request)
        method = params.get("method", "")
        operation = METHODS.get(method)
        if operation is None:
            return state.failure(method or "error", "isv.invalid-method", "不存在的方法名", code="40002")
        problem = state.check_request(params)
        if problem is not None:
            return state.failure(method, *problem, code="40002")
        try:
            biz = json.loads(params["biz_content"])
        except (ValueError, RecursionError):
            biz = None
        if not isinstance(biz, dict):
            return state.failure(method, "isv.invalid-biz-content", "biz_content 不是合法的JSON", code="40002")
        fault = state.faults.take_call_fault(operation)
        if fault and fault.fault in ("timeout", "slow"):
            await hang(fault)
        if fault and fault.fault in ("timeout", "server_error"):
            return state.failure(method, "isp.unknow-error", "系统繁忙", code="20000")
        if fault and fault.fault == "bad_gateway":
            return raw(b"<html>502 Bad Gateway</html>", status=502, content_type="text/html")
        if fault and fault.fault == "refuse":
            return state.failure(method, fault.code or "ACQ.ACCESS_FORBIDDEN", fault.message or "无权限使用接口")
        response = HANDLERS[operation](state, request, method, params, biz)
        if fault and fault.fault == "timeout_after_commit":
            await hang(fault)
        return response

    @bp.get("/bills/download")
    async def download_bill(request: Request) -> HTTPResponse:
        fault = state.faults.take_call_fault("download")
        if fault and fault.fault in ("timeout", "slow"):
            await hang(fault)
        if fault and fault.fault in ("timeout", "server_error", "bad_gateway"):
            return raw(b"busy", status=503 if fault.fault != "bad_gateway" else 502)
        if fault and fault.fault == "refuse":
            return raw("下载链接已失效".encode(), status=404, content_type="text/plain; charset=utf-8")
        entry = state.bill_tokens.get(request.args.get("token", ""))
        if entry is None or entry[1] < time.monotonic():
            state.bill_tokens.pop(request.args.get("token", ""), None)
            return raw("下载链接已失效".encode(), status=404, content_type="text/plain; charset=utf-8")
        return raw(entry[0], content_type="application/octet-stream",
                   headers={"Content-Disposition": "attachment; filename=bill.csv.zip"})

    # ------------------------------------------------------------- helper routes (not Alipay's)
    @bp.post("/confirm")
    async def confirm(request: Request) -> HTTPResponse:
        """The payer confirming (or cancelling) my.tradePay in the Alipay mini-program."""
        fields = Fields(read_object(request), code="invalid_confirmation")
        order_no, trade_no = fields.optional_text("order_no"), fields.optional_text("trade_no")
        outcome = fields.choice("outcome", ("pay", "decline"))
        if order_no is None and trade_no is None:
            raise fields.invalid("order_no", "order_no or trade_no is required")
        trade = state.trades.get(order_no or state.by_trade_no.get(trade_no or "", ""))
        if trade is None:
            raise not_found("order_not_found", "No such trade.")
        if trade.trade_status != "WAIT_BUYER_PAY":
            raise conflict("order_not_payable", "The trade cannot be paid now.", trade_status=trade.trade_status)
        if trade.time_expire and trade.time_expire < now_utc():
            raise conflict("order_expired", "The trade has expired.")
        if outcome == "pay":
            state.pay(trade)
        # A cancelled my.tradePay leaves the trade waiting, as on Alipay (resultCode 6001).
        return json_response({"order_no": trade.out_trade_no, "trade_no": trade.trade_no,
                              "trade_status": trade.trade_status})

    @bp.get("/orders/<order_no:str>")
    async def show_order(request: Request, order_no: str) -> HTTPResponse:
        trade = state.trades.get(order_no)
        if trade is None:
            raise not_found("order_not_found", "No such trade.")
        refunds = [
            {**asdict(r), "refunded_at": r.refunded_at.isoformat()}
            for r in state.refunds.values() if r.out_trade_no == order_no
        ]
        return json_response({"order": trade.view(), "refunds": refunds,
                              "notifies": state.dispatcher.deliveries(order_no)})

    @bp.get("/notifies")
    async def notifies(request: Request) -> HTTPResponse:
        return json_response({"deliveries": state.dispatcher.deliveries(request.args.get("order_no")),
                              "pending": state.dispatcher.pending})

    @bp.get("/faults")
    async def show_faults(request: Request) -> HTTPResponse:
        return json_response(state.faults.describe())

    @bp.post("/faults")
    async def set_faults(request: Request) -> HTTPResponse:
        try:
            state.faults.configure(read_object(request))
        except FaultSpecError as exc:
            raise HelperError(422, "invalid_fault", str(exc), context={"problem": str(exc)}) from None
        return json_response(state.faults.describe())

    @bp.delete("/faults")
    async def clear_faults(request: Request) -> HTTPResponse:
        state.faults.clear()
        return empty()

    @bp.post("/reset")
    async def reset(request: Request) -> HTTPResponse:
        state.reset()
        return empty()

    return bp


# --------------------------------------------------------------------------- gateway methods
def _amount(value: Any) -> int | None:
    if not isinstance(value, str) or not AMOUNT.match(value):
        return None
    fen = yuan_to_fen(value)
    return fen if 0 < fen <= 100_000_000_00 else None


def _trade_create(state: AlipaySandbox, request: Request, method: str, params: dict[str, str],
                  biz: dict[str, Any]) -> HTTPResponse:
    out_trade_no, subject = biz.get("out_trade_no"), biz.get("subject")
    total = _amount(biz.get("total_amount"))
    if not isinstance(out_trade_no, str) or not 1 <= len(out_trade_no) <= 64:
        return state.failure(method, "ACQ.INVALID_PARAMETER", "out_trade_no 参数无效", code="40002")
    if total is None:
        return state.failure(method, "ACQ.TOTAL_FEE_EXCEED", "订单金额不合法")
    if not isinstance(subject, str) or not 0 < len(subject) <= 256:
        return state.failure(method, "ACQ.INVALID_PARAMETER", "subject 参数无效", code="40002")
    time_expire = None
    if biz.get("time_expire"):
        try:
            time_expire = datetime.strptime(str(biz["time_expire"]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
        except ValueError:
            return state.failure(method, "ACQ.INVALID_PARAMETER", "time_expire 参数无效", code="40002")
    fingerprint = hashlib.sha256(json.dumps([total, subject], ensure_ascii=False).encode()).hexdigest()
    trade = state.trades.get(out_trade_no)
    if trade is not None:
        if trade.trade_status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            return state.failure(method, "ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
        if trade.trade_status == "TRADE_CLOSED":
            return state.failure(method, "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        if trade.fingerprint != fingerprint:
            return state.failure(method, "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
        return state.success(method, out_trade_no=out_trade_no, trade_no=trade.trade_no)
    trade_no = datetime.now(SHANGHAI).strftime("%Y%m%d") + "22001" + f"{secrets.randbelow(10**15):015d}"
    buyer = biz.get("buyer_open_id") or biz.get("buyer_id") or "2088" + f"{secrets.randbelow(10**12):012d}"
    state.trades[out_trade_no] = SandboxTrade(
        out_trade_no=out_trade_no, trade_no=trade_no, total=total, subject=subject, buyer_id=str(buyer),
        notify_url=params.get("notify_url"), time_expire=time_expire, fingerprint=fingerprint, created_at=now_utc(),
    )
    state.by_trade_no[trade_no] = out_trade_no
    return state.success(method, out_trade_no=out_trade_no, trade_no=trade_no)


def _find(state: AlipaySandbox, biz: dict[str, Any]) -> SandboxTrade | None:
    out_trade_no = biz.get("out_trade_no") or state.by_trade_no.get(str(biz.get("trade_no", "")))
    return state.trades.get(str(out_trade_no or ""))


def _trade_query(state: AlipaySandbox, request: Request, method: str, params: dict[str, str],
                 biz: dict[str, Any]) -> HTTPResponse:
    trade = _find(state, biz)
    if trade is None:
        return state.failure(method, "ACQ.TRADE_NOT_EXIST", "交易不存在")
    fields: dict[str, Any] = {
        "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no, "buyer_user_id": trade.buyer_id,
        "trade_status": trade.trade_status, "total_amount": fen_to_yuan(trade.total),
    }
    if trade.paid_at:
        fields.update(send_pay_date=_beijing(trade.paid_at), buyer_pay_amount=fen_to_yuan(trade.total),
                      receipt_amount=fen_to_yuan(trade.total))
    return state.success(method, **fields)


def _trade_close(state: AlipaySandbox, request: Request, method: str, params: dict[str, str],
                 biz: dict[str, Any]) -> HTTPResponse:
    trade = _find(state, biz)
    if trade is None:
        return state.failure(method, "ACQ.TRADE_NOT_EXIST", "交易不存在")
    if trade.trade_status != "WAIT_BUYER_PAY":
        # Alipay closes only a trade awaiting payment; paid or closed, it answers alike (the caller queries).
        return state.failure(method, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
    trade.move("TRADE_CLOSED", now_utc())
    return state.success(method, trade_no=trade.trade_no, out_trade_no=trade.out_trade_no)


def _trade_refund(state: AlipaySandbox, request: Request, method: str, params: dict[str, str],
                  biz: dict[str, Any]) -> HTTPResponse:
    trade = _find(state, biz)
    amount = _amount(biz.get("refund_amount"))
    request_no = str(biz.get("out_request_no") or (trade.out_trade_no if trade else ""))
    if trade is None:
        return state.failure(method, "ACQ.TRADE_NOT_EXIST", "交易不存在")
    if amount is None:
        return state.failure(method, "ACQ.INVALID_PARAMETER", "refund_amount 参数无效", code="40002")
    existing = state.refunds.get((trade.out_trade_no, request_no))
    common = {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no, "buyer_user_id": trade.buyer_id}
    if existing is not None:
        # The same out_request_no refunds once; a repeat reports success without moving money.
        return state.success(method, **common, fund_change="N", refund_fee=fen_to_yuan(trade.refunded),
                             gmt_refund_pay=_beijing(existing.refunded_at))
    if trade.trade_status not in ("TRADE_SUCCESS",):
        return state.failure(method, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
    if amount > trade.total - trade.refunded:
        return state.failure(method, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
    refund = SandboxRefund(out_request_no=request_no, out_trade_no=trade.out_trade_no, trade_no=trade.trade_no,
                           amount=amount, reason=str(biz.get("refund_reason", ""))[:256], refunded_at=now_utc())
    state.refunds[(trade.out_trade_no, request_no)] = refund
    trade.refunded += amount
    if trade.refunded == trade.total:
        trade.move("TRADE_CLOSED", refund.refunded_at)
    state.send_notify(trade, refund)
    return state.success(method, **common, fund_change="Y", refund_fee=fen_to_yuan(trade.refunded),
                         gmt_refund_pay=_beijing(refund.refunded_at))


def _refund_query(state: AlipaySandbox, request: Request, method: str, params: dict[str, str],
                  biz: dict[str, Any]) -> HTTPResponse:
    trade = _find(state, biz)
    if trade is None:
        return state.failure(method, "ACQ.TRADE_NOT_EXIST", "交易不存在")
    refund = state.refunds.get((trade.out_trade_no, str(biz.get("out_request_no", ""))))
    if refund is None:
        # Alipay answers success with no refund fields when the refund never happened.
        return state.success(method, trade_no=trade.trade_no, out_trade_no=trade.out_trade_no)
    return state.success(
        method, trade_no=trade.trade_no, out_trade_no=trade.out_trade_no, out_request_no=refund.out_request_no,
        total_amount=fen_to_yuan(trade.total), refund_amount=fen_to_yuan(refund.amount),
        refund_status="REFUND_SUCCESS", gmt_refund_pay=_beijing(refund.refunded_at),
    )


def _bill_url(state: AlipaySandbox, request: Request, method: str, params: dict[str, str],
              biz: dict[str, Any]) -> HTTPResponse:
    bill_type, bill_date = biz.get("bill_type"), str(biz.get("bill_date", ""))
    if bill_type not in ("trade", "signcustomer"):
        return state.failure(method, "isv.invalid-bill-type", "账单类型不正确", code="40002")
    try:
        datetime.strptime(bill_date, "%Y-%m-%d")
    except ValueError:
        return state.failure(method, "isv.invalid-bill-date", "账单时间不正确", code="40002")
    token = secrets.token_urlsafe(24)
    state.bill_tokens[token] = (state.bill_zip(bill_date), time.monotonic() + state.config.bill_url_ttl)
    url = f"{request.scheme}://{request.host}/sandbox/alipay/bills/download?token={token}"
    return state.success(method, bill_download_url=url)


HANDLERS = {
    "create": _trade_create,
    "query": _trade_query,
    "close": _trade_close,
    "refund": _trade_refund,
    "query_refund": _refund_query,
    "bill": _bill_url,
}
