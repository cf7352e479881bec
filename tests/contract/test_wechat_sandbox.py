"""The WeChat sandbox speaks the real protocol: paths, fields, errcodes and token semantics."""

import time

from app.sandbox.wechat import cert_hash


def wx(live):
    return live.sandbox("wechat")


async def code_for(api, openid="o_sandbox_contract"):
    return (await api.post("/sandbox/wechat/login-code", json={"openid": openid})).json()["code"]


async def jscode2session(api, live, code, **overrides):
    params = {
        "appid": live.settings.wechat.appid,
        "secret": live.settings.wechat.secret.reveal(),
        "js_code": code,
        "grant_type": "authorization_code",
        **overrides,
    }
    return (await api.get("/sandbox/wechat/sns/jscode2session", params=params)).json()


async def test_code2session_rules(api, live):
    body = await jscode2session(api, live, await code_for(api))
    assert set(body) >= {"openid", "session_key"} and body["openid"] == "o_sandbox_contract"
    assert (await jscode2session(api, live, await code_for(api), appid="wx_wrong"))["errcode"] == 40013
    assert (await jscode2session(api, live, await code_for(api), secret="wrong"))["errcode"] == 40125
    code = await code_for(api)
    assert "openid" in await jscode2session(api, live, code)
    assert (await jscode2session(api, live, code))["errcode"] == 40163
    assert (await jscode2session(api, live, "never-issued"))["errcode"] == 40029
    stale = await code_for(api)
    openid, _ = wx(live).login_codes[stale]
    wx(live).login_codes[stale] = (openid, time.time() - 301)  # older than its 5-minute life
    assert (await jscode2session(api, live, stale))["errcode"] == 40029


async def test_each_login_rotates_the_session_key(api, live):
    first = await jscode2session(api, live, await code_for(api, "o_rotating_key"))
    second = await jscode2session(api, live, await code_for(api, "o_rotating_key"))
    assert first["session_key"] != second["session_key"]


async def test_token_semantics(api, live):
    creds = {
        "grant_type": "client_credential",
        "appid": live.settings.wechat.appid,
        "secret": live.settings.wechat.secret.reveal(),
    }
    stable_a = (await api.post("/sandbox/wechat/cgi-bin/stable_token", json=creds)).json()
    stable_b = (await api.post("/sandbox/wechat/cgi-bin/stable_token", json=creds)).json()
    assert stable_a["access_token"] == stable_b["access_token"] and stable_a["expires_in"] > 7000
    classic_a = (await api.get("/sandbox/wechat/cgi-bin/token", params=creds)).json()
    classic_b = (await api.get("/sandbox/wechat/cgi-bin/token", params=creds)).json()
    assert classic_a["access_token"] != classic_b["access_token"]
    # The previous classic token lives on for five minutes; the stable token is independent.
    tokens = wx(live).tokens
    assert tokens[classic_a["access_token"]] <= time.time() + 300
    assert tokens[stable_a["access_token"]] > time.time() + 7000
    wx(live).last_force_refresh = 0
    # Forcing ends the token the service holds, and the service could not force again for 30 s
    # (45009): it is made to fetch the new one, so the tests after this one are not refused.
    await live.app.ctx.adapters.cache.delete("wechat:access_token")
    forced = (await api.post("/sandbox/wechat/cgi-bin/stable_token", json={**creds, "force_refresh": True})).json()
    assert forced["access_token"] != stable_a["access_token"]
    assert stable_a["access_token"] not in tokens
    again = (await api.post("/sandbox/wechat/cgi-bin/stable_token", json={**creds, "force_refresh": True})).json()
    assert again["errcode"] == 45009  # at most one forced refresh per 30 s
    assert (await api.post("/sandbox/wechat/cgi-bin/stable_token", json={**creds, "secret": "x"})).json()[
        "errcode"
    ] == 40001


async def test_access_token_errors(api):
    for token, errcode in (("short", 40014), ("A" * 40, 40001)):
        body = (
            await api.post(
                "/sandbox/wechat/wxa/business/getuserphonenumber", params={"access_token": token}, json={"code": "x"}
            )
        ).json()
        assert body["errcode"] == errcode


