"""Licences: the holder's wallet, QR presentations, usage log and consent; issuance by operators."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from pydantic import BaseModel, Field, StrictBool
from sanic import Blueprint
from sanic.response import HTTPResponse

from app.context import Request
from app.services.licences.errors import ConsentNotFound, IssuerKeyNotFound, IssuerNotFound, LicenceNotFound
from handlers._endpoint import (
    FACE_VERIFIED,
    OPERATOR,
    PUBLIC,
    RESIDENT,
    Header,
    Lookup,
    endpoint,
    ok,
    principal,
    services,
)
from handlers._fields import FreeText, LicenceDay, Moment
from handlers.inspections import strip_scanned

holder_bp = Blueprint("licences", url_prefix="/api/v1/licences")
admin_bp = Blueprint("admin_licences", url_prefix="/api/v1/admin")
feed_bp = Blueprint("licence_feed", url_prefix="/api/v1/licence-feed")
blueprints = [holder_bp, admin_bp, feed_bp]

TAGS = ("licences",)
ADMIN_TAGS = ("licences", "admin")

LicenceId = Annotated[int, Lookup(LicenceNotFound)]
ConsentId = Annotated[int, Lookup(ConsentNotFound)]
IssuerCode = Annotated[str, Lookup(IssuerNotFound, max_length=18)]
IssuerKeyId = Annotated[str, Lookup(IssuerKeyNotFound, max_length=16)]


LicenceStatus = Literal["active", "suspended", "revoked", "expired"]


class LicenceTypeView(BaseModel):
    code: str
    name: str
    department: str


class LicenceHolder(BaseModel):
    kind: Literal["person", "enterprise"]
    name: str = Field(description="a person's name is masked where others see it")
    credit_code: str | None = Field(description="an enterprise's unified social credit code")


class LicenceView(BaseModel):
    id: int
    identifier: str
    type: LicenceTypeView
    issuer: str = Field(description="the issuer's credit code")
    holder: LicenceHolder
    region_code: str
    status: LicenceStatus
    valid_from: date
    valid_until: date | None
    identity_class: bool
    locked: bool = Field(description="an identity licence without a recent face check: data is {}")
    data: dict[str, str | None]


class Wallet(BaseModel):
    licences: list[LicenceView]


class Presentation(BaseModel):
    payload: str = Field(description="the LC1 QR payload")
    expires_at: datetime
    refresh_after: datetime = Field(description="when to mint the next one")


class UsageReader(BaseModel):
    id: int | None
    name: str | None = Field(description="masked")


class UsageLocation(BaseModel):
    latitude: float
    longitude: float
    address: str | None = None


class UsageConsent(BaseModel):
    id: int
    department: str
    purpose: str


class UsageEntry(BaseModel):
    kind: Literal["inspection", "consent"] = Field(description="a scanned code, or a read through a consent")
    at: datetime
    inspector: UsageReader
    valid: bool
    reason: str | None = Field(description="why a scanned code was refused")
    location: UsageLocation | None
    consent: UsageConsent | None = Field(default=None, description="kind consent")


class Usage(BaseModel):
    inspections: list[UsageEntry] = Field(description="newest first")


_IMAGES: dict[str, dict[str, Any]] = {
    "200": {
        "description": "The QR code",
        "content": {
            "image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}},
            "image/svg+xml": {"schema": {"type": "string", "contentMediaType": "image/svg+xml"}},
        },
    }
}


# --------------------------------------------------------------------------- holders
@holder_bp.get("")
@endpoint(auth=RESIDENT, summary="The wallet: own licences and those of enterprises one acts for", tags=TAGS,
          response=Wallet)
async def wallet(request: Request) -> HTTPResponse:
    return ok({"licences": await services(request).licences.holders.wallet(principal(request))})


@holder_bp.get("/<licence_id:int>")
@endpoint(auth=RESIDENT, summary="One licence of the wallet", tags=TAGS, errors=("licence_not_found",),
          response=LicenceView)
async def get_licence(request: Request, licence_id: LicenceId) -> HTTPResponse:
    return ok(await services(request).licences.holders.get_for_holder(principal(request), licence_id))


@holder_bp.post("/<licence_id:int>/presentations")
@endpoint(auth=RESIDENT, summary="Mint a signed, short-lived QR payload (LC1)", tags=TAGS, status=201,
          errors=("licence_not_found", "licence_not_active", "face_verification_required", "signing_key_unavailable"),
          response=Presentation)
async def present(request: Request, licence_id: LicenceId) -> HTTPResponse:
    presentation = await services(request).licences.holders.present(principal(request), licence_id=licence_id)
    return ok(presentation, status=201, headers={"Cache-Control": "no-store"})


class RenderQuery(BaseModel):
    format: Literal["png", "svg"] | None = Field(default=None, description="the image format; else the path's suffix")


_IMAGE_SUFFIXES = ("png", "svg")


@holder_bp.get("/<licence_id:int>/presentations/<payload:path>", ctx_secret_params=("payload",))  # not in access logs
@endpoint(auth=RESIDENT, query=RenderQuery, summary="Render a presentation payload as PNG (default) or SVG",
          tags=TAGS, errors=("licence_not_found", "licence_not_active", "face_verification_required", "payload_invalid"),
          documented_path="/api/v1/licences/{licence_id}/presentations/{payload}.png", responses=_IMAGES)
async def render(request: Request, licence_id: LicenceId, payload: str, query: RenderQuery) -> HTTPResponse:
    # Sanic hands the segment over still percent-encoded; base45 has "%", " ", "/", "+", ":" and
    # ".", but no lower-case letters, so a ".png" or ".svg" ending is the suffix, never payload.
    payload = strip_scanned(unquote(payload))
    stem, _, suffix = payload.rpartition(".")
    if suffix in _IMAGE_SUFFIXES:
        payload = strip_scanned(stem)
    image_format = query.format or (suffix if suffix in _IMAGE_SUFFIXES else "png")
    image, content_type = await services(request).licences.holders.render(
        principal(request), licence_id=licence_id, payload=payload, image_format=image_format
    )
    return HTTPResponse(image, content_type=content_type, headers={"Cache-Control": "no-store"})


@holder_bp.get("/<licence_id:int>/usage")
@endpoint(auth=RESIDENT, summary="Who checked or read (by consent) this licence, when, with what result", tags=TAGS,
          errors=("licence_not_found",), response=Usage)
async def usage(request: Request, licence_id: LicenceId) -> HTTPResponse:
    return ok({"inspections": await services(request).licences.holders.usage(principal(request), licence_id=licence_id)})


class ConsentBody(BaseModel):
    department: FreeText = Field(min_length=2, max_length=100)
    purpose: FreeText = Field(min_length=2, max_length=200)
    ttl_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)


@holder_bp.post("/<licence_id:int>/consents")
@endpoint(auth=FACE_VERIFIED, body=ConsentBody, summary="Let a department read this licence once (授权用证)",
          tags=TAGS, status=201, errors=("licence_not_found", "licence_not_active", "face_verification_required"))
async def grant_consent(request: Request, licence_id: LicenceId, body: ConsentBody) -> HTTPResponse:
    grant = await services(request).licences.holders.grant_consent(
        principal(request), licence_id=licence_id, department=body.department,
        purpose=body.purpose, ttl_minutes=body.ttl_minutes,
    )
    return ok(grant, status=201)


@holder_bp.get("/<licence_id:int>/consents")
@endpoint(auth=RESIDENT, summary="Consents granted for this licence", tags=TAGS, errors=("licence_not_found",))
async def list_consents(request: Request, licence_id: LicenceId) -> HTTPResponse:
    return ok({"consents": await services(request).licences.holders.consents(principal(request), licence_id=licence_id)})


@holder_bp.delete("/<licence_id:int>/consents/<consent_id:int>")
@endpoint(auth=RESIDENT, summary="Withdraw a consent not used yet", tags=TAGS,
          errors=("licence_not_found", "consent_not_found", "consent_not_withdrawable"))
async def revoke_consent(request: Request, licence_id: LicenceId, consent_id: ConsentId) -> HTTPResponse:
    return ok(await services(request).licences.holders.revoke_consent(
        principal(request), licence_id=licence_id, consent_id=consent_id))


# --------------------------------------------------------------------------- operators
class FieldSpec(BaseModel):
    label: FreeText = Field(min_length=1, max_length=50)
    type: Literal["text", "date"] = "text"
    required: StrictBool = False
    max_length: int = Field(default=200, ge=1, le=2000)


class LicenceTypeBody(BaseModel):
    name: FreeText = Field(min_length=2, max_length=100)
    department: FreeText = Field(min_length=2, max_length=100)
    holder_kind: Literal["person", "enterprise"]
    identity_class: StrictBool = False
    field_schema: dict[str, FieldSpec] = Field(max_length=50)
    qr_fields: list[str] = Field(default_factory=list, max_length=10)
    visible_fields: dict[str, list[str]] = Field(default_factory=dict)


@admin_bp.put("/licence-types/<code:str>")
@endpoint(auth=OPERATOR, body=LicenceTypeBody, summary="Create or update a licence type", tags=ADMIN_TAGS,
          errors=("licence_type_code_invalid", "licence_invalid"))
async def put_type(request: Request, code: str, body: LicenceTypeBody) -> HTTPResponse:
    return ok(await services(request).licences.catalogue.upsert_type(
        actor_id=principal(request).user_id, code=code, name=body.name, department=body.department,
        holder_kind=body.holder_kind, identity_class=body.identity_class,
        field_schema={k: v.model_dump() for k, v in body.field_schema.items()},
        qr_fields=body.qr_fields, visible_fields=body.visible_fields,
    ))


class AdminPageQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100_000)


@admin_bp.get("/licence-types")
@endpoint(auth=OPERATOR, query=AdminPageQuery, summary="Licence types, by code", tags=ADMIN_TAGS)
async def list_types(request: Request, query: AdminPageQuery) -> HTTPResponse:
    return ok(await services(request).licences.catalogue.list_types(limit=query.limit, offset=query.offset))


class AdminLicenceQuery(AdminPageQuery):
    type: str | None = Field(default=None, min_length=21, max_length=21, description="licence type code")
    status: Literal["active", "suspended", "revoked", "expired"] | None = None
    holder: str | None = Field(
        default=None,
        pattern=r"^([0-9]{1,17}|[0-9A-Z]{18})$",
        description="an enterprise holder's credit code, or a person holder's user id (never an ID number)",
    )
    q: str | None = Field(default=None, min_length=1, max_length=128, description="in the identifier or holder name")


@admin_bp.get("/licences")
@endpoint(auth=OPERATOR, query=AdminLicenceQuery, summary="Search licences, newest first (persons masked)",
          tags=ADMIN_TAGS)
async def search_licences(request: Request, query: AdminLicenceQuery) -> HTTPResponse:
    return ok(await services(request).licences.holders.admin_search(
        type_code=query.type, status=query.status, holder=query.holder, text=query.q,
        limit=query.limit, offset=query.offset,
    ))


@admin_bp.get("/licences/<licence_id:int>")
@endpoint(auth=OPERATOR, summary="One licence with its history (persons masked)", tags=ADMIN_TAGS,
          errors=("licence_not_found",))
async def show_licence(request: Request, licence_id: LicenceId) -> HTTPResponse:
    return ok(await services(request).licences.holders.admin_licence(licence_id=licence_id))


class IssuerBody(BaseModel):
    name: FreeText = Field(min_length=2, max_length=100)
    region_code: str = Field(min_length=6, max_length=6)
    licence_types: list[str] = Field(max_length=100)


@admin_bp.put("/licence-issuers/<credit_code:str>")
@endpoint(auth=OPERATOR, body=IssuerBody, summary="Create or update a licence issuer", tags=ADMIN_TAGS,
          errors=("credit_code_invalid", "licence_invalid", "licence_type_not_found"))
async def put_issuer(request: Request, credit_code: str, body: IssuerBody) -> HTTPResponse:
    issuer = await services(request).licences.catalogue.upsert_issuer(
        actor_id=principal(request).user_id, credit_code=credit_code, name=body.name,
        region_code=body.region_code, licence_types=body.licence_types,
    )
    await services(request).licences.trust.invalidate()  # each key lists the types its issuer may sign
    return ok(issuer)


class IssuerKeyBody(BaseModel):
    certificate_pem: str = Field(min_length=100, max_length=10_000)
    signs_from: Moment | None = None


@admin_bp.post("/licence-issuers/<credit_code:str>/keys")
@endpoint(auth=OPERATOR, body=IssuerKeyBody, summary="Register an issuer certificate (key rotation)",
          tags=ADMIN_TAGS, status=201, errors=("issuer_not_found", "certificate_invalid"))
async def add_key(request: Request, credit_code: IssuerCode, body: IssuerKeyBody) -> HTTPResponse:
    key = await services(request).licences.catalogue.add_key(
        actor_id=principal(request).user_id, credit_code=credit_code,
        certificate_pem=body.certificate_pem, signs_from=body.signs_from,
    )
    await services(request).licences.trust.invalidate()
    return ok(key, status=201)


@admin_bp.post("/licence-issuers/<credit_code:str>/keys/<kid:str>/retire")
@endpoint(auth=OPERATOR, summary="Retire an issuer key: it leaves the trust list", tags=ADMIN_TAGS,
          errors=("issuer_not_found", "issuer_key_not_found"))
async def retire_key(request: Request, credit_code: IssuerCode, kid: IssuerKeyId) -> HTTPResponse:
    key = await services(request).licences.catalogue.retire_key(
        actor_id=principal(request).user_id, credit_code=credit_code, kid=kid)
    await services(request).licences.trust.invalidate()
    return ok(key)


class HolderBody(BaseModel):
    name: FreeText = Field(min_length=1, max_length=200)
    id_number: str | None = Field(default=None, max_length=20)
    credit_code: str | None = Field(default=None, max_length=18)


class FeedRecord(BaseModel):
    """One licence as an issuer sends it (the feed names the issuer once per batch)."""

    type_code: str = Field(min_length=21, max_length=21)
    serial: str = Field(min_length=1, max_length=64)
    version: str = Field(default="001", min_length=3, max_length=3)
    holder: HolderBody
    region_code: str = Field(min_length=6, max_length=6)
    data: dict[str, str | None] = Field(default_factory=dict, max_length=50)
    valid_from: LicenceDay
    valid_until: LicenceDay | None = None


class IssueBody(FeedRecord):
    issuer_code: str = Field(min_length=18, max_length=18)


@admin_bp.post("/licences")
@endpoint(auth=OPERATOR, body=IssueBody, summary="Issue a licence (idempotent by identifier)", tags=ADMIN_TAGS,
          status=(201, 200), errors=("licence_invalid", "identifier_invalid", "licence_conflict", "issuer_not_allowed",
                  "licence_type_not_found", "issuer_not_found"))
async def issue(request: Request, body: IssueBody) -> HTTPResponse:
    licence, created = await services(request).licences.holders.issue(
        actor_id=principal(request).user_id, source="api", type_code=body.type_code,
        issuer_code=body.issuer_code, serial=body.serial, version=body.version,
        holder_name=body.holder.name, holder_id_number=body.holder.id_number,
        holder_credit_code=body.holder.credit_code, region_code=body.region_code,
        data=body.data, valid_from=body.valid_from, valid_until=body.valid_until,
    )
    return ok(licence, status=201 if created else 200)


class StatusBody(BaseModel):
    action: Literal["suspend", "reinstate", "revoke", "expire"]
    reason: FreeText = Field(min_length=2, max_length=200)


@admin_bp.post("/licences/<licence_id:int>/status")
@endpoint(auth=OPERATOR, body=StatusBody, summary="Suspend, reinstate, revoke or expire a licence",
          tags=ADMIN_TAGS, errors=("licence_not_found", "transition_not_allowed"))
async def change_status(request: Request, licence_id: LicenceId, body: StatusBody) -> HTTPResponse:
    return ok(await services(request).licences.holders.change_status(
        actor_id=principal(request).user_id, licence_id=licence_id, action=body.action, reason=body.reason))


@admin_bp.get("/licences/<licence_id:int>/history")
@endpoint(auth=OPERATOR, summary="Issuance and status history of a licence", tags=ADMIN_TAGS,
          errors=("licence_not_found",))
async def history(request: Request, licence_id: LicenceId) -> HTTPResponse:
    return ok({"events": await services(request).licences.holders.history(licence_id=licence_id)})


# --------------------------------------------------------------------------- agency feed
class FeedBatch(BaseModel):
    batch_id: str = Field(min_length=1, max_length=64)
    issuer: str = Field(min_length=18, max_length=18)
    records: list[FeedRecord] = Field(min_length=1, max_length=500)


FEED_SIGNATURE = Header(
    "X-Licence-Feed-Signature",
    "kid=<hex kid of a registered key of the batch's issuer>, sig=<base64url ES256 r||s over the exact body>; "
    "missing or not verifying: 400 feed_rejected",
    {"type": "string"},
    required=True,
)


@feed_bp.post("")
@endpoint(auth=PUBLIC, body=FeedBatch, summary="An issuing agency pushes issued licences (signed batch)",
          tags=ADMIN_TAGS, errors=("feed_rejected",), headers=(FEED_SIGNATURE,))
async def intake_feed(request: Request, body: FeedBatch) -> HTTPResponse:
    result = await services(request).licences.holders.intake_feed(
        raw_body=request.body, signature=request.headers.get("x-licence-feed-signature", ""),
        issuer_code=body.issuer, records=[record.model_dump() for record in body.records],
    )
    return ok(result)
