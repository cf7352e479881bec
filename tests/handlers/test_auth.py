"""Login, refresh rotation and reuse, logout, and malformed requests."""

import asyncio
import secrets

import pytest

from app.adapters.http import HttpClient
from app.adapters.wechat import WeChatApiClient
from app.services.identity.operators import create_operator
from models.identity import RefreshToken, User
from tests.conftest import OPERATOR_PASSWORD, bind_realname, free_port, login, pass_face


async def code_for(api, openid=None):
    response = await api.post("/sandbox/wechat/login-code", json={"openid": openid} if openid else {})
    return response.json()["code"]


async def test_login_creates_user_once_and_never_returns_session_key(api, live):
    openid = "o_login_once_1"
    first = await api.post("/api/v1/auth/login", json={"code": await code_for(api, openid)})
    second = await api.post("/api/v1/auth/login", json={"code": await code_for(api, openid)})
    assert first.status_code == second.status_code == 200
    assert first.json()["user"]["id"] == second.json()["user"]["id"]
    body = first.json()
    assert set(body) == {"access_token", "refresh_token", "expires_in", "user"}
    assert set(body["user"]) == {"id", "roles", "realname_verified", "face_verified_at"}
    assert body["user"]["roles"] == ["resident"]
    assert "session_key" not in first.text
    user = await User.get(openid=openid)
    assert user.unionid  # kept from code2session
    session_key = live.sandbox("wechat").session_keys[openid]
    assert session_key not in (user.session_key_enc or "")


async def test_used_and_unknown_codes(api):
    code = await code_for(api)
    assert (await api.post("/api/v1/auth/login", json={"code": code})).status_code == 200
    reused = await api.post("/api/v1/auth/login", json={"code": code})
    assert reused.status_code == 400
    assert reused.json()["error"]["code"] == "code_used"
    unknown = await api.post("/api/v1/auth/login", json={"code": "no-such-code"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "code_invalid"


@pytest.mark.parametrize(
    ("errcode", "status", "code"),
    [
        (-1, 503, "upstream_unavailable"),  # system busy: trying again may work
        (45011, 429, "rate_limited"),
        (40226, 403, "login_blocked"),
        # An errcode the service has no answer of its own for (here: invalid appid) is WeChat
        # refusing the call, which trying again would not change: 502, not 503.
        (40013, 502, "upstream_error"),
    ],
)
async def test_wechat_errors_map_to_clear_answers(api, errcode, status, code):
    await api.post("/sandbox/wechat/faults", json={"api": "jscode2session", "errcodes": [errcode]})
    response = await api.post("/api/v1/auth/login", json={"code": await code_for(api)})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    if status == 429:
        assert int(response.headers["Retry-After"]) > 0
    if status >= 500:
        assert response.json()["error"]["context"] == {"partner": "wechat"}


async def test_wechat_refusing_a_phone_number_is_a_502(api):
    session = await login(api)
    code = (await api.post("/sandbox/wechat/phone-code", json={"phone": "13800138000"})).json()["code"]
    await api.post("/sandbox/wechat/faults", json={"api": "getuserphonenumber", "errcodes": [40013]})
    response = await api.post("/api/v1/me/phone", json={"code": code}, headers=session.headers)
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error", response.text


async def test_wechat_not_answering_stays_a_503(api, live, monkeypatch):
    """No answer at all (nothing listens at the WeChat address) may be gone on the next try."""
    identity = live.app.ctx.services.identity
    http = HttpClient()
    unreachable = WeChatApiClient(
        http=http, cache=live.app.ctx.adapters.cache, appid=live.settings.wechat.appid,
        secret=live.settings.wechat.secret, base_url=f"http://127.0.0.1:{free_port()}", timeout=2,
    )
    monkeypatch.setattr(identity, "wechat", unreachable)
    try:
        response = await api.post("/api/v1/auth/login", json={"code": "any-code"})
    finally:
        await http.close()
    assert response.status_code == 503 and response.json()["error"]["code"] == "upstream_unavailable", response.text


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b'{"code": 12}', {"Content-Type": "application/json"}, 422, "validation_failed"),
        (b"{}", {"Content-Type": "application/json"}, 422, "validation_failed"),
        (b'["code"]', {"Content-Type": "application/json"}, 422, "validation_failed"),
        (b"code=abc", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ],
)
async def test_malformed_bodies(api, body, headers, status, code):
    response = await api.post("/api/v1/auth/login", content=body, headers=headers)
    assert response.status_code == status
    payload = response.json()
    assert payload["error"]["code"] == code
    assert payload["request_id"] == response.headers["X-Request-ID"]


