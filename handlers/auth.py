"""Login, token refresh, logout, and face verification (step-up)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sanic import Blueprint
from sanic.response import HTTPResponse

from app.context import Request
from handlers._endpoint import PUBLIC, RESIDENT, endpoint, ok, principal, services

bp = Blueprint("auth", url_prefix="/api/v1/auth")


class LoginBody(BaseModel):
    code: str = Field(min_length=1, max_length=128, description="The code from wx.login")


class RefreshBody(BaseModel):
    # Opaque to clients: any string that is not a live token is 401 token_invalid (log in again).
    refresh_token: str = Field(min_length=1, max_length=128)


class OperatorLoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class FaceFinishBody(BaseModel):
    verify_id: str = Field(min_length=1, max_length=256)


class SignedInUser(BaseModel):
    id: int
    roles: list[str]
    realname_verified: bool
    face_verified_at: datetime | None


class SessionAnswer(BaseModel):
    """What login, operator login and refresh answer."""

    access_token: str
    refresh_token: str
    expires_in: int = Field(description="seconds the access token lives")
    user: SignedInUser


class FaceCheckStarted(BaseModel):
    verify_id: str = Field(description="for wx.requestFacialVerify, then face/finish")
    expires_in: int = Field(description="seconds the verify_id lives")


class FaceVerified(BaseModel):
    """A new access token whose claims say face-verified, and when."""

    access_token: str
    expires_in: int = Field(description="seconds the access token lives")
    face_verified_at: datetime


# Answers holding tokens are never stored by a cache (RFC 6749 §5.1); signed-in routes get this anyway.
TOKENS = {"Cache-Control": "no-store"}


@bp.post("/login")
@endpoint(
    auth=PUBLIC,
    body=LoginBody,
    summary="Log in with a wx.login code",
    tags=("identity",),
    response=SessionAnswer,
    errors=("code_invalid", "code_used", "login_blocked", "rate_limited", "upstream_unavailable"),
    upstream=True,
)
async def login(request: Request, body: LoginBody) -> HTTPResponse:
    return ok(await services(request).identity.login(code=body.code, client_ip=request.client_ip), headers=TOKENS)


@bp.post("/operator-login")
@endpoint(
    auth=PUBLIC,
    body=OperatorLoginBody,
    summary="Operator console login",
    tags=("identity",),
    response=SessionAnswer,
    errors=("invalid_credentials", "rate_limited"),
)
async def operator_login(request: Request, body: OperatorLoginBody) -> HTTPResponse:
    result = await services(request).identity.operator_login(
        username=body.username, password=body.password, client_ip=request.client_ip
    )
    return ok(result, headers=TOKENS)


@bp.post("/refresh")
@endpoint(
    auth=PUBLIC,
    body=RefreshBody,
    summary="Rotate the refresh token for a new pair (and the user, as login answers it)",
    tags=("identity",),
    response=SessionAnswer,
    errors=("token_invalid", "token_expired", "refresh_token_reused"),
)
async def refresh(request: Request, body: RefreshBody) -> HTTPResponse:
    return ok(await services(request).identity.refresh(refresh_token=body.refresh_token), headers=TOKENS)


@bp.post("/logout")
@endpoint(auth=RESIDENT, summary="End this session (its refresh and access tokens)", tags=("identity",), status=204)
async def logout(request: Request) -> HTTPResponse:
    await services(request).identity.logout(principal(request))
    return ok(status=204)


@bp.post("/face/start")
@endpoint(
    auth=RESIDENT,
    summary="Start WeChat face verification 2.0 for the bound identity",
    tags=("identity",),
    errors=("realname_required", "rate_limited", "upstream_unavailable"),
    upstream=True,
    response=FaceCheckStarted,
)
async def face_start(request: Request) -> HTTPResponse:
    return ok(await services(request).identity.start_face_check(principal(request), client_ip=request.client_ip))


@bp.post("/face/finish")
@endpoint(
    auth=RESIDENT,
    body=FaceFinishBody,
    summary="Finish face verification; returns a face-verified access token",
    tags=("identity",),
    errors=(
        "verify_id_invalid", "verify_id_used", "verify_id_expired", "face_not_completed", "face_failed",
        "rate_limited", "upstream_unavailable",
    ),
    upstream=True,
    response=FaceVerified,
)
async def face_finish(request: Request, body: FaceFinishBody) -> HTTPResponse:
    return ok(await services(request).identity.finish_face_check(principal(request), verify_id=body.verify_id))
