"""Health, OpenAPI, docs, request ids, and what logs never contain."""

import io
import logging

import httpx

from app.logs import JsonFormatter
from tests.conftest import bind_realname, login, make_settings, start_server, stop_server

CONTRACT_PATHS = [
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/me/realname"),
    ("post", "/api/v1/me/phone"),
    ("post", "/api/v1/auth/face/start"),
    ("post", "/api/v1/auth/face/finish"),
    ("get", "/api/v1/me"),
    ("get", "/healthz"),
    ("get", "/openapi.json"),
]


async def test_healthz_reports_dependencies(api):
    response = await api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": True, "redis": True}}


async def test_healthz_is_503_when_redis_is_down(tmp_path, live):
    settings = make_settings(str(tmp_path), redis={"url": "redis://127.0.0.1:1/0"})
    server = await start_server(settings, name="redis_down", manage_orm=False)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
            response = await client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["checks"] == {"database": True, "redis": False}
    finally:
        await stop_server(server)


async def test_openapi_documents_the_contract(api):
    document = (await api.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    for method, path in CONTRACT_PATHS:
        assert method in document["paths"][path], (method, path)
    login_op = document["paths"]["/api/v1/auth/login"]["post"]
    assert login_op["x-auth-policy"] == "public"
    assert "LoginBody" in document["components"]["schemas"]
    me_op = document["paths"]["/api/v1/me"]["get"]
    assert me_op["security"] == [{"bearer": []}]


async def test_docs_page(api):
    response = await api.get("/docs")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "/openapi.json" in response.text


async def test_request_id_is_echoed_or_made(api):
    given = await api.get("/healthz", headers={"X-Request-ID": "trace-abc-12345"})
    assert given.headers["X-Request-ID"] == "trace-abc-12345"
    made = await api.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["X-Request-ID"] != "bad id with spaces" and len(made.headers["X-Request-ID"]) == 32


async def test_logs_hold_no_personal_data_or_secrets(api, live):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    watched = [logging.getLogger(name) for name in ("", "app", "app.access", "app.error", "sanic.error")]
    for logger in watched:
        logger.addHandler(handler)
    access = logging.getLogger("app.access")
    previous = access.level
    access.setLevel(logging.INFO)
    try:
        session = await bind_realname(api, await login(api))
        await api.get("/api/v1/me?id_number=" + session.id_number, headers=session.headers)
        await api.post("/api/v1/auth/refresh", json={"refresh_token": session.refresh_token})
    finally:
        for logger in watched:
            logger.removeHandler(handler)
        access.setLevel(previous)
    logged = stream.getvalue()
    assert '"path": "/api/v1/me"' in logged or '"path":"/api/v1/me"' in logged
    for secret in (
        session.id_number,
        session.access_token,
        session.refresh_token,
        live.settings.wechat.secret.reveal(),
    ):
        assert secret not in logged
