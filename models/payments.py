"""Payment orders for fines, taxes and fees, and everything that keeps them honest.

An order's ``status`` follows app/services/payments/states.py. ``live_bill_key`` is the bill's key
while the order holds the bill and NULL otherwise; its unique index is what makes "one live order
per bill" hold on every database, under any concurrency.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class PaymentOrder(Model):
    id = fields.BigIntField(primary_key=True)
    order_no = fields.CharField(max_length=32, unique=True)
    user_id = fields.BigIntField(db_index=True)
    payer_openid = fields.CharField(max_length=64, null=True)
    bill_type = fields.CharField(max_length=8)
    bill_ref = fields.CharField(max_length=40)
    agency = fields.CharField(max_length=16)
    bill_key = fields.CharField(max_length=64, db_index=True)
    live_bill_key = fields.CharField(max_length=64, unique=True, null=True)
    description = fields.CharField(max_length=127)
    channel = fields.CharField(max_length=16)
    amount = fields.BigIntField()  # fen, as the agency stated it at creation
    principal = fields.BigIntField()
    late_fee = fields.BigIntField()
    status = fields.CharField(max_length=16, db_index=True)
    pay_params: dict | None = fields.JSONField(null=True)
    channel_txn_id = fields.CharField(max_length=64, null=True)
    paid_amount = fields.BigIntField(null=True)
    refunded_amount = fields.BigIntField(default=0)
    expires_at = fields.DatetimeField()
    # When the poller should next ask the channel about this order (NULL: nothing to ask).
    next_poll_at = fields.DatetimeField(null=True, db_index=True)
    poll_attempts = fields.IntField(default=0)
    paid_at = fields.DatetimeField(null=True)
    settled_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "payment_orders"


class PaymentOrderEvent(Model):
    """Append-only history of every transition, for audit and support."""

    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyRelation[PaymentOrder] = fields.ForeignKeyField(
        "payments.PaymentOrder", related_name="events", on_delete=fields.CASCADE
    )
    order_id: int
    event = fields.CharField(max_length=48)
    from_status = fields.CharField(max_length=16)
    to_status = fields.CharField(max_length=16)
    detail: dict = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "payment_order_events"


class ChannelNotification(Model):
    """A verified channel notify, stored once under (channel, event id)."""

    id = fields.BigIntField(primary_key=True)
    channel = fields.CharField(max_length=16)
    event_id = fields.CharField(max_length=128)
    kind = fields.CharField(max_length=16)
    order_no = fields.CharField(max_length=32, db_index=True)
    outcome = fields.CharField(max_length=32)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "payment_channel_notifications"
        unique_together = (("channel", "event_id"),)


class IdempotencyRecord(Model):
    """An Idempotency-Key of a client, with the hash of its request and the answer it got (24 h)."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.BigIntField()
    key = fields.CharField(max_length=255)
    request_hash = fields.CharField(max_length=64)
    response_status = fields.IntField(null=True)  # NULL while the first request is running
    response_body: dict | None = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "payment_idempotency_keys"
        unique_together = (("user_id", "key"),)


class SettlementOutbox(Model):
    """The hand-over of a paid order to its agency, written with the status change that needs it."""

    id = fields.BigIntField(primary_key=True)
    order: fields.OneToOneRelation[PaymentOrder] = fields.OneToOneField(
        "payments.PaymentOrder", related_name="settlement", on_delete=fields.CASCADE
    )
    order_id: int
    settlement_id = fields.CharField(max_length=40, unique=True)
    status = fields.CharField(max_length=16, db_index=True)  # pending, delivered, refused
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    last_error = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "payment_settlement_outbox"


