"""Something at WeChat's address answering what WeChat never would (`{}`, a list, fields of the
wrong type, an HTML page, a proxy's 502) is the upstream's failure on every identity route that
calls WeChat: 502 upstream_error (503 upstream_unavailable for a 5xx), never a 500, and nothing
about the user is written. The sandbox WeChat plays the garbage (POST /sandbox/wechat/faults
with `answers`)."""

from __future__ import annotations

import httpx
import pytest

from app.sandbox.wechat import GARBAGE_ANSWERS
from models.identity import AuditEvent, FaceVerification, RefreshToken, User
from tests.conftest import LiveServer, Session, bind_realname, login

# A 5xx is WeChat not answering (trying again may work); every other kind is an answer that
# WeChat never gives (trying again the same way would not help).
STATUS = {kind: 503 if status >= 500 else 502 for kind, (status, _, _) in GARBAGE_ANSWERS.items()}
KINDS = sorted(GARBAGE_ANSWERS)


async def forget_wechat_token(live: LiveServer) -> None:
    """Make the service fetch WeChat's access token afresh (stable_token, not forced): a test
    elsewhere may have forced a new one at the sandbox, and forcing again within 30 s is 45009."""
    await live.app.ctx.adapters.cache.delete("wechat:access_token")


@pytest.fixture(autouse=True)
async def live_wechat_token(live: LiveServer) -> None:
    await forget_wechat_token(live)


async def queue(api: httpx.AsyncClient, wechat_api: str, *, answers: list[str] | None = None,
                errcodes: list[int] | None = None) -> None:
    body = {"api": wechat_api, **({"answers": answers} if answers else {}), **({"errcodes": errcodes} if errcodes else {})}
    queued = await api.post("/sandbox/wechat/faults", json=body)
    assert queued.status_code == 200, queued.text


def assert_upstream_failure(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == ("upstream_error" if status == 502 else "upstream_unavailable"), response.text
    assert error["context"] == {"partner": "wechat"}


@pytest.fixture
async def named(api: httpx.AsyncClient) -> Session:
    return await bind_realname(api, await login(api))


@pytest.mark.parametrize("kind", KINDS)
async def test_login(api: httpx.AsyncClient, live: LiveServer, kind: str) -> None:
    openid = f"o_garbage_login_{kind}"
    code = (await api.post("/sandbox/wechat/login-code", json={"openid": openid})).json()["code"]
    await queue(api, "jscode2session", answers=[kind])
    assert_upstream_failure(await api.post("/api/v1/auth/login", json={"code": code}), STATUS[kind])
    assert await User.filter(openid=openid).count() == 0
    assert live.sandbox("wechat").faults["jscode2session"] == []
    # The code was never exchanged: with WeChat back, it logs in.
    logged_in = await api.post("/api/v1/auth/login", json={"code": code})
    assert logged_in.status_code == 200, logged_in.text
    assert await RefreshToken.filter(user_id=logged_in.json()["user"]["id"]).count() == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_phone(api: httpx.AsyncClient, resident: Session, kind: str) -> None:
    code = (await api.post("/sandbox/wechat/phone-code", json={"phone": "13800138000"})).json()["code"]
    await queue(api, "getuserphonenumber", answers=[kind])
    answer = await api.post("/api/v1/me/phone", json={"code": code}, headers=resident.headers)
    assert_upstream_failure(answer, STATUS[kind])
    user = await User.get(id=resident.user_id)
    assert user.phone_enc is None and user.phone_index is None
    assert await AuditEvent.filter(kind="phone_bound", actor_id=resident.user_id).count() == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_face_start(api: httpx.AsyncClient, named: Session, kind: str) -> None:
    await queue(api, "getverifyid", answers=[kind])
    assert_upstream_failure(await api.post("/api/v1/auth/face/start", headers=named.headers), STATUS[kind])
    assert await FaceVerification.filter(user_id=named.user_id).count() == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_face_finish(api: httpx.AsyncClient, named: Session, kind: str) -> None:
    started = await api.post("/api/v1/auth/face/start", headers=named.headers)
    assert started.status_code == 200, started.text
    verify_id = started.json()["verify_id"]
    await api.post("/sandbox/wechat/face", json={"verify_id": verify_id, "outcome": "pass"})
    await queue(api, "queryverifyinfo", answers=[kind])
    finish = await api.post("/api/v1/auth/face/finish", json={"verify_id": verify_id}, headers=named.headers)
    assert_upstream_failure(finish, STATUS[kind])
    check = await FaceVerification.get(verify_id=verify_id)
    assert check.status == "pending" and check.verify_ret is None and check.finished_at is None
    assert (await User.get(id=named.user_id)).face_verified_at is None
    assert await AuditEvent.filter(kind__in=("face_pass", "face_fail"), actor_id=named.user_id).count() == 0
    # Still pending, so once WeChat answers properly the same check finishes.
    again = await api.post("/api/v1/auth/face/finish", json={"verify_id": verify_id}, headers=named.headers)
    assert again.status_code == 200, again.text


@pytest.mark.parametrize("kind", KINDS)
async def test_access_token(api: httpx.AsyncClient, live: LiveServer, named: Session, kind: str) -> None:
    """The access token WeChat's APIs need comes from stable_token: garbage there is never
    cached as a token."""
    cache = live.app.ctx.adapters.cache
    await queue(api, "stable_token", answers=[kind])
    assert_upstream_failure(await api.post("/api/v1/auth/face/start", headers=named.headers), STATUS[kind])
    assert await cache.get("wechat:access_token") is None
    assert await FaceVerification.filter(user_id=named.user_id).count() == 0
    assert (await api.post("/api/v1/auth/face/start", headers=named.headers)).status_code == 200


@pytest.mark.parametrize("errcode", [40029, 40163, 40226])
async def test_a_code_exchange_errcode_elsewhere_is_wechat_refusing(
    api: httpx.AsyncClient, named: Session, errcode: int
) -> None:
    """40029, 40163 and 40226 are about a wx.login code (invalid, used, account blocked from
    logging in): from a face check they are WeChat refusing the call, not code_invalid or
    login_blocked, which the face routes do not answer."""
    await queue(api, "getverifyid", errcodes=[errcode])
    assert_upstream_failure(await api.post("/api/v1/auth/face/start", headers=named.headers), 502)
