"""WeChat Pay API v3 sandbox: a real HTTP server speaking the merchant protocol.

Mounted under /sandbox/wechatpay, so the adapter's base URL is http://host:port/sandbox/wechatpay
and every signature covers that full path. What it does, as api.mch.weixin.qq.com does:
- verifies the merchant Authorization header (RSA-SHA256 over METHOD\\nURL\\nTS\\nNONCE\\nBODY\\n on the
  raw body bytes, 5-minute window) and answers 401 SIGN_ERROR otherwise;
- signs every answer (Wechatpay-* headers) with the platform certificate's key, or with the WeChat
  Pay public key when the request names its PUB_KEY_ID in Wechatpay-Serial;
- keeps orders (NOTPAY -> SUCCESS / CLOSED / PAYERROR, then REFUND), refunds and trade bills;
- sends AES-256-GCM encrypted notifies to the order's notify_url with WeChat's retry schedule.
Helper routes (not WeChat's) play the payer and expose state and fault knobs for tests.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import hashlib
import io
import json
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, raw
from sanic.response import json as json_response

from app.adapters._paycrypto import (
    WECHATPAY_SIGNTEST_PREFIX,
    aes_gcm_encrypt,
    certificate_public_key,
    certificate_serial,
    fen_to_yuan,
    load_certificate,
    load_private_key,
    nonce_str,
    parse_wechatpay_authorization,
    rsa_sign,
    rsa_verify,
    wechatpay_pay_sign_message,
    wechatpay_request_message,
    wechatpay_response_message,
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

CERTS = Path(__file__).resolve().parents[2] / "certs" / "sandbox" / "wechatpay"
SANDBOX_MCHID = "1900000109"
SANDBOX_APPID = "wxsandbox00000001"
SANDBOX_APIV3_KEY = "sandboxApiV3Key0123456789abcdefX"
SANDBOX_PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092026112100000000000001"

# 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h (24 h 4 m in all).
NOTIFY_RETRY_SCHEDULE = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
OPERATIONS = ("create", "query", "close", "refund", "query_refund", "bill", "download", "certificates")
FORGE_VARIANTS = (
    "bad_signature", "wrong_amount", "wrong_mchid", "wrong_appid", "stale_timestamp", "signtest",
    "unknown_serial",
)
# Allowed moves of a trade and of a refund; anything else is a bug in the sandbox.
TRADE_TRANSITIONS: dict[str, frozenset[str]] = {
    "NOTPAY": frozenset({"SUCCESS", "PAYERROR", "CLOSED"}),
    "PAYERROR": frozenset({"SUCCESS", "CLOSED"}),  # the payer may try again
    "SUCCESS": frozenset({"REFUND"}),
    "REFUND": frozenset({"REFUND"}),
    "CLOSED": frozenset(),
}
REFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    "PROCESSING": frozenset({"SUCCESS", "CLOSED", "ABNORMAL"}),
    "ABNORMAL": frozenset({"SUCCESS", "CLOSED"}),
    "SUCCESS": frozenset(),
    "CLOSED": frozenset(),
}
OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
BILL_HEADER = [
    "交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型",
    "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额",
    "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额",
    "费率备注",
]
BILL_SUMMARY_HEADER = [
    "总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额",
]


@dataclass(frozen=True)
class WeChatPaySandboxConfig:
    mchid: str
    appid: str
    apiv3_key: str
    merchant_certificate_pem: str  # verifies Authorization headers and paySign
    platform_private_key_pem: str
    platform_certificate_pem: str
    public_key_id: str
    public_key_private_pem: str  # the private half of the "WeChat Pay public key"
    notify_signing: str = "certificate"  # or "public_key": which key signs notifies
    time_compression: float = 1.0
    auth_window: int = 300
    bill_url_ttl: float = 300.0
    notify_timeout: float = 5.0
    refund_seconds: float = 5.0  # channel-time until a refund settles

    @classmethod
    def from_directory(cls, directory: Path = CERTS, **overrides: Any) -> WeChatPaySandboxConfig:
        values: dict[str, Any] = {
            "mchid": SANDBOX_MCHID,
            "appid": SANDBOX_APPID,
            "apiv3_key": SANDBOX_APIV3_KEY,
            "merchant_certificate_pem": (directory / "merchant_cert.pem").read_text(),
            "platform_private_key_pem": (directory / "platform_private_key.pem").read_text(),
            "platform_certificate_pem": (directory / "platform_cert.pem").read_text(),
            "public_key_id": SANDBOX_PUBLIC_KEY_ID,
            "public_key_private_pem": (directory / "wechatpay_public_key_private.pem").read_text(),
        }
        values.update(overrides)
        return cls(**values)


@dataclass
class SandboxOrder:
    out_trade_no: str
    appid: str
    mchid: str
    description: str
    total: int
    openid: str
    notify_url: str
    time_expire: datetime | None
    prepay_id: str
    fingerprint: str
    created_at: datetime
    attach: str = ""
    trade_state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: datetime | None = None
    refunded: int = 0  # fen already refunded or being refunded

    def move(self, to: str) -> None:
        if to not in TRADE_TRANSITIONS[self.trade_state]:
            raise ValueError(f"trade {self.out_trade_no}: {self.trade_state} -> {to} is not allowed")
        self.trade_state = to

    def view(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("time_expire", "created_at", "success_time"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


@dataclass
class SandboxRefund:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    refund: int
    total: int
    reason: str
    notify_url: str | None
    created_at: datetime
    status: str = "PROCESSING"
    success_time: datetime | None = None

    def move(self, to: str) -> None:
        if to not in REFUND_TRANSITIONS[self.status]:
            raise ValueError(f"refund {self.out_refund_no}: {self.status} -> {to} is not allowed")
        self.status = to


@dataclass
class WeChatPaySandbox:
    """Everything the sandbox holds; lives on bp.ctx.state in the hosting process."""

    config: WeChatPaySandboxConfig
    orders: dict[str, SandboxOrder] = field(default_factory=dict)
    prepay_index: dict[str, str] = field(default_factory=dict)
    refunds: dict[str, SandboxRefund] = field(default_factory=dict)
    bill_tokens: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    refund_outcome: str = "SUCCESS"
    notify_signing: str = "certificate"

    def __post_init__(self) -> None:
        cfg = self.config
        self.merchant_certificate = load_certificate(cfg.merchant_certificate_pem)
        self.merchant_serial = certificate_serial(self.merchant_certificate)
        # Every platform certificate still valid, oldest first; the newest signs (as after a rotation).
        self.platform_certificates: list[tuple[rsa.RSAPrivateKey, x509.Certificate]] = [
            (load_private_key(cfg.platform_private_key_pem), load_certificate(cfg.platform_certificate_pem))
        ]
        self.public_key_signer = load_private_key(cfg.public_key_private_pem)
        self.notify_signing = cfg.notify_signing
        self.faults = FaultBook(operations=OPERATIONS, forge_variants=FORGE_VARIANTS)
        self.dispatcher = NotifyDispatcher(
            schedule=NOTIFY_RETRY_SCHEDULE,
            faults=self.faults,
            accepted=lambda response: response.status in (200, 204),
            time_compression=cfg.time_compression,
            timeout=cfg.notify_timeout,
        )

    @property
    def platform_key(self) -> rsa.RSAPrivateKey:
        return self.platform_certificates[-1][0]

    @property
    def platform_serial(self) -> str:
        return certificate_serial(self.platform_certificates[-1][1])

    async def rotate_platform_certificate(self) -> str:
        """Issue a new platform certificate that signs from now on; the old one stays listed."""
        key, certificate = await asyncio.to_thread(_new_platform_certificate)  # RSA keygen takes a while
        self.platform_certificates.append((key, certificate))
        return certificate_serial(certificate)

    # ----------------------------------------------------------------- signing
    def sign(self, body: bytes, *, public_key_mode: bool, timestamp: int | None = None) -> dict[str, str]:
        ts, nonce = str(timestamp if timestamp is not None else int(time.time())), nonce_str()
        key, serial = (
            (self.public_key_signer, self.config.public_key_id)
            if public_key_mode
            else (self.platform_key, self.platform_serial)
        )
        return {
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature": rsa_sign(key, wechatpay_response_message(ts, nonce, body)),
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Request-ID": secrets.token_hex(16),
        }

    def answer(self, request: Request, payload: dict[str, Any] | None, status: int = 200) -> HTTPResponse:
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        public_key_mode = request.headers.get("Wechatpay-Serial") == self.config.public_key_id
        headers = self.sign(body, public_key_mode=public_key_mode)
        if status == 204:
            return empty(status=204, headers=headers)
        return raw(body, status=status, headers=headers, content_type="application/json")

    def error(self, request: Request, status: int, code: str, message: str) -> HTTPResponse:
        return self.answer(request, {"code": code, "message": message}, status)

    # ----------------------------------------------------------------- authentication
    def authenticate(self, request: Request) -> HTTPResponse | None:
        auth = parse_wechatpay_authorization(request.headers.get("Authorization", ""))
        url = request.raw_url.decode()
        problem = None
        if not auth or not all(k in auth for k in ("mchid", "nonce_str", "signature", "timestamp", "serial_no")):
            problem = "missing or malformed Authorization"
        elif auth["mchid"] != self.config.mchid:
            problem = "mchid does not match"
        elif auth["serial_no"] != self.merchant_serial:
            problem = "unknown merchant certificate serial"
        elif not (auth["timestamp"].isascii() and auth["timestamp"].isdigit()) or abs(time.time() - int(auth["timestamp"])) > self.config.auth_window:
            problem = "timestamp outside the allowed window"
        else:
            message = wechatpay_request_message(
                request.method, url, auth["timestamp"], auth["nonce_str"], request.body or b""
            )
            if not rsa_verify(certificate_public_key(self.merchant_certificate), message, auth["signature"]):
                problem = "sign not match"
        if problem is None:
            return None
        body = {
            "code": "SIGN_ERROR",
            "message": "签名错误，请检查后再试",
            "detail": {
                "field": "signature",
                "location": "authorization",
                "detail": {"issue": problem},
                "sign_information": {"method": request.method, "url": url},
            },
        }
        return json_response(body, status=401)

    # ----------------------------------------------------------------- orders
    def transaction(self, order: SandboxOrder, *, amount_delta: int = 0, mchid: str | None = None,
                    appid: str | None = None) -> dict[str, Any]:
        state_desc = {"SUCCESS": "支付成功", "NOTPAY": "未支付", "CLOSED": "已关闭", "PAYERROR": "支付失败",
                      "REFUND": "转入退款"}[order.trade_state]
        data: dict[str, Any] = {
            "appid": appid or order.appid,
            "mchid": mchid or order.mchid,
            "out_trade_no": order.out_trade_no,
            "trade_type": "JSAPI",
            "trade_state": order.trade_state,
            "trade_state_desc": state_desc,
            "attach": order.attach,
            "payer": {"openid": order.openid},
            "amount": {"total": order.total + amount_delta, "currency": "CNY"},
        }
        if order.transaction_id:
            paid = order.total + amount_delta
            data.update(
                transaction_id=order.transaction_id,
                bank_type="OTHERS",
                success_time=order.success_time.astimezone(SHANGHAI).isoformat(timespec="seconds")
                if order.success_time else None,
            )
            data["amount"].update(payer_total=paid, payer_currency="CNY")
        return data

    def pay(self, order: SandboxOrder) -> None:
        order.move("SUCCESS")
        order.transaction_id = "42000" + datetime.now(SHANGHAI).strftime("%Y%m%d") + f"{secrets.randbelow(10**15):015d}"
        order.success_time = now_utc()
        self.send_notify(order.out_trade_no, "TRANSACTION.SUCCESS", "支付成功", "transaction",
                         order.notify_url, lambda **bend: self.transaction(order, **bend))

    def send_notify(self, order_no: str, event_type: str, summary: str, original_type: str,
                    url: str, resource: Any) -> None:
        event_id = "EV-" + secrets.token_hex(12)

        def envelope(**bend: Any) -> bytes:
            nonce = nonce_str(12)
            plaintext = json.dumps(resource(**bend), ensure_ascii=False).encode()
            return json.dumps({
                "id": event_id,
                "create_time": datetime.now(SHANGHAI).isoformat(timespec="seconds"),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": summary,
                "resource": {
                    "original_type": original_type,
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": aes_gcm_encrypt(self.config.apiv3_key, nonce, plaintext, original_type),
                    "associated_data": original_type,
                    "nonce": nonce,
                },
            }, ensure_ascii=False).encode()

        def signed(body: bytes, **sign_kwargs: Any) -> SignedNotify:
            headers = self.sign(body, public_key_mode=self.notify_signing == "public_key", **sign_kwargs)
            return SignedNotify(headers=headers, body=body, content_type="application/json")

        def forge(variant: str) -> SignedNotify:
            if variant == "wrong_amount":
                return signed(envelope(amount_delta=1))
            if variant == "wrong_mchid":
                return signed(envelope(mchid="1999999999"))
            if variant == "wrong_appid" and original_type == "transaction":
                return signed(envelope(appid="wx0000000000000000"))
            if variant == "stale_timestamp":
                return signed(envelope(), timestamp=int(time.time()) - 3600)
            notify = signed(envelope())
            headers = dict(notify.headers)
            if variant == "signtest":
                headers["Wechatpay-Signature"] = WECHATPAY_SIGNTEST_PREFIX + secrets.token_urlsafe(48)
            elif variant == "unknown_serial":
                headers["Wechatpay-Serial"] = "1" * 40
            else:  # bad_signature: the body changed after signing (refund notifies carry no appid to forge)
                body = notify.body.replace(b'"summary": "', b'"summary": "X', 1)
                return SignedNotify(headers=headers, body=body, content_type=notify.content_type)
            return SignedNotify(headers=headers, body=notify.body, content_type=notify.content_type)

        self.dispatcher.submit(NotifyJob(
            order_no=order_no, event_id=event_id, url=url, sign=lambda: signed(envelope()), forge=forge,
        ))

    # ----------------------------------------------------------------- refunds
    def refund_view(self, refund: SandboxRefund, *, mchid: str | None = None) -> dict[str, Any]:
        return {
            "refund_id": refund.refund_id,
            "out_refund_no": refund.out_refund_no,
            "transaction_id": refund.transaction_id,
            "out_trade_no": refund.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "success_time": refund.success_time.astimezone(SHANGHAI).isoformat(timespec="seconds")
            if refund.success_time else None,
            "create_time": refund.created_at.astimezone(SHANGHAI).isoformat(timespec="seconds"),
            "status": refund.status,
            "funds_account": "AVAILABLE",
            "amount": {
                "total": refund.total, "refund": refund.refund, "payer_total": refund.total,
                "payer_refund": refund.refund, "settlement_refund": refund.refund,
                "settlement_total": refund.total, "discount_refund": 0, "currency": "CNY",
            },
            **({"mchid": mchid} if mchid else {}),
        }

    async def settle_refund(self, refund: SandboxRefund) -> None:
        await self.dispatcher.channel_sleep(self.config.refund_seconds)
        if refund.status != "PROCESSING":
            return
        refund.move(self.refund_outcome)
        order = self.orders[refund.out_trade_no]
        if refund.status == "SUCCESS":
            refund.success_time = now_utc()
            order.move("REFUND")
        elif refund.status == "CLOSED":
            order.refunded -= refund.refund
        if refund.notify_url:
            event = {"SUCCESS": "REFUND.SUCCESS", "CLOSED": "REFUND.CLOSED", "ABNORMAL": "REFUND.ABNORMAL"}
            summary = {"SUCCESS": "退款成功", "CLOSED": "退款关闭", "ABNORMAL": "退款异常"}

            def resource(**bend: Any) -> dict[str, Any]:
                view = self.refund_view(refund, mchid=bend.get("mchid") or self.config.mchid)
                view["refund_status"] = view.pop("status")
                view["amount"]["refund"] += bend.get("amount_delta", 0)
                return view

            self.send_notify(refund.out_trade_no, event[refund.status], summary[refund.status], "refund",
                             refund.notify_url, resource)

    # ----------------------------------------------------------------- bills
    def bill_rows(self, bill_date: str, bill_type: str) -> list[list[str]]:
        bill, rows = self.faults.bill, []

        def row(when: datetime, order: SandboxOrder, transaction_id: str, state: str, total: int,
                refund: SandboxRefund | None = None) -> list[str]:
            return [
                when.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"), order.appid, order.mchid, "0", "",
                transaction_id, order.out_trade_no, order.openid, "JSAPI", state, "OTHERS", "CNY",
                fen_to_yuan(total if refund is None else 0), "0.00",
                refund.refund_id if refund else "0", refund.out_refund_no if refund else "0",
                fen_to_yuan(refund.refund if refund else 0), "0.00", "ORIGINAL" if refund else "",
                "SUCCESS" if refund else "", order.description, order.attach, "0.00000", "0.60%",
                fen_to_yuan(total if refund is None else 0), fen_to_yuan(refund.refund if refund else 0), "",
            ]

        if bill_type in ("ALL", "SUCCESS"):
            for order in self.orders.values():
                if not order.success_time or shanghai_day(order.success_time) != bill_date:
                    continue
                if order.out_trade_no in bill.missing:
                    continue
                total = order.total + bill.amount_diff.get(order.out_trade_no, 0)
                rows.append(row(order.success_time, order, order.transaction_id or "", "SUCCESS", total))
                if order.out_trade_no in bill.duplicate:
                    seed = order.out_trade_no.encode()
                    twin = "42000" + hashlib.sha1(seed, usedforsecurity=False).hexdigest()[:23]
                    rows.append(row(order.success_time + timedelta(minutes=1), order, twin, "SUCCESS", order.total))
            for n in range(bill.extra):
                ghost = SandboxOrder(
                    out_trade_no=f"X{bill_date.replace('-', '')}{n:05d}", appid=self.config.appid,
                    mchid=self.config.mchid, description="extra", total=100 + n, openid="o-extra",
                    notify_url="", time_expire=None, prepay_id="", fingerprint="", created_at=now_utc(),
                )
                when = datetime.fromisoformat(f"{bill_date}T12:00:00").replace(tzinfo=SHANGHAI)
                rows.append(row(when, ghost, f"42009{bill_date.replace('-', '')}{n:015d}", "SUCCESS", ghost.total))
        if bill_type in ("ALL", "REFUND"):
            for refund in self.refunds.values():
                if refund.success_time and shanghai_day(refund.success_time) == bill_date:
                    order = self.orders[refund.out_trade_no]
                    rows.append(row(refund.success_time, order, refund.transaction_id, "REFUND", 0, refund))
        return rows

    def bill_file(self, bill_date: str, bill_type: str) -> bytes:
        rows = self.bill_rows(bill_date, bill_type)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(BILL_HEADER)
        writer.writerows(["`" + value for value in r] for r in rows)
        column = {name: i for i, name in enumerate(BILL_HEADER)}

        def total(name: str) -> int:
            return sum(_fen(r[column[name]]) for r in rows)

        writer.writerow(BILL_SUMMARY_HEADER)
        writer.writerow(["`" + v for v in [
            str(len(rows)), fen_to_yuan(total("应结订单金额")), fen_to_yuan(total("退款金额")), "0.00",
            "0.00000", fen_to_yuan(total("订单金额")), fen_to_yuan(total("申请退款金额")),
        ]])
        return out.getvalue().encode()

    def reset(self) -> None:
        self.orders.clear()
        self.prepay_index.clear()
        self.refunds.clear()
        self.bill_tokens.clear()
        self.faults.clear()
        self.dispatcher.reset()
        self.refund_outcome = "SUCCESS"
        self.notify_signing = self.config.notify_signing
        del self.platform_certificates[1:]


def _new_platform_certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sandbox WeChat Pay platform (rotated)")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=5 * 365)).sign(key, hashes.SHA256())
    )
    return key, certificate


def _fen(yuan: str) -> int:
    whole, _, cents = yuan.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int((cents + "00")[:2]))


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def config_from_settings(settings: Settings) -> WeChatPaySandboxConfig:
    """The sandbox plays the WeChat Pay our settings point at: same merchant, keys and mode."""
    wechatpay = settings.wechatpay
    return WeChatPaySandboxConfig.from_directory(
        mchid=wechatpay.mchid,
        appid=wechatpay.appid or settings.wechat.appid,
        apiv3_key=wechatpay.apiv3_key.reveal(),
        public_key_id=wechatpay.public_key_id or SANDBOX_PUBLIC_KEY_ID,
        notify_signing="public_key" if wechatpay.public_key_id else "certificate",
        time_compression=settings.sandbox.time_compression,
    )


def create_blueprint(settings: Settings | WeChatPaySandboxConfig | None = None) -> Blueprint:
    """The sandbox as a blueprint under /sandbox/wechatpay; its state is bp.ctx.state."""
    if isinstance(settings, Settings):
        config = config_from_settings(settings)
    else:
        config = settings or WeChatPaySandboxConfig.from_directory()
    bp = Blueprint("sandbox_wechatpay", url_prefix="/sandbox/wechatpay")
    state = WeChatPaySandbox(config)
    bp.ctx.state = state
    answer_errors_in_envelope(bp)

    @bp.listener("after_server_stop")
    async def close_dispatcher(app: Any) -> None:
        await state.dispatcher.aclose()

    async def guarded(request: Request, operation: str) -> HTTPResponse | None:
        """Authenticate, then apply a call fault that answers before any work is done."""
        denied = state.authenticate(request)
        if denied is not None:
            return denied
        fault = state.faults.take_call_fault(operation)
        request.ctx.fault = fault
        if fault and fault.fault in ("timeout", "slow"):
            await hang(fault)
        if fault and fault.fault in ("timeout", "server_error"):
            return state.error(request, 500, "SYSTEM_ERROR", "系统错误")
        if fault and fault.fault == "bad_gateway":
            return raw(b"<html>502 Bad Gateway</html>", status=502, content_type="text/html")
        if fault and fault.fault == "refuse":
            return state.error(request, 403, fault.code or "INVALID_REQUEST",
                               fault.message or "请求参数符合参数格式，但不符合业务规则")
        return None

    async def finish(request: Request, response: HTTPResponse) -> HTTPResponse:
        fault = getattr(request.ctx, "fault", None)
        if fault and fault.fault == "timeout_after_commit":
            await hang(fault)
        return response

    # ------------------------------------------------------------- WeChat Pay API
    @bp.post("/v3/pay/transactions/jsapi")
    async def create_jsapi(request: Request) -> HTTPResponse:
        if (early := await guarded(request, "create")) is not None:
            return early
        data = _json_body(request)
        if data is None:
            return state.error(request, 400, "PARAM_ERROR", "请求体不是合法的JSON")
        amount, payer = data.get("amount") or {}, data.get("payer") or {}
        out_trade_no, total = data.get("out_trade_no"), amount.get("total")
        notify_url, description = data.get("notify_url"), data.get("description")
        problems = []
        if not isinstance(out_trade_no, str) or not OUT_TRADE_NO.match(out_trade_no):
            problems.append("out_trade_no")
        if not isinstance(total, int) or isinstance(total, bool) or total < 1:
            problems.append("amount.total")
        if amount.get("currency", "CNY") != "CNY":
            problems.append("amount.currency")
        if not isinstance(description, str) or not 0 < len(description.encode()) <= 127:
            problems.append("description")
        if not isinstance(notify_url, str) or not notify_url.startswith(("https://", "http://")) or "?" in notify_url:
            problems.append("notify_url")
        if not isinstance(payer.get("openid"), str) or not payer.get("openid"):
            problems.append("payer.openid")
        try:
            time_expire = _parse_time(data.get("time_expire"))
        except ValueError:
            problems.append("time_expire")
            time_expire = None
        if problems:
            return state.error(request, 400, "PARAM_ERROR", "参数错误: " + ", ".join(problems))
        assert isinstance(out_trade_no, str) and isinstance(total, int)  # checked above
        assert isinstance(description, str) and isinstance(notify_url, str)
        if data.get("mchid") != state.config.mchid or data.get("appid") != state.config.appid:
            return state.error(request, 400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        fingerprint = hashlib.sha256(json.dumps(
            [description, total, payer["openid"], notify_url], ensure_ascii=False).encode()).hexdigest()
        order = state.orders.get(out_trade_no)
        if order is not None:
            if order.trade_state in ("SUCCESS", "REFUND"):
                return state.error(request, 400, "ORDERPAID", "该订单已支付")
            if order.trade_state == "CLOSED":
                return state.error(request, 400, "ORDER_CLOSED", "该订单已关闭")
            if order.fingerprint != fingerprint:
                return state.error(request, 403, "OUT_TRADE_NO_USED", "商户订单号重复")
            return await finish(request, state.answer(request, {"prepay_id": order.prepay_id}))
        prepay_id = "wx" + datetime.now(SHANGHAI).strftime("%d%H%M%S") + secrets.token_hex(13)
        state.orders[out_trade_no] = SandboxOrder(
            out_trade_no=out_trade_no, appid=data["appid"], mchid=data["mchid"], description=description,
            total=total, openid=payer["openid"], notify_url=notify_url, time_expire=time_expire,
            prepay_id=prepay_id, fingerprint=fingerprint, created_at=now_utc(), attach=data.get("attach", ""),
        )
        state.prepay_index[prepay_id] = out_trade_no
        return await finish(request, state.answer(request, {"prepay_id": prepay_id}))

    @bp.get("/v3/pay/transactions/out-trade-no/<out_trade_no:str>")
    async def query_by_out_trade_no(request: Request, out_trade_no: str) -> HTTPResponse:
        if (early := await guarded(request, "query")) is not None:
            return early
        if request.args.get("mchid") != state.config.mchid:
            return state.error(request, 400, "PARAM_ERROR", "mchid 参数错误")
        order = state.orders.get(out_trade_no)
        if order is None:
            return state.error(request, 404, "ORDER_NOT_EXIST", "订单不存在")
        return await finish(request, state.answer(request, state.transaction(order)))

    @bp.get("/v3/pay/transactions/id/<transaction_id:str>")
    async def query_by_transaction_id(request: Request, transaction_id: str) -> HTTPResponse:
        if (early := await guarded(request, "query")) is not None:
            return early
        order = next((o for o in state.orders.values() if o.transaction_id == transaction_id), None)
        if order is None:
            return state.error(request, 404, "ORDER_NOT_EXIST", "订单不存在")
        return await finish(request, state.answer(request, state.transaction(order)))

    @bp.post("/v3/pay/transactions/out-trade-no/<out_trade_no:str>/close")
    async def close(request: Request, out_trade_no: str) -> HTTPResponse:
        if (early := await guarded(request, "close")) is not None:
            return early
        data = _json_body(request) or {}
        if data.get("mchid") != state.config.mchid:
            return state.error(request, 400, "PARAM_ERROR", "mchid 参数错误")
        order = state.orders.get(out_trade_no)
        if order is None:
            return state.error(request, 404, "ORDER_NOT_EXIST", "订单不存在")
        if order.trade_state in ("SUCCESS", "REFUND"):
            return state.error(request, 400, "ORDERPAID", "订单已支付")
        if order.trade_state != "CLOSED":  # closing twice is accepted
            order.move("CLOSED")
        return await finish(request, state.answer(request, None, 204))

    @bp.post("/v3/refund/domestic/refunds")
    async def create_refund(request: Request) -> HTTPResponse:
        if (early := await guarded(request, "refund")) is not None:
            return early
        data = _json_body(request)
        if data is None:
            return state.error(request, 400, "PARAM_ERROR", "请求体不是合法的JSON")
        amount = data.get("amount") or {}
        out_refund_no, refund_amount, total = data.get("out_refund_no"), amount.get("refund"), amount.get("total")
        if not isinstance(out_refund_no, str) or not 1 <= len(out_refund_no) <= 64:
            return state.error(request, 400, "PARAM_ERROR", "out_refund_no 参数错误")
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (refund_amount, total)):
            return state.error(request, 400, "PARAM_ERROR", "amount 参数错误")
        assert isinstance(refund_amount, int) and isinstance(total, int)  # checked above
        existing = state.refunds.get(out_refund_no)
        if existing is not None:
            # The same out_refund_no refunds only once, however often it is sent.
            return await finish(request, state.answer(request, state.refund_view(existing)))
        order = state.orders.get(data.get("out_trade_no", ""))
        if order is None and data.get("transaction_id"):
            order = next((o for o in state.orders.values() if o.transaction_id == data["transaction_id"]), None)
        if order is None:
            return state.error(request, 404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if order.trade_state not in ("SUCCESS", "REFUND"):
            return state.error(request, 403, "TRADE_ERROR", "订单未支付，不能退款")
        if total != order.total:
            return state.error(request, 400, "PARAM_ERROR", "订单金额与原订单不符")
        if refund_amount > order.total - order.refunded:
            return state.error(request, 403, "NOT_ENOUGH", "可退款余额不足")
        order.refunded += refund_amount
        refund = SandboxRefund(
            out_refund_no=out_refund_no, refund_id="50" + secrets.token_hex(14), out_trade_no=order.out_trade_no,
            transaction_id=order.transaction_id or "", refund=refund_amount, total=total,
            reason=str(data.get("reason", ""))[:80], notify_url=data.get("notify_url"), created_at=now_utc(),
        )
        state.refunds[out_refund_no] = refund
        state.dispatcher.spawn(state.settle_refund(refund))
        return await finish(request, state.answer(request, state.refund_view(refund)))

    @bp.get("/v3/refund/domestic/refunds/<out_refund_no:str>")
    async def query_refund(request: Request, out_refund_no: str) -> HTTPResponse:
        if (early := await guarded(request, "query_refund")) is not None:
            return early
        refund = state.refunds.get(out_refund_no)
        if refund is None:
            return state.error(request, 404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return await finish(request, state.answer(request, state.refund_view(refund)))

    @bp.get("/v3/bill/tradebill")
    async def trade_bill(request: Request) -> HTTPResponse:
        if (early := await guarded(request, "bill")) is not None:
            return early
        bill_date, bill_type = request.args.get("bill_date", ""), request.args.get("bill_type", "ALL")
        try:
            datetime.strptime(bill_date, "%Y-%m-%d")
        except ValueError:
            return state.error(request, 400, "PARAM_ERROR", "bill_date 格式错误")
        if bill_type not in ("ALL", "SUCCESS", "REFUND"):
            return state.error(request, 400, "PARAM_ERROR", "bill_type 参数错误")
        content = state.bill_file(bill_date, bill_type)
        if request.args.get("tar_type") == "GZIP":
            content = gzip.compress(content, mtime=0)
        digest = hashlib.sha1(content, usedforsecurity=False).hexdigest()
        if state.faults.bill.corrupt_hash:
            digest = hashlib.sha1(content + b"corrupt", usedforsecurity=False).hexdigest()
        token = secrets.token_urlsafe(24)
        state.bill_tokens[token] = (content, time.monotonic() + state.config.bill_url_ttl)
        base = f"{request.scheme}://{request.host}{bp.url_prefix}"
        return await finish(request, state.answer(request, {
            "hash_type": "SHA1", "hash_value": digest,
            "download_url": f"{base}/v3/billdownload/file?token={token}",
        }))

    @bp.get("/v3/billdownload/file")
    async def download_bill(request: Request) -> HTTPResponse:
        if (early := await guarded(request, "download")) is not None:
            return early
        entry = state.bill_tokens.get(request.args.get("token", ""))
        if entry is None or entry[1] < time.monotonic():
            state.bill_tokens.pop(request.args.get("token", ""), None)
            return json_response({"code": "RESOURCE_NOT_EXISTS", "message": "下载链接已过期"}, status=404)
        # The file itself is not signed; the caller checks it against hash_value.
        return await finish(request, raw(entry[0], content_type="text/plain; charset=utf-8"))

    @bp.get("/v3/certificates")
    async def certificates(request: Request) -> HTTPResponse:
        if (early := await guarded(request, "certificates")) is not None:
            return early
        listed = []
        for _, cert in state.platform_certificates:
            nonce = nonce_str(12)
            pem = cert.public_bytes(serialization.Encoding.PEM)
            listed.append({
                "serial_no": certificate_serial(cert),
                "effective_time": cert.not_valid_before_utc.astimezone(SHANGHAI).isoformat(timespec="seconds"),
                "expire_time": cert.not_valid_after_utc.astimezone(SHANGHAI).isoformat(timespec="seconds"),
                "encrypt_certificate": {
                    "algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "certificate",
                    "ciphertext": aes_gcm_encrypt(state.config.apiv3_key, nonce, pem, "certificate"),
                },
            })
        return await finish(request, state.answer(request, {"data": listed}))

    # ------------------------------------------------------------- helper routes (not WeChat's)
    @bp.post("/confirm")
    async def confirm(request: Request) -> HTTPResponse:
        """The payer confirming (or declining) in the WeChat Pay sheet."""
        fields = Fields(read_object(request), code="invalid_confirmation")
        order_no, prepay_id = fields.optional_text("order_no"), fields.optional_text("prepay_id")
        outcome = fields.choice("outcome", ("pay", "decline"))
        if order_no is None and prepay_id is None:
            raise fields.invalid("order_no", "order_no or prepay_id is required")
        order = state.orders.get(order_no or state.prepay_index.get(prepay_id or "", ""))
        if order is None:
            raise not_found("order_not_found", "No such order.")
        params = fields.body.get("pay_params")
        if params is not None:
            problem = _check_pay_params(state, order, params)
            if problem:
                raise HelperError(422, "pay_sign_invalid", problem, context={"field": "pay_params"})
        if order.trade_state not in ("NOTPAY", "PAYERROR"):
            raise conflict("order_not_payable", "The order cannot be paid now.", trade_state=order.trade_state)
        if order.time_expire and order.time_expire < now_utc():
            raise conflict("order_expired", "The order has expired.")
        if outcome == "pay":
            state.pay(order)
        else:
            order.move("PAYERROR")
        return json_response({"order_no": order.out_trade_no, "trade_state": order.trade_state,
                              "transaction_id": order.transaction_id})

    @bp.get("/orders/<order_no:str>")
    async def show_order(request: Request, order_no: str) -> HTTPResponse:
        order = state.orders.get(order_no)
        if order is None:
            raise not_found("order_not_found", "No such order.")
        refunds = [asdict(r) for r in state.refunds.values() if r.out_trade_no == order_no]
        for r in refunds:
            r["created_at"] = r["created_at"].isoformat()
            r["success_time"] = r["success_time"].isoformat() if r["success_time"] else None
        return json_response({"order": order.view(), "refunds": refunds,
                              "notifies": state.dispatcher.deliveries(order_no)})

    @bp.get("/notifies")
    async def notifies(request: Request) -> HTTPResponse:
        return json_response({"deliveries": state.dispatcher.deliveries(request.args.get("order_no")),
                              "pending": state.dispatcher.pending})

    @bp.get("/faults")
    async def show_faults(request: Request) -> HTTPResponse:
        return json_response({**state.faults.describe(), "refund_outcome": state.refund_outcome,
                              "notify_signing": state.notify_signing})

    @bp.post("/faults")
    async def set_faults(request: Request) -> HTTPResponse:
        data = read_object(request)
        fields = Fields(data, code="invalid_fault")
        refund_outcome = fields.choice("refund_outcome", ("SUCCESS", "CLOSED", "ABNORMAL"), default=state.refund_outcome)
        notify_signing = fields.choice("notify_signing", ("certificate", "public_key"), default=state.notify_signing)
        rotate = fields.flag("rotate_platform_certificate", default=False)
        knobs = {k: v for k, v in data.items()
                 if k not in ("refund_outcome", "notify_signing", "rotate_platform_certificate")}
        try:
            state.faults.configure(knobs)
        except FaultSpecError as exc:
            raise HelperError(422, "invalid_fault", str(exc), context={"problem": str(exc)}) from None
        state.refund_outcome, state.notify_signing = refund_outcome, notify_signing
        if rotate:
            await state.rotate_platform_certificate()
        return json_response({**state.faults.describe(), "platform_serial": state.platform_serial})

    @bp.delete("/faults")
    async def clear_faults(request: Request) -> HTTPResponse:
        state.faults.clear()
        return empty()

    @bp.post("/reset")
    async def reset(request: Request) -> HTTPResponse:
        state.reset()
        return empty()

    return bp


def _check_pay_params(state: WeChatPaySandbox, order: SandboxOrder, params: Any) -> str | None:
    """What WeChat checks when wx.requestPayment is called with these parameters."""
    if not isinstance(params, dict):
        return "pay_params must be an object"
    wanted = ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign")
    if not all(isinstance(params.get(k), str) for k in wanted):
        return "pay_params needs " + ", ".join(wanted)
    if params["appId"] != order.appid:
        return "appId does not match the order"
    if params["package"] != f"prepay_id={order.prepay_id}":
        return "package does not name this order's prepay_id"
    if params["signType"] != "RSA":
        return "signType must be RSA"
    message = wechatpay_pay_sign_message(params["appId"], params["timeStamp"], params["nonceStr"], params["package"])
    if not rsa_verify(certificate_public_key(state.merchant_certificate), message, params["paySign"]):
        return "paySign does not verify"
    return None