class SettlementReversal(Model):
    """The request to the agency to reverse (冲正) a settlement before a settled payment is refunded."""

    # One per order, written with the order change that needs it and delivered by the payment
    # worker like a settlement: the agency deduplicates by reversal_id. A refusal ends the job
    # (status refused), and a later refund request asks again under the same id.

    id = fields.BigIntField(primary_key=True)
    order: fields.OneToOneRelation[PaymentOrder] = fields.OneToOneField(
        "payments.PaymentOrder", related_name="reversal", on_delete=fields.CASCADE
    )
    order_id: int
    reversal_id = fields.CharField(max_length=40, unique=True)
    settlement_id = fields.CharField(max_length=40)
    amount = fields.BigIntField()  # fen, the whole settled amount
    reason = fields.CharField(max_length=80)
    status = fields.CharField(max_length=16, db_index=True)  # pending, confirmed, refused, abandoned (by an operator)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    last_error = fields.CharField(max_length=255, null=True)
    requested_by = fields.BigIntField(null=True)
    requested_at = fields.DatetimeField()
    answered_at = fields.DatetimeField(null=True)
    voided_receipt_no = fields.CharField(max_length=40, null=True)

    class Meta:
        table = "payment_settlement_reversals"


class PaymentReceipt(Model):
    """The electronic receipt (财政电子票据) the agency issued for a settled order."""

    id = fields.BigIntField(primary_key=True)
    order: fields.OneToOneRelation[PaymentOrder] = fields.OneToOneField(
        "payments.PaymentOrder", related_name="receipt", on_delete=fields.CASCADE
    )
    order_id: int
    receipt_no = fields.CharField(max_length=40)
    agency = fields.CharField(max_length=16)
    data: dict = fields.JSONField()
    issued_at = fields.DatetimeField(auto_now_add=True)
    # Set once the payer's subscribe message went out; NULL means it is still owed.
    message_sent_at = fields.DatetimeField(null=True)
    # Set when the agency cancelled the receipt (冲红) because it reversed the settlement.
    voided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "payment_receipts"


class PaymentRefund(Model):
    id = fields.BigIntField(primary_key=True)
    refund_no = fields.CharField(max_length=40, unique=True)
    order: fields.ForeignKeyRelation[PaymentOrder] = fields.ForeignKeyField(
        "payments.PaymentOrder", related_name="refunds", on_delete=fields.CASCADE
    )
    order_id: int
    amount = fields.BigIntField()
    reason = fields.CharField(max_length=80)
    kind = fields.CharField(max_length=24)  # operator, double_payment, settlement_refused
    # awaiting_reversal (the agency must reverse the settlement first), processing, succeeded, failed
    status = fields.CharField(max_length=24, db_index=True)
    # Why a failed refund failed, when we know: reversal_refused or reversal_abandoned (the agency
    # kept the settlement), or the channel's own code (WeChat Pay `code`, Alipay `sub_code`), whose
    # message is failure_message.
    failure_code = fields.CharField(max_length=40, null=True)
    failure_message = fields.CharField(max_length=200, null=True)
    channel_refund_id = fields.CharField(max_length=64, null=True)
    requested_by = fields.BigIntField(null=True)
    next_poll_at = fields.DatetimeField(null=True, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    completed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "payment_refunds"


class ReconciliationRun(Model):
    id = fields.BigIntField(primary_key=True)
    day = fields.DateField(db_index=True)
    status = fields.CharField(max_length=16)  # running, finished, failed
    summary: dict = fields.JSONField(default=dict)
    started_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "payment_reconciliation_runs"


class ReconciliationItem(Model):
    """One mismatch a run found, for operators to resolve."""

    id = fields.BigIntField(primary_key=True)
    run: fields.ForeignKeyRelation[ReconciliationRun] = fields.ForeignKeyField(
        "payments.ReconciliationRun", related_name="items", on_delete=fields.CASCADE
    )
    run_id: int
    kind = fields.CharField(max_length=32)
    channel = fields.CharField(max_length=16, null=True)
    order_no = fields.CharField(max_length=32, null=True, db_index=True)
    bill_key = fields.CharField(max_length=64, null=True)
    expected_amount = fields.BigIntField(null=True)
    actual_amount = fields.BigIntField(null=True)
    detail: dict = fields.JSONField(default=dict)
    proposed_refund_amount = fields.BigIntField(null=True)
    resolved_at = fields.DatetimeField(null=True)

    class Meta:
        table = "payment_reconciliation_items"