async def test_validation_errors_name_fields_without_echoing_values(api):
    response = await api.post(
        "/api/v1/me/realname", json={"name": 5, "id_number": "440106199001010018"}, headers=(await login(api)).headers
    )
    assert response.status_code == 422
    fields = response.json()["error"]["context"]["fields"]
    assert {f["field"] for f in fields} == {"name"}
    assert "440106199001010018" not in response.text


async def test_body_over_the_limit(api, live):
    big = b'{"code": "' + b"a" * (live.settings.service.max_body_bytes + 10) + b'"}'
    response = await api.post("/api/v1/auth/login", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/v1/search?q=" + "a" * 20_000, {}),
        ("/api/v1/me", {"Authorization": "Bearer " + "a" * 20_000}),
        ("/healthz", {"X-Padding": "a" * 9_000}),
    ],
    ids=["url", "authorization", "any-header"],
)
async def test_request_head_over_the_limit(api, path, headers):
    """An over-long URL or header is not a body problem: 431 with its own code."""
    response = await api.get(path, headers=headers)
    assert response.status_code == 431
    error = response.json()["error"]
    assert error["code"] == "request_head_too_large"
    assert "URL" in error["message"] and "headers" in error["message"]


async def test_refresh_rotates_and_reuse_revokes_the_family(api):
    session = await login(api)
    first = await api.post("/api/v1/auth/refresh", json={"refresh_token": session.refresh_token})
    assert first.status_code == 200
    pair = first.json()
    assert pair["refresh_token"] != session.refresh_token
    me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200

    # The old token again: reuse. The whole family dies, including the newest pair.
    reuse = await api.post("/api/v1/auth/refresh", json={"refresh_token": session.refresh_token})
    assert reuse.status_code == 401
    assert reuse.json()["error"]["code"] == "refresh_token_reused"
    after = await api.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "token_invalid"
    me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 401
    assert await RefreshToken.filter(user_id=session.user_id, revoked_at=None).count() == 0


