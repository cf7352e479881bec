"""The tax and non-tax bureau, and the signed agency gateway protocol both agencies speak.

Protocol (ours, shared with the traffic police): JSON over HTTP. Every request carries
``Authorization: AGENCY-HMAC-SHA256 client_id="..",timestamp="..",nonce="..",signature=".."``
where the signature is base64(HMAC-SHA256(secret, METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n)).
The agency rejects stale timestamps and reused nonces, and signs each answer the same way over
STATUS\\nTIMESTAMP\\nNONCE\\nBODY\\n in ``Agency-Timestamp/Agency-Nonce/Agency-Signature`` headers.
Receipts (财政电子票据) are signed separately with the finance platform's RSA key, which the
client fetches from ``/api/v1/certificates`` over the signed channel.
Settlements (``POST /api/v1/settlements``) are idempotent by our settlement id; reversals
(冲正, ``POST /api/v1/reversals``) undo a whole settlement, idempotent by our reversal id, and
make the bill owed again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.adapters.http import URL, HttpClient, HttpFailure, HttpResponse, HttpTimeout
from app.config import Settings
from app.ports import AgencyBill, AgencyError, AgencyReceipt, AgencyReversal, AgencySettlementRecord

AUTH_SCHEME = "AGENCY-HMAC-SHA256"
RESPONSE_TIMESTAMP = "Agency-Timestamp"
RESPONSE_NONCE = "Agency-Nonce"
RESPONSE_SIGNATURE = "Agency-Signature"
# Settlement answers that will not change on a retry.
FINAL_SETTLEMENT_REFUSALS = frozenset({"bill_already_settled", "settlement_amount_mismatch", "settlement_reversed"})
# Reversal answers that will not change on a retry (under the same reversal id and request).
FINAL_REVERSAL_REFUSALS = frozenset({
    "reversal_not_allowed", "settlement_not_found", "settlement_already_reversed", "reversal_amount_mismatch",
    "reversal_id_reused", "invalid_reversal",
})


def request_message(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return b"\n".join(
        [method.upper().encode(), target.encode(), timestamp.encode(), nonce.encode(), body, b""]
    )


def response_message(status: int, timestamp: str, nonce: str, body: bytes) -> bytes:
    return b"\n".join([str(status).encode(), timestamp.encode(), nonce.encode(), body, b""])


def hmac_signature(secret: str, message: bytes) -> str:
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def parse_authorization(header: str) -> dict[str, str]:
    """The key="value" pairs of an AGENCY-HMAC-SHA256 Authorization header ({} if another scheme)."""
    scheme, _, rest = header.partition(" ")
    if scheme != AUTH_SCHEME:
        return {}
    pairs: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            pairs[key] = value.strip('"')
    return pairs


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def receipt_signing_bytes(receipt: Mapping[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in receipt.items() if k != "signature"})


def sign_receipt(private_key: rsa.RSAPrivateKey, receipt: Mapping[str, Any]) -> str:
    signature = private_key.sign(
        receipt_signing_bytes(receipt), padding.PKCS1v15(), hashes.SHA256()
    )
    return base64.b64encode(signature).decode()


def receipt_signature_valid(public_key_pem: bytes, receipt: Mapping[str, Any]) -> bool:
    key = serialization.load_pem_public_key(public_key_pem)
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(
            base64.b64decode(str(receipt.get("signature", ""))),
            receipt_signing_bytes(receipt),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


class SignedAgencyClient:
    """A client for one agency: signs requests, verifies answers, maps failures."""

    def __init__(
        self, *, http: HttpClient, base_url: str, client_id: str, secret: str, timeout: float = 5.0
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._secret = secret
        self._timeout = timeout
        self._receipt_keys: dict[str, bytes] = {}

    async def call(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        body = canonical_json(payload) if payload is not None else b""
        # Built here, not by the HTTP client, so the signed target is exactly the one sent.
        url = URL(self._base_url + path)
        if params:
            url = url.update_query(params)
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signature = hmac_signature(
            self._secret, request_message(method, url.raw_path_qs, timestamp, nonce, body)
        )
        headers = {
            "Authorization": f'{AUTH_SCHEME} client_id="{self._client_id}",timestamp="{timestamp}",'
                             f'nonce="{nonce}",signature="{signature}"',
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(
                method, url, content=body if payload is not None else None, headers=headers, timeout=self._timeout
            )
        except HttpTimeout as exc:
            raise AgencyError("the agency did not answer in time", code="agency_timeout") from exc
        except HttpFailure as exc:
            raise AgencyError("the agency could not be reached", code="agency_unreachable") from exc
        self._verify_answer(response)
        try:
            data = response.json() if response.content else {}
        except ValueError as exc:
            raise AgencyError("the agency answered with malformed JSON") from exc
        if response.status >= 500:
            raise AgencyError(
                f"the agency failed with HTTP {response.status}", code="agency_unavailable"
            )
        return response.status, data

    def _verify_answer(self, response: HttpResponse) -> None:
        headers = response.headers
        timestamp = headers.get(RESPONSE_TIMESTAMP, "")
        nonce = headers.get(RESPONSE_NONCE, "")
        expected = hmac_signature(
            self._secret, response_message(response.status, timestamp, nonce, response.content)
        )
        if not hmac.compare_digest(expected, headers.get(RESPONSE_SIGNATURE, "")):
            # A proxy error page or a forged answer; the outcome of the call stays unknown.
            raise AgencyError("the agency's answer carried no valid signature", code="agency_bad_signature")

    async def receipt_key(self, key_id: str) -> bytes:
        if key_id not in self._receipt_keys:
            status, data = await self.call("GET", "/api/v1/certificates")
            if status != 200:
                raise AgencyError("the agency did not list its receipt keys")
            for entry in data.get("keys", []):
                self._receipt_keys[str(entry["key_id"])] = str(entry["public_key_pem"]).encode()
        if key_id not in self._receipt_keys:
            raise AgencyError("the receipt names an unknown signing key", code="receipt_key_unknown", retryable=False)
        return self._receipt_keys[key_id]

    async def settle_at(self, path: str, payload: Mapping[str, Any]) -> AgencyReceipt:
        status, data = await self.call("POST", path, payload=payload)
        if status in (200, 201):
            receipt = data["receipt"]
            key = await self.receipt_key(str(receipt.get("key_id", "")))
            if not receipt_signature_valid(key, receipt):
                raise AgencyError("the receipt signature is invalid", code="receipt_signature_invalid", retryable=False)
            return AgencyReceipt(
                settlement_id=str(data["settlement_id"]),
                receipt_no=f"{receipt['bill_code']}-{receipt['bill_no']}",
                receipt=receipt,
            )
        error = data.get("error", {}) if isinstance(data, dict) else {}
        code = str(error.get("code", "settlement_refused"))
        raise AgencyError(
            str(error.get("message", f"the agency refused the settlement (HTTP {status})")),
            code=code,
            # Only a definite "no" ends the retries; anything else may be the agency's passing confusion.
            retryable=code not in FINAL_SETTLEMENT_REFUSALS,
        )

    async def reverse_at(self, path: str, payload: Mapping[str, Any]) -> AgencyReversal:
        status, data = await self.call("POST", path, payload=payload)
        if status in (200, 201):
            if (data.get("reversal_id"), data.get("settlement_id")) != (payload["reversal_id"], payload["settlement_id"]):
                # A signed answer about something else: the outcome of our request stays unknown.
                raise AgencyError("the agency answered about another reversal", code="agency_bad_response")
            voided = data.get("voided_receipt") or {}
            return AgencyReversal(
                reversal_id=str(data["reversal_id"]),
                settlement_id=str(data["settlement_id"]),
                amount=int(data["amount"]),
                reversed_at=datetime.fromisoformat(str(data["reversed_at"])),
                voided_receipt_no=f"{voided['bill_code']}-{voided['bill_no']}" if voided else None,
            )
        error = data.get("error", {}) if isinstance(data, dict) else {}
        code = str(error.get("code", "reversal_refused"))
        raise AgencyError(
            str(error.get("message", f"the agency refused the reversal (HTTP {status})")),
            code=code,
            retryable=code not in FINAL_REVERSAL_REFUSALS,
        )

    async def settlements_on(self, day: date) -> list[AgencySettlementRecord]:
        status, data = await self.call("GET", "/api/v1/settlements", params={"date": day.isoformat()})
        if status != 200:
            raise AgencyError(f"the settlement list failed with HTTP {status}")
        return [
            AgencySettlementRecord(
                settlement_id=str(entry["settlement_id"]),
                bill_ref=str(entry["bill_ref"]),
                amount=int(entry["amount"]),
                paid_at=datetime.fromisoformat(entry["paid_at"]),
                channel=str(entry["channel"]),
                channel_txn_id=str(entry["channel_txn_id"]),
                reversal_id=str(entry["reversal_id"]) if entry.get("reversal_id") else None,
            )
            for entry in data.get("settlements", [])
        ]


def parse_day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class TaxBureauAgency:
    """Tax notices and non-tax fee notices (缴款通知书), looked up by their code."""

    name = "tax"

    def __init__(self, client: SignedAgencyClient) -> None:
        self._client = client

    async def lookup(self, bill_ref: str, *, second_factor: str | None = None) -> AgencyBill:
        status, data = await self._client.call("GET", f"/api/v1/notices/{bill_ref}")
        if status == 404:
            raise AgencyError("no such notice", code="bill_not_found", retryable=False)
        if status != 200:
            raise AgencyError(f"the notice lookup failed with HTTP {status}", retryable=False)
        return AgencyBill(
            bill_type="tax" if data["kind"] == "tax" else "fee",
            bill_ref=data["notice_code"],
            agency=self.name,
            description=data["description"],
            payer_name_masked=data["payer_name_masked"],
            principal=int(data["principal"]),
            late_fee=int(data["late_fee"]),
            due_date=parse_day(data.get("due_date")),
            status=data["status"],
            extra={"items": data.get("items", []), "issuer": data.get("issuer", "")},
        )

    async def settle(
        self, *, settlement_id: str, bill_ref: str, amount: int, paid_at: datetime,
        channel: str, channel_txn_id: str,
    ) -> AgencyReceipt:
        return await self._client.settle_at(
            "/api/v1/settlements",
            {
                "settlement_id": settlement_id,
                "notice_code": bill_ref,
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
            {"reversal_id": reversal_id, "settlement_id": settlement_id, "notice_code": bill_ref,
             "amount": amount, "reason": reason},
        )

    async def settlements_on(self, day: date) -> list[AgencySettlementRecord]:
        return await self._client.settlements_on(day)


def build_tax_bureau(settings: Settings, http: HttpClient) -> TaxBureauAgency:
    payments = settings.payments
    return TaxBureauAgency(
        SignedAgencyClient(
            http=http,
            base_url=payments.tax_base_url or settings.sandbox_base("tax"),
            client_id=payments.tax_client_id,
            secret=payments.tax_secret.reveal(),
            timeout=payments.agency_timeout,
        )
    )
