"""Businesses (legal representative and agents), inspector grants, and what others can see."""

from datetime import UTC, datetime, timedelta

from tests.conftest import (
    INSPECTED_TYPE,
    bind_realname,
    ensure_licence_type,
    login,
    make_inspector,
    pass_face,
    seed_guangdong_regions,
)
from tests.factories import make_credit_code, make_id_number


async def register(api, operator, legal_rep_id):
    code = make_credit_code()
    response = await api.post(
        "/api/v1/admin/enterprises",
        json={
            "credit_code": code,
            "name": "广州示例科技有限公司",
            "region_code": "440106",
            "legal_rep_name": "张三",
            "legal_rep_id_number": legal_rep_id,
        },
        headers=operator.headers,
    )
    assert response.status_code == 201, response.text
    return code


async def test_enterprise_registration_validates_codes(api, operator):
    bad = await api.post(
        "/api/v1/admin/enterprises",
        json={
            "credit_code": "91440106MA5CXXXX0X",
            "name": "某公司",
            "region_code": "440106",
            "legal_rep_name": "张三",
            "legal_rep_id_number": make_id_number(),
        },
        headers=operator.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "credit_code_invalid"
    code = await register(api, operator, make_id_number())
    again = await api.post(
        "/api/v1/admin/enterprises",
        json={
            "credit_code": code,
            "name": "重复",
            "region_code": "440106",
            "legal_rep_name": "张三",
            "legal_rep_id_number": make_id_number(),
        },
        headers=operator.headers,
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "enterprise_exists"


async def test_legal_rep_grants_an_agent_who_then_acts_for_the_enterprise(api, operator):
    rep_id = make_id_number()
    code = await register(api, operator, rep_id)
    rep = await pass_face(api, await bind_realname(api, await login(api), name="张三", id_number=rep_id))
    me = (await api.get("/api/v1/me", headers=rep.headers)).json()
    assert [e["relation"] for e in me["enterprises"] if e["credit_code"] == code] == ["legal_representative"]

    agent_id = make_id_number()
    agent = await bind_realname(api, await login(api), name="李四", id_number=agent_id)
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    grant = await api.post(
        f"/api/v1/enterprises/{code}/agents",
        json={"name": "李四", "id_number": agent_id, "scopes": ["licences"], "expires_at": expires},
        headers=rep.headers,
    )
    assert grant.status_code == 201, grant.text
    agent_me = (await api.get("/api/v1/me", headers=agent.headers)).json()
    roles = [e for e in agent_me["enterprises"] if e["credit_code"] == code]
    assert roles and roles[0]["relation"] == "agent" and roles[0]["scopes"] == ["licences"]

    # The agent cannot manage agents; a stranger learns nothing about the enterprise.
    assert (await api.get(f"/api/v1/enterprises/{code}/agents", headers=agent.headers)).status_code == 404
    stranger = await bind_realname(api, await login(api))
    listing = await api.get(f"/api/v1/enterprises/{code}/agents", headers=stranger.headers)
    unknown = await api.get(f"/api/v1/enterprises/{make_credit_code()}/agents", headers=stranger.headers)
    assert listing.status_code == unknown.status_code == 404
    assert listing.json()["error"] == unknown.json()["error"]

    revoke = await api.delete(f"/api/v1/enterprises/{code}/agents/{grant.json()['id']}", headers=rep.headers)
    assert revoke.status_code == 204
    agent_me = (await api.get("/api/v1/me", headers=agent.headers)).json()
    assert not [e for e in agent_me["enterprises"] if e["credit_code"] == code]


async def test_agent_grant_needs_a_known_person_and_valid_scope(api, operator):
    rep_id = make_id_number()
    code = await register(api, operator, rep_id)
    rep = await pass_face(api, await bind_realname(api, await login(api), name="张三", id_number=rep_id))
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    nobody = await api.post(
        f"/api/v1/enterprises/{code}/agents",
        json={"name": "无名", "id_number": make_id_number(), "scopes": ["licences"], "expires_at": expires},
        headers=rep.headers,
    )
    assert nobody.status_code == 404
    assert nobody.json()["error"]["code"] == "user_not_found"
    bad_scope = await api.post(
        f"/api/v1/enterprises/{code}/agents",
        json={"name": "张三", "id_number": rep_id, "scopes": ["everything"], "expires_at": expires},
        headers=rep.headers,
    )
    assert bad_scope.status_code == 422
    past = await api.post(
        f"/api/v1/enterprises/{code}/agents",
        json={"name": "张三", "id_number": rep_id, "scopes": ["licences"], "expires_at": "2020-01-01T00:00:00Z"},
        headers=rep.headers,
    )
    assert past.status_code == 422
    # A time without a zone is ambiguous (and must not reach the comparison with our clock).
    naive = (datetime.now(UTC) + timedelta(days=30)).replace(tzinfo=None).isoformat()
    zoneless = await api.post(
        f"/api/v1/enterprises/{code}/agents",
        json={"name": "张三", "id_number": rep_id, "scopes": ["licences"], "expires_at": naive},
        headers=rep.headers,
    )
    assert zoneless.status_code == 422, zoneless.text
    assert zoneless.json()["error"]["code"] == "validation_failed"
    assert [f["field"] for f in zoneless.json()["error"]["context"]["fields"]] == ["expires_at"]


async def test_inspector_grant_appears_in_profile_and_can_be_withdrawn(api, operator):
    inspector = await make_inspector(api, operator, licence_types=[await ensure_licence_type(api, operator)],
                                     regions=["4401"])
    me = (await api.get("/api/v1/me", headers=inspector.headers)).json()
    assert "inspector" in me["roles"]
    assert me["inspector_scope"] == {"licence_types": [INSPECTED_TYPE], "regions": ["4401"]}
    assert (
        await api.delete(f"/api/v1/admin/inspectors/{inspector.user_id}", headers=operator.headers)
    ).status_code == 204
    again = await api.delete(f"/api/v1/admin/inspectors/{inspector.user_id}", headers=operator.headers)
    assert again.status_code == 404
    missing = await api.put(
        "/api/v1/admin/inspectors/999999999", json={"licence_types": ["X"], "regions": ["44"]}, headers=operator.headers
    )
    assert missing.status_code == 404


async def test_profile_is_cached_and_every_change_through_the_api_shows_at_once(api):
    from models.identity import User

    session = await login(api)
    first = (await api.get("/api/v1/me", headers=session.headers)).json()
    assert first["notify_on_licence_check"] is True
    # A change behind the service's back is not seen while the cached profile lives...
    await User.filter(id=session.user_id).update(notify_on_licence_check=False)
    assert (await api.get("/api/v1/me", headers=session.headers)).json()["notify_on_licence_check"] is True
    # ...while a change through the service drops the cached profile.
    await bind_realname(api, session)
    after = (await api.get("/api/v1/me", headers=session.headers)).json()
    assert after["realname_verified"] is True and after["notify_on_licence_check"] is False


async def _all_pages(api, path, operator, **params):
    """Every item of a paged admin list (the database is shared, so others' rows are there too)."""
    items, offset = [], 0
    while True:
        page = await api.get(path, params={**params, "limit": 200, "offset": offset}, headers=operator.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        offset += 200
        if offset >= body["total"]:
            return items, body["total"]


async def test_operators_list_inspectors_with_scope_and_masked_names(api, operator, resident):
    inspector = await make_inspector(api, operator, licence_types=[await ensure_licence_type(api, operator)],
                                     regions=["4401"])
    items, total = await _all_pages(api, "/api/v1/admin/inspectors", operator)
    mine = [i for i in items if i["user_id"] == inspector.user_id]
    assert mine == [
        {"user_id": inspector.user_id, "name_masked": "*四", "licence_types": [INSPECTED_TYPE], "regions": ["4401"]}
    ]
    assert len(items) == total and all(i["user_id"] != resident.user_id for i in items)
    assert "李四" not in str(items) and inspector.id_number not in str(items)

    await api.delete(f"/api/v1/admin/inspectors/{inspector.user_id}", headers=operator.headers)
    items, _ = await _all_pages(api, "/api/v1/admin/inspectors", operator)
    assert inspector.user_id not in {i["user_id"] for i in items}

    too_many = await api.get("/api/v1/admin/inspectors", params={"limit": 201}, headers=operator.headers)
    assert too_many.status_code == 422
    refused = await api.get("/api/v1/admin/inspectors", headers=resident.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


async def test_operators_list_enterprises_with_the_legal_rep_masked(api, operator, resident):
    rep_id = make_id_number()
    code = await register(api, operator, rep_id)
    page = await api.get(
        "/api/v1/admin/enterprises", params={"region": "440106", "q": "示例科技"}, headers=operator.headers
    )
    assert page.status_code == 200, page.text
    items, _ = await _all_pages(api, "/api/v1/admin/enterprises", operator, region="440106", q="示例科技")
    mine = next(e for e in items if e["credit_code"] == code)
    assert {k: mine[k] for k in ("name", "region_code", "legal_rep_name_masked")} == {
        "name": "广州示例科技有限公司",
        "region_code": "440106",
        "legal_rep_name_masked": "*三",
    }
    assert "张三" not in page.text and rep_id not in page.text
    elsewhere, _ = await _all_pages(api, "/api/v1/admin/enterprises", operator, region="440305")
    assert code not in {e["credit_code"] for e in elsewhere}
    other_name, _ = await _all_pages(api, "/api/v1/admin/enterprises", operator, q="不存在的名称")
    assert other_name == []

    refused = await api.get("/api/v1/admin/enterprises", headers=resident.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


async def test_business_role_comes_with_a_representation_or_a_live_agency_at_login(api, operator):
    """The roles a login puts in the token: business for a legal representative (by the bound
    ID number) and for an unexpired, unrevoked agent; not for anyone else."""
    rep_id, agent_id = make_id_number(), make_id_number()
    code = await register(api, operator, rep_id)
    rep = await pass_face(api, await bind_realname(api, await login(api), name="张三", id_number=rep_id))
    agent = await bind_realname(api, await login(api), name="李四", id_number=agent_id)
    bystander = await bind_realname(api, await login(api))

    async def roles_at_login(session) -> list[str]:
        again = await login(api, session.openid)
        me = await api.get("/api/v1/me", headers=again.headers)
        assert sorted(me.json()["roles"]) == sorted(await login_roles(session))
        return sorted(me.json()["roles"])

    async def login_roles(session) -> list[str]:
        code_ = (await api.post("/sandbox/wechat/login-code", json={"openid": session.openid})).json()["code"]
        return (await api.post("/api/v1/auth/login", json={"code": code_})).json()["user"]["roles"]

    assert await roles_at_login(rep) == ["business", "resident"]
    assert await roles_at_login(agent) == ["resident"]
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    grant = await api.post(
        f"/api/v1/enterprises/{code}/agents",
        json={"name": "李四", "id_number": agent_id, "scopes": ["licences"], "expires_at": expires},
        headers=rep.headers,
    )
    assert grant.status_code == 201, grant.text
    assert await roles_at_login(agent) == ["business", "resident"]
    assert await roles_at_login(bystander) == ["resident"]
    revoke = await api.delete(f"/api/v1/enterprises/{code}/agents/{grant.json()['id']}", headers=rep.headers)
    assert revoke.status_code == 204
    assert await roles_at_login(agent) == ["resident"]
    inspector = await make_inspector(api, operator, licence_types=[await ensure_licence_type(api, operator)],
                                     regions=["44"])
    assert await roles_at_login(inspector) == ["inspector", "resident"]


async def test_inspector_grants_name_known_licence_types_and_regions(api, operator):
    from models.identity import InspectorScope

    licence_type = await ensure_licence_type(api, operator)
    user = await login(api)
    path = f"/api/v1/admin/inspectors/{user.user_id}"
    for types, status, code, context in (
        (["x"], 404, "licence_type_not_found", {"codes": ["x"]}),
        ([""], 404, "licence_type_not_found", {"codes": [""]}),
        ([licence_type, "ZZZZZZZZZZZZZZZZZZZZZ"], 404, "licence_type_not_found", {"codes": ["ZZZZZZZZZZZZZZZZZZZZZ"]}),
    ):
        refused = await api.put(path, json={"licence_types": types, "regions": ["440000"]}, headers=operator.headers)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), refused.text
        assert refused.json()["error"]["context"] == context
    for regions in (["abc"], [""], ["999999"], ["99"], ["000000"], ["440006"], ["44010"], ["4401", "440106x"]):
        refused = await api.put(path, json={"licence_types": [licence_type], "regions": regions}, headers=operator.headers)
        assert refused.status_code == 422, (regions, refused.text)
        assert refused.json()["error"]["code"] == "unknown_region"
        assert refused.json()["error"]["context"]["regions"] == [r for r in regions if r != "4401"]
    assert not await InspectorScope.exists(user_id=user.user_id)

    granted = await api.put(
        path, headers=operator.headers,
        json={"licence_types": [licence_type, licence_type], "regions": ["4401", "440000", "4401", "44"]},
    )
    assert granted.status_code == 200, granted.text
    assert granted.json() == {"user_id": user.user_id, "licence_types": [licence_type], "regions": ["4401", "440000", "44"]}
    scope = await InspectorScope.get(user_id=user.user_id)
    assert (scope.licence_types, scope.regions) == ([licence_type], ["4401", "440000", "44"])

    await seed_guangdong_regions()  # with a region tree, a region must be one of it
    beijing = await api.put(path, json={"licence_types": [licence_type], "regions": ["110105"]}, headers=operator.headers)
    assert beijing.status_code == 422 and beijing.json()["error"]["context"] == {"regions": ["110105"]}
    assert (await InspectorScope.get(user_id=user.user_id)).regions == ["4401", "440000", "44"]


async def test_enterprises_are_registered_in_known_regions(api, operator):
    async def attempt(region_code):
        return await api.post(
            "/api/v1/admin/enterprises",
            json={"credit_code": make_credit_code(), "name": "某某有限公司", "region_code": region_code,
                  "legal_rep_name": "张三", "legal_rep_id_number": make_id_number()},
            headers=operator.headers,
        )

    for region_code in ("999999", "000000", "440006"):
        refused = await attempt(region_code)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == {
            "code": "unknown_region", "message": "A region code is not a known region.",
            "context": {"regions": [region_code]},
        }
    await seed_guangdong_regions()
    assert (await attempt("110105")).status_code == 422  # Beijing: not in the catalogue's tree
    assert (await attempt("440106")).status_code == 201
