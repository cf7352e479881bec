"""Businesses: a legal representative manages the agents who may act for the enterprise."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field
from sanic import Blueprint
from sanic.response import HTTPResponse

from app.context import Request
from app.services.identity.service import AgentNotFound, EnterpriseNotFound
from handlers._endpoint import FACE_VERIFIED, RESIDENT, Lookup, endpoint, ok, principal, services
from handlers._fields import FreeText, Moment

bp = Blueprint("enterprises", url_prefix="/api/v1/enterprises")

CreditCode = Annotated[str, Lookup(EnterpriseNotFound, max_length=18)]
AgentId = Annotated[int, Lookup(AgentNotFound)]


class AgentBody(BaseModel):
    name: FreeText = Field(min_length=2, max_length=30)
    id_number: str = Field(min_length=15, max_length=20)
    scopes: list[str] = Field(min_length=1, max_length=5, description="licences, payments, services")
    expires_at: Moment


@bp.get("/<credit_code:str>/agents")
@endpoint(auth=RESIDENT, summary="Agents of an enterprise (legal representative only)", tags=("business",))
async def list_agents(request: Request, credit_code: CreditCode) -> HTTPResponse:
    return ok(await services(request).identity.list_agents(principal(request), credit_code=credit_code))


@bp.post("/<credit_code:str>/agents")
@endpoint(
    auth=FACE_VERIFIED,
    body=AgentBody,
    summary="Authorise an agent with scopes and an expiry",
    tags=("business",),
    status=201,
    errors=("user_not_found", "id_number_invalid", "face_verification_required"),
)
async def grant_agent(request: Request, credit_code: CreditCode, body: AgentBody) -> HTTPResponse:
    grant = await services(request).identity.grant_agent(
        principal(request),
        credit_code=credit_code,
        name=body.name,
        id_number=body.id_number,
        scopes=body.scopes,
        expires_at=body.expires_at,
    )
    return ok(grant, status=201)


@bp.delete("/<credit_code:str>/agents/<agent_id:int>")
@endpoint(auth=FACE_VERIFIED, summary="Withdraw an agent's authorisation", tags=("business",), status=204)
async def revoke_agent(request: Request, credit_code: CreditCode, agent_id: AgentId) -> HTTPResponse:
    await services(request).identity.revoke_agent(principal(request), credit_code=credit_code, agent_id=agent_id)
    return ok(status=204)
