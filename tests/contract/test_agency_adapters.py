"""The agency adapters against their sandboxes: signed requests, signed answers, signed receipts."""

from __future__ import annotations

import json
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
    notice = await make_notice(api, kind="tax", amounts=(123_456,), overdue_days=3)
    payments = live.settings.payments
    agency = TaxBureauAgency(SignedAgencyClient(
        http=http, base_url=live.settings.sandbox_base("tax"), client_id=payments.tax_client_id,
        secret=payments.tax_secret.reveal(),
    ))
    bill = await agency.lookup(notice["notice_code"])
    assert bill.bill_type == "tax" and bill.amount_due == 123_641  # 0.05% a day for three days: 185
    settlement_id = "S" + secrets.token_hex(8)
    kwargs = {"settlement_id": settlement_id, "bill_ref": notice["notice_code"], "amount": 123_641,
              "paid_at": datetime.now(UTC), "channel": "wechatpay", "channel_txn_id": "4200001"}
    first = await agency.settle(**kwargs)
    second = await agency.settle(**kwargs)
    assert first == second
    receipt = first.receipt
    assert len(receipt["bill_code"]) == 8 and len(receipt["bill_no"]) == 10 and len(receipt["check_code"]) == 6
    assert receipt["payer"] == "某*****"
    # The receipt lists what was paid: the tax, then the late fee (滞纳金), adding up to the amount.
    assert receipt["items"] == [{"name": "项目1", "amount": 123_456}, {"name": "滞纳金", "amount": 185}]
    assert sum(item["amount"] for item in receipt["items"]) == receipt["amount"] == 123_641
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


# --------------------------------------------------------------------------- reversals (冲正)
def tax(live: LiveServer, http: HttpClient, *, timeout: float = 5.0) -> TaxBureauAgency:
    payments = live.settings.payments
    return TaxBureauAgency(SignedAgencyClient(
        http=http, base_url=live.settings.sandbox_base("tax"), client_id=payments.tax_client_id,
        secret=payments.tax_secret.reveal(), timeout=timeout,
    ))


async def settle_fine(agency: TrafficPoliceAgency, fine: dict, *, amount: int) -> str:
    settlement_id = "S" + secrets.token_hex(8)
    await agency.settle(settlement_id=settlement_id, bill_ref=fine["decision_no"], amount=amount,
                        paid_at=datetime.now(UTC), channel="wechatpay", channel_txn_id="4200" + secrets.token_hex(4))
    return settlement_id


async def test_reversal_makes_an_overdue_fine_owed_again_once(api: httpx.AsyncClient, live: LiveServer,
                                                              http: HttpClient) -> None:
    fine = await make_fine(api, fine=10_000, overdue_days=2)
    agency = traffic(live, http)
    due = (await agency.lookup(fine["decision_no"], second_factor=fine["plate"])).amount_due
    assert due == 10_600  # 3% a day for two days
    settlement_id = await settle_fine(agency, fine, amount=due)
    assert (await agency.lookup(fine["decision_no"], second_factor=fine["plate"])).status == "paid"
    kwargs = {"reversal_id": "V" + secrets.token_hex(8), "settlement_id": settlement_id,
              "bill_ref": fine["decision_no"], "amount": due, "reason": "撤销处罚"}
    first = await agency.reverse_settlement(**kwargs)
    second = await agency.reverse_settlement(**kwargs)
    assert first == second and first.amount == due and first.voided_receipt_no
    owed = await agency.lookup(fine["decision_no"], second_factor=fine["plate"])
    assert (owed.status, owed.principal, owed.late_fee) == ("unpaid", 10_000, 600)
    counters = live.sandbox("traffic").book.counters()
    assert counters["reversals"]["by_bill"][fine["decision_no"]] == 1
    assert counters["by_bill"][fine["decision_no"]] == 1
    # Another reversal id cannot reverse it twice, the old settlement id cannot book it again...
    with pytest.raises(AgencyError) as caught:
        await agency.reverse_settlement(**(kwargs | {"reversal_id": "V" + secrets.token_hex(8)}))
    assert (caught.value.code, caught.value.retryable) == ("settlement_already_reversed", False)
    with pytest.raises(AgencyError) as caught:
        await agency.settle(settlement_id=settlement_id, bill_ref=fine["decision_no"], amount=due,
                            paid_at=datetime.now(UTC), channel="wechatpay", channel_txn_id="4200")
    assert (caught.value.code, caught.value.retryable) == ("settlement_reversed", False)
    # ...and the reversal id is ours for that settlement only.
    other = await settle_fine(agency, await make_fine(api, fine=3_000), amount=3_000)
    with pytest.raises(AgencyError) as caught:
        await agency.reverse_settlement(**(kwargs | {"settlement_id": other, "amount": 3_000}))
    assert (caught.value.code, caught.value.retryable) == ("reversal_id_reused", False)
    # The fine can be paid again, under a new settlement.
    await settle_fine(agency, fine, amount=due)
    assert live.sandbox("traffic").book.counters()["by_bill"][fine["decision_no"]] == 2
    books = {r.settlement_id: r for r in await agency.settlements_on(datetime.now(SHANGHAI).date())}
    assert books[settlement_id].reversal_id == kwargs["reversal_id"]
    assert books[other].reversal_id is None


