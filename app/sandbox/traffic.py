"""Sandbox of the traffic police fine system (交通违法处罚).

Agency API under ``/sandbox/traffic/api/v1`` (signed, see app/adapters/tax_bureau.py): a fine is
found by its decision number (决定书编号) plus the plate or the party's name; a wrong second
factor answers exactly like an unknown number. Settlement is idempotent by our settlement id,
and so is its reversal (冲正) by our reversal id. Helper routes create fines, read the
settlement and reversal counters and turn the fault knobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from app.config import Settings
from app.sandbox._helpers import Fields, answer_errors_in_envelope, not_found, read_object
from app.sandbox.tax import (
    AgencyGateway,
    FaultKnobs,
    FiscalReceiptIssuer,
    SettlementBook,
    add_counter_and_fault_routes,
    answer_reversal,
    local_day,
    lookup_with_faults,
    mask_name,
    parse_paid_at,
    random_digits,
    request_day,
    settle_with_faults,
    settlement_amount_ok,
    settlement_replay,
)


@dataclass(frozen=True)
class TrafficSandboxConfig:
    clients: Mapping[str, str]
    decision_no_length: int = 16
    region_code: str = "44"
    issuer: str = "广州市公安局交通警察支队"
    supervisor: str = "广东省财政厅"
    max_clock_skew: int = 300
    seed: int = 0


def fine_late_fee(fine: int, due_date: date | None, on: date) -> int:
    """加处罚款: 3% of the fine a day after the due date, never more than the fine (行政处罚法 art. 72)."""
    if due_date is None or on <= due_date:
        return 0
    return min(fine * 3 * (on - due_date).days // 100, fine)


def normalise_plate(value: str) -> str:
    return value.replace(" ", "").replace("·", "").upper()


def mask_plate(plate: str) -> str:
    return plate[:2] + "*" * max(len(plate) - 4, 1) + plate[-2:]


@dataclass
class Fine:
    decision_no: str
    plate: str
    party_name: str
    violation: str
    fine: int
    due_date: date | None
    status: str = "unpaid"
    settlement_id: str | None = None
    reversible: bool = True  # False: the traffic police refuse to reverse its settlement

    def matches(self, party: str) -> bool:
        return bool(party) and (normalise_plate(party) == self.plate or party.strip() == self.party_name)

    def due_on(self, day: date) -> int:
        return self.fine + fine_late_fee(self.fine, self.due_date, day)

    def public_view(self, today: date, issuer: str = "") -> dict[str, Any]:
        late_fee = fine_late_fee(self.fine, self.due_date, today)
        return {
            "decision_no": self.decision_no,
            "plate_masked": mask_plate(self.plate),
            "party_name_masked": mask_name(self.party_name),
            "violation": self.violation,
            "fine": self.fine,
            "late_fee": late_fee,
            "amount_due": self.fine + late_fee,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "status": self.status,
            "issuer": issuer,
        }


@dataclass
class TrafficSandboxState:
    config: TrafficSandboxConfig
    gateway: AgencyGateway
    receipts: FiscalReceiptIssuer
    knobs: FaultKnobs
    fines: dict[str, Fine] = field(default_factory=dict)
    book: SettlementBook = field(default_factory=SettlementBook)


def create_blueprint(settings: Settings | TrafficSandboxConfig) -> Blueprint:
    config = settings if isinstance(settings, TrafficSandboxConfig) else TrafficSandboxConfig(
        clients={settings.payments.traffic_client_id: settings.payments.traffic_secret.reveal()}
    )
    bp = Blueprint("sandbox_traffic", url_prefix="/sandbox/traffic")
    state = TrafficSandboxState(
        config=config,
        gateway=AgencyGateway(config.clients, max_clock_skew=config.max_clock_skew),
        receipts=FiscalReceiptIssuer(
            region_code=config.region_code, issuer=config.issuer, supervisor=config.supervisor,
            check_secret=random_digits(24),
        ),
        knobs=FaultKnobs(config.seed),
    )
    bp.ctx.state = state
    answer_errors_in_envelope(bp)

    @bp.get("/api/v1/fines/<decision_no:str>")
    async def agency_lookup(request: Request, decision_no: str) -> HTTPResponse:
        secret, problem = state.gateway.authenticate(request)
        if problem:
            return state.gateway.error(secret, 401, problem, "request authentication failed")
        faulted = await lookup_with_faults(state.knobs, secret)
        if faulted is not None:
            return faulted
        fine = state.fines.get(decision_no)
        if fine is None or not fine.matches(request.args.get("party", "")):
            return state.gateway.error(secret, 404, "fine_not_found", "no fine matches these details")
        return state.gateway.answer(secret, 200, fine.public_view(local_day(datetime.now(UTC)), config.issuer))

    @bp.post("/api/v1/settlements")
    async def agency_settle(request: Request) -> HTTPResponse:
        secret, payload, refusal = state.gateway.signed_body(request)
        if refusal is not None:
            return refusal
        return await settle_with_faults(state.knobs, secret, lambda: accept_settlement(state, secret, payload))

    @bp.post("/api/v1/reversals")
    async def agency_reverse(request: Request) -> HTTPResponse:
        return await answer_reversal(request, state.gateway, state.knobs, state.book,
                                     bills=state.fines, ref_field="decision_no")

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

    @bp.post("/fines")
    async def helper_create_fine(request: Request) -> HTTPResponse:
        body = Fields(read_object(request), code="invalid_fine")
        fine = Fine(
            decision_no=body.optional_text("decision_no", max_length=64) or random_digits(config.decision_no_length),
            plate=normalise_plate(body.text("plate", max_length=16)),
            party_name=body.text("party_name", max_length=50).strip(),
            violation=body.optional_text("violation") or "机动车违反禁令标志指示",
            fine=body.integer("fine", minimum=1, maximum=100_000_000),
            due_date=body.optional_day("due_date"),
            reversible=body.flag("reversible", default=True),
        )
        state.fines[fine.decision_no] = fine
        return json_response(fine.public_view(local_day(datetime.now(UTC)), config.issuer), status=201)

    @bp.get("/fines/<decision_no:str>")
    async def helper_show_fine(request: Request, decision_no: str) -> HTTPResponse:
        fine = state.fines.get(decision_no)
        if fine is None:
            raise not_found("fine_not_found", "No such fine.")
        view = fine.public_view(local_day(datetime.now(UTC)), config.issuer)
        view["settlement_id"] = fine.settlement_id
        return json_response(view)

    add_counter_and_fault_routes(bp, state)
    return bp


def accept_settlement(
    state: TrafficSandboxState, secret: str | None, payload: Mapping[str, Any]
) -> HTTPResponse:
    book, gateway = state.book, state.gateway
    book.attempts += 1
    settlement_id = str(payload.get("settlement_id") or "")
    if settlement_id in book.by_id:
        return settlement_replay(book, gateway, secret, settlement_id)
    fine = state.fines.get(str(payload.get("decision_no") or ""))
    paid_at = parse_paid_at(payload.get("paid_at"))
    amount = payload.get("amount")
    if not settlement_id or fine is None or paid_at is None or not isinstance(amount, int):
        book.rejected += 1
        return gateway.error(secret, 404 if fine is None else 400, "invalid_settlement", "unknown fine or bad fields")
    if fine.status != "unpaid":
        book.conflicts += 1
        return gateway.error(secret, 409, "bill_already_settled", "the fine is already paid")
    if not settlement_amount_ok(amount, fine.due_on, paid_at):
        book.rejected += 1
        return gateway.error(secret, 409, "settlement_amount_mismatch", "the amount differs from the amount due")
    late_fee = amount - fine.fine
    items = [{"name": "罚款", "amount": fine.fine}] + ([{"name": "加处罚款", "amount": late_fee}] if late_fee else [])
    receipt = state.receipts.issue(
        category="03", kind="01", bill_name="罚没收入电子票据", payer=mask_name(fine.party_name),
        items=items, amount=amount, paid_at=paid_at,
    )
    fine.status, fine.settlement_id = "paid", settlement_id
    book.by_id[settlement_id] = {
        "settlement_id": settlement_id,
        "bill_ref": fine.decision_no,
        "amount": amount,
        "paid_at": paid_at.isoformat(),
        "channel": str(payload.get("channel", "")),
        "channel_txn_id": str(payload.get("channel_txn_id", "")),
        "receipt": receipt,
        "reversal_id": None,
        "reversed_at": None,
    }
    book.accepted_by_bill[fine.decision_no] = book.accepted_by_bill.get(fine.decision_no, 0) + 1
    return gateway.answer(secret, 201, {"settlement_id": settlement_id, "receipt": receipt})
