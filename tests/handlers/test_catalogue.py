"""Resident catalogue routes over HTTP: regions, zones, guides, bundles, search, ETag and 304."""

from __future__ import annotations

import httpx
import pytest

from app.adapters.clock import SystemClock
from app.services.catalogue.demo_data import generate
from app.services.catalogue.seeding import seed_demo
from tests.conftest import LiveServer

DEMO_SCALE = 400


@pytest.fixture(scope="module", name="demo")
async def demo_catalogue(live: LiveServer) -> dict:
    """A small demo catalogue in the shared database (seeding is idempotent)."""
    await seed_demo(clock=SystemClock(), scale=DEMO_SCALE)
    await live.app.ctx.services.catalogue.search.changed()
    catalogue = generate(scale=DEMO_SCALE)
    by_name = {}
    for item in catalogue.items:
        by_name.setdefault(item.name, item)
    return {"catalogue": catalogue, "by_name": by_name}


async def test_region_tree_lists_the_21_cities_and_answers_304(api: httpx.AsyncClient, demo: dict) -> None:
    response = await api.get("/api/v1/regions")
    assert response.status_code == 200
    province = next(r for r in response.json()["regions"] if r["code"] == "440000")
    assert len(province["children"]) == 21
    guangzhou = next(c for c in province["children"] if c["code"] == "440100")
    assert {"code": "440106", "name": "天河区", "level": "county", "children": []} in guangzhou["children"]
    again = await api.get("/api/v1/regions", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_zones_for_a_district_resolve_entries_to_local_items(api: httpx.AsyncClient, demo: dict) -> None:
    response = await api.get("/api/v1/zones", params={"region": "440103", "audience": "individual"})
    assert response.status_code == 200, response.text
    zones = {z["slug"]: z for z in response.json()["zones"]}
    enterprise = await api.get("/api/v1/zones", params={"region": "440103", "audience": "enterprise"})
    enterprise_zones = {z["slug"] for z in enterprise.json()["zones"]}
    assert "births" in zones and "births" not in enterprise_zones and "startup" in enterprise_zones
    births = zones["births"]
    assert len(births["entries"]) == 6 < births["entry_count"]  # a few tiles on the home page
    kinds = {entry["kind"] for entry in births["entries"]}
    assert kinds == {"service", "bundle"}
    detail = (await api.get(f"/api/v1/zones/{births['id']}", params={"region": "440103"})).json()
    assert len(detail["entries"]) == births["entry_count"]
    birth_certificate = next(e for e in detail["entries"] if e.get("title") == "出生医学证明办理")
    assert birth_certificate["region_code"] == "440103"  # the district's own implementation


async def test_zones_reject_unknown_region_and_audience(api: httpx.AsyncClient, demo: dict) -> None:
    """A query naming a region or audience that does not exist is well-formed but wrong: 422."""
    unknown = await api.get("/api/v1/zones", params={"region": "999999"})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_region"
    audience = await api.get("/api/v1/zones", params={"audience": "martians"})
    assert audience.status_code == 422 and audience.json()["error"]["code"] == "unknown_audience"
    in_query = await api.get("/api/v1/zones/births", params={"region": "999999"})
    assert in_query.status_code == 422 and in_query.json()["error"]["code"] == "unknown_region"
    in_path = await api.get("/api/v1/zones/no-such-zone")  # a path naming a missing row stays 404
    assert in_path.status_code == 404 and in_path.json()["error"]["code"] == "zone_not_found"


async def test_zone_detail_by_slug_and_id(api: httpx.AsyncClient, demo: dict) -> None:
    by_slug = await api.get("/api/v1/zones/elderly", params={"region": "440106"})
    assert by_slug.status_code == 200, by_slug.text
    zone_id = by_slug.json()["id"]
    by_id = await api.get(f"/api/v1/zones/{zone_id}", params={"region": "440106"})
    assert by_id.json() == by_slug.json()
    missing = await api.get("/api/v1/zones/no-such-zone")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "zone_not_found"


async def test_service_guide_has_the_full_guide_and_etag(api: httpx.AsyncClient, demo: dict) -> None:
    item = demo["by_name"]["机动车驾驶证换证"]
    response = await api.get(f"/api/v1/services/{item.code}")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "机动车驾驶证换证" and body["item_type"] == "行政许可"
    guide = body["guide"]
    for key in (
        "materials",
        "steps",
        "legal_time_limit_days",
        "promised_time_limit_days",
        "fees",
        "online_depth",
        "consulting",
        "complaint",
        "faqs",
        "legal_basis",
        "channels",
        "visits",
    ):
        assert key in guide
    assert any(m["licence_type"] == "driving_licence" for m in guide["materials"])
    assert guide["fees"][0]["amount"] == 1000  # fen
    not_modified = await api.get(f"/api/v1/services/{item.code}", headers={"If-None-Match": response.headers["etag"]})
    assert not_modified.status_code == 304
    missing = await api.get("/api/v1/services/NOPE000000")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "service_not_found"


async def test_bundle_merges_materials_and_flow(api: httpx.AsyncClient, demo: dict) -> None:
    response = await api.get("/api/v1/bundles/newborn", params={"region": "440103"})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["title"] == "新生儿出生一件事"
    departments = {item["department"]["name"] for item in bundle["items"]}
    assert len(departments) >= 3  # several departments, one thing to do
    names = [m["name"] for m in bundle["materials"]]
    assert len(names) == len(set(names))
    id_card = next(m for m in bundle["materials"] if m["name"] == "居民身份证")
    assert len(id_card["used_by"]) >= 2
    assert bundle["flow"][0]["name"] == "一次申请" and bundle["flow"][-1]["name"] == "统一出件"
    missing = await api.get("/api/v1/bundles/no-such-bundle")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "bundle_not_found"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("换驾照", "机动车驾驶证换证"),
        ("jiashizheng", "机动车驾驶证"),
        ("sbk", "社会保障卡"),
        ("生孩子", "出生医学证明"),
    ],
)
async def test_search_understands_everyday_words_and_pinyin(
    api: httpx.AsyncClient, demo: dict, query: str, expected: str
) -> None:
    response = await api.get("/api/v1/search", params={"q": query})
    assert response.status_code == 200, response.text
    names = [item["name"] for item in response.json()["items"][:3]]
    assert any(name.startswith(expected) for name in names), names


