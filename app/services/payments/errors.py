"""Errors the payment use-cases raise, each with its HTTP status and stable code."""

from __future__ import annotations

from app.errors import (
    AppError,
    BadRequest,
    Conflict,
    NotFound,
    UpstreamRejected,
    UpstreamUnavailable,
    ValidationFailed,
)


class InvalidBillReference(BadRequest):
    code, message = "invalid_bill_ref", "The bill reference is not in the agency's format."


class BillNotFound(NotFound):
    code, message = "bill_not_found", "No bill matches these details."


class BillNotPayable(Conflict):
    code, message = "bill_not_payable", "This bill cannot be paid (cancelled, or nothing is due)."


class BillBeingPaid(Conflict):
    code, message = "bill_being_paid", "This bill is already being paid."


class BillAlreadyPaid(Conflict):
    # context.order_no names the paid order, to its payer only.
    code, message = "bill_already_paid", "This bill has already been paid."


class UnknownChannel(ValidationFailed):  # a body naming a channel not offered: 422
    code, message = "unknown_channel", "This payment channel is not offered."


class IdempotencyKeyRequired(BadRequest):
    code, message = "idempotency_key_required", "Send an Idempotency-Key header (1-255 of A-Z a-z 0-9 - _)."


class IdempotencyKeyReused(Conflict):
    code, message = "idempotency_key_reused", "This Idempotency-Key was used with a different request."


class IdempotencyKeyInProgress(Conflict):
    code, message = "idempotency_key_in_progress", "A request with this Idempotency-Key is still running."


class OrderNotFound(NotFound):
    code, message = "payment_not_found", "No such payment."


class RefundExceedsPaid(Conflict):
    code, message = "refund_exceeds_paid", "The refund is more than what is left of the payment."


class RefundNotAllowed(Conflict):
    code, message = "refund_not_allowed", "This payment cannot be refunded in its current state."


class PartialRefundNotAllowed(Conflict):
    code, message = "partial_refund_not_allowed", "A settled payment is refunded in full only: the agency reverses a settlement as a whole."


class ReversalNotFound(NotFound):
    code, message = "reversal_not_found", "This payment has no settlement reversal."


class ReversalNotPending(Conflict):
    code, message = "reversal_not_pending", "This reversal is not waiting for the agency's answer."


class AgencyUnavailable(UpstreamUnavailable):
    code, message = "agency_unavailable", "The billing agency did not answer; try again."


class ChannelUnavailable(UpstreamUnavailable):
    code, message = "channel_unavailable", "The payment channel did not answer; try again."


class ChannelRefused(UpstreamRejected):
    code, message = "channel_refused", "The payment channel refused the order."


class ReconciliationItemNotFound(NotFound):
    code, message = "reconciliation_item_not_found", "No such reconciliation item."


__all__ = [name for name, value in globals().items() if isinstance(value, type) and issubclass(value, AppError)]
