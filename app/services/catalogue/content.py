"""What a service item must look like, checked the same way for the editor and for imports."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.characters import shows_what_it_says
from app.services.catalogue.demo_templates import ITEM_TYPE_CODES

ITEM_FIELDS = ("basic_code", "name", "item_type", "department_code", "region_code", "audiences", "aliases", "guide")
ITEM_TYPES = tuple(ITEM_TYPE_CODES)
AUDIENCES = ("individual", "enterprise")
MATERIAL_FORMS = ("original", "copy", "electronic")
# Residents read names and guides: nothing in them may reorder or hide text (app/characters.py).
_HIDDEN = "must not hold control or formatting characters (bidi controls, zero-width characters)"
_CODE_CHARS = set("0123456789ABCDEFGHJKLMNPQRTUWXYabcdefghijklmnopqrstuvwxyz")


def item_content(item: Any) -> dict[str, Any]:
    """The working copy of an item: its draft if it has one, else its columns."""
    if getattr(item, "draft", None):
        return dict(item.draft)
    return {name: getattr(item, name) for name in ITEM_FIELDS}


def problems_with_item(
    content: dict[str, Any], *, departments: set[str], regions: set[str], partial: bool = False
) -> list[dict[str, str]]:
    """Everything wrong with the content, as {field, problem}; empty when it is fine."""
    found: list[dict[str, str]] = []

    def problem(field: str, text: str) -> None:
        found.append({"field": field, "problem": text})

    unknown = set(content) - set(ITEM_FIELDS) - {"code"}
    for name in sorted(unknown):
        problem(name, "unknown field")
    for name in ITEM_FIELDS:
        if name not in content and not partial and name != "aliases":
            problem(name, "missing")
    if "basic_code" in content:
        _check_code(content["basic_code"], "basic_code", 4, 20, problem)
    if "name" in content and not (isinstance(content["name"], str) and 2 <= len(content["name"].strip()) <= 200):
        problem("name", "must be 2 to 200 characters")
    elif "name" in content and not shows_what_it_says(content["name"]):
        problem("name", _HIDDEN)
    if "item_type" in content and content["item_type"] not in ITEM_TYPES:
        problem("item_type", f"must be one of {', '.join(ITEM_TYPES)}")
    if "department_code" in content and content["department_code"] not in departments:
        problem("department_code", "unknown department")
    if "region_code" in content and content["region_code"] not in regions:
        problem("region_code", "unknown region")
    if "audiences" in content:
        audiences = content["audiences"]
        if not isinstance(audiences, list) or not audiences or any(a not in AUDIENCES for a in audiences):
            problem("audiences", "must be a non-empty list of individual and/or enterprise")
    if "aliases" in content:
        aliases = content["aliases"]
        if (
            not isinstance(aliases, list)
            or len(aliases) > 20
            or any(not isinstance(a, str) or not 1 <= len(a) <= 40 for a in aliases)
        ):
            problem("aliases", "must be at most 20 texts of 1 to 40 characters")
        elif not all(shows_what_it_says(a) for a in aliases):
            problem("aliases", _HIDDEN)
    if "guide" in content:
        _check_guide(content["guide"], problem)
    return found


def _check_code(value: Any, field: str, shortest: int, longest: int, problem: Any) -> None:
    if not isinstance(value, str) or not shortest <= len(value) <= longest or set(value) - _CODE_CHARS:
        problem(field, f"must be {shortest} to {longest} letters or digits")


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# The guide (办事指南) schema: every field it may have, with its type. Anything else is refused,
# so a typo or a wrongly typed field is reported instead of being published as it is.
_TEXT_MAX = 2000
_LIST_MAX = 100


@dataclass(frozen=True)
class _Value:
    """A field holding one value: `problem` answers None when a value is fine, else what it must
    be; `schema` says the same in JSON Schema, for the API document (guide_json_schema)."""

    problem: Callable[[Any], str | None]
    schema: dict[str, Any]


def _text(*, required: bool = False) -> _Value:
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or len(value) > _TEXT_MAX or (required and not value.strip()):
            return "must be a non-empty text" if required else f"must be a text of at most {_TEXT_MAX} characters"
        if not shows_what_it_says(value, multiline=True):
            return _HIDDEN
        return None

    schema: dict[str, Any] = {"type": "string", "maxLength": _TEXT_MAX}
    if required:
        schema |= {"minLength": 1, "pattern": r"\S"}  # not only spaces
    return _Value(check, schema)


def _optional_text() -> _Value:
    text = _text()
    return _Value(lambda value: None if value is None else text.problem(value), {**text.schema, "type": ["string", "null"]})


def _flag() -> _Value:
    return _Value(lambda value: None if isinstance(value, bool) else "must be true or false", {"type": "boolean"})


def _whole(least: int = 0, most: int | None = None, *, unit: str = "number") -> _Value:
    def check(value: Any) -> str | None:
        if not _non_negative_int(value) or value < least or (most is not None and value > most):
            if most is not None:
                return f"must be {least} to {most}"
            return f"must be a whole {unit}" + (f" of at least {least}" if least else "")
        return None

    schema: dict[str, Any] = {"type": "integer", "minimum": least}
    if most is not None:
        schema["maximum"] = most
    return _Value(check, schema)


def _choice(values: tuple[str, ...]) -> _Value:
    def check(value: Any) -> str | None:
        return None if isinstance(value, str) and value in values else f"must be one of {', '.join(values)}"

    return _Value(check, {"type": "string", "enum": list(values)})


def _texts() -> _Value:
    text = _text(required=True)

    def check(value: Any) -> str | None:
        if not isinstance(value, list) or len(value) > _LIST_MAX or any(text.problem(v) for v in value):
            return f"must be a list of at most {_LIST_MAX} non-empty texts"
        return None

    return _Value(check, {"type": "array", "maxItems": _LIST_MAX, "items": text.schema})


@dataclass(frozen=True)
class _Record:
    """An object with these fields (`required` must be present); no others."""

    fields: dict[str, _Value | _Record | _Records]
    required: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Records:
    """A list of at most _LIST_MAX objects of one kind."""

    record: _Record


CHANNELS = ("window", "mini_program", "web", "mail", "app")


def _channels() -> _Value:
    def check(value: Any) -> str | None:
        if isinstance(value, list) and all(isinstance(c, str) and c in CHANNELS for c in value):
            if len(set(value)) == len(value):
                return None
        return f"must be a list of distinct channels: {', '.join(CHANNELS)}"

    return _Value(check, {"type": "array", "items": {"type": "string", "enum": list(CHANNELS)}, "uniqueItems": True})


GUIDE_SCHEMA = _Record(
    {
        "subject": _text(),
        "subject_nature": _text(),
        "exercise_level": _text(),
        "handling_kind": _text(),
        "service_object": _texts(),
        "conditions": _texts(),
        "materials": _Records(
            _Record(
                {
                    "name": _text(required=True),
                    "form": _choice(MATERIAL_FORMS),
                    "copies": _whole(1),
                    "required": _flag(),
                    "licence_type": _optional_text(),
                    "note": _text(),
                },
                required=frozenset({"name"}),
            )
        ),
        "steps": _Records(
            _Record(
                {
                    "name": _text(required=True),
                    "description": _text(),
                    "department": _text(),
                    "time_limit_days": _whole(unit="number of days"),
                },
                required=frozenset({"name"}),
            )
        ),
        "legal_time_limit_days": _whole(unit="number of days"),
        "promised_time_limit_days": _whole(unit="number of days"),
        "visits": _whole(),
        "on_site_reason": _text(),
        "fees": _Records(
            _Record(
                {
                    "name": _text(required=True),
                    "amount": _whole(unit="number of fen"),
                    "basis": _text(required=True),
                    "standard": _text(),
                    "reducible": _flag(),
                },
                required=frozenset({"name", "amount", "basis"}),
            )
        ),
        "free_of_charge": _flag(),
        "online_depth": _whole(1, 4),
        "online_depth_label": _text(),
        "channels": _channels(),
        "supports_online_payment": _flag(),
        "supports_appointment": _flag(),
        "supports_delivery": _flag(),
        "cross_region": _flag(),
        "result": _Record({"name": _text(), "kind": _text()}),
        "consulting": _Record({"phone": _text(), "address": _text()}),
        "complaint": _Record({"phone": _text(), "channel": _text()}),
        "windows": _Records(_Record({"address": _text(), "hours": _text()})),
        "faqs": _Records(
            _Record({"question": _text(required=True), "answer": _text(required=True)}),
        ),
        "legal_basis": _texts(),
        "guide_version": _whole(1),
    }
)


def _check_record(value: Any, record: _Record, where: str, problem: Any) -> None:
    if not isinstance(value, dict):
        problem(where, "must be an object")
        return
    for name in sorted(set(value) - set(record.fields), key=str):
        problem(f"{where}.{name}", "unknown field")
    for name in sorted(record.required - set(value)):
        problem(f"{where}.{name}", "missing")
    for name, kind in record.fields.items():
        if name in value:
            _check_value(value[name], kind, f"{where}.{name}", problem)


def _check_value(value: Any, kind: _Value | _Record | _Records, where: str, problem: Any) -> None:
    if isinstance(kind, _Record):
        _check_record(value, kind, where, problem)
    elif isinstance(kind, _Records):
        if not isinstance(value, list) or len(value) > _LIST_MAX:
            problem(where, f"must be a list of at most {_LIST_MAX} objects")
            return
        for index, entry in enumerate(value):
            _check_record(entry, kind.record, f"{where}.{index}", problem)
    else:
        wrong = kind.problem(value)
        if wrong:
            problem(where, wrong)


def _check_guide(guide: Any, problem: Any) -> None:
    _check_record(guide, GUIDE_SCHEMA, "guide", problem)
    if not isinstance(guide, dict):
        return
    legal = guide.get("legal_time_limit_days", 0)
    promised = guide.get("promised_time_limit_days", 0)
    if _non_negative_int(legal) and _non_negative_int(promised) and legal and promised > legal:
        problem("guide.promised_time_limit_days", "cannot exceed the legal time limit")


def guide_json_schema() -> dict[str, Any]:
    """GUIDE_SCHEMA in JSON Schema (2020-12, as OpenAPI 3.1 uses), for the API document. What it
    cannot say, _check_guide still checks: the promised time limit is within the legal one."""
    schema = _json_schema(GUIDE_SCHEMA)
    schema["description"] = (
        "办事指南: only these fields. promised_time_limit_days is at most legal_time_limit_days when both are set."
    )
    return schema


def _json_schema(kind: _Value | _Record | _Records) -> dict[str, Any]:
    if isinstance(kind, _Record):
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {name: _json_schema(field) for name, field in kind.fields.items()},
            "additionalProperties": False,
        }
        if kind.required:
            schema["required"] = sorted(kind.required)
        return schema
    if isinstance(kind, _Records):
        return {"type": "array", "maxItems": _LIST_MAX, "items": _json_schema(kind.record)}
    return copy.deepcopy(kind.schema)


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields that differ (guides are summarised, not copied)."""
    changes: dict[str, list[Any]] = {}
    for name in ITEM_FIELDS:
        if before.get(name) != after.get(name):
            if name == "guide":
                keys = sorted(
                    k
                    for k in set(before.get("guide") or {}) | set(after.get("guide") or {})
                    if (before.get("guide") or {}).get(k) != (after.get("guide") or {}).get(k)
                )
                changes["guide"] = [None, {"changed_keys": keys}]
            else:
                changes[name] = [before.get(name), after.get(name)]
    return changes
