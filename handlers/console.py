"""The operator console's static files under /console/ (the app itself calls /api/v1/admin/...)."""

from __future__ import annotations

import asyncio

from sanic import Blueprint
from sanic.response import HTTPResponse, redirect

from app.console.assets import CONTENT_SECURITY_POLICY, Asset, load_assets
from app.context import App, Request
from app.errors import NotFound
from handlers._endpoint import PUBLIC, endpoint, not_modified

bp = Blueprint("console", url_prefix="/console")

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (cheap with the ETag), so operators never run a stale console.
    "Cache-Control": "no-cache",
}


@bp.before_server_start
async def load_console(app: App) -> None:
    bp.ctx.assets = await asyncio.to_thread(load_assets)


def serve(request: Request, name: str) -> HTTPResponse:
    asset: Asset | None = bp.ctx.assets.get(name)
    if asset is None:
        raise NotFound(context={"path": request.path})
    headers = {**SECURITY_HEADERS, "ETag": asset.etag}
    if not_modified(request, asset.etag):
        return HTTPResponse(status=304, headers=headers)
    return HTTPResponse(asset.body, headers=headers, content_type=asset.content_type)


@bp.get("", strict_slashes=True)
@endpoint(auth=PUBLIC, summary="Redirect to the operator console", tags=("console",), status=308)
async def console_root(request: Request) -> HTTPResponse:
    return redirect("/console/", status=308)


@bp.get("/", strict_slashes=True)
@endpoint(auth=PUBLIC, summary="The operator console (a static single-page app)", tags=("console",), status=(200, 304))
async def console_index(request: Request) -> HTTPResponse:
    return serve(request, "index.html")


@bp.get("/<name:path>")
@endpoint(auth=PUBLIC, summary="A static file of the operator console", tags=("console",), status=(200, 304))
async def console_asset(request: Request, name: str) -> HTTPResponse:
    return serve(request, name)
