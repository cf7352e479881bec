"""Rate limits per IP and per openid, shared through the cache, with Retry-After."""

import httpx
import pytest

from tests.conftest import bind_realname, login, make_settings, start_server, stop_server


@pytest.fixture
async def strict(tmp_path, live):
    settings = make_settings(
        str(tmp_path),
        rate_limits={"login_per_ip": 3, "login_per_openid": 2, "face_start_per_openid": 1, "phone_per_ip": 1},
        redis={"url": ""},
    )
    server = await start_server(settings, name="strict_limits", manage_orm=False)
    async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
        yield client
    await stop_server(server)


async def code(client, openid=None):
    return (await client.post("/sandbox/wechat/login-code", json={"openid": openid} if openid else {})).json()["code"]


async def test_login_limited_per_ip(strict):
    headers = {"X-Forwarded-For": "198.51.100.7"}
    answers = [
        await strict.post("/api/v1/auth/login", json={"code": await code(strict)}, headers=headers) for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    # Another client address is not affected: the real IP comes from the configured header.
    other = await strict.post(
        "/api/v1/auth/login", json={"code": await code(strict)}, headers={"X-Forwarded-For": "198.51.100.8"}
    )
    assert other.status_code == 200


async def test_login_limited_per_openid(strict):
    statuses = []
    for n in range(3):
        response = await strict.post(
            "/api/v1/auth/login",
            json={"code": await code(strict, "o_limited_openid")},
            headers={"X-Forwarded-For": f"198.51.100.{20 + n}"},
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 429]


async def test_face_start_and_phone_limited(strict):
    strict.headers["X-Forwarded-For"] = "198.51.100.40"
    session = await bind_realname(strict, await login(strict))
    assert (await strict.post("/api/v1/auth/face/start", headers=session.headers)).status_code == 200
    second = await strict.post("/api/v1/auth/face/start", headers=session.headers)
    assert second.status_code == 429 and "Retry-After" in second.headers
    phone_code = (await strict.post("/sandbox/wechat/phone-code", json={"phone": "13700137000"})).json()["code"]
    assert (
        await strict.post("/api/v1/me/phone", json={"code": phone_code}, headers=session.headers)
    ).status_code == 200
    again = await strict.post("/api/v1/me/phone", json={"code": phone_code}, headers=session.headers)
    assert again.status_code == 429