async def test_reversal_refusals_are_final(api: httpx.AsyncClient, live: LiveServer, http: HttpClient) -> None:
    notice = await make_notice(api, kind="fee", amounts=(4_000,))
    agency = tax(live, http)
    settlement_id = "S" + secrets.token_hex(8)
    await agency.settle(settlement_id=settlement_id, bill_ref=notice["notice_code"], amount=4_000,
                        paid_at=datetime.now(UTC), channel="alipay", channel_txn_id="2026")
    kwargs = {"reversal_id": "V" + secrets.token_hex(8), "settlement_id": settlement_id,
              "bill_ref": notice["notice_code"], "amount": 4_000, "reason": "退费"}
    refusals = [
        ({"amount": 3_999}, "reversal_amount_mismatch"),
        ({"settlement_id": "S-unknown"}, "settlement_not_found"),
        ({"bill_ref": "0" * 20}, "invalid_reversal"),
    ]
    for change, code in refusals:
        with pytest.raises(AgencyError) as caught:
            await agency.reverse_settlement(**(kwargs | change))
        assert (caught.value.code, caught.value.retryable) == (code, False)
    # The bureau no longer lets this settlement be undone (the receipt went to the treasury).
    live.sandbox("tax").notices[notice["notice_code"]].reversible = False
    with pytest.raises(AgencyError) as caught:
        await agency.reverse_settlement(**kwargs)
    assert (caught.value.code, caught.value.retryable) == ("reversal_not_allowed", False)
    assert live.sandbox("tax").notices[notice["notice_code"]].status == "paid"
    # A refusal is not stored: once the bureau allows it, the same reversal id goes through.
    live.sandbox("tax").notices[notice["notice_code"]].reversible = True
    await api.post("/sandbox/tax/faults", json={"reverse": {"mode": "refuse", "times": 1}})
    with pytest.raises(AgencyError) as caught:
        await agency.reverse_settlement(**kwargs)
    assert caught.value.code == "reversal_not_allowed"
    reversed_ = await agency.reverse_settlement(**kwargs)
    assert live.sandbox("tax").notices[notice["notice_code"]].status == "unpaid"
    # A refusal fault never hides a reversal already made: the repeat gets the same answer.
    await api.post("/sandbox/tax/faults", json={"reverse": {"mode": "refuse", "times": 1}})
    assert await agency.reverse_settlement(**kwargs) == reversed_
    await api.delete("/sandbox/tax/faults")
    counters = live.sandbox("tax").book.counters()["reversals"]
    assert counters["by_bill"][notice["notice_code"]] == 1 and counters["refused"] >= 2


async def test_reversal_timeouts_and_errors_are_retryable(api: httpx.AsyncClient, live: LiveServer,
                                                          http: HttpClient) -> None:
    fine = await make_fine(api, fine=2_000)
    agency = traffic(live, http)
    settlement_id = await settle_fine(agency, fine, amount=2_000)
    kwargs = {"reversal_id": "V" + secrets.token_hex(8), "settlement_id": settlement_id,
              "bill_ref": fine["decision_no"], "amount": 2_000, "reason": "撤销处罚"}
    impatient = TrafficPoliceAgency(SignedAgencyClient(
        http=http, base_url=live.settings.sandbox_base("traffic"), client_id=live.settings.payments.traffic_client_id,
        secret=live.settings.payments.traffic_secret.reveal(), timeout=0.3,
    ))
    await api.post("/sandbox/traffic/faults", json={"reverse": {"mode": "error", "times": 1}})
    with pytest.raises(AgencyError) as caught:
        await agency.reverse_settlement(**kwargs)
    assert (caught.value.code, caught.value.retryable) == ("agency_unavailable", True)
    assert live.sandbox("traffic").fines[fine["decision_no"]].status == "paid"
    # Reversed, and then the answer never came: asked again with the same id, reversed once.
    await api.post("/sandbox/traffic/faults", json={"reverse": {"mode": "accept_then_timeout", "times": 1, "delay": 1}})
    with pytest.raises(AgencyError) as caught:
        await impatient.reverse_settlement(**kwargs)
    assert (caught.value.code, caught.value.retryable) == ("agency_timeout", True)
    assert live.sandbox("traffic").fines[fine["decision_no"]].status == "unpaid"
    answer = await agency.reverse_settlement(**kwargs)
    assert answer.reversal_id == kwargs["reversal_id"]
    assert live.sandbox("traffic").book.counters()["reversals"]["by_bill"][fine["decision_no"]] == 1