async def test_search_filters_by_region_and_audience(api: httpx.AsyncClient, demo: dict) -> None:
    response = await api.get("/api/v1/search", params={"q": "出生医学证明", "region": "440103"})
    items = response.json()["items"]
    assert items and items[0]["region"]["code"] == "440103"
    enterprise = await api.get("/api/v1/search", params={"q": "登记", "audience": "enterprise"})
    assert enterprise.status_code == 200
    audiences = {item.code: item.audiences for item in demo["catalogue"].items}
    codes = [item["code"] for item in enterprise.json()["items"] if item["code"] in audiences]
    assert codes and all("enterprise" in audiences[code] for code in codes)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"q": ""}, 400, "search_query_empty"),
        ({"q": "   "}, 400, "search_query_empty"),
        ({"q": "驾" * 500}, 400, "search_query_too_long"),
        ({"q": "驾驶证\x00"}, 400, "search_query_invalid"),
        ({"q": "驾驶\u202e证"}, 400, "search_query_invalid"),
        ({"q": "驾驶证", "region": "12345678"}, 422, "unknown_region"),
        ({"q": "驾驶证", "audience": "robots"}, 422, "unknown_audience"),
    ],
)
async def test_search_rejects_bad_input_with_its_own_codes(
    api: httpx.AsyncClient, demo: dict, params: dict, status: int, code: str
) -> None:
    response = await api.get("/api/v1/search", params=params)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("query", ["'; DROP TABLE catalogue_items; --", "(.*)+[", "%_\\", "a|b*c?", "{{7*7}}"])
async def test_search_is_safe_with_sql_and_regex_metacharacters(api: httpx.AsyncClient, demo: dict, query: str) -> None:
    response = await api.get("/api/v1/search", params={"q": query})
    assert response.status_code == 200
    assert isinstance(response.json()["items"], list)
    still_there = await api.get("/api/v1/search", params={"q": "驾驶证"})
    assert still_there.json()["total"] > 0


async def test_search_pages(api: httpx.AsyncClient, demo: dict) -> None:
    first = (await api.get("/api/v1/search", params={"q": "登记", "page_size": 5})).json()
    second = (await api.get("/api/v1/search", params={"q": "登记", "page_size": 5, "page": 2})).json()
    assert first["total"] > 5 and first["has_more"]
    assert not {i["code"] for i in first["items"]} & {i["code"] for i in second["items"]}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/regions",
        "/api/v1/zones?region=440106&audience=individual",
        "/api/v1/zones/births?region=440106",
        "/api/v1/bundles/newborn?region=440106",
        "/api/v1/search?q=%E9%A9%BE%E9%A9%B6%E8%AF%81&region=440106",
    ],
)
async def test_every_read_answers_304_to_its_etag(api: httpx.AsyncClient, demo: dict, path: str) -> None:
    first = await api.get(path)
    assert first.status_code == 200 and first.headers["etag"].startswith('"')
    again = await api.get(path, headers={"If-None-Match": f'W/"nope", {first.headers["etag"]}'})
    assert again.status_code == 304 and again.headers["etag"] == first.headers["etag"]
    other = await api.get(path, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content == first.content
    star = await api.get(path, headers={"If-None-Match": "*"})
    assert star.status_code == 304 and star.content == b""
