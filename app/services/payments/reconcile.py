"""Daily reconciliation: each channel's bill and each agency's books against our orders.

Mismatch kinds reported to operators:
- missing_in_channel: we hold a payment the channel's bill does not list;
- missing_locally: the bill lists a payment for an order we do not know;
- status_mismatch: the bill lists a payment for an order we think unpaid;
- amount_mismatch: the bill's amount differs from what we recorded;
- paid_twice: one bill paid by more than one payment (a refund is proposed for the extras);
- missing_at_agency / agency_only: our settlements and the agency's disagree;
- reversal_mismatch: one side holds a settlement as reversed (冲正) and the other does not.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from app.ports import BillingAgency, ChannelBillRow, Clock, PaymentChannel
from app.services.payments.errors import ReconciliationItemNotFound
from app.services.payments.ledger import SHANGHAI, local_iso
from app.services.payments.states import MONEY_HELD_STATES, OrderStatus
from models.payments import (
    PaymentOrder,
    ReconciliationItem,
    ReconciliationRun,
    SettlementOutbox,
    SettlementReversal,
)

log = logging.getLogger("app.payments.reconcile")

PAID_LOCALLY = {s.value for s in MONEY_HELD_STATES} | {OrderStatus.REFUNDED.value}


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """A Beijing calendar day as UTC bounds (SQLite compares stored times as UTC text)."""
    start = datetime.combine(day, time.min, tzinfo=SHANGHAI).astimezone(UTC)
    return start, start + timedelta(days=1)


def item_view(item: ReconciliationItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "channel": item.channel,
        "order_no": item.order_no,
        "bill_key": item.bill_key,
        "expected_amount": item.expected_amount,
        "actual_amount": item.actual_amount,
        "detail": item.detail,
        "proposed_refund_amount": item.proposed_refund_amount,
        "resolved_at": local_iso(item.resolved_at),
    }


def run_view(run: ReconciliationRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "day": run.day.isoformat(),
        "status": run.status,
        "summary": run.summary,
        "started_at": local_iso(run.started_at),
        "finished_at": local_iso(run.finished_at),
    }


class Reconciler:
    def __init__(self, *, channels: dict[str, PaymentChannel], agencies: dict[str, BillingAgency], clock: Clock):
        self.channels = channels
        self.agencies = agencies
        self.clock = clock

    async def run(self, day: date) -> dict[str, Any]:
        """Download, compare, store the run and its items; returns the run with its items."""
        started = self.clock.now()
        bills = {name: await channel.download_bill(day) for name, channel in sorted(self.channels.items())}
        books = {name: await agency.settlements_on(day) for name, agency in sorted(self.agencies.items())}
        start, end = day_bounds(day)
        paid_today = await PaymentOrder.filter(paid_at__gte=start, paid_at__lt=end, status__in=PAID_LOCALLY)
        listed = {row.order_no for rows in bills.values() for row in rows}
        known = {o.order_no: o for o in await PaymentOrder.filter(order_no__in=list(listed))} if listed else {}
        orders = {o.order_no: o for o in paid_today} | known
        items = self.compare(bills=bills, orders=orders, paid_today=paid_today)
        items += await self.compare_agencies(books=books, paid_today=paid_today)
        now = self.clock.now()
        summary: dict[str, int] = defaultdict(int)
        for item in items:
            summary[item["kind"]] += 1
        async with in_transaction() as conn:
            run = await ReconciliationRun.create(day=day, status="finished", started_at=started, finished_at=now,
                                                 summary={"mismatches": dict(summary),
                                                          "bill_rows": sum(len(r) for r in bills.values()),
                                                          "orders": len(paid_today)},
                                                 using_db=conn)
            for item in items:
                await ReconciliationItem.create(run_id=run.id, **item, using_db=conn)
        log.info("reconciliation finished", extra={"day": day.isoformat(), "mismatches": len(items)})
        return await self.show_run(run.id)

    @staticmethod
    def compare(*, bills: dict[str, list[ChannelBillRow]], orders: dict[str, PaymentOrder],
                paid_today: list[PaymentOrder]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        payments_by_bill: dict[str, list[tuple[str, ChannelBillRow]]] = defaultdict(list)
        seen: set[tuple[str, str]] = set()
        for channel, rows in bills.items():
            for row in rows:
                if row.kind != "payment":
                    continue
                order = orders.get(row.order_no)
                base = {"channel": channel, "order_no": row.order_no, "actual_amount": row.amount}
                if order is None or order.channel != channel:
                    items.append({**base, "kind": "missing_locally",
                                  "detail": {"channel_txn_id": row.channel_txn_id}})
                    continue
                payments_by_bill[order.bill_key].append((channel, row))
                if (channel, row.order_no) in seen:
                    continue  # a repeated row is a double payment, reported below
                seen.add((channel, row.order_no))
                base |= {"bill_key": order.bill_key, "expected_amount": order.paid_amount or order.amount}
                if order.status not in PAID_LOCALLY:
                    items.append({**base, "kind": "status_mismatch", "detail": {"local_status": order.status}})
                elif row.amount != (order.paid_amount or order.amount):
                    items.append({**base, "kind": "amount_mismatch", "detail": {}})
        for order in paid_today:
            if (order.channel, order.order_no) not in seen and order.channel in bills:
                items.append({"kind": "missing_in_channel", "channel": order.channel, "order_no": order.order_no,
                              "bill_key": order.bill_key, "expected_amount": order.paid_amount, "detail": {}})
        for key, payments in payments_by_bill.items():
            if len(payments) < 2:
                continue
            ordered = sorted(payments, key=lambda p: (p[1].occurred_at, p[1].channel_txn_id))
            keep_channel, keep = ordered[0]
            for channel, row in ordered[1:]:
                order = orders[row.order_no]
                refunded = order.status == OrderStatus.REFUNDED.value or order.refunded_amount >= row.amount
                items.append({
                    "kind": "paid_twice", "channel": channel, "order_no": row.order_no, "bill_key": key,
                    "expected_amount": keep.amount, "actual_amount": row.amount,
                    "detail": {"kept_order_no": keep.order_no, "kept_channel": keep_channel,
                               "channel_txn_id": row.channel_txn_id, "already_refunded": refunded},
                    "proposed_refund_amount": None if refunded else row.amount,
                })
        return items

    async def compare_agencies(self, *, books: dict[str, Any], paid_today: list[PaymentOrder]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        settled = {o.id: o for o in paid_today if o.settled_at is not None}
        ours = {s.settlement_id: settled[s.order_id]
                for s in await SettlementOutbox.filter(order_id__in=list(settled), status="delivered")} if settled else {}
        reversed_here = set(await SettlementReversal.filter(order_id__in=list(settled), status="confirmed")
                            .values_list("settlement_id", flat=True)) if settled else set()
        for agency, records in books.items():
            theirs = {r.settlement_id: r for r in records}
            for settlement_id, order in ours.items():
                if order.agency == agency and settlement_id not in theirs:
                    items.append({"kind": "missing_at_agency", "channel": order.channel, "order_no": order.order_no,
                                  "bill_key": order.bill_key, "expected_amount": order.paid_amount,
                                  "detail": {"agency": agency, "settlement_id": settlement_id}})
            for settlement_id, record in theirs.items():
                mine = ours.get(settlement_id)
                if mine is None:
                    known = await SettlementOutbox.filter(settlement_id=settlement_id, status="delivered").exists()
                    if not known:
                        items.append({"kind": "agency_only", "channel": record.channel, "order_no": None,
                                      "bill_key": f"{agency}:{record.bill_ref}", "actual_amount": record.amount,
                                      "detail": {"agency": agency, "settlement_id": settlement_id}})
                    continue
                if record.amount != mine.paid_amount:
                    items.append({"kind": "amount_mismatch", "channel": mine.channel, "order_no": mine.order_no,
                                  "bill_key": mine.bill_key, "expected_amount": mine.paid_amount,
                                  "actual_amount": record.amount, "detail": {"agency": agency}})
                if (record.reversal_id is not None) != (settlement_id in reversed_here):
                    # Also while our reversal is still being asked and the agency already made it.
                    items.append({"kind": "reversal_mismatch", "channel": mine.channel, "order_no": mine.order_no,
                                  "bill_key": mine.bill_key, "expected_amount": mine.paid_amount,
                                  "actual_amount": record.amount,
                                  "detail": {"agency": agency, "settlement_id": settlement_id,
                                             "reversed_at_agency": record.reversal_id is not None,
                                             "reversed_here": settlement_id in reversed_here}})
        return items

    async def show_run(self, run_id: int) -> dict[str, Any]:
        run = await ReconciliationRun.get_or_none(id=run_id)
        if run is None:
            raise ReconciliationItemNotFound("No such reconciliation run.")
        items = await ReconciliationItem.filter(run_id=run.id).order_by("id")
        return {**run_view(run), "items": [item_view(i) for i in items]}

    async def list_runs(self, *, day: date | None = None, limit: int = 30) -> list[dict[str, Any]]:
        query = ReconciliationRun.all().order_by("-id").limit(limit)
        if day is not None:
            query = query.filter(day=day)
        return [run_view(r) for r in await query]

    async def resolve_item(self, item_id: int) -> dict[str, Any]:
        updated = await ReconciliationItem.filter(id=item_id, resolved_at=None).update(resolved_at=self.clock.now())
        item = await ReconciliationItem.get_or_none(id=item_id)
        if item is None:
            raise ReconciliationItemNotFound()
        return item_view(item) | {"newly_resolved": updated == 1}

    @staticmethod
    def day_due(now: datetime, *, at: str) -> date | None:
        """Yesterday (Asia/Shanghai) once the hour `at` has passed today, else None."""
        local = now.astimezone(SHANGHAI)
        hour, minute = (int(part) for part in at.split(":"))
        if (local.hour, local.minute) < (hour, minute):
            return None
        return local.date() - timedelta(days=1)

    @staticmethod
    async def has_run(day: date) -> bool:
        return await ReconciliationRun.filter(day=day, status="finished").exists()
