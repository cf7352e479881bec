"""Sandbox of the tax and non-tax bureau, and the agency gateway machinery both agency sandboxes share.

The agency API (``/sandbox/tax/api/v1/...``) speaks the signed protocol described in
app/adapters/tax_bureau.py. Helper routes play the bureau's back office for tests and demos:
create notices, read settlement and reversal counters, and turn fault knobs (time out, answer
5xx, accept a settlement or reversal and then time out, refuse a reversal) per operation.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw
from sanic.response import json as json_response

from app.adapters.tax_bureau import (
    RESPONSE_NONCE,
    RESPONSE_SIGNATURE,
    RESPONSE_TIMESTAMP,
    hmac_signature,
    parse_authorization,
    request_message,
    response_message,
    sign_receipt,
)
from app.config import Settings
from app.sandbox._helpers import Fields, HelperError, answer_errors_in_envelope, not_found, read_object

SHANGHAI = ZoneInfo("Asia/Shanghai")
FAULT_OPERATIONS = ("lookup", "settle", "reverse")
FAULT_MODES = ("timeout", "error", "accept_then_timeout")
# Operations with modes of their own: a reversal can also be refused as the agency would.
EXTRA_FAULT_MODES = {"reverse": ("refuse",)}


def local_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def request_object(request: Request) -> dict[str, Any] | None:
    """A signed request's JSON object body; None for anything else (an agency answers 400)."""
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def request_day(request: Request) -> date | None:
    try:
        return date.fromisoformat(request.args.get("date", ""))
    except ValueError:
        return None


def mask_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1)


# --------------------------------------------------------------------------- fault knobs
@dataclass
class FaultRule:
    mode: str
    times: int | None = None  # None: until the knobs are cleared
    rate: float = 1.0
    delay: float = 10.0


class FaultKnobs:
    """Per-operation faults, drawn from a seeded generator so a campaign is repeatable."""

    def __init__(self, seed: int = 0) -> None:
        self.rules: dict[str, FaultRule] = {}
        self._random = random.Random(seed)
        self.injected: dict[str, int] = {}

    def configure(self, spec: Mapping[str, Any]) -> None:
        """Set (or, with null, drop) each named operation's rule; checks everything before changing anything."""
        seed = spec.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError("seed must be an integer")
        rules = {operation: _fault_rule(operation, rule) for operation, rule in spec.items() if operation != "seed"}
        if seed is not None:
            self._random.seed(seed)
        for operation, new_rule in rules.items():
            if new_rule is None:
                self.rules.pop(operation, None)
            else:
                self.rules[operation] = new_rule

    def clear(self) -> None:
        self.rules.clear()

    def draw(self, operation: str) -> FaultRule | None:
        rule = self.rules.get(operation)
        if rule is None or self._random.random() >= rule.rate:
            return None
        if rule.times is not None:
            rule.times -= 1
            if rule.times <= 0:
                del self.rules[operation]
        self.injected[f"{operation}:{rule.mode}"] = self.injected.get(f"{operation}:{rule.mode}", 0) + 1
        return rule


def _fault_rule(operation: str, spec: Any) -> FaultRule | None:
    if operation not in FAULT_OPERATIONS:
        raise ValueError(f"operations are {', '.join(FAULT_OPERATIONS)} (and seed)")
    if spec is None:
        return None
    modes = FAULT_MODES + EXTRA_FAULT_MODES.get(operation, ())
    if not isinstance(spec, Mapping) or spec.get("mode") not in modes:
        raise ValueError(f"{operation}.mode must be one of {', '.join(modes)}")
    times, rate, delay = spec.get("times"), spec.get("rate", 1.0), spec.get("delay", 10.0)
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError(f"{operation}.times must be a positive integer or null")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
        raise ValueError(f"{operation}.rate must be in (0, 1]")
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 3600:
        raise ValueError(f"{operation}.delay must be 0 to 3600 seconds")
    return FaultRule(mode=spec["mode"], times=times, rate=float(rate), delay=float(delay))


