"""The agency adapters against their sandboxes: signed requests, signed answers, signed receipts."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.adapters.http import HttpClient
from app.adapters.tax_bureau import (
    AUTH_SCHEME,
    SignedAgencyClient,
    TaxBureauAgency,
    hmac_signature,
    receipt_signature_valid,
    request_message,
)
from app.adapters.traffic_police import TrafficPoliceAgency, build_traffic_police
from app.ports import AgencyError
from tests.conftest import LiveServer
from tests.test_payment_support import make_fine, make_notice

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    """The adapters' own HTTP client, as the service builds it."""
    client = HttpClient()
    yield client
    await client.close()


def traffic(live: LiveServer, http: HttpClient, *, secret: str | None = None) -> TrafficPoliceAgency:
    payments = live.settings.payments
    return TrafficPoliceAgency(SignedAgencyClient(
        http=http, base_url=live.settings.sandbox_base("traffic"), client_id=payments.traffic_client_id,
        secret=secret or payments.traffic_secret.reveal(), timeout=2.0,
    ))


async def test_lookup_needs_the_second_factor(api: httpx.AsyncClient, live: LiveServer, http: HttpClient) -> None:
    fine = await make_fine(api, fine=5_000)
    agency = build_traffic_police(live.settings, http)
    bill = await agency.lookup(fine["decision_no"], second_factor=fine["plate"])
    assert bill.amount_due == 5_000 and bill.payer_name_masked == "李*"
    for factor in (None, "粤A00000", "王五"):
        with pytest.raises(AgencyError) as caught:
            await agency.lookup(fine["decision_no"], second_factor=factor)
        assert caught.value.code == "bill_not_found"


async def test_wrong_secret_is_refused(api: httpx.AsyncClient, live: LiveServer, http: HttpClient) -> None:
    fine = await make_fine(api)
    with pytest.raises(AgencyError) as caught:
        await traffic(live, http, secret="not-the-secret").lookup(fine["decision_no"], second_factor=fine["plate"])
    # The agency answers 401 signed with the real secret, which this client cannot verify.
    assert caught.value.code == "agency_bad_signature"


async def raw_signed_get(api: httpx.AsyncClient, live: LiveServer, path: str, *, timestamp: int, nonce: str) -> httpx.Response:
    payments = live.settings.payments
    target = "/sandbox/traffic" + path
    signature = hmac_signature(payments.traffic_secret.reveal(), request_message("GET", target, str(timestamp), nonce, b""))
    header = (f'{AUTH_SCHEME} client_id="{payments.traffic_client_id}",timestamp="{timestamp}",'
              f'nonce="{nonce}",signature="{signature}"')
    return await api.get(live.base_url + target, headers={"Authorization": header})


async def test_replays_and_stale_requests_are_refused(live: LiveServer, api: httpx.AsyncClient) -> None:
    nonce = secrets.token_hex(16)
    first = await raw_signed_get(api, live, "/api/v1/certificates", timestamp=int(time.time()), nonce=nonce)
    assert first.status_code == 200
    replay = await raw_signed_get(api, live, "/api/v1/certificates", timestamp=int(time.time()), nonce=nonce)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "nonce_reused"
    stale = await raw_signed_get(api, live, "/api/v1/certificates", timestamp=int(time.time()) - 3600,
                                 nonce=secrets.token_hex(16))
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "stale_timestamp"


async def test_settlement_is_idempotent_and_receipt_signed(api: httpx.AsyncClient, live: LiveServer,
                                                           http: HttpClient) -> None:
    notice = await make_notice(api, kind="tax", amounts=(12_345,))
    payments = live.settings.payments
    agency = TaxBureauAgency(SignedAgencyClient(
        http=http, base_url=live.settings.sandbox_base("tax"), client_id=payments.tax_client_id,
        secret=payments.tax_secret.reveal(),
    ))
    bill = await agency.lookup(notice["notice_code"])
    assert bill.bill_type == "tax" and bill.amount_due == 12_345
    settlement_id = "S" + secrets.token_hex(8)
    kwargs = {"settlement_id": settlement_id, "bill_ref": notice["notice_code"], "amount": 12_345,
              "paid_at": datetime.now(UTC), "channel": "wechatpay", "channel_txn_id": "4200001"}
    first = await agency.settle(**kwargs)
    second = await agency.settle(**kwargs)
    assert first == second
    receipt = first.receipt
    assert len(receipt["bill_code"]) == 8 and len(receipt["bill_no"]) == 10 and len(receipt["check_code"]) == 6
    assert receipt["payer"] == "某*****"
    key = live.sandbox("tax").receipts.public_keys()[0]["public_key_pem"].encode()
    assert receipt_signature_valid(key, receipt)
    assert not receipt_signature_valid(key, receipt | {"amount": 1})
    with pytest.raises(AgencyError) as caught:
        await agency.settle(**(kwargs | {"settlement_id": "S-other"}))
    assert caught.value.code == "bill_already_settled" and not caught.value.retryable
    books = await agency.settlements_on(datetime.now(SHANGHAI).date())
    assert any(r.settlement_id == settlement_id for r in books)
    counters = live.sandbox("tax").book.counters()
    assert counters["by_bill"][notice["notice_code"]] == 1


async def test_agency_timeout_is_retryable(api: httpx.AsyncClient, live: LiveServer, http: HttpClient) -> None:
    fine = await make_fine(api)
    agency = TrafficPoliceAgency(SignedAgencyClient(
        http=http, base_url=live.settings.sandbox_base("traffic"), client_id=live.settings.payments.traffic_client_id,
        secret=live.settings.payments.traffic_secret.reveal(), timeout=0.3,
    ))
    await api.post("/sandbox/traffic/faults", json={"lookup": {"mode": "timeout", "times": 1, "delay": 1}})
    with pytest.raises(AgencyError) as caught:
        await agency.lookup(fine["decision_no"], second_factor=fine["plate"])
    assert caught.value.code == "agency_timeout" and caught.value.retryable
    await api.post("/sandbox/traffic/faults", json={"lookup": {"mode": "error", "times": 1}})
    with pytest.raises(AgencyError) as caught:
        await agency.lookup(fine["decision_no"], second_factor=fine["plate"])
    assert caught.value.code == "agency_unavailable" and caught.value.retryable
    assert (await agency.lookup(fine["decision_no"], second_factor=fine["plate"])).principal == 20_000
