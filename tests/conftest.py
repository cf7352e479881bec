"""Test harness: one live service on a random loopback port for the whole session.

Runs on the embedded default (a fresh SQLite file + the in-process Redis stand-in) unless
APP_DATABASE_URL / APP_REDIS_URL are set, as in the CI's second pass (PostgreSQL + Redis);
then the database schema and the Redis db are wiped first. Tests talk HTTP to the live server
(the `api` client) and may read models directly: the ORM is initialised in this process.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sanic import Sanic

from app.config import Settings, load_settings
from app.context import App
from app.db import migrate
from app.factory import create_app
from tests.factories import make_id_number, random_ip

Sanic.test_mode = True

ON_POSTGRES = bool(os.environ.get("APP_DATABASE_URL", "").startswith(("postgres", "asyncpg")))
OPERATOR_PASSWORD = "operator-test-password-1"
# A licence type for tests that grant inspectors but issue nothing (a grant names existing types only).
INSPECTED_TYPE = "11100000MB0143000Y099"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_settings(tmp_dir: str, **overrides: dict[str, Any]) -> Settings:
    env = {k: v for k, v in os.environ.items() if k.startswith("APP_")}
    env.setdefault("APP_DATABASE_URL", f"sqlite://{tmp_dir}/test.sqlite3")
    sections: dict[str, dict[str, Any]] = {
        "service": {
            "port": free_port(),
            "environment": "test",
            "render_unexpected_errors": False,
            "log_level": "WARNING",
            "real_ip_header": "X-Forwarded-For",
            "proxies_count": 1,
        },
        "sandbox": {"enabled": True, "time_compression": 600.0},
    }
    for name, values in overrides.items():
        sections.setdefault(name, {}).update(values)
    return load_settings(env=env).with_overrides(**sections)


async def reset_stores(settings: Settings) -> None:
    """Start from nothing: drop the PostgreSQL schema and flush the Redis db under test."""
    if not settings.database.is_sqlite:
        import asyncpg

        dsn = "postgresql://" + settings.database.url.split("://", 1)[1].split("?", 1)[0]
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()
    if settings.redis.url:
        import redis.asyncio as redis

        client = redis.from_url(settings.redis.url)
        await client.flushdb()
        await client.aclose()


@dataclass
class LiveServer:
    app: App
    settings: Settings
    base_url: str
    server: Any = field(repr=False)

    def sandbox(self, party: str) -> Any:
        """The in-process state of a sandbox party (for assertions)."""
        return self.app.ctx.sandboxes[party].ctx.state


async def start_server(settings: Settings, name: str = "gov_test", *, manage_orm: bool = True) -> LiveServer:
    """Start a service; a second one in the session shares the first one's ORM (manage_orm=False)."""
    if not manage_orm:  # the first server's payment worker already serves the shared database
        settings = settings.with_overrides(payments={"in_process_worker": False})
    app = create_app(settings, name=name, manage_orm=manage_orm)
    server = await app.create_server(
        host="127.0.0.1", port=settings.service.port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    return LiveServer(app, settings, f"http://127.0.0.1:{settings.service.port}", server)


async def stop_server(live: LiveServer) -> None:
    await live.server.before_stop()
    live.server.close()
    await live.server.wait_closed()
    await live.server.after_stop()


@pytest.fixture(scope="session")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    settings = make_settings(str(tmp_path_factory.mktemp("db")))
    await reset_stores(settings)
    await migrate(settings.database)
    server = await start_server(settings)
    yield server
    await stop_server(server)


@pytest.fixture
async def api(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the live service, coming from its own (documentation-range) IP."""
    async with httpx.AsyncClient(
        base_url=live.base_url, headers={"X-Forwarded-For": random_ip()}, timeout=30, trust_env=False
    ) as client:
        yield client


@dataclass
class Session:
    """A logged-in caller."""

    user_id: int
    openid: str | None
    access_token: str
    refresh_token: str
    id_number: str | None = None
    name: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def login(api: httpx.AsyncClient, openid: str | None = None) -> Session:
    code = (await api.post("/sandbox/wechat/login-code", json={"openid": openid} if openid else {})).json()
    response = await api.post("/api/v1/auth/login", json={"code": code["code"]})
    assert response.status_code == 200, response.text
    body = response.json()
    return Session(body["user"]["id"], code["openid"], body["access_token"], body["refresh_token"])


async def bind_realname(
    api: httpx.AsyncClient, session: Session, *, name: str = "张三", id_number: str | None = None
) -> Session:
    id_number = id_number or make_id_number()
    response = await api.post(
        "/api/v1/me/realname", json={"name": name, "id_number": id_number}, headers=session.headers
    )
    assert response.status_code == 200, response.text
    session.id_number, session.name = id_number, name
    return session


async def pass_face(api: httpx.AsyncClient, session: Session) -> Session:
    start = await api.post("/api/v1/auth/face/start", headers=session.headers)
    assert start.status_code == 200, start.text
    verify_id = start.json()["verify_id"]
    await api.post("/sandbox/wechat/face", json={"verify_id": verify_id, "outcome": "pass"})
    finish = await api.post("/api/v1/auth/face/finish", json={"verify_id": verify_id}, headers=session.headers)
    assert finish.status_code == 200, finish.text
    session.access_token = finish.json()["access_token"]
    return session


async def make_operator(api: httpx.AsyncClient, live: LiveServer) -> Session:
    import secrets

    from app.services.identity.operators import create_operator

    username = "op_" + secrets.token_hex(4)
    await create_operator(
        username=username, password=OPERATOR_PASSWORD, blind_key=live.settings.security.blind_index_key
    )
    response = await api.post("/api/v1/auth/operator-login", json={"username": username, "password": OPERATOR_PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    return Session(body["user"]["id"], None, body["access_token"], body["refresh_token"])


@pytest.fixture
async def resident(api: httpx.AsyncClient) -> Session:
    return await login(api)


@pytest.fixture
async def verified_resident(api: httpx.AsyncClient) -> Session:
    """A resident with a bound real name and a fresh face check."""
    return await pass_face(api, await bind_realname(api, await login(api)))


@pytest.fixture
async def operator(api: httpx.AsyncClient, live: LiveServer) -> Session:
    return await make_operator(api, live)


async def seed_guangdong_regions() -> None:
    """The catalogue's region tree as seed-demo stores it, without the rest of the demo catalogue."""
    from app.services.catalogue.guangdong import regions
    from models.catalogue import Region

    have = set(await Region.all().values_list("code", flat=True))
    await Region.bulk_create(
        [Region(code=r.code, name=r.name, level=r.level, parent_code=r.parent_code, phone_area_code=r.phone_area_code)
         for r in regions() if r.code not in have]
    )


async def ensure_licence_type(api: httpx.AsyncClient, operator: Session, code: str = INSPECTED_TYPE) -> str:
    response = await api.put(
        f"/api/v1/admin/licence-types/{code}",
        json={"name": "测试用证照", "department": "测试局", "holder_kind": "enterprise",
              "field_schema": {"licence_no": {"label": "编号", "required": True}}},
        headers=operator.headers,
    )
    assert response.status_code == 200, response.text
    return code


async def make_inspector(
    api: httpx.AsyncClient, operator: Session, *, licence_types: list[str], regions: list[str]
) -> Session:
    inspector = await bind_realname(api, await login(api), name="李四")
    response = await api.put(
        f"/api/v1/admin/inspectors/{inspector.user_id}",
        json={"licence_types": licence_types, "regions": regions},
        headers=operator.headers,
    )
    assert response.status_code == 200, response.text
    # Roles are read into the access token at login or refresh.
    refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": inspector.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    inspector.access_token = refreshed.json()["access_token"]
    inspector.refresh_token = refreshed.json()["refresh_token"]
    return inspector
