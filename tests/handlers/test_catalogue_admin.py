"""Operator catalogue routes: lifecycle, conflicts, zones, bundles, import/export, change log."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import secrets

import httpx
import pytest

from tests.conftest import ON_POSTGRES, Session
from tests.handlers.test_catalogue import demo_catalogue  # noqa: F401  (the shared `demo` fixture)

ADMIN = "/api/v1/admin/catalogue"

# Every operator route with a minimal request: (method, path, json body).
ADMIN_ROUTES = [
    ("GET", "/items", None),
    ("POST", "/items", {}),
    ("GET", "/items/X1234567", None),
    ("PATCH", "/items/X1234567", {"revision": 1}),
    ("POST", "/items/X1234567/publish", {"revision": 1}),
    ("POST", "/items/X1234567/retire", {"revision": 1}),
    ("GET", "/items/X1234567/versions", None),
    ("POST", "/departments", {}),
    ("POST", "/zones", {}),
    ("PUT", "/zones/order", {"zone_ids": [1]}),
    ("GET", "/zones/1", None),
    ("PATCH", "/zones/1", {"revision": 1}),
    ("PUT", "/zones/1/entries", {"revision": 1, "entries": []}),
    ("POST", "/zones/1/publish", {"revision": 1}),
    ("POST", "/zones/1/retire", {"revision": 1}),
    ("POST", "/bundles", {}),
    ("PATCH", "/bundles/1", {"revision": 1}),
    ("POST", "/bundles/1/publish", {"revision": 1}),
    ("POST", "/bundles/1/retire", {"revision": 1}),
    ("POST", "/import", None),
    ("GET", "/export", None),
    ("GET", "/changes", None),
]


def new_code() -> str:
    return "T" + secrets.token_hex(8).upper()


def item_payload(demo: dict, **overrides: object) -> dict:
    department = next(
        d for d in demo["catalogue"].departments if d.region_code == "440106" and d.kind == "civil_affairs"
    )
    payload = {
        "code": new_code(),
        "basic_code": "20" + secrets.token_hex(4).upper(),
        "name": "测试专用婚姻家庭辅导预约",
        "item_type": "公共服务",
        "department_code": department.code,
        "region_code": "440106",
        "audiences": ["individual"],
        "aliases": ["婚姻辅导"],
        "guide": {
            "materials": [
                {
                    "name": "居民身份证",
                    "form": "original",
                    "copies": 1,
                    "required": True,
                    "licence_type": "resident_id_card",
                }
            ],
            "steps": [{"name": "预约", "time_limit_days": 0}],
            "legal_time_limit_days": 5,
            "promised_time_limit_days": 2,
            "fees": [],
            "online_depth": 4,
            "visits": 0,
        },
    }
    payload.update(overrides)
    return payload


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
async def test_every_operator_route_refuses_residents_and_strangers(
    api: httpx.AsyncClient, resident: Session, method: str, path: str, body: dict | None
) -> None:
    anonymous = await api.request(method, ADMIN + path, json=body)
    assert anonymous.status_code == 401
    as_resident = await api.request(method, ADMIN + path, json=body, headers=resident.headers)
    assert as_resident.status_code == 403
    assert as_resident.json()["error"]["code"] == "forbidden"


async def test_item_lifecycle_draft_publish_edit_retire(api: httpx.AsyncClient, operator: Session, demo: dict) -> None:
    payload = item_payload(demo)
    code = payload["code"]
    created = await api.post(f"{ADMIN}/items", json=payload, headers=operator.headers)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft" and created.json()["revision"] == 1
    # A draft is invisible to residents.
    assert (await api.get(f"/api/v1/services/{code}")).status_code == 404

    published = await api.post(f"{ADMIN}/items/{code}/publish", json={"revision": 1}, headers=operator.headers)
    assert published.status_code == 200, published.text
    live = await api.get(f"/api/v1/services/{code}")
    assert live.status_code == 200 and live.json()["name"] == "测试专用婚姻家庭辅导预约"
    found = await api.get("/api/v1/search", params={"q": "婚姻家庭辅导"})
    assert code in [i["code"] for i in found.json()["items"]]

    # Editing a published item changes the working copy only, until the next publish.
    edited = await api.patch(
        f"{ADMIN}/items/{code}",
        json={"revision": 1, "name": "测试专用婚姻家庭辅导预约（新版）"},
        headers=operator.headers,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["revision"] == 2 and edited.json()["has_unpublished_changes"]
    preview = (await api.get(f"{ADMIN}/items/{code}", headers=operator.headers)).json()
    assert preview["content"]["name"].endswith("（新版）")
    assert preview["pending_changes"]["name"] == ["测试专用婚姻家庭辅导预约", "测试专用婚姻家庭辅导预约（新版）"]
    assert (await api.get(f"/api/v1/services/{code}")).json()["name"] == "测试专用婚姻家庭辅导预约"

    await api.post(f"{ADMIN}/items/{code}/publish", json={"revision": 2}, headers=operator.headers)
    assert (await api.get(f"/api/v1/services/{code}")).json()["name"].endswith("（新版）")
    versions = (await api.get(f"{ADMIN}/items/{code}/versions", headers=operator.headers)).json()["versions"]
    assert [v["revision"] for v in versions] == [2, 1]

    retired = await api.post(f"{ADMIN}/items/{code}/retire", json={"revision": 2}, headers=operator.headers)
    assert retired.json()["status"] == "retired"
    assert (await api.get(f"/api/v1/services/{code}")).status_code == 404
    gone = await api.get("/api/v1/search", params={"q": "婚姻家庭辅导"})
    assert code not in [i["code"] for i in gone.json()["items"]]
    refused = await api.patch(f"{ADMIN}/items/{code}", json={"revision": 2, "name": "再改"}, headers=operator.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "transition_not_allowed"

    log = (await api.get(f"{ADMIN}/changes", params={"key": code}, headers=operator.headers)).json()["changes"]
    assert [c["action"] for c in log] == ["retire", "publish", "update", "publish", "create"]
    assert all(c["actor_id"] == operator.user_id for c in log)
    assert log[2]["changes"]["name"][1].endswith("（新版）")


async def test_item_bad_input_gets_clear_codes(api: httpx.AsyncClient, operator: Session, demo: dict) -> None:
    unknown_department = await api.post(
        f"{ADMIN}/items", json=item_payload(demo, department_code="11440000MA000000X0"), headers=operator.headers
    )
    assert unknown_department.status_code == 422 and unknown_department.json()["error"]["code"] == "unknown_department"
    unknown_region = await api.post(
        f"{ADMIN}/items", json=item_payload(demo, region_code="449999"), headers=operator.headers
    )
    assert unknown_region.status_code == 422 and unknown_region.json()["error"]["code"] == "unknown_region"
    bad_guide = item_payload(demo)
    bad_guide["guide"]["promised_time_limit_days"] = 50
    bad = await api.post(f"{ADMIN}/items", json=bad_guide, headers=operator.headers)
    assert bad.status_code == 422
    assert {"field": "guide.promised_time_limit_days", "problem": "cannot exceed the legal time limit"} in (
        bad.json()["error"]["context"]["fields"]
    )
    payload = item_payload(demo)
    assert (await api.post(f"{ADMIN}/items", json=payload, headers=operator.headers)).status_code == 201
    again = await api.post(f"{ADMIN}/items", json=payload, headers=operator.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_exists"
    missing = await api.get(f"{ADMIN}/items/NOSUCH0001", headers=operator.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "service_not_found"


async def test_a_loose_guide_is_refused_field_by_field_in_every_way_in(
    api: httpx.AsyncClient, operator: Session, demo: dict
) -> None:
    payload = item_payload(demo)
    loose = {**payload["guide"], "free_of_charge": "maybe", "channels": "window", "colour": "blue"}
    expected = {
        "guide.free_of_charge": "must be true or false",
        "guide.channels": "must be a list of distinct channels: window, mini_program, web, mail, app",
        "guide.colour": "unknown field",
    }

    created = await api.post(f"{ADMIN}/items", json={**payload, "guide": loose}, headers=operator.headers)
    assert created.status_code == 422, created.text
    assert created.json()["error"]["code"] == "validation_failed"
    assert {p["field"]: p["problem"] for p in created.json()["error"]["context"]["fields"]} == expected
    assert (await api.get(f"{ADMIN}/items/{payload['code']}", headers=operator.headers)).status_code == 404

    assert (await api.post(f"{ADMIN}/items", json=payload, headers=operator.headers)).status_code == 201
    edited = await api.patch(
        f"{ADMIN}/items/{payload['code']}", json={"revision": 1, "guide": loose}, headers=operator.headers
    )
    assert edited.status_code == 422 and edited.json()["error"]["code"] == "validation_failed"
    assert {p["field"] for p in edited.json()["error"]["context"]["fields"]} == set(expected)
    unchanged = (await api.get(f"{ADMIN}/items/{payload['code']}", headers=operator.headers)).json()
    assert unchanged["revision"] == 1 and unchanged["content"]["guide"] == payload["guide"]

    row = {**item_payload(demo), "guide": loose}
    imported = await api.post(
        f"{ADMIN}/import",
        params={"publish": "true"},
        content=json.dumps([row]),
        headers={**operator.headers, "content-type": "application/json"},
    )
    assert imported.status_code == 422 and imported.json()["error"]["code"] == "import_rejected"
    report = imported.json()["error"]["context"]["report"]
    assert [(r["row"], r["code"]) for r in report] == [(1, row["code"])]
    assert {p["field"]: p["problem"] for p in report[0]["problems"]} == expected
    assert (await api.get(f"/api/v1/services/{row['code']}")).status_code == 404


async def test_stale_revision_is_a_conflict(api: httpx.AsyncClient, operator: Session, demo: dict) -> None:
    payload = item_payload(demo)
    code = payload["code"]
    await api.post(f"{ADMIN}/items", json=payload, headers=operator.headers)
    first = await api.patch(f"{ADMIN}/items/{code}", json={"revision": 1, "aliases": ["一"]}, headers=operator.headers)
    assert first.status_code == 200
    stale = await api.patch(f"{ADMIN}/items/{code}", json={"revision": 1, "aliases": ["二"]}, headers=operator.headers)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "revision_conflict"
    stale_publish = await api.post(f"{ADMIN}/items/{code}/publish", json={"revision": 1}, headers=operator.headers)
    assert stale_publish.status_code == 409


async def test_edit_racing_a_publish_never_publishes_unseen_content(
    api: httpx.AsyncClient, operator: Session, demo: dict
) -> None:
    """Both name revision 1. Whatever the interleaving, residents only ever see content an
    operator published, and a loser gets 409 revision_conflict with nothing half-written."""
    for _ in range(5 if ON_POSTGRES else 2):
        payload = item_payload(demo)
        code = payload["code"]
        await api.post(f"{ADMIN}/items", json=payload, headers=operator.headers)
        edit, publish = await asyncio.gather(
            api.patch(
                f"{ADMIN}/items/{code}", json={"revision": 1, "name": "并发修改的名称"}, headers=operator.headers
            ),
            api.post(f"{ADMIN}/items/{code}/publish", json={"revision": 1}, headers=operator.headers),
        )
        assert {edit.status_code, publish.status_code} <= {200, 409} and 200 in (edit.status_code, publish.status_code)
        for loser in (r for r in (edit, publish) if r.status_code == 409):
            assert loser.json()["error"]["code"] == "revision_conflict"
        item = (await api.get(f"{ADMIN}/items/{code}", headers=operator.headers)).json()
        assert item["revision"] == (2 if edit.status_code == 200 else 1)
        assert item["content"]["name"] == ("并发修改的名称" if edit.status_code == 200 else payload["name"])
        live = await api.get(f"/api/v1/services/{code}")
        if publish.status_code == 200:
            assert live.json()["name"] == payload["name"] and live.json()["revision"] == 1
        else:
            assert live.status_code == 404 and item["status"] == "draft"


async def test_operator_configures_a_zone_end_to_end(api: httpx.AsyncClient, operator: Session, demo: dict) -> None:
    births = demo["catalogue"].basic_codes
    slug = "test-zone-" + secrets.token_hex(3)
    created = await api.post(
        f"{ADMIN}/zones",
        json={
            "slug": slug,
            "title": "测试专区",
            "icon": "zone-test",
            "description": "测试",
            "audiences": ["individual"],
            "region_code": "440100",
        },
        headers=operator.headers,
    )
    assert created.status_code == 201, created.text
    zone = created.json()
    entries = [
        {"kind": "service", "basic_code": births["出生医学证明办理"]},
        {"kind": "bundle", "bundle_slug": "newborn", "title": "生娃一件事"},
        {"kind": "service", "basic_code": births["生育登记"]},
    ]
    set_entries = await api.put(
        f"{ADMIN}/zones/{zone['id']}/entries", json={"revision": 1, "entries": entries}, headers=operator.headers
    )
    assert set_entries.status_code == 200, set_entries.text
    listing = await api.get("/api/v1/zones", params={"region": "440103"})
    assert slug not in {z["slug"] for z in listing.json()["zones"]}  # still a draft

    published = await api.post(f"{ADMIN}/zones/{zone['id']}/publish", json={"revision": 2}, headers=operator.headers)
    assert published.status_code == 200, published.text
    listing = await api.get("/api/v1/zones", params={"region": "440103"})
    mine = next(z for z in listing.json()["zones"] if z["slug"] == slug)
    assert [e["title"] for e in mine["entries"]] == ["出生医学证明办理", "生娃一件事", "生育登记"]
    # Outside the zone's region it is not shown.
    shenzhen = await api.get("/api/v1/zones", params={"region": "440305"})
    assert slug not in {z["slug"] for z in shenzhen.json()["zones"]}

    reordered = await api.put(
        f"{ADMIN}/zones/{zone['id']}/entries", json={"revision": 2, "entries": entries[::-1]}, headers=operator.headers
    )
    assert reordered.status_code == 200
    etag = listing.headers["etag"]
    listing = await api.get("/api/v1/zones", params={"region": "440103"}, headers={"If-None-Match": etag})
    assert listing.status_code == 200  # the publish invalidated the cached listing
    mine = next(z for z in listing.json()["zones"] if z["slug"] == slug)
    assert [e["title"] for e in mine["entries"]] == ["生育登记", "生娃一件事", "出生医学证明办理"]

    window = await api.patch(
        f"{ADMIN}/zones/{zone['id']}",
        json={"revision": 3, "publish_from": "2099-01-01T00:00:00+08:00"},
        headers=operator.headers,
    )
    assert window.status_code == 200, window.text
    listing = await api.get("/api/v1/zones", params={"region": "440103"})
    assert slug not in {z["slug"] for z in listing.json()["zones"]}  # not yet in its publish window
    assert (await api.get(f"/api/v1/zones/{slug}")).status_code == 404


async def test_zone_entries_must_exist(api: httpx.AsyncClient, operator: Session, demo: dict) -> None:
    slug = "test-zone-" + secrets.token_hex(3)
    zone = (
        await api.post(
            f"{ADMIN}/zones",
            json={"slug": slug, "title": "错", "audiences": ["individual"], "region_code": "440000"},
            headers=operator.headers,
        )
    ).json()
    bad = await api.put(
        f"{ADMIN}/zones/{zone['id']}/entries",
        json={
            "revision": 1,
            "entries": [{"kind": "service", "basic_code": "99999999"}, {"kind": "bundle", "bundle_slug": "nope"}],
        },
        headers=operator.headers,
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_entries"
    assert bad.json()["error"]["context"]["unknown_basic_codes"] == ["99999999"]
    assert (await api.get(f"{ADMIN}/zones/{zone['id']}", headers=operator.headers)).json()["entries"] == []


async def test_operator_creates_and_publishes_a_bundle(api: httpx.AsyncClient, operator: Session, demo: dict) -> None:
    codes = demo["catalogue"].basic_codes
    slug = "test-bundle-" + secrets.token_hex(3)
    created = await api.post(
        f"{ADMIN}/bundles",
        json={
            "slug": slug,
            "title": "结婚生育一件事",
            "audiences": ["individual"],
            "region_code": "440000",
            "basic_codes": [codes["内地居民结婚登记"], codes["生育登记"]],
        },
        headers=operator.headers,
    )
    assert created.status_code == 201, created.text
    assert (await api.get(f"/api/v1/bundles/{slug}")).status_code == 404
    bundle_id = created.json()["id"]
    await api.post(f"{ADMIN}/bundles/{bundle_id}/publish", json={"revision": 1}, headers=operator.headers)
    detail = await api.get(f"/api/v1/bundles/{bundle_id}", params={"region": "440103"})
    assert detail.status_code == 200, detail.text
    assert [i["name"] for i in detail.json()["items"]] == ["内地居民结婚登记", "生育登记"]
    unknown = await api.post(
        f"{ADMIN}/bundles",
        json={
            "slug": slug + "x",
            "title": "坏的一件事",
            "audiences": ["individual"],
            "region_code": "440000",
            "basic_codes": ["NOPE0001", codes["生育登记"]],
        },
        headers=operator.headers,
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "invalid_entries"


async def test_import_is_all_or_nothing_with_a_row_report(
    api: httpx.AsyncClient, operator: Session, demo: dict
) -> None:
    good = [item_payload(demo, name=f"测试导入事项{i}") for i in range(3)]
    bad_row = item_payload(demo, item_type="行政魔法", region_code="000000")
    rejected = await api.post(
        f"{ADMIN}/import",
        content=json.dumps([*good, bad_row]),
        headers={**operator.headers, "content-type": "application/json"},
    )
    assert rejected.status_code == 422 and rejected.json()["error"]["code"] == "import_rejected"
    report = rejected.json()["error"]["context"]["report"]
    assert [r["row"] for r in report] == [4]
    assert {p["field"] for p in report[0]["problems"]} == {"item_type", "region_code"}
    for row in good:  # nothing half-written
        assert (await api.get(f"{ADMIN}/items/{row['code']}", headers=operator.headers)).status_code == 404

    imported = await api.post(
        f"{ADMIN}/import",
        params={"publish": "true"},
        content=json.dumps(good),
        headers={**operator.headers, "content-type": "application/json"},
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == 3
    assert (await api.get(f"/api/v1/services/{good[0]['code']}")).status_code == 200


async def test_csv_import_and_export_round_trip(api: httpx.AsyncClient, operator: Session, demo: dict) -> None:
    rows = [item_payload(demo, name=f"测试CSV事项{i}") for i in range(2)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                **row,
                "audiences": "|".join(row["audiences"]),
                "aliases": "|".join(row["aliases"]),
                "guide": json.dumps(row["guide"], ensure_ascii=False),
            }
        )
    imported = await api.post(
        f"{ADMIN}/import",
        params={"format": "csv"},
        content=buffer.getvalue().encode(),
        headers={**operator.headers, "content-type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == 2
    exported = await api.get(f"{ADMIN}/export", params={"format": "csv", "status": "draft"}, headers=operator.headers)
    assert exported.headers["content-type"].startswith("text/csv")
    back = {r["code"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert back[rows[0]["code"]]["name"] == "测试CSV事项0"
    assert json.loads(back[rows[0]["code"]]["guide"]) == rows[0]["guide"]
    as_json = await api.get(f"{ADMIN}/export", params={"status": "draft"}, headers=operator.headers)
    assert rows[1]["code"] in {i["code"] for i in as_json.json()["items"]}

    broken = await api.post(
        f"{ADMIN}/import",
        params={"format": "csv"},
        content=b"\xff\xfe\x00garbage",
        headers={**operator.headers, "content-type": "text/csv"},
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "import_unreadable"


async def test_views_raise_an_item_in_the_ranking(api: httpx.AsyncClient, operator: Session, demo: dict, live) -> None:
    first, second = item_payload(demo, name="测试热度排序事项"), item_payload(demo, name="测试热度排序事项")
    await api.post(
        f"{ADMIN}/import",
        params={"publish": "true"},
        content=json.dumps([first, second]),
        headers={**operator.headers, "content-type": "application/json"},
    )
    ours = {first["code"], second["code"]}

    async def ranked() -> list[str]:
        found = (await api.get("/api/v1/search", params={"q": "测试热度排序事项"})).json()["items"]
        return [i["code"] for i in found if i["code"] in ours]

    before = await ranked()
    assert set(before) == ours
    underdog = before[-1]
    for _ in range(3):
        assert (await api.get(f"/api/v1/services/{underdog}")).status_code == 200
    await live.app.ctx.services.catalogue.search._flush_views()
    after = await ranked()
    assert after[0] == underdog


async def test_a_publish_reaches_the_other_workers_index(
    api: httpx.AsyncClient, operator: Session, demo: dict, live, tmp_path
) -> None:
    """The second server shares only the database (on the embedded default it has its own
    in-process cache): the catalogue version in the database is what tells it."""
    from tests.conftest import make_settings, start_server, stop_server

    other = await start_server(make_settings(str(tmp_path)), name="gov_catalogue_second", manage_orm=False)
    try:
        payload = item_payload(demo, name="测试跨进程同步事项")
        await api.post(f"{ADMIN}/items", json=payload, headers=operator.headers)
        await api.post(f"{ADMIN}/items/{payload['code']}/publish", json={"revision": 1}, headers=operator.headers)
        async with httpx.AsyncClient(base_url=other.base_url, trust_env=False) as second:
            for _ in range(50):
                found = (await second.get("/api/v1/search", params={"q": "测试跨进程同步事项"})).json()["items"]
                if payload["code"] in {i["code"] for i in found}:
                    break
                await asyncio.sleep(0.1)
            assert found[0]["code"] == payload["code"]
    finally:
        await stop_server(other)


async def _every_page(api: httpx.AsyncClient, path: str, operator: Session, key: str) -> list[dict]:
    rows: list[dict] = []
    offset = 0
    while True:
        page = await api.get(path, params={"limit": 200, "offset": offset}, headers=operator.headers)
        assert page.status_code == 200, page.text
        rows += page.json()[key]
        offset += 200
        if offset >= page.json()["total"]:
            return rows


async def test_operators_list_every_zone_with_entry_counts(
    api: httpx.AsyncClient, operator: Session, resident: Session, demo: dict
) -> None:
    births = demo["catalogue"].basic_codes
    slug = "test-zone-" + secrets.token_hex(3)
    zone = (
        await api.post(
            f"{ADMIN}/zones",
            json={"slug": slug, "title": "列表专区", "audiences": ["individual"], "region_code": "440100"},
            headers=operator.headers,
        )
    ).json()
    entries = [{"kind": "service", "basic_code": births["生育登记"]}, {"kind": "bundle", "bundle_slug": "newborn"}]
    await api.put(
        f"{ADMIN}/zones/{zone['id']}/entries", json={"revision": 1, "entries": entries}, headers=operator.headers
    )
    zones = await _every_page(api, f"{ADMIN}/zones", operator, "zones")
    mine = next(z for z in zones if z["id"] == zone["id"])
    assert mine["slug"] == slug and mine["status"] == "draft" and mine["revision"] == 2
    assert mine["entry_count"] == 2 and mine["region_code"] == "440100"
    assert mine["publish_from"] is None and mine["publish_until"] is None
    assert any(z["status"] == "published" for z in zones)  # the demo's live zones are listed too

    first = await api.get(f"{ADMIN}/zones", params={"limit": 1}, headers=operator.headers)
    assert len(first.json()["zones"]) == 1 and first.json()["total"] == len(zones)
    drafts = await api.get(f"{ADMIN}/zones", params={"status": "draft", "limit": 200}, headers=operator.headers)
    assert {z["status"] for z in drafts.json()["zones"]} == {"draft"}
    assert (await api.get(f"{ADMIN}/zones", params={"limit": 201}, headers=operator.headers)).status_code == 422
    refused = await api.get(f"{ADMIN}/zones", headers=resident.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


async def test_operators_list_and_open_bundles_with_items_and_materials(
    api: httpx.AsyncClient, operator: Session, resident: Session, demo: dict
) -> None:
    draft_item = item_payload(demo)  # a draft with its own basic code: listed in the bundle's detail
    assert (await api.post(f"{ADMIN}/items", json=draft_item, headers=operator.headers)).status_code == 201
    codes = demo["catalogue"].basic_codes
    slug = "test-bundle-" + secrets.token_hex(3)
    created = await api.post(
        f"{ADMIN}/bundles",
        json={
            "slug": slug,
            "title": "测试一件事",
            "audiences": ["individual"],
            "region_code": "440106",
            "basic_codes": [codes["生育登记"], draft_item["basic_code"]],
        },
        headers=operator.headers,
    )
    assert created.status_code == 201, created.text
    bundle_id = created.json()["id"]

    bundles = await _every_page(api, f"{ADMIN}/bundles", operator, "bundles")
    mine = next(b for b in bundles if b["id"] == bundle_id)
    assert mine["status"] == "draft" and mine["revision"] == 1
    assert mine["basic_codes"] == [codes["生育登记"], draft_item["basic_code"]]

    detail = await api.get(f"{ADMIN}/bundles/{bundle_id}", headers=operator.headers)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["slug"] == slug and body["revision"] == 1 and body["status"] == "draft"
    assert [i["basic_code"] for i in body["items"]] == [codes["生育登记"], draft_item["basic_code"]]
    assert len(body["items"][0]["implementations"]) >= 1
    assert [i["code"] for i in body["items"][1]["implementations"]] == [draft_item["code"]]
    assert body["items"][1]["implementations"][0]["status"] == "draft"
    assert body["missing_basic_codes"] == []
    id_card = next(m for m in body["materials"] if m["name"] == "居民身份证")
    assert draft_item["code"] in id_card["used_by"]

    missing = await api.get(f"{ADMIN}/bundles/999999999", headers=operator.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "bundle_not_found"
    for path in ("/bundles", f"/bundles/{bundle_id}"):
        refused = await api.get(ADMIN + path, headers=resident.headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


async def test_catalogue_answers_write_times_in_shanghai(api: httpx.AsyncClient, operator: Session, demo: dict) -> None:
    """Every answer's times go out as +08:00 (README "The API"), the catalogue's included."""
    payload = item_payload(demo)
    code = payload["code"]
    created = await api.post(f"{ADMIN}/items", json=payload, headers=operator.headers)
    assert created.status_code == 201, created.text
    published = await api.post(f"{ADMIN}/items/{code}/publish", json={"revision": 1}, headers=operator.headers)
    assert published.json()["published_at"].endswith("+08:00"), published.text
    assert published.json()["updated_at"] is None or published.json()["updated_at"].endswith("+08:00")
    live = await api.get(f"/api/v1/services/{code}")
    assert live.json()["published_at"].endswith("+08:00"), live.text
    versions = (await api.get(f"{ADMIN}/items/{code}/versions", headers=operator.headers)).json()["versions"]
    assert versions[0]["published_at"].endswith("+08:00")
    log = (await api.get(f"{ADMIN}/changes", params={"key": code}, headers=operator.headers)).json()["changes"]
    assert log and all(change["at"].endswith("+08:00") for change in log)

    zone = await api.post(
        f"{ADMIN}/zones",
        json={
            "slug": "test-zone-" + secrets.token_hex(3),
            "title": "时间专区",
            "audiences": ["individual"],
            "region_code": "440100",
            "publish_from": "2026-01-01T00:00:00Z",
            "publish_until": "2027-09-30T23:59:59+08:00",
        },
        headers=operator.headers,
    )
    assert zone.status_code == 201, zone.text
    assert zone.json()["publish_from"] == "2026-01-01T08:00:00+08:00"
    assert zone.json()["publish_until"] == "2027-09-30T23:59:59+08:00"
