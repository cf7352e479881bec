"""What every route refuses before a service runs: text no store can hold (U+0000 and the other
control characters, on any route, at any depth of a body or in a query), free text that would
hide or reorder what its reader sees (bidi controls, zero-width characters), dates and times out
of range or not written as ISO 8601, and codes in other scripts' digits. Each is 422
validation_failed naming the field (a bill reference: invalid_bill_ref), and nothing is stored."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest

from app.characters import UNSTORABLE
from models.catalogue import Zone
from models.licences import ConsentGrant, Inspection, Licence
from tests.conftest import Session, pass_face, seed_guangdong_regions
from tests.factories import make_credit_code
from tests.handlers.test_licences import (  # noqa: F401  (world: the shared module fixture)
    World,
    feed_record,
    inspect,
    issue_food,
    make_business,
    present,
    world,
)
from tests.test_payment_support import make_fine, make_notice

ZONES = "/api/v1/admin/catalogue/zones"


def refused_fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed", response.text
    return [problem["field"] for problem in error["context"]["fields"]]


def zone_body(**overrides: object) -> dict:
    return {"slug": "check-" + secrets.token_hex(4), "title": "检查专区", "audiences": ["individual"],
            "region_code": "440100", **overrides}


# --------------------------------------------------------------------------- control characters
async def test_a_nul_in_a_public_login_is_refused_and_named(api):
    response = await api.post("/api/v1/auth/operator-login", json={"username": "a\u0000b", "password": "x" * 12})
    assert refused_fields(response) == ["username"]
    assert response.json()["error"]["context"]["fields"][0]["problem"] == UNSTORABLE


@pytest.mark.parametrize("character", ["\u0000", "\u0007", "\u001b", "\u007f", "\u0085"])
async def test_control_characters_in_a_consent_are_refused_and_nothing_is_granted(api, world, character):  # noqa: F811
    business = await make_business(api, world)
    owner = await pass_face(api, business.owner)
    before = await ConsentGrant.filter(licence_id=business.licence_id).count()
    response = await api.post(f"/api/v1/licences/{business.licence_id}/consents", headers=owner.headers,
                              json={"department": f"公安{character}局", "purpose": f"查{character}验"})
    assert refused_fields(response) == ["department", "purpose"]
    assert await ConsentGrant.filter(licence_id=business.licence_id).count() == before


async def test_a_nul_deep_in_a_licence_is_refused_with_its_path_and_nothing_is_issued(api, world):  # noqa: F811
    credit_code = make_credit_code("440106")
    serial = "JY" + secrets.token_hex(6).upper()
    data = {"licence_no": "44010620\u000026000001", "legal_rep": "王五", "address": "广州市天河区体育西路1号",
            "scope": "热食类食品制售"}
    response = await issue_food(api, world, credit_code, serial=serial, data=data,
                                holder={"name": "某某\u0000公司", "credit_code": credit_code})
    assert sorted(refused_fields(response)) == ["data.licence_no", "holder.name"]
    assert not await Licence.filter(identifier__contains=serial).exists()

    feed = await api.post("/api/v1/licence-feed", json={
        "batch_id": secrets.token_hex(8), "issuer": "11440000MB2C901609",
        "records": [feed_record(credit_code, "A1"), feed_record(credit_code, "A2", data={"scope": ["x\u0000"]})],
    })
    assert refused_fields(feed) == ["records.1.data.scope.0"]


@pytest.mark.parametrize("path", ["/api/v1/admin/licences", "/api/v1/admin/enterprises"])
async def test_a_nul_in_a_query_is_refused_and_named(api, world, path):  # noqa: F811
    response = await api.get(f"{path}?q=a%00b", headers=world.operator.headers)
    assert refused_fields(response) == ["q"]


async def test_tab_and_line_breaks_pass_where_text_may_span_lines(api, operator: Session):
    await seed_guangdong_regions()
    created = await api.post(ZONES, json=zone_body(description="第一行\r\n第二行\t完"), headers=operator.headers)
    assert created.status_code == 201, created.text
    assert created.json()["description"] == "第一行\r\n第二行\t完"
    assert refused_fields(await api.post(ZONES, json=zone_body(title="两\n行"), headers=operator.headers)) == ["title"]


async def test_a_scanned_code_with_control_characters_is_answered_as_a_code_and_recorded(api, world):  # noqa: F811
    before = await Inspection.filter(inspector_id=world.inspector.user_id).count()
    result = await inspect(api, world.inspector, "LC1:\u0000\u001dGS1")
    assert result["valid"] is False
    assert await Inspection.filter(inspector_id=world.inspector.user_id).count() == before + 1


async def test_a_nul_in_an_imported_file_is_reported_and_nothing_is_imported(api, operator: Session):
    code = "IMP" + secrets.token_hex(4).upper()
    response = await api.post("/api/v1/admin/catalogue/import", content=f'[{{"code": "{code}", "name": "a\\u0000b"}}]',
                              headers=operator.headers | {"content-type": "application/json"})
    assert response.status_code == 422, response.text
    [row] = response.json()["error"]["context"]["report"]
    assert {"field": "name", "problem": UNSTORABLE} in row["problems"]


# --------------------------------------------------------------------------- hidden characters
DISGUISED = "\u202e\u200b张三\ufeff"


async def test_a_consent_that_hides_what_it_says_is_refused(api, world):  # noqa: F811
    business = await make_business(api, world)
    owner = await pass_face(api, business.owner)
    url = f"/api/v1/licences/{business.licence_id}/consents"
    response = await api.post(url, headers=owner.headers, json={"department": DISGUISED, "purpose": "查\u2066验\u2069"})
    assert refused_fields(response) == ["department", "purpose"]
    assert not await ConsentGrant.filter(licence_id=business.licence_id).exists()
    fine = await api.post(url, headers=owner.headers, json={"department": "天河区税务局", "purpose": "办理\t税务登记"})
    assert fine.status_code == 201, fine.text


async def test_other_free_text_that_others_read_refuses_hidden_characters(api, world):  # noqa: F811
    business = await make_business(api, world)
    payload = await present(api, business.owner, business.licence_id)
    located = await api.post("/api/v1/inspections", headers=world.inspector.headers, json={
        "payload": payload, "location": {"latitude": 23.1, "longitude": 113.3, "address": "体育西路\u202e1号"}})
    assert refused_fields(located) == ["location.address"]
    status = await api.post(f"/api/v1/admin/licences/{business.licence_id}/status", headers=world.operator.headers,
                            json={"action": "suspend", "reason": "整改\u200b中"})
    assert refused_fields(status) == ["reason"]
    zone = await api.post(ZONES, json=zone_body(title="专\u200d区", description="说\u202a明"),
                          headers=world.operator.headers)
    assert refused_fields(zone) == ["title", "description"]
    department = await api.post("/api/v1/admin/catalogue/departments", headers=world.operator.headers, json={
        "code": make_credit_code("440100"), "name": DISGUISED, "region_code": "440100"})
    assert refused_fields(department) == ["name"]


async def test_a_service_guide_that_hides_what_it_says_is_refused(api, operator: Session):
    code = "IMP" + secrets.token_hex(4).upper()
    response = await api.post("/api/v1/admin/catalogue/import", headers=operator.headers, json=[
        {"code": code, "name": "驾驶证\u202e换领", "aliases": ["换\u200b证"], "guide": {"subject": "公安\u2067局"}}])
    assert response.status_code == 422, response.text
    problems = {p["field"]: p["problem"] for p in response.json()["error"]["context"]["report"][0]["problems"]}
    assert all("formatting characters" in problems.get(field, "") for field in ("name", "aliases")), problems
    assert any("formatting characters" in problem for problem in problems.values() if problem)
    assert not any(field == "name" and "200" in problem for field, problem in problems.items())


# --------------------------------------------------------------------------- dates and times
@pytest.mark.parametrize("times", [
    {"publish_until": "9999-12-31T23:59:59+00:00"},
    {"publish_until": "9999-12-31T23:59:59-12:00"},
    {"publish_from": "0001-01-01T00:00:00+14:00"},
    {"publish_from": "0001-01-01T00:00:00+00:00"},
    {"publish_from": "2100-01-01T00:00:00Z"},
    {"publish_from": 0},
    {"publish_from": "1767225600"},
    {"publish_from": "2026-01-01"},
    {"publish_from": "2026-01-01T00:00:00"},  # no zone
])
async def test_a_zone_time_out_of_range_or_not_iso_is_refused_and_not_stored(api, operator: Session, times):
    body = zone_body(**times)
    assert refused_fields(await api.post(ZONES, json=body, headers=operator.headers)) == list(times)
    assert not await Zone.filter(slug=body["slug"]).exists()


async def test_zone_times_at_the_edges_of_the_range_are_taken(api, operator: Session):
    await seed_guangdong_regions()
    body = zone_body(publish_from="2000-01-01T00:00:00Z", publish_until="2099-12-31T23:59:59+08:00")
    created = await api.post(ZONES, json=body, headers=operator.headers)
    assert created.status_code == 201, created.text
    assert created.json()["publish_from"] == "2000-01-01T08:00:00+08:00"


async def test_a_stored_time_at_the_ends_of_the_calendar_still_lists(api, operator: Session):
    """A row written before times were checked (or by hand) must not break the list for ever."""
    extreme = await Zone.create(slug="extreme-" + secrets.token_hex(4), title="极端", audiences=["individual"],
                                region_code="440100", publish_from=datetime(1, 1, 1, tzinfo=UTC),
                                publish_until=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
    try:
        listed = await api.get(ZONES, params={"status": "draft"}, headers=operator.headers)
        assert listed.status_code == 200, listed.text
        [mine] = [zone for zone in listed.json()["zones"] if zone["id"] == extreme.id]
        assert mine["publish_until"] == "9999-12-31T23:59:59+00:00"
        assert mine["publish_from"] == "0001-01-01T00:00:00+00:00"  # not local mean time, +08:05:43
    finally:
        await extreme.delete()


async def test_a_reconciliation_day_is_a_past_iso_date(api, operator: Session):
    tomorrow = (datetime.now(UTC) + timedelta(hours=8) + timedelta(days=1)).date().isoformat()
    for day in ("0001-01-01", 0, 20260101, "2099-12-31", tomorrow, "2026-02-30", "2026-1-1"):
        response = await api.post("/api/v1/admin/reconciliations", json={"date": day}, headers=operator.headers)
        assert refused_fields(response) == ["date"], day
    for path in ("/api/v1/admin/payments", "/api/v1/admin/reconciliations"):
        response = await api.get(path, params={"date": "0001-01-01"}, headers=operator.headers)
        assert refused_fields(response) == ["date"], path


async def test_licence_days_reach_back_before_2000_but_not_to_year_one(api, world):  # noqa: F811
    credit_code = make_credit_code("440106")
    old = await issue_food(api, world, credit_code, valid_from="1995-06-01", valid_until=None)
    assert old.status_code == 201, old.text
    ancient = await issue_food(api, world, credit_code, valid_from="0001-01-01")
    assert refused_fields(ancient) == ["valid_from"]
    numeric = await issue_food(api, world, credit_code, valid_until=0)
    assert refused_fields(numeric) == ["valid_until"]


# --------------------------------------------------------------------------- ASCII codes
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


async def test_a_bill_reference_in_full_width_digits_is_not_sent_to_the_agency(api, resident: Session):
    fine = await make_fine(api)
    wide = fine["decision_no"].translate(FULL_WIDTH)
    assert wide != fine["decision_no"]
    looked_up = await api.get("/api/v1/fines", params={"decision_no": wide, "plate": fine["plate"]},
                              headers=resident.headers)
    assert looked_up.status_code == 400 and looked_up.json()["error"]["code"] == "invalid_bill_ref", looked_up.text
    opened = await api.post("/api/v1/payments", headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex},
                            json={"bill_type": "fine", "bill_ref": wide, "plate": fine["plate"], "channel": "wechatpay"})
    assert opened.status_code == 400 and opened.json()["error"]["code"] == "invalid_bill_ref", opened.text
    notice = await make_notice(api)
    wide_notice = notice["notice_code"].translate(FULL_WIDTH)
    found = await api.get("/api/v1/bills/" + quote(wide_notice), headers=resident.headers)
    assert found.status_code == 400 and found.json()["error"]["code"] == "invalid_bill_ref", found.text


async def test_region_codes_are_ascii_digits(api, world):  # noqa: F811
    wide = "440106".translate(FULL_WIDTH)
    listed = await api.get("/api/v1/admin/enterprises", params={"region": wide}, headers=world.operator.headers)
    assert refused_fields(listed) == ["region"]
    registered = await api.post("/api/v1/admin/enterprises", headers=world.operator.headers, json={
        "credit_code": make_credit_code("440106"), "name": "广州某某有限公司", "region_code": wide,
        "legal_rep_name": "王五", "legal_rep_id_number": "440106199001011234"})
    assert "region_code" in refused_fields(registered)
    holder = await api.get("/api/v1/admin/licences", params={"holder": "１２"}, headers=world.operator.headers)
    assert refused_fields(holder) == ["holder"]


async def test_an_imported_item_code_is_ascii(api, operator: Session):
    response = await api.post("/api/v1/admin/catalogue/import", headers=operator.headers,
                              json=[{"code": "ＡＢＣ１２３４５６"}])
    assert response.status_code == 422, response.text
    problems = response.json()["error"]["context"]["report"][0]["problems"]
    assert {"field": "code", "problem": "must be 6 to 40 letters or digits"} in problems


async def test_the_deepest_body_json_allows_is_checked_without_recursion(api: httpx.AsyncClient, world: World) -> None:  # noqa: F811
    """orjson reads 1,023 levels of nesting; the check walks them with its own stack (a recursive
    walk hit Python's limit there and answered 500)."""
    deep = "[" * 1022 + '"a\\u0000b"' + "]" * 1022
    body = '{"department": "某局", "purpose": "核验", "extra": ' + deep + "}"
    business = await make_business(api, world)
    owner = await pass_face(api, business.owner)
    response = await api.post(
        f"/api/v1/licences/{business.licence_id}/consents", content=body.encode(),
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert refused_fields(response) == ["extra" + ".0" * 1022]
    assert await ConsentGrant.filter(licence_id=business.licence_id).count() == 0
