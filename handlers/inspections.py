"""Inspectors check presented codes and redeem consents; anyone fetches the signed trust list."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, Field, RootModel
from sanic import Blueprint
from sanic.response import HTTPResponse

from app.context import Request
from handlers._endpoint import INSPECTOR, PUBLIC, endpoint, not_modified, ok, principal, services
from handlers._fields import FreeText

inspections_bp = Blueprint("inspections", url_prefix="/api/v1")
trust_bp = Blueprint("licence_trust_list", url_prefix="/.well-known")
blueprints = [inspections_bp, trust_bp]


class Location(BaseModel):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    address: FreeText | None = Field(default=None, max_length=100)  # the holder reads it in the usage log


# Scanner guns end what they read with CR/LF. A code never begins or ends with whitespace ("LC1:"
# first, and the last base45 character of any group encodes at most 32, "W", never 36, " "), so
# whitespace at the ends is the scanner's; whitespace inside stays the verifier's to refuse.
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"
# Far above any QR code: a payload longer than app.lc1.verifier.MAX_PAYLOAD_CHARS is answered
# `too_large` and recorded like any refused code; beyond this one the body is refused as invalid
# (422), and beyond service.max_body_bytes it is not read (413).
MAX_PAYLOAD_FIELD_CHARS = 64 * 1024


def strip_scanned(value: Any) -> Any:
    return value.strip(_ASCII_WHITESPACE) if isinstance(value, str) else value


class InspectionBody(BaseModel):
    # Any scanned text is answered as a code (`valid: false` with a reason, recorded), never stored.
    checked_by_service: ClassVar[frozenset[str]] = frozenset({"payload"})
    payload: Annotated[str, BeforeValidator(strip_scanned), Field(min_length=1, max_length=MAX_PAYLOAD_FIELD_CHARS)]
    location: Location | None = None


class InspectedType(BaseModel):
    code: str
    name: str


class InspectedHolder(BaseModel):
    kind: Literal["person", "enterprise"]
    name: str = Field(description="a person's name masked")
    credit_code: str | None


class InspectedLicence(BaseModel):
    """What this inspector's scope may see of the licence."""

    identifier: str
    type: InspectedType
    issuer: str
    holder: InspectedHolder
    region_code: str
    status: Literal["active", "suspended", "revoked", "expired"]
    valid_until: date | None
    data: dict[str, str | None] = Field(description="the fields the licence type shows inspectors")


class ValidCode(BaseModel):
    valid: Literal[True]
    licence: InspectedLicence
    checked_at: datetime


class RefusedCode(BaseModel):
    valid: Literal[False]
    reason: str = Field(description="why (README: the inspection reasons), e.g. replayed, expired, revoked")
    checked_at: datetime


class InspectionAnswer(RootModel[ValidCode | RefusedCode]):
    """Every scanned text is answered 200 and recorded: valid with the licence, or not with a reason."""


class TrustListAnswer(BaseModel):
    """A JWS-like signed document (README: the trust list): base64url header, payload and signature."""

    protected: str
    payload: str
    signature: str


@inspections_bp.post("/inspections")
@endpoint(auth=INSPECTOR, body=InspectionBody, summary="Check a presented QR payload (扫码核验)",
          tags=("inspections",), response=InspectionAnswer)
async def inspect(request: Request, body: InspectionBody) -> HTTPResponse:
    result = await services(request).licences.inspections.inspect(
        inspector_id=principal(request).user_id, payload=body.payload,
        location=body.location.model_dump() if body.location else None,
    )
    return ok(result)


class RedeemBody(BaseModel):
    code: str = Field(min_length=16, max_length=64)


@inspections_bp.post("/consents/redeem")
@endpoint(auth=INSPECTOR, body=RedeemBody, summary="Read a licence once with the holder's consent code",
          tags=("inspections",), errors=("consent_not_found", "licence_not_active"))
async def redeem_consent(request: Request, body: RedeemBody) -> HTTPResponse:
    return ok(await services(request).licences.holders.redeem_consent(
        reader_id=principal(request).user_id, code=body.code))


@trust_bp.get("/licence-trust-list")
@endpoint(auth=PUBLIC, summary="Signed issuer keys and revocations for offline verifiers", tags=("inspections",),
          status=(200, 304), errors=("signing_key_unavailable",), response=TrustListAnswer)
async def trust_list(request: Request) -> HTTPResponse:
    signed = await services(request).licences.trust.signed_document()
    headers = {"ETag": signed.etag, "Cache-Control": "public, max-age=60"}
    if not_modified(request, signed.etag):
        return HTTPResponse(status=304, headers=headers)
    return HTTPResponse(signed.document, content_type="application/json", headers=headers)
