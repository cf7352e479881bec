"""In-project stand-ins for every outside party, speaking that party's real protocol over HTTP.

Each module exposes create_blueprint(settings) -> Blueprint (mounted at /sandbox/<party>, the
party's state on bp.ctx). On the embedded default they are mounted into the service itself and
the adapters reach them through http://127.0.0.1:<port>/sandbox/<party>; `python -m app sandbox`
serves them standalone. Never enabled in production (config validation refuses it).
"""

from __future__ import annotations

import importlib

from sanic import Blueprint, HTTPResponse, Request, Sanic, json

from app.config import Settings

# party -> module; a module not written yet is skipped.
PARTIES = {
    "wechat": "app.sandbox.wechat",
    "wechatpay": "app.sandbox.wechatpay",
    "alipay": "app.sandbox.alipay",
    "traffic": "app.sandbox.traffic",
    "tax": "app.sandbox.tax",
    "licence-feed": "app.sandbox.licence_feed",
}


def sandbox_blueprints(settings: Settings) -> list[Blueprint]:
    found = []
    wanted = set(settings.sandbox.parties) or set(PARTIES)
    for party, module_name in PARTIES.items():
        if party not in wanted:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not (exc.name and module_name.startswith(exc.name)):
                raise
            continue
        found.append(module.create_blueprint(settings))
    return found


def mount_sandboxes(app: Sanic, settings: Settings) -> None:
    app.ctx.sandboxes = {}
    for blueprint in sandbox_blueprints(settings):
        app.blueprint(blueprint)
        app.ctx.sandboxes[blueprint.name.removeprefix("sandbox_")] = blueprint


def create_sandbox_app(settings: Settings) -> Sanic:
    app = Sanic("gov_sandbox", configure_logging=False)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    mount_sandboxes(app, settings)

    @app.get("/healthz")
    async def healthz(request: Request) -> HTTPResponse:
        return json({"status": "ok", "parties": sorted(app.ctx.sandboxes)})

    return app
