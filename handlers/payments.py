"""Payer-facing payment routes: what is owed, open a payment, follow it to its receipt."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sanic import Blueprint
from sanic.response import HTTPResponse

from app.context import Request
from app.services.payments import PaymentRequest
from app.services.payments.errors import OrderNotFound
from app.services.payments.orders import IDEMPOTENCY_KEY
from handlers._endpoint import RESIDENT, Header, Lookup, endpoint, ok, principal, services

bp = Blueprint("payments", url_prefix="/api/v1")

TAGS = ("payments",)

OrderNo = Annotated[str, Lookup(OrderNotFound, max_length=32)]


class FineQuery(BaseModel):
    decision_no: str = Field(min_length=1, max_length=40, description="决定书编号")
    plate: str | None = Field(default=None, max_length=16, description="Plate number, e.g. 粤A12345")
    name: str | None = Field(default=None, max_length=30, description="Or the party's name")

    @model_validator(mode="after")
    def needs_second_factor(self) -> FineQuery:
        if not (self.plate or self.name):
            raise ValueError("send plate or name with the decision number")
        return self


class PaymentBody(BaseModel):
    # An `amount` sent by the client is ignored: the agency states what is owed.
    model_config = ConfigDict(extra="ignore")

    bill_type: Literal["fine", "tax", "fee"]
    bill_ref: str = Field(min_length=1, max_length=40)
    channel: str = Field(min_length=1, max_length=16, description="wechatpay or alipay")
    plate: str | None = Field(default=None, max_length=16, description="For fines: the plate")
    name: str | None = Field(default=None, max_length=30, description="For fines: or the party's name")

    @model_validator(mode="after")
    def fines_need_second_factor(self) -> PaymentBody:
        if self.bill_type == "fine" and not (self.plate or self.name):
            raise ValueError("a fine needs plate or name")
        return self


IDEMPOTENCY_HEADER = Header(
    "Idempotency-Key",
    "The payer's own key for this attempt: the same key and body within 24 h answer the stored answer, "
    "another body 409 idempotency_key_reused; without it (or not matching the pattern) 400 "
    "idempotency_key_required",
    {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern},
    required=True,
)

BillType = Literal["fine", "tax", "fee"]
PaymentStatus = Literal["created", "paying", "paid", "settled", "closed", "refunding", "refunded", "failed"]


class BillAnswer(BaseModel):
    """What the billing agency says is owed right now."""

    bill_type: BillType
    bill_ref: str
    agency: str
    description: str
    payer_name_masked: str
    principal: int = Field(description="fen")
    late_fee: int = Field(description="fen")
    amount_due: int = Field(description="fen; 0 unless the bill is unpaid")
    due_date: date | None
    status: Literal["unpaid", "paid", "cancelled"]
    details: dict[str, Any] = Field(description="the agency's own details (a fine's masked plate, a notice's items)")


class PaymentOpened(BaseModel):
    order_no: str
    amount: int = Field(description="fen, as the agency states it")
    status: PaymentStatus
    pay_params: dict[str, Any] = Field(
        description="what wx.requestPayment (WeChat Pay) or my.tradePay (Alipay: tradeNO) takes, as the channel gave it"
    )


class Receipt(BaseModel):
    """The agency's electronic receipt (财政电子票据) as it issued it (bill_code, bill_no, check_code,
    payer, items, amount, issuer, paid_at, signature...), with our receipt number."""

    receipt_no: str
    voided_at: datetime | None = Field(description="when the agency cancelled it (冲红), reversing the settlement")


class PaymentAnswer(BaseModel):
    order_no: str
    bill_type: BillType
    bill_ref: str
    channel: str
    amount: int = Field(description="fen")
    principal: int = Field(description="fen")
    late_fee: int = Field(description="fen")
    status: PaymentStatus
    refunded_amount: int = Field(description="fen")
    expires_at: datetime
    paid_at: datetime | None
    settled_at: datetime | None
    created_at: datetime
    receipt: Receipt | None = Field(description="once settled (the list shows none)")


class PaymentList(BaseModel):
    payments: list[PaymentAnswer]


@bp.get("/fines")
@endpoint(auth=RESIDENT, query=FineQuery, summary="The amount due on a traffic fine, late fee included",
          tags=TAGS, errors=("invalid_bill_ref", "bill_not_found", "agency_unavailable"), upstream=True,
          response=BillAnswer)
async def find_fine(request: Request, query: FineQuery) -> HTTPResponse:
    party = query.plate or query.name or ""
    return ok(await services(request).payments.find_fine(decision_no=query.decision_no, party=party))


@bp.get("/bills/<notice_code:str>")
@endpoint(auth=RESIDENT, summary="The amount due on a tax or fee notice", tags=TAGS,
          errors=("invalid_bill_ref", "bill_not_found", "agency_unavailable"), upstream=True, response=BillAnswer)
async def find_notice(request: Request, notice_code: str) -> HTTPResponse:
    return ok(await services(request).payments.find_notice(notice_code=notice_code))


@bp.post("/payments")
@endpoint(auth=RESIDENT, body=PaymentBody,
          summary="Open a payment for a bill (needs an Idempotency-Key header); the other channel replaces "
                  "the payer's unpaid order, closed at its channel first",
          tags=TAGS, status=(201, 200), errors=("idempotency_key_required", "idempotency_key_reused", "idempotency_key_in_progress",
                             "unknown_channel", "invalid_bill_ref", "bill_not_found", "bill_not_payable",
                             "bill_being_paid", "bill_already_paid", "agency_unavailable", "channel_unavailable",
                             "channel_refused"),
          upstream=True, headers=(IDEMPOTENCY_HEADER,), response=PaymentOpened)
async def create_payment(request: Request, body: PaymentBody) -> HTTPResponse:
    payment = PaymentRequest(bill_type=body.bill_type, bill_ref=body.bill_ref, channel=body.channel,
                             party=body.plate or body.name)
    status, result = await services(request).payments.create_payment(
        user_id=principal(request).user_id, idempotency_key=request.headers.get("idempotency-key"), request=payment
    )
    return ok(result, status=status)


@bp.get("/payments")
@endpoint(auth=RESIDENT, summary="The caller's payments, newest first", tags=TAGS, response=PaymentList)
async def list_payments(request: Request) -> HTTPResponse:
    return ok({"payments": await services(request).payments.list_payments(user_id=principal(request).user_id)})


@bp.get("/payments/<order_no:str>")
@endpoint(auth=RESIDENT, summary="A payment's status and, once settled, its receipt", tags=TAGS,
          errors=("payment_not_found",), response=PaymentAnswer)
async def get_payment(request: Request, order_no: OrderNo) -> HTTPResponse:
    return ok(await services(request).payments.get_payment(user_id=principal(request).user_id, order_no=order_no))
