"""The HTTP layer: Sanic blueprints only. Parse, call one service method, serialise.

Handlers never import tortoise, wechatpy or adapters. Every route declares its policy with
@endpoint (handlers/_endpoint.py); blueprints() lists every blueprint the app mounts.
"""

from __future__ import annotations

import importlib

from sanic import Blueprint

# Modules exposing `bp` (a Blueprint) or `blueprints` (a list of them), in mount order.
MODULES = (
    "handlers.service",
    "handlers.auth",
    "handlers.me",
    "handlers.enterprises",
    "handlers.admin_identity",
    "handlers.catalogue",
    "handlers.admin_catalogue",
    "handlers.licences",
    "handlers.inspections",
    "handlers.payments",
    "handlers.notify",
    "handlers.admin_payments",
    "handlers.console",
)


def blueprints() -> list[Blueprint]:
    found: list[Blueprint] = []
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not (exc.name and name.startswith(exc.name)):
                raise
            continue
        found.extend(getattr(module, "blueprints", None) or [module.bp])
    return found
