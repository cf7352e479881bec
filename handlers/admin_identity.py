"""Operators: enterprises, inspector grants, and the audit log."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field
from sanic import Blueprint
from sanic.response import HTTPResponse

from app.context import Request
from app.services.identity.service import InspectorNotFound, UserNotFound
from handlers._endpoint import OPERATOR, Lookup, endpoint, ok, principal, services
from handlers._fields import FreeText

bp = Blueprint("admin_identity", url_prefix="/api/v1/admin")


class EnterpriseBody(BaseModel):
    credit_code: str = Field(min_length=18, max_length=18)
    name: FreeText = Field(min_length=2, max_length=200)
    region_code: str = Field(pattern=r"^[0-9]{6}$")
    legal_rep_name: FreeText = Field(min_length=2, max_length=30)
    legal_rep_id_number: str = Field(min_length=15, max_length=20)


class InspectorBody(BaseModel):
    licence_types: list[str] = Field(min_length=1, max_length=100)
    regions: list[str] = Field(
        min_length=1, max_length=100, description="GB/T 2260 codes; a prefix covers the area below"
    )


class AuditQuery(BaseModel):
    before_seq: int | None = Field(default=None, ge=1)
    limit: int = Field(default=50, ge=1, le=500)


class PageQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100_000)


class EnterpriseQuery(PageQuery):
    region: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    q: str | None = Field(default=None, min_length=1, max_length=100, description="in the enterprise name")


@bp.get("/enterprises")
@endpoint(
    auth=OPERATOR,
    query=EnterpriseQuery,
    summary="Registered enterprises (legal representative masked)",
    tags=("admin",),
)
async def list_enterprises(request: Request, query: EnterpriseQuery) -> HTTPResponse:
    result = await services(request).identity.list_enterprises(
        region_code=query.region, text=query.q, limit=query.limit, offset=query.offset
    )
    return ok(result)


@bp.get("/inspectors")
@endpoint(auth=OPERATOR, query=PageQuery, summary="Inspectors and their scopes (names masked)", tags=("admin",))
async def list_inspectors(request: Request, query: PageQuery) -> HTTPResponse:
    return ok(await services(request).identity.list_inspectors(limit=query.limit, offset=query.offset))


@bp.post("/enterprises")
@endpoint(
    auth=OPERATOR,
    body=EnterpriseBody,
    summary="Register an enterprise and its legal representative",
    tags=("admin",),
    status=201,
    errors=("credit_code_invalid", "id_number_invalid", "unknown_region", "enterprise_exists"),
)
async def register_enterprise(request: Request, body: EnterpriseBody) -> HTTPResponse:
    result = await services(request).identity.register_enterprise(principal(request), **body.model_dump())
    return ok(result, status=201)


@bp.put("/inspectors/<user_id:int>")
@endpoint(
    auth=OPERATOR,
    body=InspectorBody,
    summary="Make a user an inspector with a scope",
    tags=("admin",),
    errors=("user_not_found", "unknown_region", "licence_type_not_found"),
)
async def grant_inspector(request: Request, user_id: Annotated[int, Lookup(UserNotFound)], body: InspectorBody) -> HTTPResponse:
    result = await services(request).identity.grant_inspector(
        principal(request), user_id=user_id, licence_types=body.licence_types, regions=body.regions
    )
    return ok(result)


@bp.delete("/inspectors/<user_id:int>")
@endpoint(auth=OPERATOR, summary="Withdraw a user's inspector role", tags=("admin",), status=204)
async def revoke_inspector(request: Request, user_id: Annotated[int, Lookup(InspectorNotFound)]) -> HTTPResponse:
    await services(request).identity.revoke_inspector(principal(request), user_id=user_id)
    return ok(status=204)


@bp.get("/audit")
@endpoint(auth=OPERATOR, query=AuditQuery, summary="Recent audit events, newest first", tags=("admin",))
async def audit_log(request: Request, query: AuditQuery) -> HTTPResponse:
    events = await services(request).identity.audit_events(before_seq=query.before_seq, limit=query.limit)
    return ok({"events": events})