# --------------------------------------------------------------------------- signed gateway
class AgencyGateway:
    """Checks signed requests (timestamp window, one-time nonces) and signs every answer."""

    def __init__(self, clients: Mapping[str, str], *, max_clock_skew: int = 300) -> None:
        self._clients = dict(clients)
        self._max_skew = max_clock_skew
        self._nonces: dict[str, float] = {}

    def authenticate(self, request: Request) -> tuple[str | None, str | None]:
        """(the caller's secret, None) when the request is genuine, else (secret or None, error code)."""
        fields = parse_authorization(request.headers.get("authorization", ""))
        secret = self._clients.get(fields.get("client_id", ""))
        if secret is None:
            return None, "unknown_client"
        timestamp, nonce = fields.get("timestamp", ""), fields.get("nonce", "")
        target = request.path + (f"?{request.query_string}" if request.query_string else "")
        expected = hmac_signature(
            secret, request_message(request.method, target, timestamp, nonce, request.body)
        )
        if not hmac.compare_digest(expected, fields.get("signature", "")):
            return secret, "bad_signature"
        now = time.time()
        if not (timestamp.isascii() and timestamp.isdigit()) or abs(now - int(timestamp)) > self._max_skew:
            return secret, "stale_timestamp"
        self._forget_old_nonces(now)
        if nonce in self._nonces:
            return secret, "nonce_reused"
        self._nonces[nonce] = now + 2 * self._max_skew
        return secret, None

    def signed_body(self, request: Request) -> tuple[str | None, dict[str, Any], HTTPResponse | None]:
        """A genuine request's secret and JSON object body, or the signed refusal to answer with."""
        secret, problem = self.authenticate(request)
        if problem:
            return secret, {}, self.error(secret, 401, problem, "request authentication failed")
        payload = request_object(request)
        if payload is None:
            return secret, {}, self.error(secret, 400, "invalid_request", "the body must be a JSON object")
        return secret, payload, None

    def _forget_old_nonces(self, now: float) -> None:
        if len(self._nonces) > 10_000:
            self._nonces = {n: exp for n, exp in self._nonces.items() if exp > now}

    @staticmethod
    def answer(secret: str | None, status: int, payload: Mapping[str, Any]) -> HTTPResponse:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers: dict[str, str] = {}
        if secret is not None:
            timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
            headers = {
                RESPONSE_TIMESTAMP: timestamp,
                RESPONSE_NONCE: nonce,
                RESPONSE_SIGNATURE: hmac_signature(
                    secret, response_message(status, timestamp, nonce, body)
                ),
            }
        return raw(body, status=status, headers=headers, content_type="application/json")

    @staticmethod
    def error(secret: str | None, status: int, code: str, message: str) -> HTTPResponse:
        return AgencyGateway.answer(secret, status, {"error": {"code": code, "message": message}})


# --------------------------------------------------------------------------- fiscal receipts
class FiscalReceiptIssuer:
    """Issues 财政电子票据-style receipts: 票据代码 8 + 号码 10 + 校验码 6, signed with RSA."""

    def __init__(self, *, region_code: str, issuer: str, supervisor: str, check_secret: str) -> None:
        self._region = region_code[:2].rjust(2, "0")
        self._issuer = issuer
        self._supervisor = supervisor
        self._check_secret = check_secret.encode()
        self._numbers: dict[str, int] = {}
        self._private_key: rsa.RSAPrivateKey | None = None
        self.key_id = "finance-" + secrets.token_hex(4)

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        # Generated on first use, so mounting the sandbox costs nothing until it issues receipts.
        if self._private_key is None:
            self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._private_key

    def public_keys(self) -> list[dict[str, str]]:
        pem = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return [{"key_id": self.key_id, "algorithm": "RSA-SHA256", "public_key_pem": pem.decode()}]

    def issue(
        self, *, category: str, kind: str, bill_name: str, payer: str,
        items: list[dict[str, Any]], amount: int, paid_at: datetime,
    ) -> dict[str, Any]:
        issued_at = datetime.now(UTC)
        bill_code = f"{self._region}{category}{kind}{issued_at.astimezone(SHANGHAI):%y}"
        self._numbers[bill_code] = self._numbers.get(bill_code, 0) + 1
        bill_no = f"{self._numbers[bill_code]:010d}"
        check_source = f"{bill_code}{bill_no}{amount}{issued_at.date()}".encode()
        check_digest = hmac.new(self._check_secret, check_source, hashlib.sha256).hexdigest()
        receipt: dict[str, Any] = {
            "bill_name": bill_name,
            "bill_code": bill_code,
            "bill_no": bill_no,
            "check_code": f"{int(check_digest, 16) % 1_000_000:06d}",
            "payer": payer,
            "items": items,
            "amount": amount,
            "issuer": self._issuer,
            "supervisor": self._supervisor,
            "paid_at": paid_at.isoformat(),
            "issued_on": local_day(issued_at).isoformat(),
            "key_id": self.key_id,
            "signature_alg": "RSA-SHA256",
        }
        receipt["signature"] = sign_receipt(self.private_key, receipt)
        return receipt


