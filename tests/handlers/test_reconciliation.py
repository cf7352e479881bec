"""Reconciliation of the channel bill and the agency books against our orders."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from models.payments import PaymentOrder, ReconciliationRun
from tests.conftest import LiveServer, Session
from tests.test_payment_support import make_fine, open_payment, pay_in_sandbox, wait_for_status

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]


async def test_reconciliation_reports_each_injected_mismatch(api: httpx.AsyncClient, resident: Session,
                                                             operator: Session) -> None:
    orders = []
    for _ in range(4):
        bill = await make_fine(api, fine=3_000)
        order = (await open_payment(api, resident.headers, bill)).json()
        await pay_in_sandbox(api, order["order_no"])
        orders.append(await wait_for_status(api, resident.headers, order["order_no"], "settled"))
    clean, missing, changed, doubled = (o["order_no"] for o in orders)
    # Paid at the channel, but its notify is lost and no poll has run yet: we still think it unpaid.
    bill = await make_fine(api, fine=3_000)
    unpaid_locally = (await open_payment(api, resident.headers, bill)).json()["order_no"]
    await PaymentOrder.filter(order_no=unpaid_locally).update(next_poll_at=datetime.now(UTC) + timedelta(hours=1))
    await api.post("/sandbox/wechatpay/faults", json={"notifies": [{"kind": "drop", "order_no": unpaid_locally}]})
    await pay_in_sandbox(api, unpaid_locally)
    await api.post("/sandbox/wechatpay/faults", json={"bill": {
        "missing": [missing], "amount_diff": {changed: 7}, "duplicate": [doubled], "extra": 2}})
    try:
        today = datetime.now(SHANGHAI).date().isoformat()
        response = await api.post("/api/v1/admin/reconciliations", json={"date": today}, headers=operator.headers)
    finally:
        await api.delete("/sandbox/wechatpay/faults")
    assert response.status_code == 201, response.text
    run = response.json()
    mine = {(item["kind"], item["order_no"]) for item in run["items"] if item["order_no"] in {
        clean, missing, changed, doubled, unpaid_locally}}
    assert mine == {("missing_in_channel", missing), ("amount_mismatch", changed), ("paid_twice", doubled),
                    ("status_mismatch", unpaid_locally)}
    twice = next(i for i in run["items"] if i["kind"] == "paid_twice" and i["order_no"] == doubled)
    assert twice["proposed_refund_amount"] == 3_000
    ghosts = [i for i in run["items"] if i["kind"] == "missing_locally" and i["order_no"].startswith("X")]
    assert len(ghosts) == 2

    listed = await api.get("/api/v1/admin/reconciliations", params={"date": today}, headers=operator.headers)
    assert any(r["id"] == run["id"] for r in listed.json()["runs"])
    shown = await api.get(f"/api/v1/admin/reconciliations/{run['id']}", headers=operator.headers)
    assert shown.status_code == 200 and len(shown.json()["items"]) == len(run["items"])
    resolved = await api.post(f"/api/v1/admin/reconciliation-items/{twice['id']}/resolve", headers=operator.headers)
    assert resolved.status_code == 200 and resolved.json()["resolved_at"]
    assert (await api.get("/api/v1/admin/reconciliations/999999999", headers=operator.headers)).status_code == 404


async def test_reconcile_command_prints_the_run(api: httpx.AsyncClient, live: LiveServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")} | {
        "APP_DATABASE_URL": live.settings.database.url,
        "APP_SERVICE_PORT": str(live.settings.service.port),
        "APP_SERVICE_LOG_LEVEL": "ERROR",
    }
    if live.settings.redis.url:
        env["APP_REDIS_URL"] = live.settings.redis.url
    day = "2020-01-01"  # a day without payments: a clean run
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "reconcile", "--date", day, cwd=str(ROOT),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    run = json.loads(out)
    assert run["day"] == day and run["status"] == "finished" and run["items"] == []
    assert await ReconciliationRun.filter(id=run["id"]).exists()


async def test_daily_job_reconciles_yesterday_once(live: LiveServer) -> None:
    payments = live.app.ctx.services.payments
    before_hour = datetime(2021, 3, 2, 10, 0, tzinfo=SHANGHAI)
    await payments.daily_reconciliation(before_hour)
    assert not await ReconciliationRun.filter(day=date(2021, 3, 1)).exists()
    after_hour = datetime(2021, 3, 2, 11, 0, tzinfo=SHANGHAI)
    await payments.daily_reconciliation(after_hour)
    await payments.daily_reconciliation(after_hour)
    assert await ReconciliationRun.filter(day=date(2021, 3, 1)).count() == 1

