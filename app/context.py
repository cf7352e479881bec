"""Typed application and request contexts, and the App / Request aliases handlers use."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sanic import Request as SanicRequest
from sanic import Sanic
from sanic.config import Config

from app.config import Settings
from app.ports import BillingAgency, Cache, Clock, PaymentChannel, WeChatMiniProgram

if TYPE_CHECKING:
    from app.services import Services


@dataclass
class Adapters:
    """Outside parties. create_app builds any that are not injected, from settings."""

    clock: Clock | None = None
    cache: Cache | None = None
    wechat: WeChatMiniProgram | None = None
    channels: dict[str, PaymentChannel] = field(default_factory=dict)
    agencies: dict[str, BillingAgency] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Principal:
    """Who is calling, from a verified access token."""

    user_id: int
    roles: frozenset[str]
    session_id: str
    face_verified_at: int | None = None  # epoch seconds of the last face pass
    # The cached profile, fetched in the same cache round trip as the session check.
    profile_snapshot: bytes | None = None


class AppContext(SimpleNamespace):
    settings: Settings
    adapters: Adapters
    services: Services
    closers: list[Any]


# A caller's X-Request-ID of this shape is the request's id (answers, error envelopes, logs);
# anything else gets a new one.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContext(SimpleNamespace):
    request_id: str
    started: float
    principal: Principal | None


class Request(SanicRequest["App", RequestContext]):
    @staticmethod
    def make_context() -> RequestContext:
        return RequestContext(principal=None)


App = Sanic[Config, AppContext]