# --------------------------------------------------------------------------- settlement book
@dataclass
class SettlementBook:
    """The agency's own record of settlements and their reversals; the counters tests use for "exactly once"."""

    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    accepted_by_bill: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    replays: int = 0
    conflicts: int = 0
    rejected: int = 0
    reversals: dict[str, dict[str, Any]] = field(default_factory=dict)  # reversal id -> the answer given
    reversed_by_bill: dict[str, int] = field(default_factory=dict)
    reversal_attempts: int = 0
    reversal_replays: int = 0
    reversal_refused: int = 0
    reversal_rejected: int = 0

    def counters(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "accepted": sum(self.accepted_by_bill.values()),
            "replays": self.replays,
            "conflicts": self.conflicts,
            "rejected": self.rejected,
            "by_bill": dict(self.accepted_by_bill),
            "reversals": {
                "attempts": self.reversal_attempts,
                "accepted": sum(self.reversed_by_bill.values()),
                "replays": self.reversal_replays,
                "refused": self.reversal_refused,
                "rejected": self.reversal_rejected,
                "by_bill": dict(self.reversed_by_bill),
            },
        }

    def on_day(self, day: date) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in entry.items() if k != "receipt"}
            for entry in self.by_id.values()
            if local_day(datetime.fromisoformat(entry["paid_at"])) == day
        ]


def random_digits(length: int) -> str:
    return str(secrets.randbelow(9) + 1) + "".join(str(secrets.randbelow(10)) for _ in range(length - 1))


async def settle_with_faults(
    knobs: FaultKnobs, gateway_secret: str | None, accept: Callable[[], HTTPResponse]
) -> HTTPResponse:
    """Runs a settlement under the fault knobs: 5xx or time out before, or accept then time out."""
    fault = knobs.draw("settle")
    if fault is not None and fault.mode in ("timeout", "error"):
        if fault.mode == "timeout":
            await asyncio.sleep(fault.delay)
        return AgencyGateway.error(gateway_secret, 503, "unavailable", "the agency is unavailable")
    response = accept()
    if fault is not None:
        await asyncio.sleep(fault.delay)
    return response




class ReversibleBill(Protocol):
    """A fine or a notice, as a reversal sees it."""

    status: str
    settlement_id: str | None
    reversible: bool


def accept_reversal(
    book: SettlementBook, gateway: AgencyGateway, secret: str | None, payload: Mapping[str, Any], *,
    bills: Mapping[str, ReversibleBill], ref_field: str, refuse: bool = False,
) -> HTTPResponse:
    """冲正: undo one settlement as a whole, once per reversal id; the bill is owed again."""
    book.reversal_attempts += 1
    reversal_id = str(payload.get("reversal_id") or "")
    settlement_id = str(payload.get("settlement_id") or "")
    if reversal_id in book.reversals:
        answer = book.reversals[reversal_id]
        if answer["settlement_id"] != settlement_id:
            book.reversal_rejected += 1
            return gateway.error(secret, 409, "reversal_id_reused", "this reversal id was used for another settlement")
        book.reversal_replays += 1
        return gateway.answer(secret, 200, answer)
    entry = book.by_id.get(settlement_id)
    amount = payload.get("amount")
    if not reversal_id or entry is None:
        book.reversal_rejected += 1
        if not reversal_id:
            return gateway.error(secret, 400, "invalid_reversal", "a reversal id is required")
        return gateway.error(secret, 404, "settlement_not_found", "no such settlement")
    if str(payload.get(ref_field) or "") != entry["bill_ref"] or not isinstance(amount, int):
        book.reversal_rejected += 1
        return gateway.error(secret, 400, "invalid_reversal", "the bill or the amount is missing or wrong")
    if entry["reversal_id"] is not None:
        book.reversal_rejected += 1
        return gateway.error(secret, 409, "settlement_already_reversed", "the settlement was reversed already")
    if amount != entry["amount"]:
        book.reversal_rejected += 1
        return gateway.error(secret, 409, "reversal_amount_mismatch", "a settlement is reversed as a whole")
    bill = bills[entry["bill_ref"]]
    if refuse or not bill.reversible:
        book.reversal_refused += 1
        return gateway.error(secret, 409, "reversal_not_allowed", "the agency no longer allows this settlement to be reversed")
    reversed_at = datetime.now(UTC)
    bill.status, bill.settlement_id = "unpaid", None
    entry["reversal_id"], entry["reversed_at"] = reversal_id, reversed_at.isoformat()
    receipt = entry["receipt"]
    answer = {
        "reversal_id": reversal_id,
        "settlement_id": settlement_id,
        "bill_ref": entry["bill_ref"],
        "amount": amount,
        "reason": str(payload.get("reason", ""))[:80],
        "reversed_at": reversed_at.isoformat(),
        "voided_receipt": {"bill_code": receipt["bill_code"], "bill_no": receipt["bill_no"]},
    }
    book.reversals[reversal_id] = answer
    book.reversed_by_bill[entry["bill_ref"]] = book.reversed_by_bill.get(entry["bill_ref"], 0) + 1
    return gateway.answer(secret, 201, answer)


