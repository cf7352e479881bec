from tests.conftest import bind_realname, login, pass_face


async def test_login_realname_face_me(api):
    session = await login(api)
    await bind_realname(api, session)
    await pass_face(api, session)
    me = await api.get("/api/v1/me", headers=session.headers)
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["realname_verified"] is True
    assert body["face_verified_at"] is not None
    assert "resident" in body["roles"]


async def test_healthz(api):
    response = await api.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
