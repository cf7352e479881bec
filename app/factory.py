"""The composition root: create_app(settings, adapters=...) -> App.

Run it with `python -m app serve`, or `sanic app.factory:create_app --factory`.
Clients (database, Redis, HTTP) are opened per worker in before_server_start and closed in
after_server_stop; nothing is attached at import time.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any
from urllib.parse import quote

from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse

from app.adapters.cache import is_cache_outage
from app.adapters.http import HttpClient
from app.config import Settings, load_settings
from app.context import REQUEST_ID, Adapters, App, AppContext, Request
from app.db import is_database_outage, outage_in
from app.errors import (
    AppError,
    BodyTooLarge,
    MethodNotAllowed,
    NotFound,
    RequestHeadTooLarge,
    ServiceUnavailable,
    StoreUnavailable,
)
from app.logs import access_log, configure_logging, error_log
from app.routing import Router


def create_app(
    settings: Settings | None = None,
    *,
    adapters: Adapters | None = None,
    manage_orm: bool = True,
    name: str = "gov_miniapp",
) -> App:
    settings = settings or load_settings()
    configure_logging(settings.service.log_level)
    app: App = Sanic(  # type: ignore[assignment]
        name,
        ctx=AppContext(settings=settings, adapters=adapters or Adapters(), closers=[]),
        request_class=Request,  # type: ignore[arg-type]
        router=Router(),
        configure_logging=False,
    )
    _configure_sanic(app, settings)
    _register_error_renderer(app, settings)
    _register_request_middleware(app)
    _register_lifecycle(app, manage_orm=manage_orm)
    _register_blueprints(app, settings)
    return app


def _configure_sanic(app: App, settings: Settings) -> None:
    service = settings.service
    app.config.update(
        FALLBACK_ERROR_FORMAT="json",
        REQUEST_MAX_SIZE=service.max_body_bytes,
        REQUEST_TIMEOUT=service.request_timeout,
        RESPONSE_TIMEOUT=service.request_timeout,
        GRACEFUL_SHUTDOWN_TIMEOUT=service.graceful_shutdown_timeout,
        ACCESS_LOG=False,
        PROXIES_COUNT=service.proxies_count,
        REAL_IP_HEADER=service.real_ip_header or None,
        KEEP_ALIVE_TIMEOUT=75,
        MOTD=False,
        OAS=False,
    )


def _register_error_renderer(app: App, settings: Settings) -> None:
    from handlers._endpoint import ok

    def render(request: Request, exc: Exception) -> HTTPResponse:
        request_id = getattr(request.ctx, "request_id", None) or _new_request_id()
        details = {"request_id": request_id}
        if isinstance(exc, SanicException) and not isinstance(exc, AppError):
            exc = _from_sanic(exc)
        elif not isinstance(exc, AppError) and (outage := _store_outage(exc)) is not None:
            # Not a bug: a store is down or overloaded. One line without the traceback, and a
            # 503 the caller may retry; what the request wrote was in one transaction or nothing.
            details["cause"] = type(outage).__name__
            exc = StoreUnavailable()
        if isinstance(exc, AppError):
            if exc.status >= 500:
                error_log.error("request failed: %s", exc.code, extra=details)
            body = {"code": exc.code, "message": exc.detail, "context": exc.context}
            return ok({"error": body, "request_id": request_id}, status=exc.status, headers=exc.headers)
        error_log.exception("unhandled error", exc_info=exc, extra={"request_id": request_id})
        if not settings.service.render_unexpected_errors:
            raise exc
        return ok(
            {"error": {"code": "internal_error", "message": AppError.message, "context": {}}, "request_id": request_id},
            status=500,
        )

    app.error_handler.add(Exception, render)


def _from_sanic(exc: SanicException) -> AppError:
    """Sanic's own errors in our envelope, keeping the headers they carry (a 405's Allow)."""
    error = _error_for_sanic(exc)
    error.headers = {**(getattr(exc, "headers", None) or {}), **error.headers}
    return error


def _error_for_sanic(exc: SanicException) -> AppError:
    status = getattr(exc, "status_code", 500)
    if status == 404:
        return NotFound("No such route.")
    if status == 405:
        return MethodNotAllowed()
    if status == 413:
        # Sanic raises the same PayloadTooLarge for a request head (request line and headers)
        # over REQUEST_MAX_HEADER_SIZE as for a body over REQUEST_MAX_SIZE; only its message
        # tells them apart. The head is the URL and headers: 431, not a body problem.
        return RequestHeadTooLarge() if str(exc).startswith("Request header") else BodyTooLarge()
    if status == 503:
        return ServiceUnavailable()
    error = AppError(str(exc) if status < 500 else None)
    error.status, error.code = status, _code_for(status)
    return error


def _store_outage(exc: BaseException) -> BaseException | None:
    """The database or cache failure behind `exc`, if any."""
    return outage_in(
        exc, lambda error: is_database_outage(error) or is_cache_outage(error) or isinstance(
            error, (ConnectionError, TimeoutError))
    )


def _code_for(status: int) -> str:
    return {400: "bad_request", 408: "request_timeout", 411: "length_required", 415: "unsupported_media_type"}.get(
        status, "internal_error" if status >= 500 else "bad_request"
    )


def _new_request_id() -> str:
    # 128 random bits as 32 hex characters, like uuid4().hex without building a UUID: unique
    # across workers and restarts with no coordination.
    return os.urandom(16).hex()


_ROUTE_PARAM = re.compile(r"<([^:>]+)(?::[^>]*)?>")


def _logged_path(request: Request) -> str:
    """The request path, with the parameters a route declares secret (`ctx_secret_params`, e.g.
    a live QR payload, which decodes to personal data without a key) replaced by their name."""
    route = request.route
    secret = getattr(route.ctx, "secret_params", ()) if route is not None else ()
    if route is None or not secret:
        return request.path
    values = request.match_info

    def segment(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"[{name}]" if name in secret else quote(str(values.get(name, "")), safe="")

    return "/" + _ROUTE_PARAM.sub(segment, route.path.lstrip("/"))


def _register_request_middleware(app: App) -> None:
    @app.on_request(priority=100)  # type: ignore[call-arg]
    async def start_request(request: Request) -> None:
        incoming = request.headers.get("x-request-id")
        ctx = request.ctx
        ctx.request_id = incoming if incoming and REQUEST_ID.match(incoming) else _new_request_id()
        ctx.started = time.perf_counter()

    @app.on_response(priority=100)  # type: ignore[call-arg]
    async def finish_request(request: Request, response: HTTPResponse) -> None:
        request_id = getattr(request.ctx, "request_id", "")
        headers = response.headers
        headers["X-Request-ID"] = request_id
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if access_log.isEnabledFor(logging.INFO):
            started = getattr(request.ctx, "started", None)
            access_log.info(
                "access",
                extra={
                    "request_id": request_id,
                    "method": request.method,
                    "path": _logged_path(request),  # never the query string
                    "status": response.status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
                    "client_ip": request.remote_addr or request.ip,
                },
            )


def _register_lifecycle(app: App, *, manage_orm: bool) -> None:
    @app.before_server_start
    async def open_resources(app: App) -> None:
        try:
            await _open_resources(app, manage_orm=manage_orm)
        except BaseException:
            # Sanic runs no stop listener after a failed start. Close what was opened, or a
            # thread left running (aiosqlite's is no daemon) keeps the process from ever exiting.
            await _close_resources(app)
            raise

    app.after_server_stop(_close_resources)


async def _close_resources(app: App) -> None:
    for close in reversed(app.ctx.closers):
        try:
            await close()
        except Exception:  # closing must go on past one failure
            error_log.exception("closing a resource failed")
    app.ctx.closers.clear()


async def _open_resources(app: App, *, manage_orm: bool) -> None:
    settings = app.ctx.settings
    adapters = app.ctx.adapters
    http = HttpClient()  # its session opens on first use, inside this worker's loop
    app.ctx.closers.append(http.close)
    _build_adapters(settings, adapters, http, app.ctx.closers)
    if manage_orm:
        from tortoise import Tortoise

        from app.db import tortoise_config

        app.ctx.closers.append(Tortoise.close_connections)  # also what a failed init opened
        await Tortoise.init(config=tortoise_config(settings.database), _enable_global_fallback=True)
    from app.services import build_services

    app.ctx.services = build_services(settings, adapters)
    app.ctx.closers.append(app.ctx.services.stop)  # also stops what a failed start started
    await app.ctx.services.start()


def _build_adapters(settings: Settings, adapters: Adapters, http: HttpClient, closers: list[Any]) -> None:
    from app.adapters.cache import open_cache
    from app.adapters.clock import SystemClock
    from app.adapters.wechat import WeChatApiClient

    if adapters.clock is None:
        adapters.clock = SystemClock()
    if adapters.cache is None:
        cache = open_cache(settings.redis.url, prefix=settings.redis.key_prefix)
        adapters.cache = cache
        closers.append(cache.close)
    if adapters.wechat is None:
        adapters.wechat = WeChatApiClient(
            http=http,
            cache=adapters.cache,
            appid=settings.wechat.appid,
            secret=settings.wechat.secret,
            base_url=settings.wechat.api_base or settings.sandbox_base("wechat"),
            timeout=settings.wechat.timeout,
        )
    if "qr_renderer" not in adapters.extra:
        from app.adapters.qr_render import QrRenderer

        adapters.extra["qr_renderer"] = QrRenderer()
    if "presentation_verifier" not in adapters.extra:
        from app.adapters.verifier import InlineVerifier, ProcessVerifier

        verifier = ProcessVerifier() if settings.licences.verify_in_helper_process else InlineVerifier()
        adapters.extra["presentation_verifier"] = verifier
    from app.adapters import registry

    registry.build_outside_parties(settings, adapters, http)


def _register_blueprints(app: App, settings: Settings) -> None:
    from handlers import blueprints

    for blueprint in blueprints():
        app.blueprint(blueprint)
    if settings.sandbox.enabled:
        from app.sandbox import mount_sandboxes

        mount_sandboxes(app, settings)


def main_factory() -> App:
    """Entry point for `sanic app.factory:main_factory --factory`."""
    return create_app()
