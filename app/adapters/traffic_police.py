"""The traffic police fine system (交通违法罚款), over the signed agency protocol in tax_bureau."""

from __future__ import annotations

from datetime import date, datetime

from app.adapters.http import HttpClient
from app.adapters.tax_bureau import SignedAgencyClient, parse_day
from app.config import Settings
from app.ports import AgencyBill, AgencyError, AgencyReceipt, AgencyReversal, AgencySettlementRecord


class TrafficPoliceAgency:
    """A fine is found by its decision number plus the plate or the party's name.

    The agency answers "not found" for a wrong second factor exactly as for an unknown number,
    so a decision number alone discloses nothing.
    """

    name = "traffic"

    def __init__(self, client: SignedAgencyClient) -> None:
        self._client = client

    async def lookup(self, bill_ref: str, *, second_factor: str | None = None) -> AgencyBill:
        if not second_factor:
            raise AgencyError("a plate or name is needed", code="bill_not_found", retryable=False)
        status, data = await self._client.call(
            "GET", f"/api/v1/fines/{bill_ref}", params={"party": second_factor}
        )
        if status == 404:
            raise AgencyError("no such fine", code="bill_not_found", retryable=False)
        if status != 200:
            raise AgencyError(f"the fine lookup failed with HTTP {status}", retryable=False)
        return AgencyBill(
            bill_type="fine",
            bill_ref=data["decision_no"],
            agency=self.name,
            description=data["violation"],
            payer_name_masked=data["party_name_masked"],
            principal=int(data["fine"]),
            late_fee=int(data["late_fee"]),
            due_date=parse_day(data.get("due_date")),
            status=data["status"],
            extra={"plate_masked": data.get("plate_masked", ""), "issuer": data.get("issuer", "")},
        )

    async def settle(
        self, *, settlement_id: str, bill_ref: str, amount: int, paid_at: datetime,
        channel: str, channel_txn_id: str,
    ) -> AgencyReceipt:
        return await self._client.settle_at(
            "/api/v1/settlements",
            {
                "settlement_id": settlement_id,
                "decision_no": bill_ref,
                "amount": amount,
                "paid_at": paid_at.isoformat(),
                "channel": channel,
                "channel_txn_id": channel_txn_id,
            },
        )

    async def reverse_settlement(
        self, *, reversal_id: str, settlement_id: str, bill_ref: str, amount: int, reason: str
    ) -> AgencyReversal:
        return await self._client.reverse_at(
            "/api/v1/reversals",
            {"reversal_id": reversal_id, "settlement_id": settlement_id, "decision_no": bill_ref,
             "amount": amount, "reason": reason},
        )

    async def settlements_on(self, day: date) -> list[AgencySettlementRecord]:
        return await self._client.settlements_on(day)


def build_traffic_police(settings: Settings, http: HttpClient) -> TrafficPoliceAgency:
    payments = settings.payments
    return TrafficPoliceAgency(
        SignedAgencyClient(
            http=http,
            base_url=payments.traffic_base_url or settings.sandbox_base("traffic"),
            client_id=payments.traffic_client_id,
            secret=payments.traffic_secret.reveal(),
            timeout=payments.agency_timeout,
        )
    )