async def test_refresh_answers_the_user_as_login_does(api):
    """API.md: refresh answers a new pair; like login it also says who the user is now (a real
    name bound or a face checked since login shows), in login's shape."""
    session = await pass_face(api, await bind_realname(api, await login(api)))
    refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": session.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert set(body) == {"access_token", "refresh_token", "expires_in", "user"}
    assert body["user"]["id"] == session.user_id
    assert body["user"]["realname_verified"] is True and body["user"]["face_verified_at"]
    logged_in = await api.post("/api/v1/auth/login", json={"code": await code_for(api, session.openid)})
    assert logged_in.status_code == 200, logged_in.text
    assert body["user"] == logged_in.json()["user"]
    jsonschema = pytest.importorskip("jsonschema")
    document = (await api.get("/openapi.json")).json()
    for path, answer in (("/api/v1/auth/refresh", body), ("/api/v1/auth/login", logged_in.json())):
        documented = document["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert documented == {"$ref": "#/components/schemas/SessionAnswer"}
        validator = jsonschema.Draft202012Validator({**documented, "components": document["components"]})
        assert [e.message for e in validator.iter_errors(answer)] == []


async def test_answers_holding_tokens_are_never_cached(api, live):
    """RFC 6749 §5.1: login, refresh and operator login answers say Cache-Control: no-store."""
    first = await api.post("/api/v1/auth/login", json={"code": await code_for(api, None)})
    refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": first.json()["refresh_token"]})
    username = "op_" + secrets.token_hex(4)
    await create_operator(username=username, password=OPERATOR_PASSWORD, blind_key=live.settings.security.blind_index_key)
    operator = await api.post("/api/v1/auth/operator-login", json={"username": username, "password": OPERATOR_PASSWORD})
    again = await api.post("/api/v1/auth/login", json={"code": await code_for(api, None)})
    for answer in (first, refreshed, operator, again):
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
    # Each answer its own request id: the shared header set is not written to.
    assert first.headers["x-request-id"] != again.headers["x-request-id"]


async def test_refresh_tokens_are_stored_hashed(api):
    session = await login(api)
    stored = [t.token_hash for t in await RefreshToken.filter(user_id=session.user_id)]
    assert stored and session.refresh_token not in stored


async def test_concurrent_refresh_with_one_token_is_reuse(api):
    import asyncio

    session = await login(api)
    answers = await asyncio.gather(
        *(api.post("/api/v1/auth/refresh", json={"refresh_token": session.refresh_token}) for _ in range(4))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) <= 1
    assert await RefreshToken.filter(user_id=session.user_id, revoked_at=None).count() == 0


@pytest.mark.parametrize("token", ["x" * 43, "garbage", "null"])
async def test_unknown_refresh_token(api, token):
    # The token is opaque to the app: whatever it sends that is not a live token means "log in again".
    response = await api.post("/api/v1/auth/refresh", json={"refresh_token": token})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


async def test_logout_ends_access_and_refresh(api):
    session = await login(api)
    assert (await api.post("/api/v1/auth/logout", headers=session.headers)).status_code == 204
    assert (await api.get("/api/v1/me", headers=session.headers)).status_code == 401
    refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": session.refresh_token})
    assert refreshed.status_code == 401


async def test_an_ended_session_stays_ended_when_the_cache_forgets(api, live):
    """The in-process stand-in forgets everything at a restart (Redis after a flush): the service
    puts the revocations of the last token lifetime back when it starts."""
    import jwt

    session = await login(api)
    assert (await api.post("/api/v1/auth/logout", headers=session.headers)).status_code == 204
    identity = live.app.ctx.services.identity
    sid = jwt.decode(session.access_token, options={"verify_signature": False})["sid"]
    await identity.cache.delete(f"session_revoked:{sid}")  # what a restart does to the stand-in
    assert (await api.get("/api/v1/me", headers=session.headers)).status_code == 200
    await identity.restore_revocations()  # what the next start does
    refused = await api.get("/api/v1/me", headers=session.headers)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_invalid"


@pytest.mark.parametrize("header", ["", "Bearer", "Basic abc", "Bearer not.a.token", "Bearer a.b.c"])
async def test_missing_or_broken_bearer(api, header):
    response = await api.get("/api/v1/me", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("unauthorized", "token_invalid")


async def test_operator_login(api, live):
    from tests.conftest import make_operator

    operator = await make_operator(api, live)
    me = await api.get("/api/v1/me", headers=operator.headers)
    assert "operator" in me.json()["roles"]
    wrong = await api.post("/api/v1/auth/operator-login", json={"username": "nobody", "password": "whatever-password"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_credentials"


async def test_logins_arriving_together_are_written_together_and_each_is_complete(api, operator):
    """Concurrent logins share one transaction (app/batching.py); each still gets its own
    user, session, roles and audit record, and a repeated openid stays one user."""
    from app.services.identity.audit import verify_chain
    from models.identity import AuditEvent
    from tests.conftest import ensure_licence_type, make_inspector
    from tests.factories import random_ip

    inspector = await make_inspector(api, operator, licence_types=[await ensure_licence_type(api, operator)],
                                     regions=["44"])
    openids = [f"o_together_{n}" for n in range(20)] + ["o_together_twice", "o_together_twice", inspector.openid]
    codes = [await code_for(api, openid) for openid in openids]
    logins_before = await AuditEvent.filter(kind="login").count()

    answers = await asyncio.gather(
        *(
            api.post("/api/v1/auth/login", json={"code": code}, headers={"X-Forwarded-For": random_ip()})
            for code in codes
        )
    )
    assert [a.status_code for a in answers] == [200] * len(codes)
    bodies = [a.json() for a in answers]
    by_openid: dict[str, set[int]] = {}
    for openid, body in zip(openids, bodies, strict=True):
        by_openid.setdefault(openid, set()).add(body["user"]["id"])
    assert all(len(ids) == 1 for ids in by_openid.values())
    assert len({next(iter(ids)) for ids in by_openid.values()}) == len(by_openid)  # one user per openid
    assert bodies[-1]["user"]["id"] == inspector.user_id and "inspector" in bodies[-1]["user"]["roles"]
    assert bodies[-1]["user"]["realname_verified"] is True
    assert all(body["user"]["roles"] == ["resident"] for body in bodies[:-1])

    # Every session is its own: each refresh token rotates and each access token works.
    assert len({body["refresh_token"] for body in bodies}) == len(bodies)
    for body in bodies:
        me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200 and me.json()["id"] == body["user"]["id"]
        refreshed = await api.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
    assert await AuditEvent.filter(kind="login").count() == logins_before + len(codes)
    assert (await verify_chain()).intact
