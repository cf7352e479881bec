"""The caller's own profile: real name, phone, preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictBool
from sanic import Blueprint
from sanic.response import HTTPResponse

from app.context import Request
from handlers._endpoint import RESIDENT, endpoint, ok, principal, services
from handlers.auth import SignedInUser

bp = Blueprint("me", url_prefix="/api/v1/me")


class RealNameBody(BaseModel):
    name: str = Field(min_length=2, max_length=30)
    id_number: str = Field(min_length=15, max_length=20)


class PhoneBody(BaseModel):
    code: str = Field(min_length=1, max_length=128, description="The code from the getPhoneNumber button")


class PreferencesBody(BaseModel):
    notify_on_licence_check: StrictBool


class ActingFor(BaseModel):
    credit_code: str
    name: str
    region_code: str
    relation: Literal["legal_representative", "agent"]
    scopes: list[str]
    expires_at: datetime | None = Field(description="an agent's authorisation ends then")


class InspectorScope(BaseModel):
    licence_types: list[str]
    regions: list[str]


class Profile(SignedInUser):
    """The caller's profile (personal data masked)."""

    name_masked: str | None
    id_number_masked: str | None
    phone_masked: str | None
    realname_verified_at: datetime | None
    notify_on_licence_check: bool
    enterprises: list[ActingFor]
    inspector_scope: InspectorScope | None = Field(description="an inspector's licence types and regions")


class PhoneBound(BaseModel):
    phone_masked: str


@bp.get("")
@endpoint(auth=RESIDENT, summary="Profile, roles and the enterprises the user may act for", tags=("identity",),
          response=Profile)
async def me(request: Request) -> HTTPResponse:
    return ok(await services(request).identity.profile(principal(request)))


@bp.post("/realname")
@endpoint(
    auth=RESIDENT,
    body=RealNameBody,
    summary="Bind the real name and ID number",
    tags=("identity",),
    errors=("id_number_invalid", "name_invalid", "id_number_taken", "realname_already_bound"),
    response=Profile,
)
async def bind_realname(request: Request, body: RealNameBody) -> HTTPResponse:
    return ok(
        await services(request).identity.bind_realname(principal(request), name=body.name, id_number=body.id_number)
    )


@bp.post("/phone")
@endpoint(
    auth=RESIDENT,
    body=PhoneBody,
    summary="Bind the phone number from a getPhoneNumber code",
    tags=("identity",),
    errors=("code_invalid", "rate_limited", "upstream_unavailable"),
    upstream=True,
    response=PhoneBound,
)
async def bind_phone(request: Request, body: PhoneBody) -> HTTPResponse:
    return ok(
        await services(request).identity.bind_phone(principal(request), code=body.code, client_ip=request.client_ip)
    )


@bp.put("/preferences")
@endpoint(auth=RESIDENT, body=PreferencesBody, summary="Notification preferences", tags=("identity",),
          response=Profile)
async def preferences(request: Request, body: PreferencesBody) -> HTTPResponse:
    result = await services(request).identity.set_preferences(
        principal(request), notify_on_licence_check=body.notify_on_licence_check
    )
    return ok(result)
