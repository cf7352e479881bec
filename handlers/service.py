"""Service routes: health, the OpenAPI document and the browsable docs."""

from __future__ import annotations

from sanic import Blueprint
from sanic.response import HTTPResponse, html

from app.context import Request
from handlers._endpoint import PUBLIC, endpoint, ok, services
from handlers._openapi import DOCS_PAGE, build_openapi

bp = Blueprint("service")


@bp.get("/healthz")
@endpoint(auth=PUBLIC, summary="200 when the database and Redis answer, 503 otherwise", tags=("service",))
async def healthz(request: Request) -> HTTPResponse:
    checks = await services(request).health()
    healthy = all(checks.values())
    return ok({"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503)


@bp.get("/openapi.json")
@endpoint(auth=PUBLIC, summary="This API as an OpenAPI 3.1 document", tags=("service",))
async def openapi(request: Request) -> HTTPResponse:
    document = getattr(request.app.ctx, "openapi", None)
    if document is None:
        document = request.app.ctx.openapi = build_openapi(request.app)
    return ok(document)


@bp.get("/docs")
@endpoint(auth=PUBLIC, summary="A browsable page of the API", tags=("service",))
async def docs(request: Request) -> HTTPResponse:
    return html(
        DOCS_PAGE,
        headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline' 'self'"
        },
    )
