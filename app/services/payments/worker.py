"""The payment worker: settles paid orders, reverses settlements before refunds, asks channels
about silent orders, follows refunds.

Jobs are rows: a due settlement or reversal in its outbox, an order or refund whose next_poll_at has come.
A worker claims a batch with SELECT ... FOR UPDATE SKIP LOCKED and pushes each claimed row's due
time forward by a lease before committing, so the outside calls run outside any transaction and
a worker killed mid-call only delays its jobs until the lease runs out. Several workers (in the
service, or `python -m app worker` processes) can run at once; the agency deduplicates by our
settlement and reversal ids and the channels by our order and refund numbers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from app.config import PaymentSettings
from app.db import outage_in
from app.ports import (
    AgencyError,
    BillingAgency,
    ChannelError,
    ChannelOrderAlreadyPaid,
    Clock,
    PaymentChannel,
    WeChatMiniProgram,
)
from app.services.payments.ledger import CLOSED_AT_CHANNEL, SHANGHAI, backoff, confirm_payment, try_advance
from app.services.payments.refunds import RefundDesk, open_refund
from app.services.payments.states import OrderStatus
from models.payments import PaymentOrder, PaymentReceipt, PaymentRefund, SettlementOutbox, SettlementReversal

log = logging.getLogger("app.payments.worker")

# Agency answers meaning "this bill was paid through another settlement": our money is a double payment.
DOUBLE_PAYMENT_CODES = frozenset({"bill_already_settled"})
POLL_CONCURRENCY = 8


async def claim(model: Any, *, due_field: str, filters: dict[str, Any], now: datetime, lease: float,
                limit: int) -> list[Any]:
    """Claim up to `limit` due rows for this worker by moving their due time past a lease."""
    async with in_transaction() as conn:
        rows = await (
            model.filter(**filters, **{f"{due_field}__lte": now})
            .using_db(conn)
            .order_by(due_field)
            .limit(limit)
            .select_for_update(skip_locked=True)
        )
        if rows:
            await model.filter(id__in=[r.id for r in rows]).using_db(conn).update(
                **{due_field: now + timedelta(seconds=lease)}
            )
    return list(rows)


class PaymentWorker:
    def __init__(
        self,
        *,
        settings: PaymentSettings,
        channels: dict[str, PaymentChannel],
        agencies: dict[str, BillingAgency],
        clock: Clock,
        refunds: RefundDesk,
        wechat: WeChatMiniProgram | None = None,
        receipt_template: str = "",
        housekeeping: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.channels = channels
        self.agencies = agencies
        self.clock = clock
        self.refunds = refunds
        self.wechat = wechat
        self.receipt_template = receipt_template
        self.housekeeping = housekeeping
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._database_down = False
        self.figures = {"settled": 0, "settle_retries": 0, "polled": 0, "closed": 0}

    # ------------------------------------------------------------------ lifecycle
    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run_forever(), name="payment-worker")

    async def stop(self, *, grace: float = 5.0) -> None:
        """Let the round in progress finish (up to `grace` seconds), then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=grace)
            if not done:
                # Whatever it had claimed comes back to the workers when its lease runs out.
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run_forever(self) -> None:
        while not self._stopping:
            try:
                busy = await self.run_once()
                if self.housekeeping is not None:
                    await self.housekeeping()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad round must not end the worker
                self._report_failed_round(exc)
                busy = False
            else:
                self._database_down = False
            if not busy:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.settings.worker_interval)
                except TimeoutError:
                    pass

    def _report_failed_round(self, error: Exception) -> None:
        """A bug gets its traceback every time; a database outage one warning while it lasts."""
        down = outage_in(error) is not None
        if not down:
            log.error("payment worker round failed", exc_info=error)
        elif not self._database_down:
            log.warning("payment worker: the database did not answer; trying again each round")
        self._database_down = down

    async def run_once(self) -> bool:
        """One round of every job kind; True when something was due (so go again at once)."""
        worked = await self.deliver_settlements()
        worked += await self.deliver_reversals()
        worked += await self.poll_orders()
        worked += await self.poll_refunds()
        worked += await self.send_receipt_messages()
        return worked > 0

    # ------------------------------------------------------------------ settlement
    async def deliver_settlements(self) -> int:
        now = self.clock.now()
        jobs = await claim(SettlementOutbox, due_field="next_attempt_at", filters={"status": "pending"},
                           now=now, lease=self.settings.claim_lease, limit=self.settings.worker_batch)
        if jobs:
            await asyncio.gather(*(self._deliver(job) for job in jobs))
        return len(jobs)

    async def _deliver(self, job: SettlementOutbox) -> None:
        order = await PaymentOrder.get(id=job.order_id)
        agency = self.agencies[order.agency]
        try:
            receipt = await agency.settle(
                settlement_id=job.settlement_id, bill_ref=order.bill_ref, amount=order.paid_amount or order.amount,
                paid_at=order.paid_at or self.clock.now(), channel=order.channel,
                channel_txn_id=order.channel_txn_id or "",
            )
        except AgencyError as exc:
            await self._settlement_failed(job, order, exc)
            return
        now = self.clock.now()
        async with in_transaction() as conn:
            delivered = await SettlementOutbox.filter(id=job.id, status="pending").using_db(conn).update(
                status="delivered", delivered_at=now, attempts=job.attempts + 1, last_error=None
            )
            if delivered != 1:
                return
            await try_advance(order, "settlement_accepted", conn=conn, now=now, changes={"settled_at": now})
            await PaymentReceipt.create(order_id=order.id, receipt_no=receipt.receipt_no, agency=order.agency,
                                        data=receipt.receipt, using_db=conn)
        self.figures["settled"] += 1

    async def _settlement_failed(self, job: SettlementOutbox, order: PaymentOrder, exc: AgencyError) -> None:
        now = self.clock.now()
        attempts = job.attempts + 1
        if exc.retryable:
            # Retries go on (the last delay repeating) well past 24 hours; overdue ones are listed for operators.
            self.figures["settle_retries"] += 1
            await SettlementOutbox.filter(id=job.id, status="pending").update(
                attempts=attempts, last_error=exc.code[:255],
                next_attempt_at=now + backoff(self.settings.settlement_retry_delays, attempts - 1),
            )
            return
        log.warning("agency refused settlement", extra={"order_no": order.order_no, "code": exc.code})
        async with in_transaction() as conn:
            refused = await SettlementOutbox.filter(id=job.id, status="pending").using_db(conn).update(
                status="refused", attempts=attempts, last_error=exc.code[:255]
            )
            if refused != 1 or exc.code not in DOUBLE_PAYMENT_CODES:
                return
            # Someone else's payment already settled this bill: give this payer their money back.
            fresh = await PaymentOrder.filter(id=order.id).using_db(conn).get()
            refund = await open_refund(fresh, conn=conn, now=now, amount=(fresh.paid_amount or 0) - fresh.refunded_amount,
                                       reason="重复缴费退款", kind="double_payment")
        await self.refunds.submit(refund, order_no=order.order_no, total=order.paid_amount or order.amount,
                                  channel=order.channel)

    # ------------------------------------------------------------------ reversals before refunds
    async def deliver_reversals(self) -> int:
        jobs = await claim(SettlementReversal, due_field="next_attempt_at", filters={"status": "pending"},
                           now=self.clock.now(), lease=self.settings.claim_lease, limit=self.settings.worker_batch)
        if jobs:
            await asyncio.gather(*(self.refunds.reverse_then_refund(job) for job in jobs))
        return len(jobs)

    # ------------------------------------------------------------------ orders without news
    async def poll_orders(self) -> int:
        now = self.clock.now()
        orders = await claim(
            PaymentOrder, due_field="next_poll_at",
            filters={"status__in": [OrderStatus.CREATED.value, OrderStatus.PAYING.value]},
            now=now, lease=self.settings.claim_lease, limit=self.settings.worker_batch,
        )
        if orders:
            # Each query costs RSA work on both ends: a few at a time keeps the service responsive.
            gate = asyncio.Semaphore(POLL_CONCURRENCY)

            async def poll(order: PaymentOrder) -> None:
                async with gate:
                    await self._poll(order)

            await asyncio.gather(*(poll(order) for order in orders))
        return len(orders)

    async def _poll(self, order: PaymentOrder) -> None:
        channel = self.channels[order.channel]
        self.figures["polled"] += 1
        try:
            txn = await channel.query(order.order_no)
            state = txn.state
        except ChannelError as exc:
            if exc.code not in ("order_not_found", "not_found"):
                await self._poll_later(order)
                return
            txn, state = None, "unpaid"
            if order.status == OrderStatus.CREATED.value:
                # Our create never reached the channel: nothing can be paid, free the bill now.
                await self._close(order, channel_state="missing")
                return
        now = self.clock.now()
        if state == "paid" and txn is not None:
            if txn.amount != order.amount:
                log.error("channel reports a different amount", extra={"order_no": order.order_no})
                await self._poll_later(order)
                return
            async with in_transaction() as conn:
                changed = await confirm_payment(order, conn=conn, now=now, amount=txn.amount,
                                                channel_txn_id=txn.channel_txn_id, paid_at=txn.paid_at, source="query")
            if changed:
                self.wake()
            return
        if state == "refunded":
            # Paid and refunded at the channel without us: for operators (and reconciliation), not to settle.
            log.error("channel reports a refund we never asked for", extra={"order_no": order.order_no})
            await self._poll_later(order)
            return
        if state in ("closed", "failed") or now >= order.expires_at:
            await self._close(order, channel_state=state)
            return
        await self._poll_later(order)

    async def _close(self, order: PaymentOrder, *, channel_state: str) -> None:
        """Close only once the channel says unpaid, closing it there first (GOV.UK's expiry rule)."""
        channel = self.channels[order.channel]
        if channel_state == "unpaid":
            try:
                await channel.close(order.order_no)
            except ChannelOrderAlreadyPaid:
                await PaymentOrder.filter(id=order.id).update(next_poll_at=self.clock.now())
                return
            except ChannelError as exc:
                if exc.code not in CLOSED_AT_CHANNEL:
                    await self._poll_later(order)
                    return
        event = "payment_failed" if channel_state == "failed" and order.status == "paying" else "expired"
        async with in_transaction() as conn:
            if await try_advance(order, event, conn=conn, now=self.clock.now(),
                                 changes={"live_bill_key": None, "next_poll_at": None, "closed_at": self.clock.now()},
                                 detail={"channel_state": channel_state}):
                self.figures["closed"] += 1

    async def _poll_later(self, order: PaymentOrder) -> None:
        now = self.clock.now()
        delay = backoff(self.settings.poll_delays, order.poll_attempts)
        due = now + delay
        if order.expires_at > now:
            due = min(due, order.expires_at)
        await PaymentOrder.filter(id=order.id, status=order.status).update(
            next_poll_at=due, poll_attempts=order.poll_attempts + 1
        )

    # ------------------------------------------------------------------ refunds in flight
    async def poll_refunds(self) -> int:
        refunds = await claim(PaymentRefund, due_field="next_poll_at", filters={"status": "processing"},
                              now=self.clock.now(), lease=self.settings.claim_lease, limit=self.settings.worker_batch)
        for refund in refunds:
            await self.refunds.poll(refund)
        return len(refunds)

    # ------------------------------------------------------------------ receipts to payers
    async def send_receipt_messages(self) -> int:
        if self.wechat is None or not self.receipt_template:
            return 0
        pending = await PaymentReceipt.filter(message_sent_at=None).prefetch_related("order").limit(self.settings.worker_batch)
        sent = 0
        for receipt in pending:
            claimed = await PaymentReceipt.filter(id=receipt.id, message_sent_at=None).update(message_sent_at=self.clock.now())
            if claimed != 1:
                continue
            order = receipt.order
            if not order.payer_openid:
                continue
            try:
                await self.wechat.send_subscribe_message(
                    openid=order.payer_openid, template_id=self.receipt_template,
                    data={
                        "thing1": order.description[:20],
                        "amount2": f"{order.amount // 100}.{order.amount % 100:02d}元",
                        "time3": (order.paid_at or self.clock.now()).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
                        "character_string4": receipt.receipt_no,
                    },
                    page=f"pages/payment/payment?order_no={order.order_no}",
                )
                sent += 1
            except Exception:  # a courtesy the payer may not have subscribed to; the receipt stays in the API
                log.info("receipt message not sent", extra={"order_no": order.order_no})
        return sent
