"""Use-cases. They own their transactions and know nothing of HTTP or Sanic.

build_services() wires each feature's service from settings and adapters; handlers reach them
as request.app.ctx.services.<feature>.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from app.config import Settings
from app.context import Adapters
from app.db import HEALTH_READ, SqliteFileCheck, sqlite_file
from app.services.identity.audit import AuditLog
from app.services.identity.protection import BlindIndex, FieldCipher
from app.services.identity.ratelimit import RateLimiter
from app.services.identity.service import IdentityService
from app.services.identity.tokens import AccessTokens, TokenKeys


@dataclass
class Services:
    identity: IdentityService
    audit: AuditLog
    health: Callable[[], Awaitable[dict[str, bool]]]
    # Features add their service here (typed as Any to keep this module free of their imports).
    catalogue: Any = None
    licences: Any = None
    payments: Any = None
    # Background loops (workers, pollers) started with the service and stopped with it.
    background: list[Any] = field(default_factory=list)

    async def start(self) -> None:
        await self.audit.ensure_head()
        try:
            await self.identity.restore_revocations()
        except Exception:  # the cache may be down at start: serve anyway (/healthz says 503)
            logging.getLogger("app.identity").warning("could not restore recent revocations into the cache",
                                                      exc_info=True)
        for task in self.background:
            await task.start()

    async def stop(self) -> None:
        for task in reversed(self.background):
            await task.stop()
        await self.identity.drain()


def build_services(settings: Settings, adapters: Adapters) -> Services:
    assert adapters.clock and adapters.cache and adapters.wechat, "create_app builds these first"
    audit = AuditLog(adapters.clock)
    keys = TokenKeys.from_directory(settings.security.jwt_keys_dir, settings.security.jwt_active_kid)
    identity = IdentityService(
        settings=settings,
        clock=adapters.clock,
        cache=adapters.cache,
        wechat=adapters.wechat,
        tokens=AccessTokens(settings.security, keys),
        audit=audit,
        limits=RateLimiter(adapters.cache, window_seconds=settings.rate_limits.window_seconds),
        cipher=FieldCipher(settings.security.field_encryption_key),
        blind=BlindIndex(settings.security.blind_index_key),
    )
    cache = adapters.cache
    database_file = sqlite_file(settings.database.url) if settings.database.is_sqlite else None
    file_check = SqliteFileCheck(database_file) if database_file is not None else None

    async def health() -> dict[str, bool]:
        from tortoise import connections

        try:
            await connections.get("default").execute_query(HEALTH_READ)
            if file_check is not None:
                await file_check()
            database = True
        except Exception:  # any failure means "not healthy", whatever the driver raised
            logging.getLogger("app.health").warning("database check failed", exc_info=True)
            database = False
        return {"database": database, "redis": await cache.ping()}

    services = Services(identity=identity, audit=audit, health=health)
    for wire in FEATURE_WIRING:
        wire(services, settings, adapters)
    return services


def _feature_wiring() -> list[Callable[[Services, Settings, Adapters], None]]:
    """Each feature package may expose wire(services, settings, adapters) in its __init__."""
    import importlib

    wiring = []
    for module in ("app.services.catalogue", "app.services.licences", "app.services.payments"):
        try:
            wiring.append(importlib.import_module(module).wire)
        except ModuleNotFoundError as exc:
            if not (exc.name and module.startswith(exc.name)):
                raise
        except AttributeError:
            continue
    return wiring


FEATURE_WIRING = _feature_wiring()