async def stable_token(api, live):
    creds = {
        "grant_type": "client_credential",
        "appid": live.settings.wechat.appid,
        "secret": live.settings.wechat.secret.reveal(),
    }
    return (await api.post("/sandbox/wechat/cgi-bin/stable_token", json=creds)).json()["access_token"]


async def test_face_verification_protocol(api, live):
    token = await stable_token(api, live)
    cert = {"cert_type": "IDENTITY_CARD", "cert_name": "张三", "cert_no": "310101199801011234"}
    bad = await api.post(
        "/sandbox/wechat/cityservice/face/identify/getverifyid",
        params={"access_token": token},
        json={"out_seq_no": "bad seq!", "cert_info": cert, "openid": "o1"},
    )
    assert bad.json()["errcode"] == 47001
    started = (
        await api.post(
            "/sandbox/wechat/cityservice/face/identify/getverifyid",
            params={"access_token": token},
            json={"out_seq_no": "seq_contract_01", "cert_info": cert, "openid": "o1"},
        )
    ).json()
    verify_id = started["verify_id"]
    assert started["expires_in"] == 3600
    query = {
        "verify_id": verify_id,
        "out_seq_no": "seq_contract_01",
        "openid": "o1",
        "cert_hash": cert_hash("IDENTITY_CARD", "张三", "310101199801011234"),
    }
    # The reference value from WeChat's documentation.
    assert query["cert_hash"] == "3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b"
    url = "/sandbox/wechat/cityservice/face/identify/queryverifyinfo"
    assert (await api.post(url, params={"access_token": token}, json=query)).json()["verify_ret"] == 90199
    await api.post("/sandbox/wechat/face", json={"verify_id": verify_id, "outcome": "pass"})
    assert (await api.post(url, params={"access_token": token}, json=query)).json()["verify_ret"] == 10000
    wrong = {**query, "cert_hash": "0" * 64}
    assert (await api.post(url, params={"access_token": token}, json=wrong)).json()["errcode"] == 47001
    reused = await api.post(
        "/sandbox/wechat/cityservice/face/identify/getverifyid",
        params={"access_token": token},
        json={"out_seq_no": "seq_contract_01", "cert_info": cert, "openid": "o1"},
    )
    assert reused.json()["errcode"] == 47001


async def test_subscribe_message_rules(api, live):
    token = await stable_token(api, live)
    await code_for(api, "o_subscriber_1")
    url, params = "/sandbox/wechat/cgi-bin/message/subscribe/send", {"access_token": token}
    good = {
        "thing1": {"value": "食品经营许可证"},
        "time2": {"value": "2026-11-21 10:00"},
        "thing3": {"value": "天河区市场监管局"},
        "phrase4": {"value": "核验通过"},
    }
    message = {
        "touser": "o_subscriber_1",
        "template_id": "TPL_LICENCE_CHECKED",
        "data": good,
        "page": "pages/licences/usage",
    }
    assert (await api.post(url, params=params, json=message)).json()["errcode"] == 43101  # not subscribed
    await api.post("/sandbox/wechat/subscribe", json={"openid": "o_subscriber_1", "template_id": "TPL_LICENCE_CHECKED"})
    too_long = {**message, "data": {**good, "thing1": {"value": "超" * 21}}}
    body = (await api.post(url, params=params, json=too_long)).json()
    assert body["errcode"] == 47003 and "thing1" in body["errmsg"]
    assert (await api.post(url, params=params, json={**message, "template_id": "nope"})).json()["errcode"] == 40037
    assert (await api.post(url, params=params, json={**message, "touser": "o_unknown_x"})).json()["errcode"] == 40003
    assert (await api.post(url, params=params, json=message)).json()["errcode"] == 0
    assert (await api.post(url, params=params, json=message)).json()["errcode"] == 43101  # one credit, used
    sent = (await api.get("/sandbox/wechat/messages", params={"openid": "o_subscriber_1"})).json()["messages"]
    assert len(sent) == 1 and sent[0]["data"]["phrase4"]["value"] == "核验通过"