async def answer_reversal(
    request: Request, gateway: AgencyGateway, knobs: FaultKnobs, book: SettlementBook, *,
    bills: Mapping[str, ReversibleBill], ref_field: str,
) -> HTTPResponse:
    """An agency's `POST /api/v1/reversals`, under the fault knobs; a replay is answered from the
    book even when the knobs say to refuse."""
    secret, payload, refusal = gateway.signed_body(request)
    if refusal is not None:
        return refusal
    fault = knobs.draw("reverse")
    if fault is not None and fault.mode in ("timeout", "error"):
        if fault.mode == "timeout":
            await asyncio.sleep(fault.delay)
        return AgencyGateway.error(secret, 503, "unavailable", "the agency is unavailable")
    response = accept_reversal(book, gateway, secret, payload, bills=bills, ref_field=ref_field,
                               refuse=fault is not None and fault.mode == "refuse")
    if fault is not None and fault.mode == "accept_then_timeout":
        await asyncio.sleep(fault.delay)
    return response


def settlement_replay(book: SettlementBook, gateway: AgencyGateway, secret: str | None, settlement_id: str) -> HTTPResponse:
    """The answer to a settlement id seen before: its receipt, unless it has been reversed since."""
    book.replays += 1
    entry = book.by_id[settlement_id]
    if entry["reversal_id"] is not None:
        return gateway.error(secret, 409, "settlement_reversed", "this settlement was reversed")
    return gateway.answer(secret, 200, {"settlement_id": settlement_id, "receipt": entry["receipt"]})


async def lookup_with_faults(knobs: FaultKnobs, gateway_secret: str | None) -> HTTPResponse | None:
    fault = knobs.draw("lookup")
    if fault is None:
        return None
    if fault.mode != "error":
        await asyncio.sleep(fault.delay)
    return AgencyGateway.error(gateway_secret, 503, "unavailable", "the agency is unavailable")


def settlement_amount_ok(amount: int, due_on: Callable[[date], int], paid_at: datetime) -> bool:
    """The amount due on the day of payment, or the day before (a quote taken just before midnight)."""
    day = local_day(paid_at)
    return amount in (due_on(day), due_on(day - timedelta(days=1)))


