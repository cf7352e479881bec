"""Which adapter serves which payment channel and billing agency.

Each entry is "module:function"; the function takes (settings, http) and returns the adapter.
create_app calls build_outside_parties for every party the caller did not inject.
"""

from __future__ import annotations

import importlib
from typing import Any

from app.adapters.http import HttpClient
from app.config import Settings
from app.context import Adapters

CHANNEL_BUILDERS: dict[str, str] = {
    "wechatpay": "app.adapters.wechatpay:build_wechatpay_channel",
    "alipay": "app.adapters.alipay:build_alipay_channel",
}
AGENCY_BUILDERS: dict[str, str] = {
    "traffic": "app.adapters.traffic_police:build_traffic_police",
    "tax": "app.adapters.tax_bureau:build_tax_bureau",
}


def _load(target: str) -> Any:
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def build_outside_parties(settings: Settings, adapters: Adapters, http: HttpClient) -> None:
    for name, target in CHANNEL_BUILDERS.items():
        if name not in adapters.channels:
            adapters.channels[name] = _load(target)(settings, http)
    for name, target in AGENCY_BUILDERS.items():
        if name not in adapters.agencies:
            adapters.agencies[name] = _load(target)(settings, http)
