"""Operator routes for payments: look into orders, refund, reconcile, watch settlements."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field
from sanic import Blueprint
from sanic.response import HTTPResponse

from app.context import Request
from app.services.payments.errors import ReconciliationItemNotFound
from handlers._endpoint import OPERATOR, Lookup, endpoint, ok, principal, services
from handlers._fields import Day, FreeText, PastDay
from handlers.payments import OrderNo

bp = Blueprint("admin_payments", url_prefix="/api/v1/admin")

TAGS = ("payments-admin",)

# An unknown run answers as the payment service does for one: reconciliation_item_not_found.
ReconciliationId = Annotated[int, Lookup(ReconciliationItemNotFound)]


class RefundBody(BaseModel):
    amount: int = Field(gt=0, description="fen")
    reason: FreeText = Field(min_length=1, max_length=80)


class AbandonBody(BaseModel):
    reason: FreeText = Field(min_length=1, max_length=80)


class ReconcileBody(BaseModel):
    date: PastDay


class ReconciliationQuery(BaseModel):
    date: Day | None = None


class PaymentSearchQuery(BaseModel):
    status: Literal["created", "paying", "paid", "settled", "closed", "refunding", "refunded", "failed"] | None = None
    channel: str | None = Field(default=None, min_length=1, max_length=16)
    bill_ref: str | None = Field(default=None, min_length=1, max_length=40)
    date: Day | None = Field(default=None, description="the Beijing day the order was opened")
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100_000)


@bp.get("/payments")
@endpoint(auth=OPERATOR, query=PaymentSearchQuery, summary="Search payment orders, newest first",
          tags=(*TAGS, "admin"))
async def search_payments(request: Request, query: PaymentSearchQuery) -> HTTPResponse:
    return ok(await services(request).payments.search_orders(
        status=query.status, channel=query.channel, bill_ref=query.bill_ref, day=query.date,
        limit=query.limit, offset=query.offset,
    ))


@bp.get("/payments/<order_no:str>")
@endpoint(auth=OPERATOR, summary="Any payment, with its refunds", tags=TAGS, errors=("payment_not_found",))
async def show_payment(request: Request, order_no: OrderNo) -> HTTPResponse:
    return ok(await services(request).payments.admin_payment(order_no=order_no))


# Not `upstream`: the channel's answer is the refund's recorded outcome, not an error of this
# call. A refusal answers 201 with the refund `failed` (the order refundable again); no answer,
# 201 `processing`, for the refund poller.
@bp.post("/payments/<order_no:str>/refunds")
@endpoint(auth=OPERATOR, body=RefundBody,
          summary="Refund part or all of a payment (a settled one in full, once the agency reversed it)", tags=TAGS,
          status=201, errors=("payment_not_found", "refund_exceeds_paid", "refund_not_allowed", "partial_refund_not_allowed"))
async def refund(request: Request, order_no: OrderNo, body: RefundBody) -> HTTPResponse:
    result = await services(request).payments.refund(
        order_no=order_no, amount=body.amount, reason=body.reason, operator_id=principal(request).user_id
    )
    return ok(result, status=201)


@bp.post("/payments/<order_no:str>/reversal/retry")
@endpoint(auth=OPERATOR, summary="Ask the agency about a pending settlement reversal now, not after the backoff",
          tags=TAGS, errors=("payment_not_found", "reversal_not_found", "reversal_not_pending"))
async def retry_reversal(request: Request, order_no: OrderNo) -> HTTPResponse:
    return ok(await services(request).payments.retry_reversal(order_no=order_no, operator_id=principal(request).user_id))


@bp.post("/payments/<order_no:str>/reversal/abandon")
@endpoint(auth=OPERATOR, body=AbandonBody,
          summary="Stop asking an agency that never answers a reversal: its refund fails, no money moves",
          tags=TAGS, errors=("payment_not_found", "reversal_not_found", "reversal_not_pending"))
async def abandon_reversal(request: Request, order_no: OrderNo, body: AbandonBody) -> HTTPResponse:
    return ok(await services(request).payments.abandon_reversal(
        order_no=order_no, operator_id=principal(request).user_id, reason=body.reason
    ))


@bp.get("/payment-stats")
@endpoint(auth=OPERATOR, summary="Orders by status, and settlements and reversals overdue for more than an hour",
          tags=TAGS)
async def stats(request: Request) -> HTTPResponse:
    payments = services(request).payments
    return ok({"orders": await payments.order_status_counts(), "overdue_settlements": await payments.overdue_settlements(),
               "overdue_reversals": await payments.overdue_reversals()})


@bp.post("/reconciliations")
@endpoint(auth=OPERATOR, body=ReconcileBody, summary="Reconcile one day now", tags=TAGS, status=201, upstream=True,
          errors=("channel_unavailable", "channel_refused", "agency_unavailable"))
async def reconcile(request: Request, body: ReconcileBody) -> HTTPResponse:
    return ok(await services(request).payments.reconcile(day=body.date), status=201)


@bp.get("/reconciliations")
@endpoint(auth=OPERATOR, query=ReconciliationQuery, summary="Reconciliation runs, newest first", tags=TAGS)
async def list_reconciliations(request: Request, query: ReconciliationQuery) -> HTTPResponse:
    return ok({"runs": await services(request).payments.list_reconciliations(day=query.date)})


@bp.get("/reconciliations/<run_id:int>")
@endpoint(auth=OPERATOR, summary="One run with every mismatch it found", tags=TAGS,
          errors=("reconciliation_item_not_found",))
async def show_reconciliation(request: Request, run_id: ReconciliationId) -> HTTPResponse:
    return ok(await services(request).payments.show_reconciliation(run_id=run_id))


@bp.post("/reconciliation-items/<item_id:int>/resolve")
@endpoint(auth=OPERATOR, summary="Mark a mismatch as dealt with", tags=TAGS, errors=("reconciliation_item_not_found",))
async def resolve_item(request: Request, item_id: ReconciliationId) -> HTTPResponse:
    return ok(await services(request).payments.resolve_reconciliation_item(item_id=item_id))
