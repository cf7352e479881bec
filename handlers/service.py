"""Service routes: health, the OpenAPI document and the browsable docs."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel
from sanic import Blueprint
from sanic.response import HTTPResponse, html

from app.context import Request
from handlers._endpoint import PUBLIC, endpoint, ok, services
from handlers._openapi import DOCS_PAGE, build_openapi

bp = Blueprint("service")

HEALTH_REUSE_SECONDS = 1.0


class RecentHealth:
    """The last health check, reused for `reuse_seconds`; callers arriving while a check runs
    wait for that one. Probes poll /healthz hard and each check is a database and a cache round
    trip, so a worker checks at most about once a second, and a store that goes down shows as
    503 within that second (failures are reused the same way, sparing a struggling store)."""

    def __init__(
        self,
        check: Callable[[], Awaitable[dict[str, bool]]],
        *,
        reuse_seconds: float = HEALTH_REUSE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._reuse_seconds = reuse_seconds
        self._clock = clock
        self._checks: dict[str, bool] | None = None
        self._fresh_until = 0.0
        self._running: asyncio.Future[dict[str, bool]] | None = None

    async def __call__(self) -> dict[str, bool]:
        if self._checks is not None and self._clock() < self._fresh_until:
            return dict(self._checks)
        if self._running is None:
            # In a context of its own: the request that happens to start the check must not lend
            # it its context variables (a Tortoise transaction it has open, Sanic's current request).
            self._running = asyncio.get_running_loop().create_task(self._refresh(), context=contextvars.Context())
        # Shielded: one caller giving up must not cancel the check the others wait for.
        return dict(await asyncio.shield(self._running))

    async def _refresh(self) -> dict[str, bool]:
        try:
            checks = await self._check()
            self._checks, self._fresh_until = checks, self._clock() + self._reuse_seconds
            return checks
        finally:
            self._running = None


_UNHEALTHY: dict[str, dict[str, Any]] = {
    "503": {
        "description": "A store does not answer",
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["status", "checks"],
            "properties": {
                "status": {"const": "unavailable"},
                "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
            },
        }}},
    }
}


class Healthy(BaseModel):
    status: Literal["ok"]
    checks: dict[str, bool]


class OpenApiDocument(BaseModel):
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


_PAGE: dict[str, dict[str, Any]] = {
    "200": {"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}},
}


@bp.get("/healthz")
@endpoint(auth=PUBLIC, summary="200 when the database and Redis answer, 503 otherwise", tags=("service",),
          responses=_UNHEALTHY, response=Healthy)
async def healthz(request: Request) -> HTTPResponse:
    recent = getattr(request.app.ctx, "recent_health", None)
    if recent is None:
        recent = request.app.ctx.recent_health = RecentHealth(services(request).health)
    checks = await recent()
    healthy = all(checks.values())
    return ok({"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503)


@bp.get("/openapi.json")
@endpoint(auth=PUBLIC, summary="This API as an OpenAPI 3.1 document", tags=("service",), response=OpenApiDocument)
async def openapi(request: Request) -> HTTPResponse:
    document = getattr(request.app.ctx, "openapi", None)
    if document is None:
        document = request.app.ctx.openapi = build_openapi(request.app)
    return ok(document)


@bp.get("/docs")
@endpoint(auth=PUBLIC, summary="A browsable page of the API", tags=("service",), responses=_PAGE)
async def docs(request: Request) -> HTTPResponse:
    return html(
        DOCS_PAGE,
        headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline' 'self'"
        },
    )