def parse_paid_at(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


# --------------------------------------------------------------------------- the tax bureau
@dataclass(frozen=True)
class TaxSandboxConfig:
    clients: Mapping[str, str]
    notice_code_length: int = 20
    region_code: str = "44"
    issuer: str = "国家税务总局广州市税务局"
    supervisor: str = "广东省财政厅"
    max_clock_skew: int = 300
    seed: int = 0


def tax_late_fee(principal: int, due_date: date | None, on: date) -> int:
    """滞纳金 of 0.05% a day (税收征收管理法 art. 32), rounded down to the fen."""
    if due_date is None or on <= due_date:
        return 0
    return principal * 5 * (on - due_date).days // 10_000


@dataclass
class Notice:
    notice_code: str
    kind: str  # "tax" or "fee"
    payer_name: str
    description: str
    items: list[dict[str, Any]]
    due_date: date | None
    status: str = "unpaid"
    settlement_id: str | None = None
    reversible: bool = True  # False: the bureau refuses to reverse its settlement

    @property
    def principal(self) -> int:
        return sum(int(item["amount"]) for item in self.items)

    def late_fee_on(self, day: date) -> int:
        return tax_late_fee(self.principal, self.due_date, day) if self.kind == "tax" else 0

    def due_on(self, day: date) -> int:
        return self.principal + self.late_fee_on(day)

    def receipt_items(self, amount: int) -> list[dict[str, Any]]:
        """The notice's items, then the 滞纳金 the paid amount carries, so the lines add up to it."""
        late_fee = amount - self.principal
        return self.items + ([{"name": "滞纳金", "amount": late_fee}] if late_fee else [])

    def public_view(self, today: date, issuer: str = "") -> dict[str, Any]:
        return {
            "notice_code": self.notice_code,
            "kind": self.kind,
            "description": self.description,
            "payer_name_masked": mask_name(self.payer_name),
            "items": self.items,
            "principal": self.principal,
            "late_fee": self.late_fee_on(today),
            "amount_due": self.due_on(today),
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "status": self.status,
            "issuer": issuer,
        }


@dataclass
class TaxSandboxState:
    config: TaxSandboxConfig
    gateway: AgencyGateway
    receipts: FiscalReceiptIssuer
    knobs: FaultKnobs
    notices: dict[str, Notice] = field(default_factory=dict)
    book: SettlementBook = field(default_factory=SettlementBook)


def create_blueprint(settings: Settings | TaxSandboxConfig) -> Blueprint:
    config = settings if isinstance(settings, TaxSandboxConfig) else TaxSandboxConfig(
        clients={settings.payments.tax_client_id: settings.payments.tax_secret.reveal()}
    )
    bp = Blueprint("sandbox_tax", url_prefix="/sandbox/tax")
    answer_errors_in_envelope(bp)
    state = TaxSandboxState(
        config=config,
        gateway=AgencyGateway(config.clients, max_clock_skew=config.max_clock_skew),
        receipts=FiscalReceiptIssuer(
            region_code=config.region_code, issuer=config.issuer, supervisor=config.supervisor,
            check_secret=secrets.token_hex(16),
        ),
        knobs=FaultKnobs(config.seed),
    )
    bp.ctx.state = state

    @bp.get("/api/v1/notices/<notice_code:str>")
    async def agency_lookup(request: Request, notice_code: str) -> HTTPResponse:
        secret, problem = state.gateway.authenticate(request)
        if problem:
            return state.gateway.error(secret, 401, problem, "request authentication failed")
        faulted = await lookup_with_faults(state.knobs, secret)
        if faulted is not None:
            return faulted
        notice = state.notices.get(notice_code)
        if notice is None:
            return state.gateway.error(secret, 404, "notice_not_found", "no such notice")
        return state.gateway.answer(secret, 200, notice.public_view(local_day(datetime.now(UTC)), config.issuer))

    @bp.post("/api/v1/settlements")
    async def agency_settle(request: Request) -> HTTPResponse:
        secret, payload, refusal = state.gateway.signed_body(request)
        if refusal is not None:
            return refusal
        return await settle_with_faults(state.knobs, secret, lambda: accept_settlement(state, secret, payload))

    @bp.post("/api/v1/reversals")
    async def agency_reverse(request: Request) -> HTTPResponse:
        return await answer_reversal(request, state.gateway, state.knobs, state.book,
                                     bills=state.notices, ref_field="notice_code")

    @bp.get("/api/v1/settlements")
    async def agency_settlements_of_day(request: Request) -> HTTPResponse:
        secret, problem = state.gateway.authenticate(request)
        if problem:
            return state.gateway.error(secret, 401, problem, "request authentication failed")
        day = request_day(request)
        if day is None:
            return state.gateway.error(secret, 400, "invalid_date", "date must be YYYY-MM-DD")
        return state.gateway.answer(secret, 200, {"settlements": state.book.on_day(day)})

    @bp.get("/api/v1/certificates")
    async def agency_certificates(request: Request) -> HTTPResponse:
        secret, problem = state.gateway.authenticate(request)
        if problem:
            return state.gateway.error(secret, 401, problem, "request authentication failed")
        return state.gateway.answer(secret, 200, {"keys": state.receipts.public_keys()})

    @bp.post("/notices")
    async def helper_create_notice(request: Request) -> HTTPResponse:
        body = Fields(read_object(request), code="invalid_notice")
        kind = body.choice("kind", ("tax", "fee"))
        items = [
            {"name": item.optional_text("name") or "", "amount": item.integer("amount", minimum=1, maximum=100_000_000)}
            for item in body.objects("items", max_items=50)
        ]
        if not items:
            raise body.invalid("items", "at least one item")
        notice = Notice(
            notice_code=body.optional_text("notice_code", max_length=64) or random_digits(config.notice_code_length),
            kind=kind,
            payer_name=body.text("payer_name", max_length=100),
            description=body.optional_text("description") or ("税款" if kind == "tax" else "非税收入"),
            items=items,
            due_date=body.optional_day("due_date"),
            reversible=body.flag("reversible", default=True),
        )
        state.notices[notice.notice_code] = notice
        return json_response(notice.public_view(local_day(datetime.now(UTC)), config.issuer), status=201)

    @bp.get("/notices/<notice_code:str>")
    async def helper_show_notice(request: Request, notice_code: str) -> HTTPResponse:
        notice = state.notices.get(notice_code)
        if notice is None:
            raise not_found("notice_not_found", "No such notice.")
        view = notice.public_view(local_day(datetime.now(UTC)), config.issuer)
        view["settlement_id"] = notice.settlement_id
        return json_response(view)

    add_counter_and_fault_routes(bp, state)
    return bp


def add_counter_and_fault_routes(bp: Blueprint, state: Any) -> None:
    """The helper routes every agency sandbox has: settlement counters and fault knobs."""

    @bp.get("/settlements")
    async def helper_counters(request: Request) -> HTTPResponse:
        return json_response(state.book.counters())

    @bp.post("/faults")
    async def helper_set_faults(request: Request) -> HTTPResponse:
        try:
            state.knobs.configure(read_object(request))
        except ValueError as exc:
            raise HelperError(422, "invalid_fault", str(exc), context={"problem": str(exc)}) from None
        return json_response({"faults": {op: vars(rule) for op, rule in state.knobs.rules.items()}})

    @bp.delete("/faults")
    async def helper_clear_faults(request: Request) -> HTTPResponse:
        state.knobs.clear()
        return json_response({"faults": {}, "injected": state.knobs.injected})


def accept_settlement(state: TaxSandboxState, secret: str | None, payload: Mapping[str, Any]) -> HTTPResponse:
    book, gateway = state.book, state.gateway
    book.attempts += 1
    settlement_id = str(payload.get("settlement_id") or "")
    if settlement_id in book.by_id:
        return settlement_replay(book, gateway, secret, settlement_id)
    notice = state.notices.get(str(payload.get("notice_code") or ""))
    paid_at = parse_paid_at(payload.get("paid_at"))
    amount = payload.get("amount")
    if not settlement_id or notice is None or paid_at is None or not isinstance(amount, int):
        book.rejected += 1
        return gateway.error(secret, 404 if notice is None else 400, "invalid_settlement", "unknown notice or bad fields")
    if notice.status != "unpaid":
        book.conflicts += 1
        return gateway.error(secret, 409, "bill_already_settled", "the notice is already paid")
    if not settlement_amount_ok(amount, notice.due_on, paid_at):
        book.rejected += 1
        return gateway.error(secret, 409, "settlement_amount_mismatch", "the amount differs from the amount due")
    receipt = state.receipts.issue(
        category="01", kind="01" if notice.kind == "fee" else "02",
        bill_name="非税收入统一票据（电子）" if notice.kind == "fee" else "税收缴款电子凭证",
        payer=mask_name(notice.payer_name), items=notice.receipt_items(amount), amount=amount, paid_at=paid_at,
    )
    notice.status, notice.settlement_id = "paid", settlement_id
    book.by_id[settlement_id] = {
        "settlement_id": settlement_id,
        "bill_ref": notice.notice_code,
        "amount": amount,
        "paid_at": paid_at.isoformat(),
        "channel": str(payload.get("channel", "")),
        "channel_txn_id": str(payload.get("channel_txn_id", "")),
        "receipt": receipt,
        "reversal_id": None,
        "reversed_at": None,
    }
    book.accepted_by_bill[notice.notice_code] = book.accepted_by_bill.get(notice.notice_code, 0) + 1
    return gateway.answer(secret, 201, {"settlement_id": settlement_id, "receipt": receipt})
