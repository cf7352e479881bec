"""What a service item must look like, checked the same way for the editor and for imports."""

from __future__ import annotations

from typing import Any

from app.services.catalogue.demo_templates import ITEM_TYPE_CODES

ITEM_FIELDS = ("basic_code", "name", "item_type", "department_code", "region_code", "audiences", "aliases", "guide")
ITEM_TYPES = tuple(ITEM_TYPE_CODES)
AUDIENCES = ("individual", "enterprise")
MATERIAL_FORMS = ("original", "copy", "electronic")
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
    if "guide" in content:
        _check_guide(content["guide"], problem)
    return found


def _check_code(value: Any, field: str, shortest: int, longest: int, problem: Any) -> None:
    if not isinstance(value, str) or not shortest <= len(value) <= longest or set(value) - _CODE_CHARS:
        problem(field, f"must be {shortest} to {longest} letters or digits")


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_guide(guide: Any, problem: Any) -> None:
    if not isinstance(guide, dict):
        problem("guide", "must be an object")
        return
    materials = guide.get("materials", [])
    if not isinstance(materials, list):
        problem("guide.materials", "must be a list")
        materials = []
    for index, material in enumerate(materials):
        where = f"guide.materials.{index}"
        if not isinstance(material, dict) or not isinstance(material.get("name"), str) or not material["name"]:
            problem(where, "needs a name")
            continue
        if material.get("form", "original") not in MATERIAL_FORMS:
            problem(f"{where}.form", f"must be one of {', '.join(MATERIAL_FORMS)}")
        copies = material.get("copies", 1)
        if not _non_negative_int(copies) or copies < 1:
            problem(f"{where}.copies", "must be a whole number of at least 1")
        if not isinstance(material.get("required", True), bool):
            problem(f"{where}.required", "must be true or false")
    steps = guide.get("steps", [])
    if not isinstance(steps, list) or any(
        not isinstance(s, dict) or not s.get("name") or not _non_negative_int(s.get("time_limit_days", 0))
        for s in steps
    ):
        problem("guide.steps", "each step needs a name and a whole number of days")
    legal = guide.get("legal_time_limit_days", 0)
    promised = guide.get("promised_time_limit_days", 0)
    if not _non_negative_int(legal):
        problem("guide.legal_time_limit_days", "must be a whole number of days")
    if not _non_negative_int(promised):
        problem("guide.promised_time_limit_days", "must be a whole number of days")
    elif _non_negative_int(legal) and legal and promised > legal:
        problem("guide.promised_time_limit_days", "cannot exceed the legal time limit")
    fees = guide.get("fees", [])
    if not isinstance(fees, list) or any(
        not isinstance(f, dict) or not f.get("name") or not _non_negative_int(f.get("amount")) or not f.get("basis")
        for f in fees
    ):
        problem("guide.fees", "each fee needs a name, an amount in fen and its legal basis")
    depth = guide.get("online_depth", 1)
    if not (isinstance(depth, int) and 1 <= depth <= 4):
        problem("guide.online_depth", "must be 1 to 4")
    visits = guide.get("visits", 0)
    if not _non_negative_int(visits):
        problem("guide.visits", "must be a whole number")


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
