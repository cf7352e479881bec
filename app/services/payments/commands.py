"""`python -m app worker` and `python -m app reconcile --date D`."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import date
from typing import Any


def register(subparsers: Any) -> None:
    worker = subparsers.add_parser("worker", help="run the payment worker (settlement, polling, refunds)")
    worker.add_argument("--once", action="store_true", help="one round, then exit")
    worker.set_defaults(func=cmd_worker)

    reconcile = subparsers.add_parser("reconcile", help="reconcile one day's channel bills and agency books")
    reconcile.add_argument("--date", required=True, type=date.fromisoformat, help="YYYY-MM-DD (Asia/Shanghai)")
    reconcile.set_defaults(func=cmd_reconcile)


async def _with_payments(work: Any) -> Any:
    """Build the adapters and the payment service as the server would, run `work(service)`, clean up."""
    from tortoise import Tortoise

    from app.adapters import registry
    from app.adapters.cache import open_cache
    from app.adapters.clock import SystemClock
    from app.adapters.http import HttpClient
    from app.adapters.wechat import WeChatApiClient
    from app.config import load_settings
    from app.context import Adapters
    from app.db import migrate, tortoise_config
    from app.services.payments import PaymentService

    settings = load_settings()
    if settings.database.is_sqlite:
        await migrate(settings.database)
    await Tortoise.init(config=tortoise_config(settings.database))
    http = HttpClient()
    cache = open_cache(settings.redis.url, prefix=settings.redis.key_prefix)
    adapters = Adapters(clock=SystemClock(), cache=cache)
    adapters.wechat = WeChatApiClient(
        http=http, cache=cache, appid=settings.wechat.appid, secret=settings.wechat.secret,
        base_url=settings.wechat.api_base or settings.sandbox_base("wechat"), timeout=settings.wechat.timeout,
    )
    registry.build_outside_parties(settings, adapters, http)
    try:
        return await work(PaymentService(settings, adapters))
    finally:
        for channel in adapters.channels.values():
            close = getattr(channel, "aclose", None)
            if close is not None:
                await close()
        await http.close()
        await cache.close()
        await Tortoise.close_connections()


def cmd_worker(args: argparse.Namespace) -> int:
    async def work(service: Any) -> int:
        if args.once:
            await service.worker.run_once()
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service.worker.start()
        print("payment worker running", flush=True)
        await stop.wait()
        await service.worker.stop()
        print(json.dumps({"worker": service.worker.figures, "reversals": service.reversals.figures}), flush=True)
        return 0

    return asyncio.run(_with_payments(work))


def cmd_reconcile(args: argparse.Namespace) -> int:
    from app.config import load_settings
    from app.errors import UpstreamRejected, UpstreamUnavailable

    async def work(service: Any) -> int:
        try:
            run = await service.reconcile(day=args.date)
        except (UpstreamUnavailable, UpstreamRejected) as exc:
            # A channel or agency did not answer: one line, not a traceback; nothing was stored.
            failure = exc.__cause__ or exc
            print(f"reconcile: {failure} ({getattr(failure, 'code', exc.code)}); nothing was stored", file=sys.stderr)
            settings = load_settings()
            if settings.sandbox.enabled:
                print(f"the sandboxes are served by the running service at {settings.service.self_base_url}: "
                      "start it (python -m app serve) and give this command the same APP_SERVICE_PORT",
                      file=sys.stderr)
            return 1
        print(json.dumps(run, ensure_ascii=False, indent=2))
        return 0

    return asyncio.run(_with_payments(work))
