"""Payments relay: fines, taxes and fees paid through WeChat Pay or Alipay, settled once with the agency.

Boundary: this package owns orders, notifies, settlement, reversals, refunds and reconciliation. It reaches
channels and agencies only through the PaymentChannel and BillingAgency ports, and knows
nothing of HTTP. Handlers call PaymentService; the worker runs in the service or as
`python -m app worker`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from app.config import Settings
from app.context import Adapters
from app.errors import UpstreamRejected
from app.ports import AgencyError, Cache, ChannelError, Clock
from app.services.payments.errors import AgencyUnavailable, ChannelRefused, ChannelUnavailable
from app.services.payments.ledger import local_iso
from app.services.payments.notify import NotifyDesk
from app.services.payments.orders import OrderDesk, PaymentRequest
from app.services.payments.reconcile import Reconciler
from app.services.payments.refunds import RefundDesk
from app.services.payments.reversals import ReversalDesk
from app.services.payments.worker import PaymentWorker
from models.identity import User
from models.payments import PaymentOrder, SettlementOutbox

__all__ = ["PaymentRequest", "PaymentService", "wire"]


class PaymentService:
    """The payment use-cases behind one object, built once per process from settings and adapters."""

    def __init__(self, settings: Settings, adapters: Adapters) -> None:
        assert adapters.clock is not None and adapters.cache is not None
        payments = settings.payments
        self.clock: Clock = adapters.clock
        self.cache: Cache = adapters.cache
        self.settings = payments
        self.reversals = ReversalDesk(agencies=adapters.agencies, clock=adapters.clock,
                                      retry_delays=payments.settlement_retry_delays)
        self.refunds = RefundDesk(channels=adapters.channels, clock=adapters.clock, reversals=self.reversals)
        self.reconciler = Reconciler(channels=adapters.channels, agencies=adapters.agencies, clock=adapters.clock)
        self.worker = PaymentWorker(
            settings=payments, channels=adapters.channels, agencies=adapters.agencies, clock=adapters.clock,
            refunds=self.refunds, wechat=adapters.wechat,
            receipt_template=settings.wechat.template_payment_receipt, housekeeping=self.housekeeping,
        )
        self.orders = OrderDesk(settings=payments, channels=adapters.channels, agencies=adapters.agencies,
                                clock=adapters.clock, wake_worker=self.worker.wake)
        self.notifies = NotifyDesk(channels=adapters.channels, clock=adapters.clock, wake_worker=self.worker.wake)
        self._last_housekeeping = 0.0

    # ------------------------------------------------------------------ payer-facing
    async def find_fine(self, *, decision_no: str, party: str) -> dict[str, Any]:
        return await self.orders.find_fine(decision_no=decision_no, party=party)

    async def find_notice(self, *, notice_code: str) -> dict[str, Any]:
        return await self.orders.find_notice(notice_code=notice_code)

    async def create_payment(self, *, user_id: int, idempotency_key: str | None,
                             request: PaymentRequest) -> tuple[int, dict[str, Any]]:
        user = await User.get_or_none(id=user_id).only("id", "openid")
        return await self.orders.create_payment(
            user_id=user_id, payer_openid=user.openid if user is not None else None,
            idempotency_key=idempotency_key, request=request,
        )

    async def get_payment(self, *, user_id: int, order_no: str) -> dict[str, Any]:
        return await self.orders.get_payment(user_id=user_id, order_no=order_no)

    async def list_payments(self, *, user_id: int) -> list[dict[str, Any]]:
        return await self.orders.list_payments(user_id=user_id)

    async def handle_notify(self, channel: str, headers: Any, body: bytes) -> Any:
        return await self.notifies.handle(channel, headers, body)

    # ------------------------------------------------------------------ operators
    async def admin_payment(self, *, order_no: str) -> dict[str, Any]:
        view = await self.orders.admin_view(order_no=order_no)
        return view | {"refunds": await self.refunds.list_for_order(order_no)}

    async def search_orders(
        self, *, status: str | None, channel: str | None, bill_ref: str | None, day: date | None,
        limit: int, offset: int,
    ) -> dict[str, Any]:
        return await self.orders.search_orders(
            status=status, channel=channel, bill_ref=bill_ref, day=day, limit=limit, offset=offset
        )

    async def refund(self, *, order_no: str, amount: int, reason: str, operator_id: int) -> dict[str, Any]:
        refund = await self.refunds.request_refund(order_no=order_no, amount=amount, reason=reason,
                                                   operator_id=operator_id)
        if refund["status"] == "awaiting_reversal":
            self.worker.wake()  # the agency is asked by the worker, like a settlement
        return refund

    async def retry_reversal(self, *, order_no: str, operator_id: int) -> dict[str, Any]:
        reversal = await self.reversals.retry_now(order_no=order_no, operator_id=operator_id)
        self.worker.wake()
        return reversal

    async def abandon_reversal(self, *, order_no: str, operator_id: int, reason: str) -> dict[str, Any]:
        return await self.reversals.abandon(order_no=order_no, operator_id=operator_id, reason=reason)

    async def list_refunds(self, *, order_no: str) -> list[dict[str, Any]]:
        return await self.refunds.list_for_order(order_no)

    async def reconcile(self, *, day: date) -> dict[str, Any]:
        """Nothing is stored unless every bill and book came in: the operator can run it again."""
        try:
            return await self.reconciler.run(day)
        except ChannelError as exc:
            if exc.retryable:
                raise ChannelUnavailable() from exc
            raise ChannelRefused(f"The payment channel refused the bill download ({exc.code}).") from exc
        except AgencyError as exc:
            if exc.retryable:
                raise AgencyUnavailable() from exc
            raise UpstreamRejected(f"The billing agency refused the settlement list ({exc.code}).") from exc

    async def list_reconciliations(self, *, day: date | None = None) -> list[dict[str, Any]]:
        return await self.reconciler.list_runs(day=day)

    async def show_reconciliation(self, *, run_id: int) -> dict[str, Any]:
        return await self.reconciler.show_run(run_id)

    async def resolve_reconciliation_item(self, *, item_id: int) -> dict[str, Any]:
        return await self.reconciler.resolve_item(item_id)

    async def overdue_settlements(self, *, older_than_seconds: int = 3600) -> list[dict[str, Any]]:
        """Paid orders the agency has not confirmed within the window: the alert list."""
        cutoff = self.clock.now() - timedelta(seconds=older_than_seconds)
        rows = await SettlementOutbox.filter(status__in=["pending", "refused"], created_at__lte=cutoff).prefetch_related("order")
        return [
            {"order_no": row.order.order_no, "settlement_id": row.settlement_id, "status": row.status,
             "attempts": row.attempts, "last_error": row.last_error, "since": local_iso(row.created_at)}
            for row in rows
        ]

    async def overdue_reversals(self, *, older_than_seconds: int = 3600) -> list[dict[str, Any]]:
        """Reversals the agency has not answered within the window: their refunds are waiting."""
        return await self.reversals.overdue(older_than=timedelta(seconds=older_than_seconds))

    async def order_status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for status in await PaymentOrder.all().values_list("status", flat=True):
            counts[str(status)] = counts.get(str(status), 0) + 1
        return counts

    # ------------------------------------------------------------------ background
    async def housekeeping(self) -> None:
        """Once a minute: forget idempotency keys past their 24 h, and run the daily reconciliation."""
        now = self.clock.now()
        if now.timestamp() - self._last_housekeeping < 60:
            return
        self._last_housekeeping = now.timestamp()
        await self.orders.sweep_idempotency_keys(now)
        await self.daily_reconciliation(now)

    async def daily_reconciliation(self, now: datetime) -> None:
        """Reconcile yesterday once the configured hour has passed; one worker of many does it."""
        day = self.reconciler.day_due(now, at=self.settings.reconcile_at)
        if day is None or await self.reconciler.has_run(day):
            return
        if await self.cache.set(f"payments:reconcile:{day.isoformat()}", "1", ttl=3600, only_if_absent=True):
            await self.reconciler.run(day)


def wire(services: Any, settings: Settings, adapters: Adapters) -> None:
    service = PaymentService(settings, adapters)
    services.payments = service
    if settings.payments.in_process_worker:
        services.background.append(service.worker)
