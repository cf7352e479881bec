"""The Guangdong demo catalogue: real divisions, enough departments and items, complete guides."""

from __future__ import annotations

import pytest

from app.services.catalogue import demo_data
from app.services.catalogue.content import problems_with_item
from app.services.catalogue.guangdong import CITIES, department_name


@pytest.fixture(scope="module")
def catalogue() -> demo_data.DemoCatalogue:
    return demo_data.generate()


def test_regions_are_guangdong_with_its_21_cities_and_122_counties(catalogue) -> None:
    levels = [r.level for r in catalogue.regions]
    assert levels.count("province") == 1 and levels.count("city") == 21 and levels.count("county") == 122
    codes = {r.code: r for r in catalogue.regions}
    assert codes["440106"].name == "天河区" and codes["440106"].parent_code == "440100"
    assert codes["440305"].name == "南山区" and codes["445381"].name == "罗定市"
    assert all(r.code[:4] == r.parent_code[:4] for r in catalogue.regions if r.level == "county")


def test_county_offices_are_named_as_they_are(catalogue) -> None:
    shaoguan = next(c for c in CITIES if c.code == "440200")
    assert department_name("civil_affairs", city=shaoguan, county="武江区") == "韶关市武江区民政局"
    assert department_name("civil_affairs", city=shaoguan, county="乐昌市") == "乐昌市民政局"
    assert department_name("public_security", city=shaoguan, county="武江区") == "韶关市公安局武江区分局"


def test_departments_items_zones_and_bundles_are_plentiful(catalogue) -> None:
    provincial = {d.name for d in catalogue.departments if d.region_code == "440000"}
    assert len(provincial) >= 40
    assert len(catalogue.items) >= 1000
    assert len(catalogue.zones) == 10 and len(catalogue.bundles) >= 5
    assert len({i.code for i in catalogue.items}) == len(catalogue.items)
    assert all(demo_data.is_valid_credit_code(d.code) for d in catalogue.departments)
    assert all(len(i.code) == 31 and i.code.startswith(i.department_code) for i in catalogue.items)


def test_every_item_has_a_complete_valid_guide(catalogue) -> None:
    departments = {d.code for d in catalogue.departments}
    regions = {r.code for r in catalogue.regions}
    for item in catalogue.items[:: max(1, len(catalogue.items) // 500)]:
        content = {
            "basic_code": item.basic_code,
            "name": item.name,
            "item_type": item.item_type,
            "department_code": item.department_code,
            "region_code": item.region_code,
            "audiences": list(item.audiences),
            "aliases": list(item.aliases),
            "guide": item.guide,
        }
        assert problems_with_item(content, departments=departments, regions=regions) == [], item.name
        guide = item.guide
        assert guide["materials"] and guide["steps"] and guide["faqs"] and guide["legal_basis"]
        assert guide["consulting"]["phone"] and guide["complaint"]["phone"] == "12345"
        assert guide["promised_time_limit_days"] <= guide["legal_time_limit_days"]


def test_materials_say_which_licence_can_supply_them(catalogue) -> None:
    item = next(i for i in catalogue.items if i.name == "机动车驾驶证换证")
    supplied = {m["name"]: m["licence_type"] for m in item.guide["materials"]}
    assert supplied["机动车驾驶证"] == "driving_licence" and supplied["居民身份证"] == "resident_id_card"


def test_generation_is_deterministic_and_scales_exactly() -> None:
    small = demo_data.generate(scale=300)
    again = demo_data.generate(scale=300)
    assert [i.code for i in small.items] == [i.code for i in again.items]
    assert [i.guide for i in small.items] == [i.guide for i in again.items]
    assert len(small.items) == 300
    # Any prefix covers every standard item before repeating one in another region.
    assert len({i.basic_code for i in small.items[:156]}) == 156
    big = demo_data.generate(scale=20_000)
    assert len(big.items) == 20_000 and len({i.code for i in big.items}) == 20_000
    assert [i.code for i in big.items[:300]] == [i.code for i in small.items]
