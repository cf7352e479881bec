"""Pure catalogue rules: allowed status moves, content checks, bundle merging, CSV parsing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.services.catalogue.admin import TRANSITIONS, _transition
from app.services.catalogue.bundles import merged_flow, merged_materials
from app.services.catalogue.content import GUIDE_SCHEMA, changed_fields, guide_json_schema, problems_with_item
from app.services.catalogue.errors import ImportUnreadable, TransitionNotAllowed
from app.services.catalogue.transfer import parse_rows


@pytest.mark.parametrize("status", ["draft", "published", "retired"])
@pytest.mark.parametrize("action", ["edit", "publish", "retire"])
def test_only_listed_status_moves_are_allowed(status: str, action: str) -> None:
    if (status, action) in TRANSITIONS:
        assert _transition(status, action, "X") == TRANSITIONS[(status, action)]
    else:
        with pytest.raises(TransitionNotAllowed):
            _transition(status, action, "X")


def test_retired_items_cannot_be_edited_or_retired_again() -> None:
    assert ("retired", "edit") not in TRANSITIONS and ("retired", "retire") not in TRANSITIONS


def _content(**overrides):
    content = {
        "basic_code": "2000001000",
        "name": "测试事项",
        "item_type": "公共服务",
        "department_code": "D",
        "region_code": "440106",
        "audiences": ["individual"],
        "aliases": [],
        "guide": {
            "materials": [{"name": "居民身份证", "form": "original", "copies": 1, "required": True}],
            "steps": [{"name": "申请", "time_limit_days": 0}],
            "legal_time_limit_days": 10,
            "promised_time_limit_days": 5,
            "fees": [{"name": "工本费", "amount": 1000, "basis": "规定"}],
            "online_depth": 4,
            "visits": 0,
        },
    }
    content.update(overrides)
    return content


def test_a_good_item_has_no_problems() -> None:
    assert problems_with_item(_content(), departments={"D"}, regions={"440106"}) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"item_type": "行政魔法"}, "item_type"),
        ({"audiences": ["aliens"]}, "audiences"),
        ({"department_code": "NOPE"}, "department_code"),
        ({"region_code": "000000"}, "region_code"),
        ({"basic_code": "a'; --"}, "basic_code"),
        ({"name": "x"}, "name"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_fields_are_named(overrides: dict, field: str) -> None:
    problems = problems_with_item(_content(**overrides), departments={"D"}, regions={"440106"})
    assert field in {p["field"] for p in problems}


def test_guide_money_and_time_rules() -> None:
    guide = _content()["guide"]
    bad = {**guide, "fees": [{"name": "工本费", "amount": 10.5, "basis": "规定"}], "promised_time_limit_days": 11}
    fields = {p["field"] for p in problems_with_item(_content(guide=bad), departments={"D"}, regions={"440106"})}
    assert fields == {"guide.fees.0.amount", "guide.promised_time_limit_days"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"free_of_charge": "maybe"}, "guide.free_of_charge"),
        ({"channels": "window"}, "guide.channels"),
        ({"channels": ["window", "fax"]}, "guide.channels"),
        ({"colour": "blue"}, "guide.colour"),
        ({"conditions": "年满十六周岁"}, "guide.conditions"),
        ({"consulting": {"phone": 12345}}, "guide.consulting.phone"),
        ({"consulting": {"phone": "12345", "fax": "1"}}, "guide.consulting.fax"),
        ({"materials": [{"name": "居民身份证", "copies": "2"}]}, "guide.materials.0.copies"),
        ({"materials": [{"name": "居民身份证", "scan": True}]}, "guide.materials.0.scan"),
        ({"materials": [{"form": "copy"}]}, "guide.materials.0.name"),
        ({"steps": [{"name": "申请", "time_limit_days": "3"}]}, "guide.steps.0.time_limit_days"),
        ({"fees": [{"name": "工本费", "amount": 1000}]}, "guide.fees.0.basis"),
        ({"faqs": ["怎么办？"]}, "guide.faqs.0"),
        ({"online_depth": True}, "guide.online_depth"),
        ({"supports_delivery": 1}, "guide.supports_delivery"),
    ],
)
def test_guide_refuses_unknown_and_wrongly_typed_fields(change: dict, field: str) -> None:
    guide = {**_content()["guide"], **change}
    problems = problems_with_item(_content(guide=guide), departments={"D"}, regions={"440106"})
    assert field in {p["field"] for p in problems}, problems
    # The API document's guide schema (derived from the same definition) refuses it too.
    assert not _guide_validator().is_valid(guide)


def _guide_validator():  # type: ignore[no-untyped-def]
    jsonschema = pytest.importorskip("jsonschema")
    schema = guide_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _record_fields(schema: dict) -> dict:
    """{field: its fields, or None for one value}, all the way down (arrays of records included)."""
    if schema.get("type") == "array":
        schema = schema["items"]
    if schema.get("type") != "object":
        return {}
    return {name: _record_fields(prop) or None for name, prop in schema["properties"].items()}


def test_the_documented_guide_schema_is_guide_schema() -> None:
    """One definition: the JSON Schema the API document shows has exactly GUIDE_SCHEMA's fields,
    the same required ones, and refuses others, at every level."""
    schema = guide_json_schema()
    assert set(schema["properties"]) == set(GUIDE_SCHEMA.fields)
    assert schema["additionalProperties"] is False
    materials = schema["properties"]["materials"]["items"]
    assert set(materials["properties"]) == set(GUIDE_SCHEMA.fields["materials"].record.fields)  # type: ignore[union-attr]
    assert materials["required"] == ["name"] and materials["additionalProperties"] is False
    assert schema["properties"]["fees"]["items"]["required"] == ["amount", "basis", "name"]
    assert _record_fields(schema)["consulting"] == {"phone": None, "address": None}


def test_guides_the_service_accepts_validate_against_the_documented_schema() -> None:
    """Every guide of the demo catalogue (all accepted by the service) and the fullest sample
    here are valid by the schema the API document shows."""
    from app.services.catalogue.demo_data import generate

    validator = _guide_validator()
    guides = [_content()["guide"]] + [item.guide for item in generate(scale=200).items]
    for guide in guides:
        assert problems_with_item(_content(guide=guide), departments={"D"}, regions={"440106"}) == []
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(guide)]
        assert errors == [], errors[:5]


def test_changed_fields_summarise_guides() -> None:
    before = _content()
    after = _content(name="新名称", guide={**before["guide"], "visits": 1})
    assert changed_fields(before, after) == {
        "name": ["测试事项", "新名称"],
        "guide": [None, {"changed_keys": ["visits"]}],
    }


def _item(code, materials, days=3, department="D1"):
    return SimpleNamespace(
        code=code,
        name=f"事项{code}",
        department_code=department,
        guide={"materials": materials, "promised_time_limit_days": days},
    )


def test_bundle_materials_are_merged_strictest_first() -> None:
    items = [
        _item(
            "A",
            [
                {"name": "居民身份证", "form": "copy", "copies": 1, "required": False},
                {"name": "户口簿", "form": "original", "copies": 1, "required": True},
            ],
        ),
        _item(
            "B",
            [
                {
                    "name": "居民身份证",
                    "form": "original",
                    "copies": 2,
                    "required": True,
                    "licence_type": "resident_id_card",
                }
            ],
        ),
    ]
    merged = {m["name"]: m for m in merged_materials(items)}
    assert merged["居民身份证"] == {
        "name": "居民身份证",
        "form": "original",
        "copies": 2,
        "required": True,
        "licence_type": "resident_id_card",
        "used_by": ["A", "B"],
    }
    flow = merged_flow(items, {"D1": "某局"})
    assert [step["step"] for step in flow] == [1, 2, 3, 4]
    assert flow[1]["department"] == "某局"


def test_csv_rows_split_lists_and_parse_the_guide() -> None:
    rows = parse_rows('code,name,audiences,guide\nX1,名,individual|enterprise,{"visits": 1}\n'.encode(), "csv")
    assert rows == [{"code": "X1", "name": "名", "audiences": ["individual", "enterprise"], "guide": {"visits": 1}}]
    with pytest.raises(ImportUnreadable):
        parse_rows(b"{not json", "json")
    with pytest.raises(ImportUnreadable):
        parse_rows(b"name\nfoo\n", "csv")
