"""Helpers the payment tests share: bills in the agency sandboxes, paying, waiting for states."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from models.payments import SettlementOutbox
from tests.conftest import LiveServer, Session


class ChannelWithCalls:
    """A channel adapter with some of its calls replaced, for tests that time a channel's answer."""

    def __init__(self, channel: Any, **calls: Any) -> None:
        self._channel = channel
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        return self._calls.get(name) or getattr(self._channel, name)


def random_plate() -> str:
    return "粤B" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(5))


def days_ago(days: int) -> str:
    # Agencies count days in Beijing time, which is a day ahead of UTC from 16:00 UTC on.
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    return (today - timedelta(days=days)).isoformat()


async def make_fine(api: httpx.AsyncClient, *, fine: int = 20_000, overdue_days: int = 0, party_name: str = "李四") -> dict[str, Any]:
    body: dict[str, Any] = {"plate": random_plate(), "party_name": party_name, "fine": fine}
    if overdue_days:
        body["due_date"] = days_ago(overdue_days)
    response = await api.post("/sandbox/traffic/fines", json=body)
    assert response.status_code == 201, response.text
    return response.json() | {"plate": body["plate"]}


async def make_notice(api: httpx.AsyncClient, *, kind: str = "fee", amounts: tuple[int, ...] = (5_000,),
                      overdue_days: int = 0) -> dict[str, Any]:
    items = [{"name": f"项目{i}", "amount": a} for i, a in enumerate(amounts, start=1)]
    body: dict[str, Any] = {"kind": kind, "payer_name": "某某有限公司", "items": items}
    if overdue_days:
        body["due_date"] = days_ago(overdue_days)
    response = await api.post("/sandbox/tax/notices", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def open_payment(api: httpx.AsyncClient, headers: dict[str, str], fine: dict[str, Any], *,
                       channel: str = "wechatpay", key: str | None = None, **extra: Any) -> httpx.Response:
    body = {"bill_type": "fine", "bill_ref": fine["decision_no"], "plate": fine["plate"], "channel": channel, **extra}
    return await api.post("/api/v1/payments", json=body,
                          headers=headers | {"Idempotency-Key": key or uuid.uuid4().hex})


async def pay_in_sandbox(api: httpx.AsyncClient, order_no: str, *, channel: str = "wechatpay") -> dict[str, Any]:
    response = await api.post(f"/sandbox/{channel}/confirm", json={"order_no": order_no, "outcome": "pay"})
    assert response.status_code == 200, response.text
    return response.json()


async def wait_for_status(api: httpx.AsyncClient, headers: dict[str, str], order_no: str, wanted: str | set[str],
                          *, within: float = 20.0) -> dict[str, Any]:
    wanted_set = {wanted} if isinstance(wanted, str) else wanted
    deadline = asyncio.get_running_loop().time() + within
    last: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        response = await api.get(f"/api/v1/payments/{order_no}", headers=headers)
        assert response.status_code == 200, response.text
        last = response.json()
        if last["status"] in wanted_set:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"order {order_no} stayed {last.get('status')}, wanted {wanted_set}")


async def settled_order(api: httpx.AsyncClient, resident: Session, *, fine: int = 10_000, channel: str = "wechatpay",
                        overdue_days: int = 0) -> dict[str, Any]:
    """A fine paid and booked by the traffic police (status `settled`)."""
    bill = await make_fine(api, fine=fine, overdue_days=overdue_days)
    order = (await open_payment(api, resident.headers, bill, channel=channel)).json()
    await pay_in_sandbox(api, order["order_no"], channel=channel)
    return await wait_for_status(api, resident.headers, order["order_no"], "settled") | {"fine": bill}


async def paid_unsettled_order(api: httpx.AsyncClient, live: LiveServer, resident: Session, *, fine: int = 10_000,
                               channel: str = "wechatpay") -> dict[str, Any]:
    """A payment the agency would not book: the fine changed after the order was opened, so the
    settlement is refused for its amount and the money stays ours alone (status `paid`)."""
    bill = await make_fine(api, fine=fine)
    order = (await open_payment(api, resident.headers, bill, channel=channel)).json()
    live.sandbox("traffic").fines[bill["decision_no"]].fine = fine + 100
    await pay_in_sandbox(api, order["order_no"], channel=channel)
    for _ in range(100):
        outbox = await SettlementOutbox.get_or_none(order__order_no=order["order_no"])
        if outbox is not None and outbox.status == "refused":
            break
        await asyncio.sleep(0.1)
    assert outbox is not None and outbox.last_error == "settlement_amount_mismatch"
    return await wait_for_status(api, resident.headers, order["order_no"], "paid")
