"""Health, OpenAPI, docs, request ids, and what logs never contain."""

import inspect
import io
import logging
import re

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


async def test_healthz_is_503_when_redis_is_down(tmp_path, live, api):
    # A session ended just now: at start the service puts it back into the (unreachable) cache,
    # and must start all the same.
    session = await login(api)
    assert (await api.post("/api/v1/auth/logout", headers=session.headers)).status_code == 204
    # The database it shares with the session's server (on SQLite, /healthz reads that file).
    settings = make_settings(str(tmp_path), redis={"url": "redis://127.0.0.1:1/0"},
                             database={"url": live.settings.database.url})
    server = await start_server(settings, name="redis_down", manage_orm=False)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
            response = await client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["checks"] == {"database": True, "redis": False}
    finally:
        await stop_server(server)


async def test_the_shared_health_check_runs_outside_the_context_of_the_request_that_starts_it(live):
    # On PostgreSQL the check would run its query on the request's pooled transaction
    # connection, beside the request's own queries.
    from tortoise import connections
    from tortoise.transactions import in_transaction

    from handlers.service import RecentHealth

    used = []

    async def check() -> dict[str, bool]:
        used.append(connections.get("default"))
        return {"database": True}

    async with in_transaction() as transaction:
        assert await RecentHealth(check)() == {"database": True}
    assert used and used[0] is not transaction


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


async def test_every_error_carries_the_whole_envelope(api):
    """`context` is always there, `{}` when the code needs no details (STYLE.md's envelope)."""
    resident = await login(api)
    answers = [
        await api.get("/api/v1/nothing-here"),  # Sanic's own 404
        await api.get("/api/v1/me"),  # 401 from the policy
        await api.delete("/api/v1/me", headers=resident.headers),  # Sanic's own 405
        await api.get("/api/v1/licences/999999999", headers=resident.headers),  # a service's 404
    ]
    for answer in answers:
        body = answer.json()
        assert set(body) == {"error", "request_id"}, answer.text
        assert body["error"] == {"code": body["error"]["code"], "message": body["error"]["message"], "context": {}}
    document = (await api.get("/openapi.json")).json()
    assert document["components"]["schemas"]["Error"]["properties"]["error"]["required"] == [
        "code", "message", "context"
    ]


async def test_a_query_problem_is_reported_as_the_query(api):
    resident = await login(api)
    response = await api.get("/api/v1/fines", params={"decision_no": "440100000000000001"}, headers=resident.headers)
    assert response.status_code == 422
    [problem] = response.json()["error"]["context"]["fields"]
    assert problem["field"] == "(query)" and "plate or name" in problem["problem"]


async def test_openapi_paths_are_openapi_paths(api):
    """No Sanic syntax leaks into the document, and each path names exactly its parameters."""
    document = (await api.get("/openapi.json")).json()
    for path, operations in document["paths"].items():
        assert "<" not in path and ">" not in path, path
        named = set(re.findall(r"{(\w+)}", path))
        for method, operation in operations.items():
            in_path = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert in_path == named, (method, path)
    for kind, param in (("zones", "zone_id"), ("bundles", "bundle_id")):
        for action in ("publish", "retire"):
            operation = document["paths"][f"/api/v1/admin/catalogue/{kind}/{{{param}}}/{action}"]["post"]
            assert operation["operationId"].endswith("_" + action)
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values() if "operationId" in op]
    assert len(ids) == len(set(ids))


async def test_openapi_documents_success_statuses_and_the_render_path(api):
    document = (await api.get("/openapi.json")).json()
    paths = document["paths"]
    created = paths["/api/v1/payments"]["post"]["responses"]
    assert {"201", "200"} <= set(created) and created["201"]["description"] == "Created"
    assert set(paths["/api/v1/admin/inspectors/{user_id}"]["delete"]["responses"]) >= {"204"}
    assert "200" not in paths["/api/v1/admin/inspectors/{user_id}"]["delete"]["responses"]
    # API.md: GET /api/v1/licences/{id}/presentations/{payload}.png, or ?format=svg.
    render = paths["/api/v1/licences/{licence_id}/presentations/{payload}.png"]["get"]
    assert any(p["name"] == "format" and p["in"] == "query" for p in render["parameters"])
    assert "/api/v1/licences/{licence_id}/presentations/{payload}" not in paths
    licence_id = next(p for p in render["parameters"] if p["name"] == "licence_id")
    assert licence_id["schema"] == {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}
    order_no = paths["/api/v1/payments/{order_no}"]["get"]["parameters"][0]
    assert order_no["schema"] == {"type": "string", "maxLength": 32}


def test_documented_success_statuses_cover_what_handlers_answer(live):
    """A handler's literal `status=` (2xx or 3xx) is among the statuses its @endpoint documents."""
    for route in live.app.router.routes:
        spec = getattr(route.handler, "__endpoint__", None)
        if spec is None:
            continue
        source = inspect.getsource(inspect.unwrap(route.handler))
        answered = {int(s) for s in re.findall(r"status=(?:\d{3} if \w+ else )?(\d{3})", source)}
        answered |= {int(s) for s in re.findall(r"status=(\d{3}) if", source)}
        assert {s for s in answered if s < 400} <= set(spec.statuses), (route.path, answered, spec.statuses)


async def test_times_in_answers_are_shown_in_shanghai_time(api, verified_resident):
    """Stored in UTC, shown in Asia/Shanghai: the profile (also when served from its cache) and
    the login answer, like payments and inspections."""
    from datetime import datetime

    for _ in range(2):  # built, then from the cache
        me = (await api.get("/api/v1/me", headers=verified_resident.headers)).json()
        shown = me["face_verified_at"]
        assert shown.endswith("+08:00"), shown
        assert datetime.fromisoformat(shown).utcoffset().total_seconds() == 8 * 3600


async def test_a_401_names_the_bearer_scheme(api):
    missing = await api.get("/api/v1/me")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    forged = await api.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 401
    assert forged.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'


async def test_signed_in_answers_are_not_stored_by_caches(api):
    session = await login(api)
    me = await api.get("/api/v1/me", headers=session.headers)
    assert me.status_code == 200
    assert me.headers["Cache-Control"] == "no-store"
    # Public answers keep their own caching rules.
    trust_list = await api.get("/.well-known/licence-trust-list")
    assert trust_list.headers["Cache-Control"] == "public, max-age=60"
    assert "no-store" not in (await api.get("/healthz")).headers.get("Cache-Control", "")
