"""Channel notify intake: verify, check against the order, store once, transition, answer fast."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.ports import (
    ChannelNotify,
    ChannelRefund,
    ChannelTransaction,
    Clock,
    NotifyAnswer,
    NotifyRejected,
    PaymentChannel,
)
from app.services.payments.errors import UnknownChannel
from app.services.payments.ledger import confirm_payment
from app.services.payments.refunds import apply_refund_outcome
from models.payments import ChannelNotification, PaymentOrder, PaymentRefund

log = logging.getLogger("app.payments.notify")


def identity_mismatch(channel: PaymentChannel, txn: ChannelTransaction) -> str | None:
    """Which of appid / merchant id the transaction reports differently from our own, if any."""
    ours_app = getattr(channel, "appid", None) or getattr(channel, "app_id", None)
    ours_merchant = getattr(channel, "mchid", None) or getattr(channel, "seller_id", None)
    if txn.app_id and ours_app and txn.app_id != ours_app:
        return "app_mismatch"
    if txn.merchant_id and ours_merchant and txn.merchant_id != ours_merchant:
        return "merchant_mismatch"
    return None


def refund_amounts_stated(refund: PaymentRefund) -> set[int]:
    """What a genuine notify of this refund may state: its own amount, or (Alipay) the order's
    cumulative refunds including it, before or after we recorded it."""
    order = refund.order
    stated = {refund.amount, order.refunded_amount + refund.amount}
    if refund.status == "succeeded":
        stated.add(order.refunded_amount)
    return stated


class NotifyDesk:
    def __init__(self, *, channels: dict[str, PaymentChannel], clock: Clock, wake_worker: Callable[[], None]):
        self.channels = channels
        self.clock = clock
        self.wake_worker = wake_worker

    async def handle(self, channel_name: str, headers: Mapping[str, str], body: bytes) -> NotifyAnswer:
        channel = self.channels.get(channel_name)
        if channel is None:
            raise UnknownChannel()
        try:
            notify = await self._verify(channel, headers, body)
        except NotifyRejected as exc:
            log.warning("notify rejected", extra={"channel": channel_name, "reason": exc.reason})
            return channel.answer_notify(accepted=False)
        if notify.kind == "payment" and notify.transaction is not None:
            accepted = await self._payment(channel, notify, notify.transaction)
        elif notify.kind == "refund" and notify.refund is not None:
            accepted = await self._refund(channel, notify, notify.refund)
        else:
            log.warning("notify rejected", extra={"channel": channel_name, "reason": "empty_notify"})
            accepted = False
        return channel.answer_notify(accepted=accepted)

    @staticmethod
    async def _verify(channel: PaymentChannel, headers: Mapping[str, str], body: bytes) -> ChannelNotify:
        try:
            return channel.verify_notify(headers, body)
        except NotifyRejected as exc:
            refresh = getattr(channel, "refresh_certificates", None)
            if exc.reason != "unknown_serial" or refresh is None:
                raise
        # A platform certificate we have not seen (first notify, or a rotation): fetch the
        # list once, then judge the same notify again.
        await refresh()
        return channel.verify_notify(headers, body)

    async def _payment(self, channel: PaymentChannel, notify: ChannelNotify, txn: ChannelTransaction) -> bool:
        order = await PaymentOrder.get_or_none(order_no=txn.order_no)
        reason = None
        if order is None or order.channel != channel.name:
            reason = "unknown_order"
        elif txn.amount != order.amount:
            reason = "amount_mismatch"
        else:
            reason = identity_mismatch(channel, txn)
        if reason is not None:
            log.warning("notify rejected", extra={"channel": channel.name, "reason": reason, "order_no": txn.order_no})
            return False
        assert order is not None
        if txn.state != "paid":
            # Only success is notified; anything else is left to the poller's query.
            return True
        now = self.clock.now()
        try:
            async with in_transaction() as conn:
                await ChannelNotification.create(
                    channel=channel.name, event_id=notify.event_id, kind="payment",
                    order_no=order.order_no, outcome="paid", using_db=conn,
                )
                changed = await confirm_payment(
                    order, conn=conn, now=now, amount=txn.amount, channel_txn_id=txn.channel_txn_id,
                    paid_at=txn.paid_at, source="notify",
                )
        except IntegrityError:
            # The same notify again (a retry, a duplicate): already stored and handled.
            return True
        if changed:
            self.wake_worker()
        return True

    async def _refund(self, channel: PaymentChannel, notify: ChannelNotify, outcome: ChannelRefund) -> bool:
        refund = await PaymentRefund.get_or_none(refund_no=outcome.refund_no).prefetch_related("order")
        reason = None
        if refund is None or refund.order.order_no != outcome.order_no:
            reason = "unknown_refund"
        elif outcome.amount not in refund_amounts_stated(refund):
            reason = "amount_mismatch"
        elif outcome.total is not None and outcome.total != refund.order.paid_amount:
            reason = "amount_mismatch"
        if reason is not None:
            log.warning("notify rejected", extra={"channel": channel.name, "reason": reason})
            return False
        assert refund is not None
        if outcome.state == "processing":
            return True
        try:
            async with in_transaction() as conn:
                await ChannelNotification.create(
                    channel=channel.name, event_id=notify.event_id, kind="refund",
                    order_no=outcome.order_no, outcome=outcome.state, using_db=conn,
                )
                await apply_refund_outcome(refund, outcome, conn=conn, now=self.clock.now())
        except IntegrityError:
            return True
        return True