async def raw_reversal(api: httpx.AsyncClient, live: LiveServer, body: bytes, *, sign_body: bytes | None = None,
                       secret: str | None = None) -> httpx.Response:
    payments = live.settings.payments
    target = "/sandbox/traffic/api/v1/reversals"
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    signature = hmac_signature(secret or payments.traffic_secret.reveal(),
                               request_message("POST", target, timestamp, nonce, body if sign_body is None else sign_body))
    header = (f'{AUTH_SCHEME} client_id="{payments.traffic_client_id}",timestamp="{timestamp}",'
              f'nonce="{nonce}",signature="{signature}"')
    return await api.post(live.base_url + target, content=body,
                          headers={"Authorization": header, "Content-Type": "application/json"})


async def test_a_reversal_must_be_signed(api: httpx.AsyncClient, live: LiveServer, http: HttpClient) -> None:
    fine = await make_fine(api, fine=2_500)
    settlement_id = await settle_fine(traffic(live, http), fine, amount=2_500)
    body = json.dumps({"reversal_id": "V" + secrets.token_hex(8), "settlement_id": settlement_id,
                       "decision_no": fine["decision_no"], "amount": 2_500}).encode()
    unsigned = await api.post(live.base_url + "/sandbox/traffic/api/v1/reversals", content=body)
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "unknown_client"
    tampered = await raw_reversal(api, live, body, sign_body=body.replace(b"2500", b"1"))
    assert tampered.status_code == 401 and tampered.json()["error"]["code"] == "bad_signature"
    wrong_key = await raw_reversal(api, live, body, secret="not-the-secret")
    assert wrong_key.status_code == 401 and wrong_key.json()["error"]["code"] == "bad_signature"
    with pytest.raises(AgencyError) as caught:
        await traffic(live, http, secret="not-the-secret").reverse_settlement(
            reversal_id="V" + secrets.token_hex(8), settlement_id=settlement_id, bill_ref=fine["decision_no"],
            amount=2_500, reason="x")
    assert caught.value.code == "agency_bad_signature" and caught.value.retryable
    assert live.sandbox("traffic").fines[fine["decision_no"]].status == "paid"
    signed = await raw_reversal(api, live, body)
    assert signed.status_code == 201, signed.text
    assert live.sandbox("traffic").fines[fine["decision_no"]].status == "unpaid"


@pytest.mark.parametrize("path", ["/api/v1/settlements", "/api/v1/reversals"])
@pytest.mark.parametrize("body", [b"[1, 2]", b'"x"', b"7", b"{", b"[" * 5000 + b"]" * 5000])
async def test_a_signed_body_that_is_not_an_object_is_a_signed_400(api: httpx.AsyncClient, live: LiveServer,
                                                                     path: str, body: bytes) -> None:
    payments = live.settings.payments
    target = "/sandbox/traffic" + path
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    signature = hmac_signature(payments.traffic_secret.reveal(), request_message("POST", target, timestamp, nonce, body))
    header = (f'{AUTH_SCHEME} client_id="{payments.traffic_client_id}",timestamp="{timestamp}",'
              f'nonce="{nonce}",signature="{signature}"')
    answer = await api.post(live.base_url + target, content=body,
                            headers={"Authorization": header, "Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request"


async def test_a_bad_settlement_day_is_a_signed_400(api: httpx.AsyncClient, live: LiveServer) -> None:
    answer = await raw_signed_get(api, live, "/api/v1/settlements?date=yesterday", timestamp=int(time.time()),
                                  nonce=secrets.token_hex(16))
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_date"
